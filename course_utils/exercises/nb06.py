"""Checkers for notebook 06 · The Transformer Block."""

from __future__ import annotations

import torch

from ..block import TransformerBlock
from ..config import GPTConfig
from ..model import parameter_counts
from ._check import Case, run_checks

__all__ = ["check_block_parameter_count", "check_post_ln_forward"]

_CONFIGS = [
    ("GPT-2 small, width 768", GPTConfig.from_preset("gpt2-small")),
    ("GPT-2 medium, width 1024", GPTConfig.from_preset("gpt2-medium")),
    ("GPT-2 XL, width 1600", GPTConfig.from_preset("gpt2-xl")),
    ("width 64, no Q/K/V bias", GPTConfig(emb_dim=64, n_heads=4, n_layers=2, qkv_bias=False)),
    ("width 8, 2 heads", GPTConfig(emb_dim=8, n_heads=2, n_layers=1, context_length=16)),
]


def check_block_parameter_count(fn) -> bool:
    """``fn(cfg) -> int``: parameters of ONE transformer block, from the config alone."""
    cases = [Case(name, (cfg,), expected=parameter_counts(cfg).per_block) for name, cfg in _CONFIGS]
    return run_checks("block_parameter_count", fn, cases)


def _post_ln_reference(block: TransformerBlock, x: torch.Tensor) -> torch.Tensor:
    x = block.norm1(x + block.drop_resid(block.attn(x)))
    return block.norm2(x + block.drop_resid(block.ff(x)))


def check_post_ln_forward(fn) -> bool:
    """``fn(block, x) -> tensor``: the block's pieces wired the original (post-LN) way."""
    cases = []
    shapes = [("1 sequence of 5 tokens, width 8", 8, 2, (1, 5)), ("2 sequences of 7 tokens, width 16", 16, 4, (2, 7))]
    with torch.random.fork_rng(devices=[]):  # leave the student's random state alone
        torch.manual_seed(6)
        for name, d, heads, (b, t) in shapes:
            cfg = GPTConfig(emb_dim=d, n_heads=heads, n_layers=1, context_length=16, drop_rate=0.0)
            block = TransformerBlock(cfg).eval()
            with torch.no_grad():  # non-trivial LayerNorm parameters, so their place matters
                for norm in (block.norm1, block.norm2):
                    norm.weight.normal_(1.0, 0.3)
                    norm.bias.normal_(0.0, 0.3)
            x = torch.randn(b, t, d)
            with torch.no_grad():
                expected = _post_ln_reference(block, x)
            cases.append(Case(name, (block, x), expected=expected))
    return run_checks("post_ln_forward", fn, cases)
