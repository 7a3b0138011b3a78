"""Checkers for notebook 02 (self-attention): masked softmax, one causal head, splitting heads.

Each checker prints one line of feedback and returns a ``CheckResult`` (truthy when every case
passed) that a notebook does not display, so a cell that calls it shows only that line.
"""

from __future__ import annotations

import math

import torch

from ._check import Case, CheckResult, run_checks

__all__ = ["check_causal_attention", "check_masked_softmax", "check_split_heads"]


def _randn(*shape: int, seed: int, scale: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g) * scale


def _reference_masked_softmax(scores: torch.Tensor) -> torch.Tensor:
    t = scores.shape[-1]
    future = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)
    return torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)


def _reference_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    return _reference_masked_softmax(scores) @ v


def check_masked_softmax(fn) -> CheckResult:
    """``fn(scores)``: scores (..., T, T) -> causal attention weights of the same shape.

    Future positions (column > row) must get weight 0; each row must sum to 1.
    """
    cases = []
    for desc, shape, seed, scale in [
        ("4 tokens", (4, 4), 1, 1.0),
        ("1 token: the only weight is 1", (1, 1), 2, 1.0),
        ("large scores", (5, 5), 3, 30.0),
        ("a batch of 2 with 3 heads, 6 tokens", (2, 3, 6, 6), 4, 2.0),
    ]:
        scores = _randn(*shape, seed=seed, scale=scale)
        cases.append(Case(desc, args=(scores.clone(),), expected=_reference_masked_softmax(scores)))
    return run_checks("masked_softmax", fn, cases)


def check_causal_attention(fn) -> CheckResult:
    """``fn(q, k, v)``: one causal head. q, k, v (..., T, hs) -> context vectors (..., T, hs).

    softmax(mask(q @ k^T / sqrt(hs))) @ v, where the mask hides later tokens.
    """
    cases = []
    for desc, (t, hs), batch, seed in [
        ("3 tokens, head width 2", (3, 2), (), 10),
        ("6 tokens, head width 4", (6, 4), (), 11),
        ("head width 64 (the scale matters here)", (5, 64), (), 12),
        ("a batch of 2 with 2 heads", (4, 8), (2, 2), 13),
    ]:
        q, k, v = (_randn(*batch, t, hs, seed=seed + 100 * i) for i in range(3))
        expected = _reference_attention(q, k, v)
        cases.append(Case(desc, args=(q.clone(), k.clone(), v.clone()), expected=expected))
    return run_checks("causal_attention", fn, cases)


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
        cases.append(Case(desc, args=(x.clone(), nh), expected=expected))
    return run_checks("split_heads", fn, cases)
