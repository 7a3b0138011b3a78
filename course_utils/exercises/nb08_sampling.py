"""Checker for notebook 08's Exercise 3: sampling one token with temperature, top-k and top-p
through a ``torch.Generator``. A draw cannot be compared draw for draw (a student may use
``torch.multinomial`` or ``torch.distributions.Categorical``), so the checker compares the
distribution of many draws with the right probabilities, and the mistakes' distributions with the
student's (argmax, temperature after the softmax, top-p one token too few or too many, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ..generate import next_token_distribution, top_k_filter
from ._check import Case, Mistake, run_checks

__all__ = ["check_sample_next_token"]


# ---------------------------------------------------------------- exercise 3: sample one token

_ROWS_PER_GROUP = 2000  # identical rows per distinct logits row: enough draws to see each probability


class _Distribution:
    """The probabilities (groups, V) each block of ``rows`` identical batch rows is drawn from."""

    def __init__(self, probs: torch.Tensor, rows: int):
        self.probs, self.rows = probs.double(), rows

    def __repr__(self) -> str:
        return "probabilities per distinct row " + str(self.probs.numpy().round(3).tolist())


class _Draws:
    """What the student's sampler gave: the draws of a first call, and how it used the generator."""

    def __init__(self, got: Any, same_seed_same: bool, other_seed_differs: bool, touched_global: bool, vocab: int):
        self.got, self.same_seed_same, self.other_seed_differs = got, same_seed_same, other_seed_differs
        self.touched_global, self.vocab = touched_global, vocab

    def frequencies(self, rows: int) -> torch.Tensor | None:
        g = self.got
        if not isinstance(g, torch.Tensor) or g.dim() != 1 or g.is_floating_point() or g.numel() % rows:
            return None
        if g.numel() and (int(g.min()) < 0 or int(g.max()) >= self.vocab):
            return None
        counts = torch.stack([torch.bincount(block.long(), minlength=self.vocab) for block in g.split(rows)])
        return counts.double() / rows

    def __repr__(self) -> str:
        freq = self.frequencies(_ROWS_PER_GROUP)
        if freq is None:
            return repr(self.got) if not isinstance(self.got, torch.Tensor) else (
                f"tensor of shape {tuple(self.got.shape)}, dtype {self.got.dtype}")
        return "frequencies per distinct row " + str(freq.numpy().round(3).tolist())


def _compare_distribution(got: Any, expected: _Distribution, atol: float | None = None) -> str | None:
    """None when ``got`` (draws, or a mistake's distribution) follows ``expected``."""
    p = expected.probs
    if isinstance(got, _Distribution):  # a mistake's distribution: can this case tell it apart?
        same_support = torch.equal(got.probs > 1e-9, p > 1e-9)
        return None if same_support and (got.probs - p).abs().max() < 0.03 else "different distributions"
    freq = got.frequencies(expected.rows) if isinstance(got, _Draws) else None
    if freq is None or freq.shape != p.shape:
        return "the draws are not one token id per row"
    for row in range(p.shape[0]):
        never = (p[row] <= 1e-12) & (freq[row] > 0)
        if never.any():
            tok = int(never.nonzero()[0])
            return (f"in row group {row}, token {tok} was drawn {freq[row, tok]:.1%} of the time, but its probability "
                    "is 0 (it is outside the top-k or the top-p nucleus): filter before you draw")
    sigma = (p * (1 - p) / expected.rows).sqrt()
    excess = (freq - p).abs() - 5 * sigma - 0.005
    if (excess > 0).any():
        row, tok = divmod(int(excess.argmax()), p.shape[1])
        return (f"the draws do not follow the right probabilities: in row group {row}, token {tok} came "
                f"{freq[row, tok]:.1%} of the time, its probability is {p[row, tok]:.1%}. The order is: logits / "
                "temperature, keep the top_k largest, softmax, keep the top-p nucleus, draw")
    return None


def _probs(logits, temperature=1.0, top_k=None, top_p=None):
    return next_token_distribution(logits, temperature, top_k, top_p)


def _distribution_of(fn: Callable) -> Callable:
    """A mistake written as 'the probabilities it draws from' -> a Mistake fn over the probe's arguments."""
    def mistake(logits, temperature, top_k, top_p, seed):
        probs = fn(logits, temperature, top_k, top_p)[::_ROWS_PER_GROUP]
        return _Distribution(probs / probs.sum(dim=-1, keepdim=True), _ROWS_PER_GROUP)  # as a draw normalises
    mistake.probs_fn = fn  # the tests draw from it, as a student's sampler with this mistake would
    return mistake


def _nucleus(probs, top_p, extra: int):
    """Top-p keeping ``extra`` tokens more (or fewer, when negative) than the right nucleus, at least one."""
    if top_p is None:
        return probs
    sorted_probs, order = torch.sort(probs, dim=-1, descending=True, stable=True)
    n = ((sorted_probs.double().cumsum(-1) - sorted_probs.double()) < top_p).sum(-1, keepdim=True)
    n = (n + extra).clamp(1, probs.shape[-1])
    keep_sorted = torch.arange(probs.shape[-1]) < n
    keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
    kept = probs.masked_fill(~keep, 0.0)
    return kept / kept.sum(-1, keepdim=True)


def _filtered_softmax(logits, top_k):
    return torch.softmax(top_k_filter(logits, top_k) if top_k is not None else logits, dim=-1)


_SAMPLE_MISTAKES = [
    Mistake(_distribution_of(lambda z, t, k, p: torch.zeros_like(z).scatter(-1, z.argmax(-1, keepdim=True), 1.0)),
            "the most likely token was always picked (argmax): draw at random from the probabilities, "
            "torch.multinomial(probs, 1, generator=generator)"),
    Mistake(_distribution_of(lambda z, t, k, p: _probs(z, 1.0, k, p)),
            "the temperature had no effect: divide the LOGITS by it before the softmax (dividing the probabilities "
            "after the softmax changes nothing once they are renormalised)"),
    Mistake(_distribution_of(lambda z, t, k, p: torch.softmax(_probs(z, 1.0, k, p) / t, dim=-1)),
            "the temperature was applied after the softmax (softmax(probs / temperature)): divide the logits by "
            "the temperature, then take one softmax"),
    Mistake(_distribution_of(lambda z, t, k, p: _probs(z * t, 1.0, k, p)),
            "the logits were multiplied by the temperature: divide them (a low temperature sharpens)"),
    Mistake(_distribution_of(lambda z, t, k, p: _probs(z, t, None, p)),
            "the top-k filter had no effect: keep only the top_k largest logits (the rest -inf) before the softmax "
            "(and measure top-p after it, on the renormalised probabilities)"),
    Mistake(_distribution_of(lambda z, t, k, p: _probs(z, t, k, None)),
            "the top-p filter had no effect: keep the smallest set of most likely tokens whose probabilities "
            "add up to top_p, measured AFTER the top-k filter and softmax, then renormalise"),
    Mistake(_distribution_of(lambda z, t, k, p: _nucleus(_probs(z, t, k, None), p, -1)),
            "top-p kept one token too few: keep a token when the tokens MORE likely than it hold less than top_p "
            "(cumulative sum minus its own probability < top_p), so the nucleus reaches top_p"),
    Mistake(_distribution_of(lambda z, t, k, p: _nucleus(_probs(z, t, k, None), p, +1)),
            "top-p kept one token too many: keep a token only when the tokens more likely than it hold less than "
            "top_p; the first token that brings the sum to top_p is the last one kept"),
    Mistake(_distribution_of(lambda z, t, k, p: _probs(z[:1].expand_as(z), t, k, p)),
            "every row drew from the first row's probabilities: keep the batch axis, one draw per row of its own "
            "logits"),
    Mistake(_distribution_of(lambda z, t, k, p: _filtered_softmax(z / t, k) if p is None else
                             _nucleus(_filtered_softmax(z, k), p, 0) ** (1 / t)),
            "top-p was taken before the temperature: divide the logits by the temperature first"),
]


def _probe(fn: Callable) -> Callable:
    """Call ``fn`` with a seeded generator, again with the same seed and with another one, and watch the
    global random state: the draws of the first call plus what the others say about the generator."""
    def probe(logits, temperature, top_k, top_p, seed):
        state = torch.get_rng_state()
        got = fn(logits, temperature, top_k, top_p, torch.Generator().manual_seed(seed))
        touched = not torch.equal(torch.get_rng_state(), state)
        again = fn(logits, temperature, top_k, top_p, torch.Generator().manual_seed(seed))
        other = fn(logits, temperature, top_k, top_p, torch.Generator().manual_seed(seed + 1))

        def equal(a, b):
            return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape and \
                bool(torch.equal(a, b))
        return _Draws(got, equal(got, again), not equal(got, other), touched, logits.shape[-1])
    return probe


def _sample_shape(got: _Draws, case) -> str | None:
    x, (b, v) = got.got, case.args[0].shape
    if not isinstance(x, torch.Tensor):
        return f"expected a tensor of token ids, got {type(x).__name__}"
    if x.is_floating_point() and tuple(x.shape) == (b, v):
        return ("probabilities (B, V) came back, not token ids: draw one id per row from them, "
                "torch.multinomial(probs, 1, generator=generator).squeeze(-1)")
    if tuple(x.shape) == (b, 1):
        return "the ids have shape (B, 1), expected (B,): torch.multinomial returns one column; add .squeeze(-1)"
    if tuple(x.shape) != (b,):
        return f"the ids have shape {tuple(x.shape)}, expected ({b},): one id per row of the logits"
    if x.is_floating_point():
        return f"the ids are floats ({x.dtype}): return integer token ids (torch.long), e.g. with .long()"
    if x.dtype == torch.bool:
        return "the ids are booleans: return integer token ids (torch.long)"
    if int(x.min()) < 0 or int(x.max()) >= v:
        return f"some ids are outside the vocabulary 0 .. {v - 1}: draw indices along the last axis of the logits"
    return None


def _sample_uses_generator(got: _Draws, case) -> str | None:
    if got.touched_global:
        return ("it drew from torch's global random generator, not from the `generator` argument: pass it on, "
                "torch.multinomial(probs, 1, generator=generator)")
    if not got.same_seed_same:
        return "two calls with generators of the same seed gave different draws: draw only from the `generator` given"
    random = (case.expected.probs.max(dim=-1).values < 0.999).any()
    if random and not got.other_seed_differs:
        return ("generators with different seeds gave exactly the same draws: draw from the `generator` argument, "
                "not from one of your own with a fixed seed")
    return None


def check_sample_next_token(fn: Callable):
    """``fn(logits, temperature, top_k, top_p, generator)`` (the notebook's ``sample_token``): logits (B, V),
    temperature > 0, top_k int or None, top_p float or None -> one id per row, (B,) long, drawn with
    ``generator`` from softmax(top_k_filter(logits / temperature)) cut to the top-p nucleus and renormalised
    (the order and definitions of ``course_utils.generate.next_token_distribution``)."""
    rows = torch.tensor([[2.0, 1.0, 0.5, 0.0, -0.5, -1.0, 1.5, 0.2],
                         [0.3, -1.0, 2.2, 0.9, 1.8, 0.0, -0.3, 1.1]])
    logits = rows.repeat_interleave(_ROWS_PER_GROUP, dim=0)  # (4000, 8): 2000 identical rows of each
    cases = []
    for i, (desc, t, k, p) in enumerate([
        ("temperature 1, no filter", 1.0, None, None),
        ("temperature 0.5 (sharper)", 0.5, None, None),
        ("temperature 2 (flatter)", 2.0, None, None),
        ("top_k = 3", 1.0, 3, None),
        ("top_p = 0.7", 1.0, None, 0.7),
        ("temperature 3, top_p = 0.8", 3.0, None, 0.8),
        ("temperature 1.2, top_k = 4, top_p = 0.7", 1.2, 4, 0.7),
        ("top_k = 1 leaves one token", 1.5, 1, None),
    ]):
        expected = _Distribution(_probs(rows, t, k, p), _ROWS_PER_GROUP)
        cases.append(Case(f"{desc}, 2 x {_ROWS_PER_GROUP:,} identical rows of 8 logits", (logits, t, k, p, 100 + i),
                          expected=expected))
    return run_checks("sample_token", _probe(fn), cases, comparer=_compare_distribution, mistakes=_SAMPLE_MISTAKES,
                      properties=[_sample_shape, _sample_uses_generator])
