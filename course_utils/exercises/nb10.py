"""Checkers for notebook 10 · Cross-entropy tidbits.

Each classic mistake is written as code (a ``Mistake``): when the student's answer equals what the
mistake computes on a case, its hint names it (a nan or an inf included: a naive exp() overflows, the
log of a softmax underflows). Nothing reads the student's code.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ._check import Case, Mistake, run_checks
from ._numbers import compare_number, compare_tensors

__all__ = ["check_cross_entropy", "check_next_token_losses", "check_unigram_entropy"]

_LN2, _LN10 = math.log(2), math.log(10)


# ---------------------------------------------------------------- exercise 1: cross-entropy from scratch


def _picked(matrix, targets):
    return matrix[torch.arange(len(targets)), targets]


def _naive(logits, targets):
    e = logits.exp()
    return -_picked(e / e.sum(-1, keepdim=True), targets).log().mean()


def _no_keepdim(logits, targets):
    shifted = logits - logits.max(dim=-1).values  # (N, V) - (N,): broadcasts along the wrong axis when N == V
    return -_picked(shifted - shifted.exp().sum(-1, keepdim=True).log(), targets).mean()


def _mixed_shift(logits, targets):
    m = logits.max(dim=-1, keepdim=True).values
    lse = (logits - m).exp().sum(-1).log()  # forgot to add m back
    return (lse - _picked(logits, targets)).mean()


_CE_MISTAKES = [
    Mistake(lambda z, t: -_picked(torch.softmax(z, -1).log(), t).mean(),
            "the log was taken of the softmax: for a target far below the largest logit the softmax underflows "
            "to exactly 0 and log(0) = -inf. Compute the log-probabilities directly: z - m - log(sum(exp(z - m)))"),
    Mistake(_naive,
            "exp() of logits around 1000 overflowed to inf (inf / inf = nan): subtract each row's largest logit "
            "before exp(), the log-sum-exp trick: logsumexp(z) = m + log(sum(exp(z - m)))"),
    Mistake(lambda z, t: -_picked((z - z.max()) - (z - z.max()).exp().sum(-1, keepdim=True).log(), t).mean(),
            "the largest logit of the whole batch was subtracted, not each row's own: a row far below it underflows "
            "to exp() = 0 and log(0) = -inf; use logits.max(dim=-1, keepdim=True).values"),
    Mistake(lambda z, t: F.cross_entropy(z, t) / _LN2,
            "this is log base 2 (bits): use the natural log (nats), like F.cross_entropy"),
    Mistake(lambda z, t: F.cross_entropy(z, t) / _LN10,
            "this is log base 10: use the natural log (nats), like F.cross_entropy"),
    Mistake(lambda z, t: F.cross_entropy(z, t, reduction="sum"),
            "the losses were summed: F.cross_entropy returns their MEAN over the positions"),
    Mistake(lambda z, t: F.cross_entropy(z, t, reduction="none"),
            "one loss per position came back: return their mean, a single number"),
    Mistake(lambda z, t: -F.cross_entropy(z, t),
            "the sign is flipped: the loss is MINUS the log-probability of the target (a positive number)"),
    Mistake(lambda z, t: -torch.log_softmax(z, -1)[0, t].mean(),
            "every target was looked up in the first row's log-probabilities: pick row i's own target, "
            "log_probs[torch.arange(N), targets]"),
    Mistake(lambda z, t: -torch.log_softmax(z, -1)[:, t].mean(),
            "log_probs[:, targets] picks every target in every row (an N x N block): pair them up, "
            "log_probs[torch.arange(N), targets]"),
    Mistake(lambda z, t: -torch.log_softmax(z, -1).mean(),
            "the mean was taken over every entry, not over the targets' log-probabilities: pick one per row first, "
            "log_probs[torch.arange(N), targets]"),
    Mistake(lambda z, t: -_picked(torch.softmax(z, -1), t).mean(),
            "these are probabilities, not log-probabilities: the loss is -log(p_target)"),
    Mistake(lambda z, t: 1 - _picked(torch.softmax(z, -1), t).mean(),
            "this is 1 - p: the loss is -log(p_target)"),
    Mistake(lambda z, t: -_picked(torch.log_softmax(z, 0), t).mean(),
            "the softmax ran down the columns (dim=0): normalise each row over the vocabulary, dim=-1"),
    Mistake(_no_keepdim,
            "the row maxima were subtracted without keepdim: (N, V) - (N,) broadcasts along the wrong axis; use "
            "logits.max(dim=-1, keepdim=True).values"),
    Mistake(_mixed_shift,
            "the shifted and unshifted logits were mixed: logsumexp of the shifted logits needs the max added back, "
            "m + log(sum(exp(z - m))) - z_target"),
    Mistake(lambda z, t: -_picked(z, t).mean(),
            "the normaliser is missing: loss = logsumexp(z) - z_target, not just -z_target"),
]


def check_cross_entropy(fn):
    """``fn(logits, targets) -> loss``: mean next-token cross-entropy; logits (N, V), targets (N,).

    The result must equal ``F.cross_entropy(logits, targets)``, also for very large logits and for a
    target far below the largest logit."""
    gen = torch.Generator().manual_seed(10)
    cases = [
        ("3 positions, vocabulary of 3", (torch.tensor([[2.0, 1.0, 0.1], [0.5, 2.5, 0.0], [1.0, -1.0, 3.0]]),
                                          torch.tensor([0, 2, 2]))),
        ("5 positions, vocabulary of 10",
         (3 * torch.randn(5, 10, generator=gen), torch.randint(0, 10, (5,), generator=gen))),
        ("4 positions, GPT-2's vocabulary of 50257",
         (0.55 * torch.randn(4, 50257, generator=gen), torch.tensor([11, 198, 50256, 0]))),
        ("very large logits (around 1000): exp() overflows unless you subtract the max",
         (1000 + 5 * torch.randn(3, 6, generator=gen), torch.tensor([1, 4, 0]))),
        ("rows at very different levels (around 1000 and around 0)",
         (torch.tensor([[1000.0, 998.0, 1001.0], [0.5, -1.0, 2.0]]), torch.tensor([1, 0]))),
        ("targets far below the largest logit (by 150): their softmax underflows to 0",
         (torch.tensor([[0.0, 5.0, -150.0, 2.0], [10.0, -140.0, 0.0, 1.0]]), torch.tensor([2, 1]))),
    ]
    cases = [Case(name, args, expected=F.cross_entropy(*args).item()) for name, args in cases]
    return run_checks("cross_entropy", fn, cases, comparer=compare_number, mistakes=_CE_MISTAKES)


# ---------------------------------------------------------------- exercise 2: per-token losses


def _losses(logits, targets):
    return F.cross_entropy(logits, targets, reduction="none")


_NTL_MISTAKES = [
    Mistake(lambda z, ids: _losses(z, ids),
            "position t was scored against token t itself (no shift): the logits at position t predict token "
            "t + 1, so score logits[:-1] against ids[1:]; that gives T - 1 losses"),
    Mistake(lambda z, ids: _losses(z[1:], ids[:-1]),
            "the shift goes the wrong way (logits[1:] against ids[:-1]): position t predicts token t + 1, so "
            "logits[:-1] against ids[1:]"),
    Mistake(lambda z, ids: _losses(z[:-1], ids[:-1]),
            "the last position was dropped but the targets were not shifted: score logits[:-1] against ids[1:]"),
    Mistake(lambda z, ids: _losses(z[1:], ids[1:]),
            "the first position was dropped from both: score logits[:-1] (positions 0 .. T-2) against ids[1:]"),
    Mistake(lambda z, ids: _losses(z[:-1], ids[1:]).mean(),
            "the losses were averaged: return one loss per prediction, shape (T-1,)"),
    Mistake(lambda z, ids: _losses(z[:-1], ids[1:]).sum(),
            "the losses were summed: return one loss per prediction, shape (T-1,)"),
    Mistake(lambda z, ids: _losses(z[:-1], ids[1:]) / _LN2,
            "this is log base 2 (bits): use the natural log (nats)"),
    Mistake(lambda z, ids: -_losses(z[:-1], ids[1:]),
            "the sign is flipped: each loss is MINUS the log-probability of its target (positive)"),
    Mistake(lambda z, ids: _picked(torch.softmax(z[:-1], -1), ids[1:]),
            "these are the targets' probabilities: the loss is -log(p)"),
    Mistake(lambda z, ids: -_picked(torch.softmax(z[:-1], -1).log(), ids[1:]),
            "the log was taken of the softmax: for a target far below the largest logit it underflows to 0 and "
            "log(0) = -inf; use torch.log_softmax (or z - logsumexp(z))"),
    Mistake(lambda z, ids: -torch.log_softmax(z[:-1], -1),
            "the whole (T-1, V) table of -log-probabilities came back: pick each position's target, "
            "[torch.arange(T - 1), ids[1:]]"),
    Mistake(lambda z, ids: -torch.log_softmax(z[:-1], -1)[:, ids[1:]],
            "[:, ids[1:]] picks every target at every position (a (T-1) x (T-1) block): pair them up, "
            "[torch.arange(T - 1), ids[1:]]"),
    Mistake(lambda z, ids: -_picked(torch.log_softmax(z[:-1], 0), ids[1:]),
            "the softmax ran over the positions (dim=0): normalise over the vocabulary, dim=-1"),
    Mistake(lambda z, ids: -_picked(z[:-1], ids[1:]),
            "the normaliser is missing: the loss is logsumexp(z) - z_target, not just -z_target"),
]


def check_next_token_losses(fn):
    """``fn(logits, ids) -> (T-1,) losses``: ``logits`` (T, V) are a model's outputs for the text
    ``ids`` (T,); the logits at position t predict token t+1, so there are T-1 losses."""
    gen = torch.Generator().manual_seed(11)
    cases = []
    for name, t, v in (("4 tokens, vocabulary of 5", 4, 5), ("7 tokens, vocabulary of 12", 7, 12),
                       ("2 tokens, GPT-2's vocabulary", 2, 50257)):
        logits, ids = 2 * torch.randn(t, v, generator=gen), torch.randint(0, v, (t,), generator=gen)
        cases.append(Case(name, (logits, ids), expected=_losses(logits[:-1], ids[1:]), dims=("position",)))
    far = torch.tensor([[0.0, 3.0, -150.0, 1.0], [2.0, 0.0, 0.0, -1.0], [0.0, 0.0, 0.0, 0.0]])
    cases.append(Case("3 tokens, a target 153 below the largest logit", (far, torch.tensor([1, 2, 0])),
                      expected=_losses(far[:-1], torch.tensor([2, 0])), dims=("position",)))
    return run_checks("next_token_losses", fn, cases, comparer=compare_tensors, mistakes=_NTL_MISTAKES)


# ---------------------------------------------------------------- exercise 3: the unigram baseline


def _counts(ids):
    return torch.unique(ids, return_counts=True)[1].double()


def _entropy(ids):
    p = _counts(ids) / ids.numel()
    return float(-(p * p.log()).sum())


def _int_division(ids):
    counts = torch.unique(ids, return_counts=True)[1]
    p = torch.div(counts, ids.numel(), rounding_mode="floor")
    return float(-(p * p.log()).sum())


_UNIGRAM_MISTAKES = [
    Mistake(_int_division,
            "count // total is an integer division: every p is 0 (or 1), and 0 * log(0) = nan. Divide as floats, "
            "p = counts / total (or counts.double() / total)"),
    Mistake(lambda ids: float(-(lambda p: (p * p.log()).sum())(torch.bincount(ids).double() / len(ids))),
            "the tokens that never occur were kept: bincount gives them count 0, and 0 * log(0) = 0 * -inf = nan. "
            "Keep only counts > 0 (counts[counts > 0]), or use torch.special.xlogy(p, p)"),
    Mistake(lambda ids: _entropy(ids) / _LN2,
            "this is log base 2 (bits): use the natural log (nats)"),
    Mistake(lambda ids: _entropy(ids) / _LN10,
            "this is log base 10: use the natural log (nats)"),
    Mistake(lambda ids: math.log(len(torch.unique(ids))),
            "this is log(number of distinct tokens), the entropy of a UNIFORM guess: weight each token by its "
            "frequency, -sum p ln p with p = count / total"),
    Mistake(lambda ids: float(-(_counts(ids) * _counts(ids).log()).sum()),
            "p is not count / total: the raw counts were used (or divided by something other than the number of "
            "tokens, such as the number of distinct tokens); p = count / len(ids)"),
    Mistake(lambda ids: -_entropy(ids),
            "the sign is flipped: the entropy is MINUS sum p ln p (a positive number)"),
    Mistake(lambda ids: _entropy(ids) / len(_counts(ids)),
            "the terms were averaged (mean): the entropy is their SUM, -sum p ln p"),
    Mistake(lambda ids: math.exp(_entropy(ids)),
            "this is the perplexity exp(H): return the entropy H itself, in nats"),
    Mistake(lambda ids: float(-(_counts(ids) / ids.numel()).log().sum()),
            "each token's log-probability was summed without its weight: -sum p ln p, each term times p"),
    Mistake(lambda ids: float(-(_counts(ids) / ids.numel()).log().mean()),
            "the mean of -ln p over the distinct tokens: weight each by its frequency, -sum p ln p"),
]


def check_unigram_entropy(fn):
    """``fn(ids) -> float``: the loss of the best guesser that ignores context on the text ``ids``
    (1-D token ids): the entropy -sum p ln p of the token frequencies p, in nats."""
    texts = [("one token repeated: nothing to guess", torch.tensor([5, 5, 5])),
             ("four different tokens, once each", torch.tensor([1, 2, 3, 4])),
             ("'to be or not to be'", torch.tensor([1462, 307, 393, 407, 284, 307]))]
    gen = torch.Generator().manual_seed(12)
    skewed = torch.multinomial(torch.tensor([0.5, 0.2, 0.1, 0.1, 0.05, 0.05]), 200, replacement=True, generator=gen)
    texts.append(("200 tokens, some much more frequent than others", skewed + 100))
    cases = [Case(name, (ids,), expected=_entropy(ids)) for name, ids in texts]
    return run_checks("unigram_entropy", fn, cases, comparer=compare_number, mistakes=_UNIGRAM_MISTAKES)
