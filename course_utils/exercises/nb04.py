"""Checkers for notebook 04 (the feed-forward network)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..layers import FeedForward
from ._check import Case, compare, run_checks

__all__ = ["check_ffn_parameter_count", "check_feed_forward"]


def _ffn_parameter_count(emb_dim: int, hidden_mult: int = 4) -> int:
    hidden = hidden_mult * emb_dim
    return emb_dim * hidden + hidden + hidden * emb_dim + emb_dim  # fc_in (W, b) + fc_out (W, b)


def check_ffn_parameter_count(fn: Callable) -> bool:
    """``fn(emb_dim, hidden_mult=4)`` must return the parameter count of a FeedForward, by formula."""
    cases = [
        Case("the tiny network: width 4", args=(4,), expected=_ffn_parameter_count(4)),
        Case("GPT-2 small: width 768", args=(768,), expected=_ffn_parameter_count(768)),
        Case("GPT-2 medium: width 1024", args=(1024,), expected=_ffn_parameter_count(1024)),
        Case("width 10, expand 2x instead of 4x", args=(10,), kwargs={"hidden_mult": 2},
             expected=_ffn_parameter_count(10, 2)),
        Case("width 6, no expansion (hidden_mult=1)", args=(6,), kwargs={"hidden_mult": 1},
             expected=_ffn_parameter_count(6, 1)),
    ]
    return run_checks("ffn_parameter_count", fn, cases)


def check_feed_forward(fn: Callable) -> bool:
    """``fn(x, w_in, b_in, w_out, b_out)`` must equal FeedForward with those weights.

    Weights follow ``nn.Linear``'s layout: ``w_in`` is (hidden, emb_dim), ``w_out`` is (emb_dim, hidden).
    """
    cases, with_exact_gelu = [], {}
    with torch.random.fork_rng(devices=[]):  # build hidden cases without moving the notebook's RNG
        torch.manual_seed(2024)
        for desc, shape in [
            ("one token of width 4", (1, 1, 4)),
            ("a batch of 2 sentences, 5 tokens, width 4", (2, 5, 4)),
            ("3 tokens of width 8", (1, 3, 8)),
        ]:
            ff = FeedForward(shape[-1])
            x = torch.randn(shape) * 2
            with torch.no_grad():
                expected = ff(x)
                with_exact_gelu[id(expected)] = ff.fc_out(F.gelu(ff.fc_in(x)))  # the likely slip
            weights = [p.detach().clone() for p in (ff.fc_in.weight, ff.fc_in.bias, ff.fc_out.weight, ff.fc_out.bias)]
            cases.append(Case(desc, args=(x, *weights), expected=expected))

    def comparer(got, expected):
        problem = compare(got, expected)
        if problem and compare(got, with_exact_gelu[id(expected)]) is None:
            problem += "; this matches the exact GELU: did you use it? GPT-2 uses the tanh approximation"
            problem += ' (approximate="tanh")'
        return problem

    return run_checks("feed_forward", fn, cases, comparer=comparer)
