"""Checkers for notebook 00 (overview): count GPT-2's parameters from its config by formula."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..config import GPTConfig
from ..model import parameter_counts
from ._check import Case, CheckResult, Mistake, compare, run_checks

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


def _count(cfg: GPTConfig, *, head: bool = False, positions: bool = True, final_ln: bool = True, block_lns: int = 2,
           ln_bias: bool = True, qkv_bias: bool | None = None, out_proj: bool = True, out_bias: bool = True,
           ffn_mult: int = 4, ffn_bias: bool = True, blocks: int | None = None) -> int:
    """GPT-2's parameter count, and the classic ways to miscount it (one keyword each)."""
    d, v = cfg.emb_dim, cfg.vocab_size
    qkv_bias = cfg.qkv_bias if qkv_bias is None else qkv_bias
    ln = d * (2 if ln_bias else 1)
    attention = 3 * (d * d + (d if qkv_bias else 0)) + ((d * d + (d if out_bias else 0)) if out_proj else 0)
    hidden = ffn_mult * d
    feed_forward = 2 * d * hidden + ((hidden + d) if ffn_bias else 0)
    per_block = attention + feed_forward + block_lns * ln
    n = cfg.n_layers if blocks is None else blocks
    return (v * d + (cfg.context_length * d if positions else 0) + n * per_block + (ln if final_ln else 0)
            + (v * d if head else 0))


_MISTAKES = [
    Mistake(lambda cfg: _count(cfg, head=True),
            "the output head was counted too: GPT-2 ties it to the token embedding, so it adds nothing "
            "(vocab_size x emb_dim too many)"),
    Mistake(lambda cfg: _count(cfg, positions=False),
            "the positional embedding (context_length x emb_dim) is missing"),
    Mistake(lambda cfg: _count(cfg, final_ln=False),
            "the final LayerNorm (after the last block: weight and bias, emb_dim each) is missing"),
    Mistake(lambda cfg: _count(cfg, block_lns=0),
            "the two LayerNorms in each block (weight and bias each) are missing"),
    Mistake(lambda cfg: _count(cfg, block_lns=1),
            "one LayerNorm per block was counted: each block has two (before attention and before the "
            "feed-forward), each with a weight and a bias"),
    Mistake(lambda cfg: _count(cfg, ln_bias=False),
            "the LayerNorms were counted with weights only: each also has a bias of emb_dim"),
    Mistake(lambda cfg: _count(cfg, qkv_bias=True),
            "the Q, K, V projections were given biases always: they have them only when cfg.qkv_bias is True"),
    Mistake(lambda cfg: _count(cfg, qkv_bias=False),
            "the Q, K, V biases are missing: the projections have them when cfg.qkv_bias is True (3 x emb_dim per "
            "block)"),
    Mistake(lambda cfg: _count(cfg, out_proj=False),
            "the attention's output projection (emb_dim x emb_dim weights plus emb_dim biases per block) is "
            "missing"),
    Mistake(lambda cfg: _count(cfg, out_bias=False),
            "emb_dim per block is missing: the bias of the attention's output projection, or the bias of the "
            "feed-forward's second layer (both emb_dim long)"),
    Mistake(lambda cfg: _count(cfg, ffn_bias=False),
            "the feed-forward biases (4 x emb_dim and emb_dim per block) are missing"),
    Mistake(lambda cfg: _count(cfg, ffn_mult=1),
            "the feed-forward's hidden layer was taken as emb_dim wide: it is 4 x emb_dim"),
    Mistake(lambda cfg: _count(cfg) - cfg.n_layers * 3 * cfg.emb_dim * cfg.emb_dim * (cfg.n_heads - 1) // cfg.n_heads,
            "the Q, K, V weights were counted for one head only (emb_dim x head_dim): together the heads span "
            "emb_dim x emb_dim for each of Q, K and V"),
    Mistake(lambda cfg: _count(cfg, blocks=cfg.n_layers + 1),
            "one block too many was counted: there are exactly cfg.n_layers blocks"),
    Mistake(lambda cfg: _count(cfg, blocks=cfg.n_layers - 1),
            "one block too few was counted: there are exactly cfg.n_layers blocks"),
    Mistake(lambda cfg: _count(cfg) - cfg.n_layers * 3 * cfg.emb_dim * cfg.emb_dim,
            "the Q, K, V weight matrices (3 x emb_dim x emb_dim per block) are missing"),
    Mistake(lambda cfg: _count(cfg, blocks=1),
            "only one block was counted: multiply the per-block count by cfg.n_layers"),
]


def _whole_number(got: Any, expected: int, **kwargs) -> str | None:
    if isinstance(got, str):
        return f"expected a whole number, got the text {got!r}: return the number itself, not a string"
    if isinstance(got, float) and not got.is_integer():
        return f"expected a whole number, got {got}: a parameter count is an integer (use // for division)"
    return compare(got, expected, **kwargs)


def check_parameter_count(fn: Callable[[GPTConfig], int]) -> CheckResult:
    """``fn(cfg)`` must return how many parameters GPT-2 with config ``cfg`` has (output head tied)."""
    cases = [Case(name, args=(cfg,), expected=parameter_counts(cfg).tied) for name, cfg in _CONFIGS]
    return run_checks("parameter_count", fn, cases, comparer=_whole_number, mistakes=_MISTAKES)
