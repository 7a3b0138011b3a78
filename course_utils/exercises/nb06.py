"""Checkers for notebook 06 · The Transformer Block.

Each classic mistake is written as code (a ``Mistake``): when the student's answer equals what the
mistake computes on a case, its hint names it. Nothing reads the student's code.
"""

from __future__ import annotations

import torch

from ..block import TransformerBlock
from ..config import GPTConfig
from ..model import parameter_counts
from ._check import Case, Mistake, run_checks
from ._numbers import whole_number

__all__ = ["check_block_parameter_count", "check_post_ln_forward"]

_CONFIGS = [
    ("width 64, no Q/K/V bias", GPTConfig(emb_dim=64, n_heads=4, n_layers=2, qkv_bias=False)),
    ("GPT-2 small, width 768", GPTConfig.from_preset("gpt2-small")),
    ("GPT-2 medium, width 1024", GPTConfig.from_preset("gpt2-medium")),
    ("GPT-2 XL, width 1600", GPTConfig.from_preset("gpt2-xl")),
    ("width 8, 2 heads", GPTConfig(emb_dim=8, n_heads=2, n_layers=1, context_length=16)),
]


# ---------------------------------------------------------------- exercise 1: count one block


def _count(cfg, *, qkv_bias=None, norms=2, norm_size=2, ff_hidden=4, ff_bias=True, out_proj=True,
           out_bias=True, qkv_width=None, fc_in_bias=None):
    """One block's parameters with knobs for the classic slips (defaults: the right answer)."""
    d = cfg.emb_dim
    qkv_bias = cfg.qkv_bias if qkv_bias is None else qkv_bias
    w = d if qkv_width is None else qkv_width
    attention = 3 * (d * w + (w if qkv_bias else 0))
    if out_proj:
        attention += d * d + (d if out_bias else 0)
    h = ff_hidden * d
    feed_forward = d * h + h * d + (((h if fc_in_bias is None else fc_in_bias) + d) if ff_bias else 0)
    return norms * norm_size * d + attention + feed_forward


_COUNT_MISTAKES = [
    Mistake(lambda cfg: 12 * cfg.emb_dim**2,
            "only the weight matrices were counted: every Linear layer has a bias too (Q/K/V only when "
            "cfg.qkv_bias), and each LayerNorm has a weight and a bias of emb_dim"),
    Mistake(lambda cfg: 12 * cfg.emb_dim**2 + 4 * cfg.emb_dim,
            "the biases of the Linear layers are missing: out_proj, both feed-forward layers (4*d and d) "
            "and Q/K/V (when cfg.qkv_bias) each have one"),
    Mistake(lambda cfg: _count(cfg, qkv_bias=True),
            "Q, K and V were given biases although cfg.qkv_bias is False: they have biases only when "
            "cfg.qkv_bias is True"),
    Mistake(lambda cfg: _count(cfg, qkv_bias=False),
            "the Q, K, V biases are missing: with cfg.qkv_bias True each of Q, K, V has a bias of emb_dim"),
    Mistake(lambda cfg: _count(cfg, norms=0),
            "the two LayerNorms are missing (norm1 and norm2, a weight and a bias of emb_dim each: 4*d)"),
    Mistake(lambda cfg: _count(cfg, norm_size=1),
            "2 x emb_dim of LayerNorm parameters are missing: a block has two LayerNorms (norm1, norm2), each with "
            "a weight (scale) AND a bias (shift) of emb_dim"),
    Mistake(lambda cfg: _count(cfg, ff_hidden=1),
            "the feed-forward network was counted without its 4x expansion: it goes d -> 4*d -> d, so its "
            "two matrices are d x 4d and 4d x d"),
    Mistake(lambda cfg: _count(cfg, ff_bias=False),
            "the feed-forward biases are missing (4*d for the first layer, d for the second)"),
    Mistake(lambda cfg: _count(cfg, fc_in_bias=cfg.emb_dim),
            "the first feed-forward layer's bias was counted as emb_dim: it has one entry per hidden unit, 4*d"),
    Mistake(lambda cfg: _count(cfg, out_proj=False),
            "the attention's output projection (out_proj: d x d weight plus a bias of d) is missing"),
    Mistake(lambda cfg: _count(cfg, out_bias=False),
            "one bias vector of emb_dim is missing: out_proj and the feed-forward's second layer each have one"),
    Mistake(lambda cfg: _count(cfg, qkv_width=cfg.emb_dim // cfg.n_heads),
            "Q, K, V were counted for one head only: each is a d x d matrix holding all heads together"),
    Mistake(lambda cfg: _count(cfg) + cfg.vocab_size * cfg.emb_dim + cfg.context_length * cfg.emb_dim,
            "the token and position embeddings were added: they belong to the model, not to each block"),
]


def _count_off_by(got, case) -> str | None:
    """Generic help when no known mistake matches: how far off, in units of emb_dim."""
    if got == case.expected:
        return None
    d, off = case.args[0].emb_dim, int(got) - case.expected
    text = f"got {int(got):,}, expected {case.expected:,} (off by {off:+,}"
    if off % (d * d) == 0:
        text += f" = {off // (d * d):+} x emb_dim²: a weight matrix too many or too few"
    elif off % d == 0:
        text += f" = {off // d:+} x emb_dim: look at the bias vectors and the LayerNorms"
    return text + "); go through norm1, Q/K/V, out_proj, norm2, fc_in, fc_out one by one"


def check_block_parameter_count(fn):
    """``fn(cfg) -> int``: parameters of ONE transformer block, from the config alone."""
    cases = [Case(name, (cfg,), expected=parameter_counts(cfg).per_block) for name, cfg in _CONFIGS]
    return run_checks("block_parameter_count", fn, cases, mistakes=_COUNT_MISTAKES,
                      properties=[whole_number, _count_off_by])


# ---------------------------------------------------------------- exercise 2: the post-LN block


def _post_ln(block, x):
    x = block.norm1(x + block.drop_resid(block.attn(x)))
    return block.norm2(x + block.drop_resid(block.ff(x)))


def _no_grad(fn):
    def wrapped(block, x):
        with torch.no_grad():
            return fn(block, x)
    return wrapped


@_no_grad
def _update_normalised(block, x):
    x = x + block.norm1(block.attn(x))
    return x + block.norm2(block.ff(x))


@_no_grad
def _ff_reads_input(block, x):
    h = block.norm1(x + block.attn(x))
    return block.norm2(h + block.ff(x))


@_no_grad
def _shortcut_from_input(block, x):
    h = block.norm1(x + block.attn(x))
    return block.norm2(x + block.ff(h))


_POST_LN_MISTAKES = [
    Mistake(_no_grad(lambda block, x: block(x)),
            "this is the pre-LN block (GPT-2's own forward: x + Sublayer(LayerNorm(x))); post-LN normalises "
            "AFTER the addition: x = LayerNorm(x + Sublayer(x))"),
    Mistake(_no_grad(lambda block, x: block.norm2(block.ff(block.norm1(block.attn(x))))),
            "both shortcuts are missing: add the sub-layer's input back before the LayerNorm, "
            "norm1(x + attn(x)), then norm2(h + ff(h))"),
    Mistake(_no_grad(lambda block, x: block.norm2(block.norm1(block.attn(x)) + block.ff(block.norm1(block.attn(x))))),
            "the shortcut around attention is missing: the first line is x = norm1(x + attn(x))"),
    Mistake(_no_grad(lambda block, x: block.norm2(block.ff(block.norm1(x + block.attn(x))))),
            "the shortcut around the feed-forward network is missing: the second line is "
            "x = norm2(x + ff(x))"),
    Mistake(_update_normalised,
            "the LayerNorm was applied to the sub-layer's output and then added (x + norm(attn(x))); "
            "post-LN normalises the SUM: norm1(x + attn(x))"),
    Mistake(_ff_reads_input,
            "the feed-forward network reads the block's input instead of the stream after attention: "
            "feed it h = norm1(x + attn(x))"),
    Mistake(_shortcut_from_input,
            "the second shortcut adds the block's original input: add the stream after attention, "
            "norm2(h + ff(h)) with h = norm1(x + attn(x))"),
    Mistake(_no_grad(lambda block, x: (lambda h: h + block.ff(h))(block.norm1(x + block.attn(x)))),
            "the second LayerNorm (norm2, after the feed-forward addition) is missing"),
    Mistake(_no_grad(lambda block, x: (lambda h: block.norm2(h + block.ff(h)))(x + block.attn(x))),
            "the first LayerNorm (norm1, after the attention addition) is missing"),
    Mistake(_no_grad(lambda block, x: (lambda h: block.norm1(h + block.ff(h)))(block.norm2(x + block.attn(x)))),
            "norm1 and norm2 are swapped: norm1 goes after attention, norm2 after the feed-forward network"),
    Mistake(_no_grad(lambda block, x: (lambda h: block.norm1(h + block.ff(h)))(block.norm1(x + block.attn(x)))),
            "norm1 is used twice: the feed-forward addition is followed by norm2 (its own weights)"),
    Mistake(_no_grad(lambda block, x: (lambda h: block.norm2(h + block.ff(block.norm2(h))))(
        block.norm1(x + block.attn(block.norm1(x))))),
            "each sub-layer reads a normalised input AND the sum is normalised (pre-LN and post-LN at once): "
            "in post-LN the sub-layer reads the stream as it is, attn(x), and only the sum is normalised"),
    Mistake(_no_grad(lambda block, x: (lambda h: block.norm2(h + block.attn(h)))(block.norm1(x + block.ff(x)))),
            "the sub-layers are in the wrong order: attention first, then the feed-forward network"),
]


def check_post_ln_forward(fn):
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
            x = 2 * torch.randn(b, t, d) + 0.5
            with torch.no_grad():
                expected = _post_ln(block, x)
            cases.append(Case(name, (block, x), expected=expected, dims=("sequence", "token", "feature")))
    return run_checks("post_ln_forward", fn, cases, mistakes=_POST_LN_MISTAKES)
