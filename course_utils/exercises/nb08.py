"""Checkers for notebook 08 (generating text): top-k filtering and the greedy loop (sampling: nb08_sampling.py).

Each classic mistake is written as code (a ``Mistake``): when the student's answer equals what the
mistake computes on a case, its hint names it. Nothing reads the student's code.

The greedy loop is checked on a model built so that mistakes show: its next token depends on every
token of the window it is given (a real random model soon repeats one token, so the context stops
mattering), and it raises when it is fed more than ``context_length`` tokens. Sampling is checked by
its distribution (thousands of draws), not draw for draw, so torch.multinomial, Categorical or an
inverse-CDF draw are all accepted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..config import GPTConfig
from ..generate import generate, top_k_filter
from ..model import GPTModel
from ._check import Case, Mistake, describe_difference, run_checks

__all__ = ["check_greedy_decode", "check_top_k_filter"]  # exercise 3 (sampling): nb08_sampling.py

_NEG_INF = float("-inf")


# ---------------------------------------------------------------- exercise 1: top-k, exactly k


def _keep_mask_fill(logits, keep, value=_NEG_INF):
    return logits.masked_fill(~keep, value)


def _topk_mask(logits, k, dim=-1, largest=True):
    idx = torch.topk(logits, k, dim=dim, largest=largest).indices
    return torch.zeros_like(logits, dtype=torch.bool).scatter(dim, idx, True)


def _flat_top_k(logits, k):
    keep = torch.zeros(logits.numel(), dtype=torch.bool)
    keep[torch.topk(logits.flatten(), k).indices] = True
    return _keep_mask_fill(logits, keep.view_as(logits))


def _sorted_top_k(logits, k):
    values = torch.sort(logits, dim=-1, descending=True).values
    return values.masked_fill(torch.arange(logits.shape[-1]) >= k, _NEG_INF)


_TOP_K_MISTAKES = [
    Mistake(lambda logits, k: logits.masked_fill(logits < torch.topk(logits, k, dim=-1).values[..., -1:], _NEG_INF),
            "every logit equal to the k-th largest was kept (a threshold `logits < kth`): with ties at the border "
            "that keeps more than k. Mark the k indices torch.topk returns in a mask (scatter) instead"),
    Mistake(lambda logits, k: logits.masked_fill(logits <= torch.topk(logits, k, dim=-1).values[..., -1:], _NEG_INF),
            "the k-th largest logit itself was dropped (`<=` where `<` was meant): only k - 1 survive. Mark the "
            "k indices torch.topk returns in a mask instead"),
    Mistake(lambda logits, k: _keep_mask_fill(logits, _topk_mask(logits, k), 0.0),
            "the dropped logits were set to 0, not -inf: a logit of 0 still gets probability e^0 / sum after the "
            "softmax. Fill with float('-inf')"),
    Mistake(lambda logits, k: _keep_mask_fill(torch.softmax(logits, -1), _topk_mask(logits, k), 0.0),
            "probabilities came back, not logits: return the logits themselves, the k largest unchanged and the "
            "rest -inf (the softmax comes later)"),
    Mistake(lambda logits, k: torch.softmax(_keep_mask_fill(logits, _topk_mask(logits, k)), -1),
            "the softmax of the filtered logits came back: return the filtered logits themselves (the softmax "
            "comes later)"),
    Mistake(lambda logits, k: _keep_mask_fill(torch.softmax(logits, -1), _topk_mask(logits, k)),
            "the kept values are probabilities: keep the logits themselves unchanged, only the others become -inf"),
    Mistake(_flat_top_k,
            "the k largest of the WHOLE batch were kept, not of every row: call torch.topk(logits, k, dim=-1)"),
    Mistake(lambda logits, k: _keep_mask_fill(logits, _topk_mask(logits[:1], k).expand_as(logits)),
            "every row kept the positions of the first row's k largest: find the top k of each row (dim=-1)"),
    Mistake(lambda logits, k: _keep_mask_fill(logits, _topk_mask(logits, k, largest=False)),
            "the k SMALLEST logits were kept (largest=False): keep the largest"),
    Mistake(lambda logits, k: _keep_mask_fill(logits, _topk_mask(logits, min(k, logits.shape[0]), dim=0)),
            "the top k were taken down each column (dim=0): take them along each row, dim=-1"),
    Mistake(lambda logits, k: torch.topk(logits, k, dim=-1).values,
            "only the k kept values came back, shape (B, k): return a tensor of the logits' shape, (B, V), "
            "with -inf at every dropped position"),
    Mistake(_sorted_top_k,
            "the logits came back sorted: every kept logit must stay at its own index (position = token id); "
            "only the dropped ones become -inf"),
]


def _same_filtered(got: Any, expected: torch.Tensor, atol: float = 1e-6) -> str | None:
    """None when two filtered-logit tensors agree: the same -inf (and nan) positions, the rest close."""
    if not isinstance(got, torch.Tensor):
        return f"expected a tensor, got {type(got).__name__}"
    if tuple(got.shape) != tuple(expected.shape) or not got.is_floating_point():
        return describe_difference(got, expected, atol)
    g, e = got.detach().double(), expected.detach().double()
    special_g = torch.stack([torch.isneginf(g), torch.isposinf(g), torch.isnan(g)])
    special_e = torch.stack([torch.isneginf(e), torch.isposinf(e), torch.isnan(e)])
    if not torch.equal(special_g, special_e):
        return "the dropped (-inf) positions differ"
    finite = torch.isfinite(e)
    if finite.any() and (g[finite] - e[finite]).abs().max() > atol:
        return "the kept values differ"
    return None


def _explain_top_k(got, case) -> str | None:
    """Generic help (when no known mistake matches): what is wrong with the rows, in words."""
    logits, k = case.args
    if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(logits.shape) or not got.is_floating_point():
        return None  # the comparer says what is wrong with the type, shape or dtype
    if _same_filtered(got, case.expected) is None:
        return None
    k = min(k, logits.shape[-1])
    dropped = ~torch.isfinite(got)
    if not torch.isneginf(got).any() and k < logits.shape[-1]:
        low = got.min().item()
        return (f"no entry is -inf (the smallest is {low:.4g}): set every dropped logit to float('-inf') so the "
                "softmax gives it exactly 0")
    for row in range(logits.shape[0]):
        n = int((~dropped[row]).sum())
        if n != k:
            kth = torch.topk(logits[row], k).values[-1]
            ties = n > k and int((logits[row] == kth).sum()) > 1
            why = " (several logits tie with the k-th largest: keep exactly k, e.g. scatter topk's indices)"
            why = why if ties else ""
            return f"row {row} keeps {n} logits, expected exactly k = {k}{why}"
    kept = ~dropped
    if not torch.allclose(got[kept].double(), logits[kept].double(), atol=1e-6):
        return "the kept logits must be unchanged (the same values, at the same positions)"
    for row in range(logits.shape[0]):
        if dropped[row].any() and logits[row][kept[row]].min() < logits[row][dropped[row]].max():
            return f"row {row} keeps a logit that is smaller than one it drops: keep the k largest of every row"
    return None


def check_top_k_filter(fn: Callable):
    """``fn(logits, k)`` (the notebook's ``top_k_exact``): logits (B, V) -> the same shape, the k largest
    of every row kept, the rest -inf (what ``course_utils.generate.top_k_filter`` does)."""
    gen = torch.Generator().manual_seed(2024)
    tied = torch.tensor([[1.0, 3.0, 3.0, 3.0, 0.0, 2.0], [5.0, 1.0, 1.0, 1.0, 1.0, 0.0]])
    cases = []
    for desc, logits, k in [
        ("one row of 6 logits, k = 2", torch.tensor([[0.1, 2.0, -1.0, 3.0, 0.5, 1.0]]), 2),
        ("a batch of 4 rows, 10 logits each, k = 3", torch.randn(4, 10, generator=gen), 3),
        ("ties at the border in a batch of 2, k = 2", tied, 2),
        ("k = 1 is greedy", torch.randn(3, 8, generator=gen), 1),
        ("k equal to the vocabulary keeps everything", torch.randn(2, 5, generator=gen), 5),
    ]:
        cases.append(Case(desc, args=(logits, k), expected=top_k_filter(logits, k)))
    return run_checks("top_k_exact", fn, cases, comparer=_same_filtered, mistakes=_TOP_K_MISTAKES,
                      properties=[_explain_top_k])  # named after the function the notebook asks for


# ---------------------------------------------------------------- exercise 2: the greedy loop


class _WindowModel(nn.Module):
    """A stand-in for a GPT whose next token depends on EVERY token of the window it sees.

    The logits at position t pick one token: a hash of the tokens 0..t of the window (weighted by their
    place in it), so cropping one token too many or too few, feeding only the last token, or keeping the
    first tokens instead of the last all change the answer. Feeding it more than ``context_length``
    tokens raises, like the real model.
    """

    def __init__(self, vocab_size: int, context_length: int):
        super().__init__()
        self.cfg = GPTConfig(vocab_size=vocab_size, context_length=context_length, emb_dim=8, n_heads=2, n_layers=1)
        self.anchor = nn.Parameter(torch.zeros(1))  # so next(model.parameters()).device works

    def forward(self, ids: torch.Tensor, *, cache=None, last_only: bool = False, **kwargs) -> torch.Tensor:
        ctx, vocab = self.cfg.context_length, self.cfg.vocab_size
        if cache is not None:
            raise ValueError("this exercise's loop runs without a KV cache: call model(window) on the cropped ids")
        if not isinstance(ids, torch.Tensor) or ids.dim() != 2:
            shape = tuple(ids.shape) if isinstance(ids, torch.Tensor) else type(ids).__name__
            raise ValueError(f"the model takes ids of shape (batch, tokens), got {shape}: keep the batch axis")
        if ids.is_floating_point():
            raise ValueError(f"the model got ids of dtype {ids.dtype}: token ids must be integers (torch.long)")
        t = ids.shape[1]
        if t > ctx:
            raise ValueError(f"the model was fed {t} tokens but its context_length is {ctx}: feed it at most the "
                             f"last {ctx} tokens, ids[:, -{ctx}:]")
        if t == 0:
            raise ValueError("the model was fed 0 tokens: feed it the last context_length tokens, not none")
        ids = ids.long()
        place = torch.arange(1, t + 1)  # 1, 2, ... from the window's start
        h = torch.cumsum((ids + 1) * (2 * place + 1) + ids * ids, dim=1) % vocab  # (B, T): depends on 0..t
        logits = 4.0 * nn.functional.one_hot(h, vocab).float() - 0.01 * torch.arange(vocab)
        logits = logits + 0.0 * self.anchor
        return logits[:, -1:, :] if last_only else logits


def _greedy(model, ids, n, crop: Callable | None = None, pick_position: int = -1, steps: int | None = None,
            keep_cropped: bool = False):
    """The greedy loop with knobs for the classic slips (defaults: the right answer)."""
    ctx = model.cfg.context_length
    crop = crop or (lambda ids: ids[:, -ctx:])
    with torch.no_grad():
        for _ in range(n if steps is None else steps):
            window = crop(ids)
            nxt = model(window)[:, pick_position, :].argmax(dim=-1, keepdim=True)
            ids = torch.cat([window if keep_cropped else ids, nxt], dim=1)
    return ids


def _once_and_repeat(model, ids, n):
    ctx = model.cfg.context_length
    with torch.no_grad():
        nxt = model(ids[:, -ctx:])[:, -1, :].argmax(dim=-1, keepdim=True)
    return torch.cat([ids, nxt.expand(-1, n)], dim=1)


def _first_row_only(model, ids, n):
    return _greedy(model, ids[:1], n).expand(ids.shape[0], -1)


_GREEDY_MISTAKES = [
    Mistake(lambda model, ids, n: ids,
            "only the prompt came back: append each new token to the ids, ids = torch.cat([ids, next_id], dim=1), "
            "and return them"),
    Mistake(lambda model, ids, n: _greedy(model, ids, n)[:, ids.shape[1]:],
            "only the new tokens came back: return the prompt followed by them, (B, T + max_new_tokens)"),
    Mistake(lambda model, ids, n: _greedy(model, ids, n, crop=lambda x: x[:, -(model.cfg.context_length - 1):]),
            "the model was fed context_length - 1 tokens once the text is long: feed it the last context_length "
            "tokens, ids[:, -context_length:]"),
    Mistake(lambda model, ids, n: _greedy(model, ids, n, crop=lambda x: x[:, :model.cfg.context_length]),
            "the model was fed the FIRST context_length tokens: once the text is longer, feed it the LAST ones, "
            "ids[:, -context_length:]"),
    Mistake(lambda model, ids, n: _greedy(model, ids, n, crop=lambda x: x[:, -1:]),
            "the model was fed only the last token: without a KV cache it must see the whole window, "
            "ids[:, -context_length:], at every step"),
    Mistake(_once_and_repeat,
            "the model was called once and its token repeated: call it again at every step, on the text so far "
            "(with the token just appended)"),
    Mistake(lambda model, ids, n: _greedy(model, ids, n, pick_position=0),
            "the token was picked from the FIRST position's logits: the next token comes from the last one, "
            "logits[:, -1, :]"),
    Mistake(lambda model, ids, n: _greedy(model, ids, n, keep_cropped=True),
            "the returned text was cropped too: crop only what you feed the model (window = ids[:, -ctx:]) and keep "
            "appending to the whole ids"),
    Mistake(_first_row_only,
            "every row holds the first prompt's continuation: keep the batch axis (logits[:, -1, :]) and append one "
            "token to every row"),
    Mistake(lambda model, ids, n: _greedy(model, ids[:1], n),
            "only the first prompt came back: keep the batch axis (logits[:, -1, :]) and append one token per row"),
    Mistake(lambda model, ids, n: _greedy(model, ids, n, steps=max(n - 1, 0)),
            "one token too few was generated: run the loop max_new_tokens times"),
    Mistake(lambda model, ids, n: _greedy(model, ids, n, steps=n + 1),
            "one token too many was generated: run the loop max_new_tokens times"),
]


def _ids_are_integers(got, case) -> str | None:
    if isinstance(got, torch.Tensor) and got.is_floating_point():
        return f"the ids are floats ({got.dtype}): keep them integers (argmax gives torch.long; don't convert)"
    return None


def _explain_greedy(got, case) -> str | None:
    """Generic help: is the prompt kept, and from which step on do the new tokens differ?"""
    expected = case.expected
    if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(expected.shape) or torch.equal(got, expected):
        return None
    t = case.args[1].shape[1]
    if not torch.equal(got[:, :t], expected[:, :t]):
        return "the first T positions must be the prompt, unchanged"
    col = int((got != expected).any(dim=0).nonzero()[0])
    return (f"the prompt is kept, but the new tokens differ from step {col - t + 1} on (position {col}): each step "
            "feeds the model ids[:, -context_length:], takes the argmax of the LAST position's logits and appends it")


def check_greedy_decode(fn: Callable):
    """``fn(model, ids, max_new_tokens)`` -> (B, T + max_new_tokens): the greedy loop, no cache,
    feeding the model at most its last ``context_length`` tokens."""
    gen = torch.Generator().manual_seed(2024)
    cases = []
    for desc, ctx, shape, n in [
        ("one prompt of 3 tokens, 5 new tokens", 16, (1, 3), 5),
        ("a batch of 2 prompts of 4 tokens, 6 new tokens", 16, (2, 4), 6),
        ("past the context: context_length 6, a prompt of 4, 10 new tokens", 6, (2, 4), 10),
        ("a prompt longer than the context: context_length 4, a prompt of 7, 3 new tokens", 4, (1, 7), 3),
        ("max_new_tokens = 0 returns the prompt", 8, (1, 4), 0),
    ]:
        model = _WindowModel(vocab_size=50, context_length=ctx)
        ids = torch.randint(0, 50, shape, generator=gen)
        cases.append(Case(desc, args=(model, ids, n), expected=_greedy(model, ids, n), dims=("sequence", "position")))
    with torch.random.fork_rng(devices=[]):  # a real (random) GPT too: the loop must work with it
        torch.manual_seed(2024)
        cfg = GPTConfig(vocab_size=60, context_length=8, emb_dim=16, n_heads=2, n_layers=2, drop_rate=0.0)
        model = GPTModel(cfg).eval()
        with torch.no_grad():
            model.tok_emb.weight.normal_(0.0, 1.0)  # clear winners, so greedy is unambiguous
        ids = torch.randint(0, 60, (2, 5))
        cases.append(Case("a real GPTModel (random weights), context_length 8, 5 + 6 tokens", args=(model, ids, 6),
                          expected=generate(model, ids, 6, use_cache=False), dims=("sequence", "position")))
    return run_checks("greedy_decode", fn, cases, mistakes=_GREEDY_MISTAKES,
                      properties=[_ids_are_integers, _explain_greedy])
