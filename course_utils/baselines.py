"""Count-based baselines: the losses a language model has to beat, on the same held-out targets.

A loss curve means little without reference lines. Three guessers that need no training loop:

    uniform    every token 1/V: ln V = 10.82 (``course_utils.losses.uniform_loss``)
    unigram    every token with its frequency in the training plays: no context at all
    bigram     the next token from the previous token alone, counted in the training plays

A model below the unigram line has learnt which tokens are frequent; below the bigram line it uses
more than the previous token. All three are scored on exactly the (input, target) pairs the model
is scored on: ``eval_pairs`` cuts them the way ``text_loss`` and the training loop's evaluation do.

    eval_pairs(ids, context_length, stride, max_windows, spread)
                                           the (inputs, targets) a model is scored on
    count_ngrams(train_ids)                unigram and bigram counts, computed once
    unigram_loss(train, targets, alpha)    add-alpha smoothed token frequencies
    bigram_loss(train, pairs, lam, alpha)  lam * P(next | prev) + (1 - lam) * P_unigram
    fit_smoothing(train_ids)               choose alpha and lam on the training text

Counts are kept sparse: only the (prev, next) pairs that occur, as sorted keys prev * V + next,
never a dense V x V table (50257^2 entries would be 20 GB). Losses are in nats.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .data import TokenWindows
from .losses import GPT2_VOCAB_SIZE, uniform_loss

# Chosen by fit_smoothing on the shipped training plays (counts on their first 90%, scored on the
# last 10%); never on the held-out plays. tests/test_baselines.py checks that the fit still gives them.
ALPHA = 0.3
LAM = 0.75
ALPHA_GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
LAM_GRID = tuple(round(0.05 * k, 2) for k in range(1, 20))  # 0.05, 0.10, ..., 0.95


@dataclass(frozen=True)
class NgramCounts:
    """How often each token, and each (prev, next) pair of neighbours, occurs in a training stream."""

    vocab_size: int
    token_counts: torch.Tensor  # (V,): count of each id
    prev_counts: torch.Tensor  # (V,): how often each id is followed by something (all but the last token)
    pair_keys: torch.Tensor  # (P,) sorted: prev * V + next for every pair that occurs
    pair_counts: torch.Tensor  # (P,): how often that pair occurs


def count_ngrams(train_ids, vocab_size: int = GPT2_VOCAB_SIZE) -> NgramCounts:
    """Unigram and bigram counts of a 1-D stream of token ids (at least 2 tokens)."""
    ids = _check_stream(train_ids, vocab_size)
    if ids.numel() < 2:
        raise ValueError(f"train_ids has {ids.numel()} token(s); counting pairs needs at least 2")
    keys, counts = torch.unique(ids[:-1] * vocab_size + ids[1:], return_counts=True)  # sorted keys
    return NgramCounts(
        vocab_size=vocab_size,
        token_counts=torch.bincount(ids, minlength=vocab_size),
        prev_counts=torch.bincount(ids[:-1], minlength=vocab_size),
        pair_keys=keys,
        pair_counts=counts,
    )


def eval_pairs(ids, context_length: int, stride: int | None = None, max_windows: int | None = None,
               spread: bool = False):
    """The (inputs, targets) a model is scored on, each (N, context_length): windows of ``ids``.

    Windows start every ``stride`` tokens (default ``context_length``); ``max_windows`` of them,
    the first ones or with ``spread`` evenly spread over the text (``TokenWindows.pick``): the
    positions of ``text_loss(model, ids, context_length=..., stride=..., max_windows=..., spread=...)``
    and of the training loop's evaluation (eval_batches * batch_size windows, spread unless the
    run's ``eval_spread`` is False). ``inputs[n, t]`` is the token just before ``targets[n, t]``.
    """
    windows = TokenWindows(ids, context_length, stride)
    return windows.batch(windows.pick(max_windows, spread))


def unigram_probs(train, alpha: float = ALPHA, vocab_size: int = GPT2_VOCAB_SIZE) -> torch.Tensor:
    """P(token) = (count + alpha) / (N + alpha * V): (V,) float64, never 0 for an unseen token."""
    counts = _counts(train, vocab_size)
    _check_positive("alpha", alpha)
    c = counts.token_counts.double()
    return (c + alpha) / (c.sum() + alpha * counts.vocab_size)


def unigram_loss(train, targets, alpha: float = ALPHA, vocab_size: int = GPT2_VOCAB_SIZE) -> float:
    """Mean -ln P_unigram(target): the loss of a guesser that knows token frequencies, not context.

    ``train``: training ids (1-D) or their ``count_ngrams``; ``targets``: ids of any shape, or the
    (inputs, targets) pair from ``eval_pairs``. ``vocab_size`` counts when ``train`` is ids.
    """
    counts = _counts(train, vocab_size)
    if isinstance(targets, (tuple, list)):
        targets = targets[1]
    y = _check_ids("targets", targets, counts.vocab_size)
    return float(-unigram_probs(counts, alpha)[y].log().mean())


def bigram_token_probs(
    train, pairs, lam: float = LAM, alpha: float = ALPHA, vocab_size: int = GPT2_VOCAB_SIZE
) -> torch.Tensor:
    """P(target | previous token) = lam * count(prev, next) / count(prev) + (1 - lam) * P_unigram(next).

    ``pairs``: (inputs, targets) of the same shape, inputs[..] the token before targets[..] (as from
    ``eval_pairs``). A previous token never seen in training has no counts: its row falls back to
    P_unigram alone. Returns float64 probabilities of the targets' shape.
    """
    counts = _counts(train, vocab_size)
    p_next, p_uni, seen = _bigram_parts(counts, pairs, alpha)
    return _mix(p_next, p_uni, seen, lam)


def bigram_loss(train, pairs, lam: float = LAM, alpha: float = ALPHA, vocab_size: int = GPT2_VOCAB_SIZE) -> float:
    """Mean -ln P(target | previous token) of the interpolated bigram (``bigram_token_probs``)."""
    return float(-bigram_token_probs(train, pairs, lam, alpha, vocab_size).log().mean())


def baseline_losses(train, pairs, vocab_size: int = GPT2_VOCAB_SIZE) -> dict[str, float]:
    """uniform, unigram and bigram loss on the same (inputs, targets), with the fitted ALPHA and LAM."""
    counts = _counts(train, vocab_size)
    return {
        "uniform": uniform_loss(counts.vocab_size),
        "unigram": unigram_loss(counts, pairs),
        "bigram": bigram_loss(counts, pairs),
    }


def fit_smoothing(train_ids, fraction: float = 0.1, vocab_size: int = GPT2_VOCAB_SIZE) -> tuple[float, float]:
    """Choose (alpha, lam) on the training text alone: count on its first 1 - fraction, score the rest.

    alpha: the value of ALPHA_GRID with the lowest unigram loss on the last ``fraction``; then lam:
    the value of LAM_GRID with the lowest bigram loss there (with that alpha). The held-out plays
    play no part, so the baselines stay honest references for them.
    """
    ids = _check_stream(train_ids, vocab_size)
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be between 0 and 1 (the share of the text to score), got {fraction}")
    cut = int(len(ids) * (1 - fraction))
    if cut < 2 or len(ids) - cut < 2:
        raise ValueError(f"train_ids has only {len(ids)} tokens: too few to split for fitting; use more text")
    counts, rest = count_ngrams(ids[:cut], vocab_size), ids[cut:]
    pairs = (rest[:-1], rest[1:])
    alpha = min(ALPHA_GRID, key=lambda a: unigram_loss(counts, pairs, a))
    p_next, p_uni, seen = _bigram_parts(counts, pairs, alpha)  # computed once, mixed for every lam
    lam = min(LAM_GRID, key=lambda v: float(-_mix(p_next, p_uni, seen, v).log().mean()))
    return alpha, lam


# ---------------------------------------------------------------- helpers


def _bigram_parts(counts: NgramCounts, pairs, alpha: float):
    """P(next | prev) from counts (0 where prev was never seen), P_unigram(next), and where prev was seen."""
    if not isinstance(pairs, (tuple, list)) or len(pairs) != 2:
        raise ValueError("pairs must be (inputs, targets), e.g. eval_pairs(val_ids, context_length)")
    x = _check_ids("inputs", pairs[0], counts.vocab_size)
    y = _check_ids("targets", pairs[1], counts.vocab_size)
    if x.shape != y.shape:
        raise ValueError(f"inputs {tuple(x.shape)} and targets {tuple(y.shape)} must have the same shape "
                         f"(inputs[i] is the token before targets[i])")
    query = x * counts.vocab_size + y
    i = torch.searchsorted(counts.pair_keys, query).clamp(max=len(counts.pair_keys) - 1)
    pair = torch.where(counts.pair_keys[i] == query, counts.pair_counts[i], 0).double()
    prev = counts.prev_counts[x].double()
    seen = prev > 0
    p_next = torch.where(seen, pair / prev.clamp(min=1), 0.0)
    return p_next, unigram_probs(counts, alpha)[y], seen


def _mix(p_next, p_uni, seen, lam: float) -> torch.Tensor:
    if not (isinstance(lam, (int, float)) and 0 <= lam < 1):
        raise ValueError(f"lam must be in [0, 1) (the bigram's share; 1 would give unseen pairs probability 0), "
                         f"got {lam!r}")
    return torch.where(seen, lam * p_next + (1 - lam) * p_uni, p_uni)


def _counts(train, vocab_size: int = GPT2_VOCAB_SIZE) -> NgramCounts:
    return train if isinstance(train, NgramCounts) else count_ngrams(train, vocab_size)


def _check_positive(name: str, value) -> None:
    if not (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number (the pseudo-count added to every token), got {value!r}")


def _check_stream(train_ids, vocab_size: int) -> torch.Tensor:
    ids = _check_ids("train_ids", train_ids, vocab_size)
    if ids.dim() != 1:
        raise ValueError(f"train_ids must be one 1-D stream of token ids, got shape {tuple(ids.shape)}; "
                         f"join the texts first (e.g. corpus.token_ids('train'))")
    return ids


def _check_ids(name: str, ids, vocab_size: int) -> torch.Tensor:
    if isinstance(ids, str):
        raise ValueError(f"{name} must be token ids, not text; encode it first: cu.text_to_ids(text)")
    ids = torch.as_tensor(ids)
    if ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
        raise ValueError(f"{name} must be integer token ids, got dtype {ids.dtype}; use .long()")
    if ids.numel() == 0:
        raise ValueError(f"{name} is empty: need at least one token id")
    ids = ids.long()
    lo, hi = int(ids.min()), int(ids.max())
    if lo < 0 or hi >= vocab_size:
        raise ValueError(f"{name} holds ids from {lo} to {hi}, outside 0 .. {vocab_size - 1} "
                         f"(vocab_size={vocab_size}); pass the vocab_size the ids come from")
    return ids
