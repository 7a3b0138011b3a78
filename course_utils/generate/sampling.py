"""From the last position's logits to the next token: what notebook 08 builds and plots.

In the order the notebook takes them:

1. greedy: the largest logit wins (``temperature=0``);
2. temperature: divide the logits by T before the softmax (below 1 sharper, above 1 flatter);
3. top-k: keep the k largest logits, exactly k per row even when several tie at the border;
4. top-p (nucleus): keep the smallest set of most likely tokens whose probability reaches p;
5. draw one token from what is left with ``torch.multinomial``.

Each public function checks its arguments (a clear ValueError) and then runs the steps.
``generate`` checks the settings once, in ``Sampler(...)``, and calls that sampler every step:
no argument is checked again per token.
"""

from __future__ import annotations

import torch

from ..checks import check_sampling, check_top_k, check_top_p

__all__ = ["Sampler", "next_token_distribution", "sample_next_token", "top_k_filter", "top_p_filter"]


# ---------------------------------------------------------------- top-k


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the ``k`` largest logits of every row and set the rest to ``-inf``.

    Exactly ``k`` survive per row, even when several logits tie at the border: the kept
    positions are the indices ``torch.topk`` returns, scattered into a mask (a threshold
    ``logits >= kth_value`` would let every tie through).
    """
    check_top_k(k)
    return _top_k(logits, k)


def _top_k(logits: torch.Tensor, k: int) -> torch.Tensor:
    k = min(k, logits.shape[-1])
    idx = torch.topk(logits, k, dim=-1).indices  # (..., k)
    keep = torch.zeros_like(logits, dtype=torch.bool).scatter_(-1, idx, True)  # (..., V), k True per row
    return logits.masked_fill(~keep, float("-inf"))


# ---------------------------------------------------------------- top-p


def top_p_filter(probs: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filtering: keep the smallest set of most likely tokens whose probability adds up
    to at least ``p`` (always at least the top token), zero the rest, and renormalise.

    A token is kept when the tokens more likely than it hold less than ``p`` between them.
    """
    check_top_p(p)
    return _top_p(probs, p)


def _top_p(probs: torch.Tensor, p: float) -> torch.Tensor:
    if p >= 1.0:
        return probs
    sorted_probs, order = torch.sort(probs, dim=-1, descending=True, stable=True)  # (..., V) each
    cum = torch.cumsum(sorted_probs.double(), dim=-1)
    mass_before = cum - sorted_probs.double()  # probability of the tokens ranked above each one
    keep_sorted = mass_before < p  # still short of p: this token is needed
    keep = torch.zeros_like(keep_sorted).scatter_(-1, order, keep_sorted)  # back to vocabulary order
    kept = probs.masked_fill(~keep, 0.0)
    return kept / kept.sum(dim=-1, keepdim=True)


# ---------------------------------------------------------------- all steps together


class Sampler:
    """Sampling settings, checked once; ``sampler(logits, generator)`` picks one token per row.

    ``generate`` builds one per call and uses it for every step.
    """

    def __init__(self, temperature: float = 0.0, top_k: int | None = None, top_p: float | None = None):
        check_sampling(temperature, top_k, top_p)
        self.temperature, self.top_k, self.top_p = temperature, top_k, top_p

    def distribution(self, logits: torch.Tensor) -> torch.Tensor:
        """The probabilities (..., V) the next token is drawn from, given logits (..., V)."""
        logits = logits.float()
        if self.temperature == 0:  # greedy: all the probability on the largest logit
            top = logits.argmax(dim=-1, keepdim=True)
            return torch.zeros_like(logits).scatter_(-1, top, 1.0)
        scaled = logits / self.temperature
        if torch.isposinf(scaled).any():  # a tiny temperature overflowed float32: shift the logits first
            scaled = (logits - logits.amax(dim=-1, keepdim=True)) / self.temperature  # same softmax
        if self.top_k is not None:
            scaled = _top_k(scaled, self.top_k)
        probs = torch.softmax(scaled, dim=-1)
        if self.top_p is not None:
            probs = _top_p(probs, self.top_p)
        return probs

    def __call__(self, logits: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Logits (B, V) -> token ids (B,): the argmax when greedy, else a draw from ``distribution``."""
        if self.temperature == 0:
            return logits.argmax(dim=-1)
        probs = self.distribution(logits)
        return torch.multinomial(probs, 1, generator=generator).squeeze(-1)  # (B,)


def next_token_distribution(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
) -> torch.Tensor:
    """The probabilities the next token is drawn from, given the last position's logits (..., V).

    Steps, in this order: divide the logits by ``temperature``; keep the ``top_k`` largest;
    softmax; keep the top-p nucleus and renormalise. ``temperature=0`` means greedy: all the
    probability on the largest logit (the first one if several tie).
    """
    return Sampler(temperature, top_k, top_p).distribution(logits)


def sample_next_token(
    logits: torch.Tensor,
    temperature: float = 0.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Pick one token per row from logits (B, V) -> (B,): the argmax when ``temperature`` is 0,
    otherwise a draw from ``next_token_distribution`` with ``torch.multinomial``."""
    return Sampler(temperature, top_k, top_p)(logits, generator)
