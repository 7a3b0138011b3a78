"""Checkers for notebook 00 (overview): count GPT-2's parameters from its config by formula."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..config import GPTConfig
from ..model import parameter_counts
from ._check import Case, run_checks

__all__ = ["check_parameter_count"]

_CONFIGS = [
    ("GPT-2 small", GPTConfig.from_preset("gpt2-small")),
    ("GPT-2 medium", GPTConfig.from_preset("gpt2-medium")),
    ("GPT-2 xl", GPTConfig.from_preset("gpt2-xl")),
    ("a tiny model: vocab 1000, context 64, width 32, 4 heads, 2 layers",
     GPTConfig(vocab_size=1000, context_length=64, emb_dim=32, n_heads=4, n_layers=2)),
    ("a short-context model: context 256, width 256, 8 heads, 6 layers",
     GPTConfig(context_length=256, emb_dim=256, n_heads=8, n_layers=6)),
    ("no Q/K/V biases: vocab 5000, context 128, width 64, 2 heads, 3 layers",
     GPTConfig(vocab_size=5000, context_length=128, emb_dim=64, n_heads=2, n_layers=3, qkv_bias=False)),
]


def _hint(cfg: GPTConfig, diff: int) -> str | None:
    """A likely reason for a wrong count, recognised from how far off it is."""
    d, n = cfg.emb_dim, cfg.n_layers
    hints = {
        cfg.vocab_size * d: "you counted the output head too; GPT-2 ties it to the token embedding, so it adds nothing",
        -cfg.context_length * d: "the positional embedding (context_length x emb_dim) is missing",
        -2 * d: "the final LayerNorm (weight and bias, emb_dim each) is missing",
        -n * 4 * d: "the two LayerNorms in each block (weight and bias each) are missing",
        -n * 2 * d: "each block has two LayerNorms, each with a weight and a bias",
        3 * n * d: "the Q, K, V projections have biases only when cfg.qkv_bias is True",
        -3 * n * d: "the Q, K, V projections have biases when cfg.qkv_bias is True",
    }
    return hints.get(diff)


def check_parameter_count(fn: Callable[[GPTConfig], int]):
    """``fn(cfg)`` must return how many parameters GPT-2 with config ``cfg`` has (output head tied)."""
    cases = [Case(name, args=(cfg,), expected=parameter_counts(cfg).tied) for name, cfg in _CONFIGS]
    cfg_of = {case.expected: case.args[0] for case in cases}  # every expected count is distinct

    def compare(got: Any, expected: int) -> str | None:
        try:
            value = int(got)
            ok_type = value == got
        except (TypeError, ValueError, RuntimeError):
            ok_type = False
        if not ok_type:
            return f"expected a whole number, got {type(got).__name__}"
        if value == expected:
            return None
        diff = value - expected
        hint = _hint(cfg_of[expected], diff)
        return f"off by {diff:+,}" + (f": {hint}" if hint else "")

    return run_checks("parameter_count", fn, cases, comparer=compare)
