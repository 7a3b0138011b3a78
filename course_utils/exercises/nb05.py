"""Checkers for notebook 05 (residual connections)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..block import TransformerBlock
from ..config import GPTConfig
from ._check import Case, compare, run_checks

__all__ = ["check_residual_forward", "check_sublayer_contributions"]


def _residual_forward(x: torch.Tensor, layers) -> torch.Tensor:
    for layer in layers:
        x = x + layer(x)
    return x


def check_residual_forward(fn: Callable) -> bool:
    """``fn(x, layers)`` must apply ``x = x + layer(x)`` for every layer, in order."""
    cases = []
    with torch.random.fork_rng(devices=[]):  # build hidden cases without moving the notebook's RNG
        torch.manual_seed(2024)
        for desc, n, width, shape in [
            ("one layer of width 4", 1, 4, (1, 3, 4)),
            ("three layers of width 4", 3, 4, (1, 3, 4)),
            ("six layers of width 8, batch of 2", 6, 8, (2, 5, 8)),
        ]:
            layers = nn.ModuleList(nn.Sequential(nn.Linear(width, width), nn.GELU()) for _ in range(n))
            x = torch.randn(shape)
            with torch.no_grad():
                expected = _residual_forward(x, layers)
            cases.append(Case(desc, args=(x, layers), expected=expected))
        cases.append(Case("no layers at all: the input comes back", args=(x, []), expected=x.clone()))

    def safe(x, layers):  # the student's function runs without building a graph
        with torch.no_grad():
            return fn(x.clone(), layers)

    return run_checks("residual_forward", safe, cases)


class _Pair(tuple):
    """(attention_part, ff_part), shown briefly in feedback. The expected pair also carries
    ``ff_of_x``, what a feed-forward reading x instead of x + a would return (to name that slip)."""

    def __repr__(self) -> str:
        def show(t: Any) -> str:
            if isinstance(t, torch.Tensor):
                return f"tensor of shape {tuple(t.shape)}"
            return type(t).__name__

        return "(" + ", ".join(show(t) for t in self) + ")"


def _compare_pair(got: Any, expected: tuple) -> str | None:
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return "expected a pair (attention_part, ff_part)"
    for name, g, e in zip(("attention_part", "ff_part"), got, expected, strict=True):
        problem = compare(g, e)
        if problem:
            ff_of_x = getattr(expected, "ff_of_x", None)  # the likely slip: ff(norm2(x))
            if name == "ff_part" and ff_of_x is not None and compare(g, ff_of_x) is None:
                problem += "; this is ff(norm2(x)): the feed-forward must read x + a (the stream after attention)"
                problem += ", not x"
            return f"{name}: {problem}"
    return None


def _contributions(x: torch.Tensor, block: TransformerBlock) -> tuple[torch.Tensor, torch.Tensor]:
    a = block.attn(block.norm1(x))
    f = block.ff(block.norm2(x + a))
    return a, f


def check_sublayer_contributions(fn: Callable) -> bool:
    """``fn(x, block)`` must return what attention and the feed-forward network add to the stream."""
    cases = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(2024)
        for desc, d, heads, shape in [
            ("width 8, 2 heads, 4 tokens", 8, 2, (1, 4, 8)),
            ("width 16, 4 heads, batch of 2, 6 tokens", 16, 4, (2, 6, 16)),
        ]:
            cfg = GPTConfig(vocab_size=50, context_length=8, emb_dim=d, n_heads=heads, n_layers=1, drop_rate=0.0)
            block = TransformerBlock(cfg).eval()
            with torch.no_grad():  # LayerNorm starts as the identity map; give it something to do
                for p in (block.norm1.weight, block.norm2.weight):
                    p.uniform_(0.5, 1.5)
                for p in (block.norm1.bias, block.norm2.bias):
                    p.normal_(0.0, 0.3)
            x = torch.randn(shape) * 2
            with torch.no_grad():
                expected = _Pair(_contributions(x, block))
                expected.ff_of_x = block.ff(block.norm2(x))
            cases.append(Case(desc, args=(x, block), expected=expected))

    def safe(x, block):
        with torch.no_grad():
            got = fn(x.clone(), block)
        return _Pair(got) if isinstance(got, (tuple, list)) else got

    return run_checks("sublayer_contributions", safe, cases, comparer=_compare_pair)
