"""Checkers for notebook 05 (residual connections)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..block import TransformerBlock
from ..config import GPTConfig
from ._check import Case, CheckResult, Mistake, compare, run_checks

__all__ = ["check_residual_forward", "check_sublayer_contributions"]


def _residual_forward(x: torch.Tensor, layers) -> torch.Tensor:
    for layer in layers:
        x = x + layer(x)
    return x


def _no_shortcut(x, layers):
    for layer in layers:
        x = layer(x)
    return x


def _reads_input(x, layers):
    out = x
    for layer in layers:
        out = out + layer(x)
    return out


def _overwrites(x, layers):
    out = x
    for layer in layers:
        out = x + layer(x)
    return out


def _first_only(x, layers):
    for layer in layers:
        x = x + layer(x)
        return x  # a `return` indented into the loop
    return x


_STEP = "for layer in layers: x = x + layer(x)"
_SKIPPED = ("a layer was skipped: every layer in the list must run, first to last (a loop over "
            "range(len(layers) - 1) misses the last one, one starting at 1 the first)")
_RESIDUAL_MISTAKES = [
    Mistake(_no_shortcut,
            f"the shortcut is missing: x = layer(x) replaces the stream; add the layer's output to it, {_STEP}"),
    Mistake(_reads_input,
            "every layer read the original input instead of the updated stream: each layer must read the x that "
            f"the previous layers produced, {_STEP}"),
    Mistake(_overwrites,
            f"each step started again from the input (out = x + layer(x)), so only the last layer counts: {_STEP}"),
    Mistake(lambda x, layers: x + _no_shortcut(x, layers),
            f"there is one shortcut around the whole stack instead of one around each layer: {_STEP}"),
    Mistake(_first_only,
            "only the first layer was applied: is the `return` indented inside the loop? Return after the loop"),
    Mistake(lambda x, layers: _residual_forward(x, list(layers)[::-1]),
            "the layers ran in reverse order: apply them first to last, as the list gives them"),
    Mistake(lambda x, layers: _residual_forward(x, list(layers)[:-1]), _SKIPPED),
    Mistake(lambda x, layers: _residual_forward(x, list(layers)[1:]), _SKIPPED),
]


def check_residual_forward(fn: Callable) -> CheckResult:
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
            cases.append(Case(desc, args=(x, layers), expected=expected, dims=("batch", "token", "feature")))
        cases.append(Case("no layers at all: the input comes back", args=(x, []), expected=x.clone()))

    def quiet(x, layers):  # no graph; the very tensor passed in, so changing it in place is noticed
        with torch.no_grad():
            return fn(x, layers)

    return run_checks("residual_forward", quiet, cases, mistakes=_RESIDUAL_MISTAKES)


class _Pair(tuple):
    """(attention_part, ff_part), shown briefly in feedback."""

    def __repr__(self) -> str:
        def show(t: Any) -> str:
            if isinstance(t, torch.Tensor):
                return f"tensor of shape {tuple(t.shape)}"
            return type(t).__name__

        return "(" + ", ".join(show(t) for t in self) + ")"


_DIMS = ("batch", "token", "feature")


def _compare_pair(got: Any, expected: tuple, atol: float = 1e-4) -> str | None:
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return ("expected a pair (attention_part, ff_part): return both, `return a, f`, not the block's "
                "whole change")
    for name, g, e in zip(("attention_part", "ff_part"), got, expected, strict=True):
        problem = compare(g, e, atol=atol, dims=_DIMS)
        if problem:
            return f"{name}: {problem}"
    return None


def _contributions(x, block, *, norms=True, ff_reads="x + a", post=False, swap_norms=False):
    n1, n2 = (block.norm2, block.norm1) if swap_norms else (block.norm1, block.norm2)
    if not norms:
        n1 = n2 = nn.Identity()
    if post:
        a = n1(block.attn(x))
        return a, n2(block.ff(x + a))
    a = block.attn(n1(x))
    stream = {"x + a": x + a, "x": x, "a": a}[ff_reads]
    return a, block.ff(n2(stream))


_RIGHT = "a = block.attn(block.norm1(x)); f = block.ff(block.norm2(x + a))"
_PAIR_MISTAKES = [
    Mistake(lambda x, b: _contributions(x, b, ff_reads="x"),
            f"the feed-forward read x: it must read x + a (the stream after attention's add), {_RIGHT}"),
    Mistake(lambda x, b: _contributions(x, b, ff_reads="a"),
            f"the feed-forward read only the attention part a; it reads the whole stream x + a: {_RIGHT}"),
    Mistake(lambda x, b: _contributions(x, b, norms=False),
            f"the LayerNorms were skipped: each sub-layer reads the stream through its own LayerNorm, {_RIGHT}"),
    Mistake(lambda x, b: (lambda a: (a, b.ff(b.norm2(x + a))))(b.attn(x)),
            f"attention read x without its LayerNorm: it reads block.norm1(x), {_RIGHT}"),
    Mistake(lambda x, b: (lambda a: (a, b.ff(x + a)))(b.attn(b.norm1(x))),
            f"the feed-forward read x + a without its LayerNorm: it reads block.norm2(x + a), {_RIGHT}"),
    Mistake(lambda x, b: _contributions(x, b, swap_norms=True),
            f"norm1 and norm2 are swapped: norm1 sits before attention, norm2 before the feed-forward, {_RIGHT}"),
    Mistake(lambda x, b: (lambda a: (a, b.ff(b.norm2(x + a))))(b.attn(b.norm2(x))),
            f"attention read the stream through norm2; it has its own LayerNorm, norm1: {_RIGHT}"),
    Mistake(lambda x, b: (lambda a: (a, b.ff(b.norm1(x + a))))(b.attn(b.norm1(x))),
            f"the feed-forward read the stream through norm1; it has its own LayerNorm, norm2: {_RIGHT}"),
    Mistake(lambda x, b: _contributions(x, b, post=True),
            "the LayerNorm was applied to each sub-layer's output (post-LN); GPT-2 is pre-LN and normalises the "
            f"input of each sub-layer: {_RIGHT}"),
    Mistake(lambda x, b: (lambda a, f: (x + a, x + a + f))(*_contributions(x, b)),
            "the stream after each add was returned (x + a, then x + a + f); return what each sub-layer adds, "
            "a and f themselves"),
    Mistake(lambda x, b: (lambda a, f: (a, x + a + f))(*_contributions(x, b)),
            "ff_part is the block's output x + a + f (block(x)); return only what the feed-forward adds, "
            "f = block.ff(block.norm2(x + a))"),
    Mistake(lambda x, b: (lambda a, f: (f, a))(*_contributions(x, b)),
            "the pair is in the wrong order: return (attention_part, ff_part)"),
    Mistake(lambda x, b: (lambda a, f: (a, a + f))(*_contributions(x, b)),
            "ff_part includes the attention part (block(x) - x is a + f): return f = block.ff(block.norm2(x + a)) "
            "alone"),
]


def check_sublayer_contributions(fn: Callable) -> CheckResult:
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
            cases.append(Case(desc, args=(x, block), expected=expected))

    def quiet(x, block):
        with torch.no_grad():
            got = fn(x, block)
        return _Pair(got) if isinstance(got, (tuple, list)) else got

    return run_checks("sublayer_contributions", quiet, cases, comparer=_compare_pair, mistakes=_PAIR_MISTAKES)
