"""Checkers for notebook 02 (self-attention): masked softmax, one causal head, splitting heads.

Each checker prints one line of feedback and returns a ``CheckResult`` (truthy when every case
passed) that a notebook does not display, so a cell that calls it shows only that line.
"""

from __future__ import annotations

import math

import torch

from ._check import Case, CheckResult, Mistake, future_is_zero, rows_sum_to_one, run_checks

__all__ = ["check_causal_attention", "check_masked_softmax", "check_split_heads"]


def _randn(*shape: int, seed: int, scale: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g) * scale


def _future(t: int, diagonal: int = 1) -> torch.Tensor:
    return torch.ones(t, t).triu(diagonal).bool()  # (the bool triu kernel is ~100x slower on CPU)


def _softmax(scores: torch.Tensor, *, fill: float = float("-inf"), dim: int = -1, diagonal: int = 1,
             mask: str = "future", after: bool = False, naive: bool = False, t_axis: int = -1) -> torch.Tensor:
    """The masked softmax, and every classic way to get it wrong (one keyword each)."""
    t = scores.shape[t_axis]
    if mask == "future":
        hide = _future(t, diagonal)
    elif mask == "none":
        hide = torch.zeros(t, t, dtype=torch.bool)
    else:  # the past, without or with the diagonal
        hide = ~_future(t, 0 if mask == "past" else 1)
    if after:
        return torch.softmax(scores, dim=dim).masked_fill(hide, 0.0)
    masked = scores.masked_fill(hide, fill)
    if naive:
        e = torch.exp(masked)
        return e / e.sum(dim=dim, keepdim=True)
    return torch.softmax(masked, dim=dim)


def _reference_masked_softmax(scores: torch.Tensor) -> torch.Tensor:
    return _softmax(scores)


def _reference_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    return _reference_masked_softmax(scores) @ v


_MASK = "scores.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1), float('-inf'))"
_SOFTMAX_MISTAKES = [
    Mistake(lambda s: _softmax(s, mask="none"),
            f"no mask was applied: the future scores (column > row) must be set to -inf before the softmax, {_MASK}"),
    Mistake(lambda s: _softmax(s, fill=0.0),
            "the future was filled with 0 instead of -inf: exp(0) = 1, so later tokens still get weight. Use "
            "masked_fill(future, float('-inf'))"),
    Mistake(lambda s: _softmax(s, dim=-2),
            "the softmax ran over dim=-2 (down each column); it must run along each row: torch.softmax(..., dim=-1)"),
    Mistake(lambda s: _softmax(s, diagonal=0),
            "the mask hides the diagonal too (torch.triu(..., diagonal=0)), so the first row has no score left and "
            "becomes nan: each token must see itself, use diagonal=1"),
    Mistake(lambda s: _softmax(s, diagonal=2),
            "the mask is off by one: every token also sees the next one. Hide column > row: torch.triu(..., "
            "diagonal=1)"),
    Mistake(lambda s: _softmax(s, mask="past"),
            "the mask hides the past (column < row) instead of the future: use torch.triu(..., diagonal=1), not tril"),
    Mistake(lambda s: _softmax(s, mask="past+diagonal"),
            "the mask hides the past and the diagonal (masked where torch.tril(...) == 1): hide where it is 0 "
            "instead, i.e. the future, column > row"),
    Mistake(lambda s: _softmax(s, after=True),
            "the mask was applied after the softmax: the remaining weights no longer sum to 1. Fill the future "
            "scores with -inf first, then take the softmax"),
    Mistake(lambda s: _softmax(s, naive=True),
            "the softmax was written as exp(s) / exp(s).sum(...): exp() overflows to inf on large scores (exp(100) "
            "is inf, and inf / inf is nan). Use torch.softmax(..., dim=-1), or subtract each row's max first"),
    Mistake(lambda s: (lambda e: e / e.sum(dim=-1, keepdim=True))(torch.exp(s) * ~_future(s.shape[-1])),
            "the softmax was written as exp(s) / exp(s).sum(...): exp() overflows to inf on large scores (exp(100) "
            "is inf, and inf * 0 or inf / inf is nan). Use torch.softmax(..., dim=-1) on the masked scores"),
    Mistake(lambda s: _softmax(s, dim=0 if s.dim() in (0, 1, 3) else 1),
            "F.softmax was called without dim=: PyTorch then guesses an axis (here not the last one). Always pass "
            "dim=-1, the rows"),
    Mistake(lambda s: torch.sigmoid(s.masked_fill(_future(s.shape[-1]), float("-inf"))),
            "a sigmoid was used: it squashes each score on its own, so the rows do not sum to 1; attention weights "
            "are torch.softmax(..., dim=-1)"),
    Mistake(lambda s: torch.log_softmax(s.masked_fill(_future(s.shape[-1]), float("-inf")), dim=-1),
            "log_softmax was used: that gives log-probabilities; attention weights are torch.softmax(..., dim=-1)"),
    Mistake(lambda s: _softmax(s / math.sqrt(s.shape[-1])),
            "the scores were scaled inside masked_softmax: this function only masks and normalises; the "
            "1/sqrt(head_dim) scale belongs in the attention"),
    Mistake(lambda s: _softmax(s, t_axis=0),
            "the mask was built from scores.shape[0] (the first axis); the number of tokens is scores.shape[-1]"),
]


def check_masked_softmax(fn) -> CheckResult:
    """``fn(scores)``: scores (..., T, T) -> causal attention weights of the same shape.

    Future positions (column > row) must get weight 0; each row must sum to 1.
    """
    cases = []
    for desc, shape, seed, scale in [
        ("4 tokens", (4, 4), 1, 1.0),
        ("1 token: the only weight is 1", (1, 1), 2, 1.0),
        ("large scores", (5, 5), 3, 30.0),
        ("very large scores (up to about 1000): a naive exp() overflows", (5, 5), 5, 300.0),
        ("a batch of 2 with 3 heads, 6 tokens", (2, 3, 6, 6), 4, 2.0),
    ]:
        scores = _randn(*shape, seed=seed, scale=scale)
        dims = ("row", "column") if len(shape) == 2 else ("batch", "head", "row", "column")
        cases.append(Case(desc, args=(scores.clone(),), expected=_reference_masked_softmax(scores), dims=dims))
    return run_checks("masked_softmax", fn, cases, mistakes=_SOFTMAX_MISTAKES,
                      properties=[rows_sum_to_one(), future_is_zero()])


def _attention(q, k, v, *, scale: str = "sqrt", scale_after: bool = False, transpose: str = "mT",
               weights_only: bool = False, **softmax) -> torch.Tensor:
    """One causal head, and the classic slips (one keyword each)."""
    hs, t = q.shape[-1], q.shape[-2]
    kt = {"mT": k.transpose(-2, -1), "none": k, "T": k.T if k.dim() == 2 else k.permute(*range(k.dim() - 1, -1, -1))
          }[transpose]
    divisor = {"sqrt": math.sqrt(hs), "none": 1.0, "d": hs, "sqrt_t": math.sqrt(t), "times": 1 / math.sqrt(hs)}[scale]
    scores = q @ kt
    if not scale_after:
        scores = scores / divisor
    w = _softmax(scores, **softmax)
    if scale_after:
        w = w / math.sqrt(hs)
    return w if weights_only else w @ v


_SCALE = "q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])"
_ATTENTION_MISTAKES = [
    Mistake(lambda q, k, v: _attention(q, k, v, scale="none"),
            f"the scores were not divided by sqrt(head_dim): {_SCALE}"),
    Mistake(lambda q, k, v: _attention(q, k, v, scale="d"),
            f"the scores were divided by head_dim instead of its square root: {_SCALE}"),
    Mistake(lambda q, k, v: _attention(q, k, v, scale="sqrt_t"),
            "the scores were divided by sqrt(number of tokens); the scale is sqrt(head_dim), the size of the LAST "
            f"axis: {_SCALE}"),
    Mistake(lambda q, k, v: _attention(q, k, v, scale="times"),
            f"the scores were multiplied by sqrt(head_dim) instead of divided: {_SCALE}"),
    Mistake(lambda q, k, v: _attention(q, k, v, scale_after=True),
            "the weights were divided by sqrt(head_dim) after the softmax (rows no longer sum to 1); scale the "
            f"scores before it: {_SCALE}"),
    Mistake(lambda q, k, v: _attention(q, k, v, transpose="none"),
            "the keys were not transposed: the scores are q @ k.transpose(-2, -1), (T, hs) @ (hs, T) -> (T, T)"),
    Mistake(lambda q, k, v: _attention(q, k, v, transpose="T"),
            "k.T reverses every axis of a batched tensor; swap only the last two: k.transpose(-2, -1) (or k.mT)"),
    Mistake(lambda q, k, v: _attention(q, k, v, mask="none"),
            "no causal mask: every token also attends to later tokens. Fill the future scores (column > row) "
            "with -inf before the softmax"),
    Mistake(lambda q, k, v: _attention(q, k, v, fill=0.0),
            "the future scores were filled with 0 instead of -inf: exp(0) = 1, so later tokens still get weight"),
    Mistake(lambda q, k, v: _attention(q, k, v, dim=-2),
            "the softmax ran over dim=-2 (down each column); it must run along each row: torch.softmax(..., dim=-1)"),
    Mistake(lambda q, k, v: _attention(q, k, v, after=True),
            "the mask was applied after the softmax: the remaining weights no longer sum to 1. Mask the scores "
            "with -inf first, then take the softmax"),
    Mistake(lambda q, k, v: _attention(q, k, v, diagonal=0),
            "the mask hides the diagonal too (triu(..., diagonal=0)): each token must see itself; use diagonal=1"),
    Mistake(lambda q, k, v: _attention(q, k, v, diagonal=2),
            "the mask is off by one: every token also sees the next one; hide column > row, triu(..., diagonal=1)"),
    Mistake(lambda q, k, v: _attention(q, k, v, naive=True),
            "the softmax was written as exp(s) / exp(s).sum(...): exp() overflows on large scores and gives nan. "
            "Use torch.softmax(..., dim=-1), or subtract each row's max first"),
    Mistake(lambda q, k, v: _attention(k, q, v),
            "queries and keys were swapped (k @ q.transpose(-2, -1)): the scores are q @ k.transpose(-2, -1), row = "
            "the query token, column = the key token"),
    Mistake(lambda q, k, v: _attention(q, k, k),
            "the weights were multiplied with the keys: the context vectors are weights @ v, the values"),
    Mistake(lambda q, k, v: _attention(q, k, v, weights_only=True),
            "the attention weights were returned: the context vectors are weights @ v"),
]


def check_causal_attention(fn) -> CheckResult:
    """``fn(q, k, v)``: one causal head. q, k, v (..., T, hs) -> context vectors (..., T, hs).

    softmax(mask(q @ k^T / sqrt(hs))) @ v, where the mask hides later tokens.
    """
    cases = []
    for desc, (t, hs), batch, seed, scale in [
        ("3 tokens, head width 2", (3, 2), (), 10, 1.0),
        ("6 tokens, head width 4", (6, 4), (), 11, 1.0),
        ("head width 64 (the scale matters here)", (5, 64), (), 12, 1.0),
        ("large queries and keys: scores around 100", (5, 16), (), 14, 10.0),
        ("a batch of 2 with 2 heads", (4, 8), (2, 2), 13, 1.0),
    ]:
        q, k = (_randn(*batch, t, hs, seed=seed + 100 * i, scale=scale) for i in range(2))
        v = _randn(*batch, t, hs, seed=seed + 200)
        expected = _reference_attention(q, k, v)
        dims = ("token", "feature") if not batch else ("batch", "head", "token", "feature")
        cases.append(Case(desc, args=(q.clone(), k.clone(), v.clone()), expected=expected, dims=dims))
    return run_checks("causal_attention", fn, cases, mistakes=_ATTENTION_MISTAKES)


_SPLIT = "x.view(B, T, num_heads, d // num_heads).transpose(1, 2)"
_SPLIT_MISTAKES = [
    Mistake(lambda x, nh: x.reshape(x.shape[0], nh, x.shape[1], x.shape[2] // nh),
            "x was viewed as (B, num_heads, T, hs) directly, without a transpose: view only re-reads memory in "
            f"order, so head 0 gets whole tokens. Split the last axis, then swap: {_SPLIT}"),
    Mistake(lambda x, nh: x.view(x.shape[0], x.shape[1], nh, x.shape[2] // nh),
            f"the transpose is missing: (B, T, num_heads, hs) must become (B, num_heads, T, hs), {_SPLIT}"),
    Mistake(lambda x, nh: x.view(x.shape[0], x.shape[1], x.shape[2] // nh, nh).permute(0, 3, 1, 2),
            "the last axis was split as (hs, num_heads), so each head gets every num_heads-th column; split it as "
            f"(num_heads, hs): {_SPLIT}"),
    Mistake(lambda x, nh: x.view(x.shape[0], x.shape[1], x.shape[2] // nh, nh).transpose(1, 2),
            "the last axis was split as (hs, num_heads) instead of (num_heads, hs), so each head gets every "
            f"num_heads-th column: {_SPLIT}"),
    Mistake(lambda x, nh: x.view(x.shape[0], x.shape[1], nh, x.shape[2] // nh).transpose(1, 3),
            f"the wrong axes were swapped (transpose(1, 3)): the token axis 1 and the head axis 2 swap, {_SPLIT}"),
    Mistake(lambda x, nh: x.view(x.shape[0], x.shape[1], nh, x.shape[2] // nh).transpose(2, 3),
            f"the wrong axes were swapped (transpose(2, 3)): the token axis 1 and the head axis 2 swap, {_SPLIT}"),
    Mistake(lambda x, nh: x.view(x.shape[0], x.shape[1], nh, x.shape[2] // nh).permute(0, 2, 3, 1),
            f"the permute puts the axes in the wrong order: the result is (B, num_heads, T, hs), {_SPLIT}"),
    Mistake(lambda x, nh: x.transpose(1, 2).reshape(x.shape[0], nh, x.shape[1], x.shape[2] // nh),
            "x was transposed before the split: first cut the last axis into (num_heads, hs), then swap the token "
            f"and head axes: {_SPLIT}"),
    Mistake(lambda x, nh: x.view(x.shape[0], x.shape[1], nh, x.shape[2] / nh),
            "d / num_heads is a float, which view does not take: use integer division, d // num_heads"),
    Mistake(lambda x, nh: x.view(1, x.shape[1], nh, x.shape[2] // nh).transpose(1, 2),
            "the batch size 1 was written into the view: it works for a batch of 1 only; use B = x.shape[0]"),
    Mistake(lambda x, nh: x.view(1, x.shape[1], nh, -1).transpose(1, 2),
            "the batch size 1 was written into the view: it works for a batch of 1 only; use B = x.shape[0]"),
]


def check_split_heads(fn) -> CheckResult:
    """``fn(x, num_heads)``: (B, T, d) -> (B, num_heads, T, d // num_heads), head h holding the
    columns h * hs .. (h + 1) * hs of every token."""
    cases = []
    for desc, (b, t, d), nh in [
        ("batch 1, 3 tokens, width 4, 2 heads", (1, 3, 4), 2),
        ("batch 2, 5 tokens, width 12, 3 heads", (2, 5, 12), 3),
        ("one head: only a new axis", (2, 4, 6), 1),
        ("GPT-2 small: width 768, 12 heads", (2, 4, 768), 12),
    ]:
        x = torch.arange(b * t * d, dtype=torch.float32).reshape(b, t, d)
        expected = x.view(b, t, nh, d // nh).transpose(1, 2)
        cases.append(Case(desc, args=(x.clone(), nh), expected=expected, dims=("batch", "head", "token", "column")))
    return run_checks("split_heads", fn, cases, mistakes=_SPLIT_MISTAKES)
