"""Checkers for notebook 03 (layer normalisation): LayerNorm by hand, RMSNorm, counting parameters.

Each checker prints one line of feedback and returns a ``CheckResult`` (truthy when every case
passed) that a notebook does not display, so a cell that calls it shows only that line.
"""

from __future__ import annotations

import torch

from ..config import GPTConfig
from ._check import Case, CheckResult, Mistake, run_checks

__all__ = ["check_layer_norm", "check_layer_norm_params", "check_rms_norm"]


def _randn(*shape: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g)


def _ln(x, weight, bias, eps=1e-5, *, dim=-1, keepdim=True, correction=0, eps_where="inside", root=True,
        use_weight=True, use_bias=True, swap=False):
    """LayerNorm, and the classic slips (one keyword each)."""
    if dim is None:
        mean, var = x.mean(), x.var(correction=correction)
    else:
        mean = x.mean(dim=dim, keepdim=keepdim)
        var = x.var(dim=dim, keepdim=keepdim, correction=correction)
    if eps_where == "inside":
        denom = torch.sqrt(var + eps) if root else var + eps
    elif eps_where == "outside":
        denom = torch.sqrt(var) + eps
    else:
        denom = torch.sqrt(var)
    y = (x - mean) / denom
    if swap:
        weight, bias = bias, weight
    if use_weight:
        y = y * weight
    if use_bias:
        y = y + bias
    return y


_LN = "(x - mean) / torch.sqrt(var + eps) * weight + bias"
_STATS = "x.mean(dim=-1, keepdim=True) and ((x - mean) ** 2).mean(dim=-1, keepdim=True)"
_LAYER_NORM_MISTAKES = [
    Mistake(lambda x, w, b, eps=1e-5: _ln(x, w, b, eps, correction=1),
            "the variance is the unbiased one (x.var() divides by d - 1); LayerNorm divides by d: "
            "x.var(dim=-1, keepdim=True, unbiased=False), or ((x - mean) ** 2).mean(dim=-1, keepdim=True)"),
    Mistake(lambda x, w, b, eps=1e-5: _ln(x, w, b, eps, eps_where="outside"),
            f"eps was added to the standard deviation instead of the variance (it belongs inside the sqrt): {_LN}"),
    Mistake(lambda x, w, b, eps=1e-5: _ln(x, w, b, eps, eps_where="none"),
            f"eps is missing: it keeps the division safe when the variance is tiny, {_LN}"),
    Mistake(lambda x, w, b, eps=1e-5: _ln(x, w, b, eps, root=False),
            f"x - mean was divided by the variance, not by the standard deviation (its square root): {_LN}"),
    Mistake(lambda x, w, b, eps=1e-5: _ln(x, w, b, eps, use_weight=False, use_bias=False),
            "the scale and shift are missing: after normalising, multiply by weight and add bias"),
    Mistake(lambda x, w, b, eps=1e-5: _ln(x, w, b, eps, use_bias=False),
            "the shift is missing: after normalising and scaling, add bias"),
    Mistake(lambda x, w, b, eps=1e-5: _ln(x, w, b, eps, use_weight=False),
            "the scale is missing: after normalising, multiply by weight (then add bias)"),
    Mistake(lambda x, w, b, eps=1e-5: _ln(x, w, b, eps, use_weight=False) + w,
            "weight was added instead of multiplied: the normalised x is multiplied by weight, then bias is added"),
    Mistake(lambda x, w, b, eps=1e-5: _ln(x, w, b, eps, swap=True),
            "weight and bias are swapped: the normalised x is multiplied by weight, then bias is added"),
    Mistake(lambda x, w, b, eps=1e-5: _ln(x, w, b, 1e-5),
            "the eps argument is ignored (a fixed 1e-5?): use the eps that is passed in"),
    Mistake(lambda x, w, b, eps=1e-5: _ln(x, w, b, eps, dim=0),
            f"the mean and variance were taken over the first axis (dim=0, across tokens); LayerNorm normalises "
            f"each token over its features: {_STATS}"),
    Mistake(lambda x, w, b, eps=1e-5: _ln(x, w, b, eps, dim=1),
            f"the mean and variance were taken over dim=1, which for a (batch, tokens, width) tensor is the tokens; "
            f"use the last axis, dim=-1, for any shape: {_STATS}"),
    Mistake(lambda x, w, b, eps=1e-5: _ln(x, w, b, eps, dim=None),
            f"the mean and variance were taken over the whole tensor; take them per token over the last axis: "
            f"{_STATS}"),
    Mistake(lambda x, w, b, eps=1e-5: _ln(x, w, b, eps, keepdim=False),
            "keepdim=True is missing: x.mean(dim=-1) drops the last axis, so the mean no longer lines up with x; "
            "write x.mean(dim=-1, keepdim=True)"),
]


def check_layer_norm(fn) -> CheckResult:
    """``fn(x, weight, bias, eps=1e-5)``: normalise over the last dimension with the biased
    variance, then scale by ``weight`` and shift by ``bias``."""
    cases = []
    specs = [
        # description, x shape, x scale, x offset, eps, pass eps?
        ("2 tokens of width 5, weight 1 and bias 0", (2, 5), 1.0, 0.0, 1e-5, False),
        ("learned weight and bias", (3, 4), 3.0, 2.0, 1e-5, False),
        ("tiny activations: eps inside the square root matters", (2, 6), 1e-3, 0.0, 1e-5, False),
        ("a (batch, tokens, width) tensor", (2, 3, 8), 5.0, -1.0, 1e-5, False),
        ("another eps", (2, 5), 0.1, 0.0, 0.1, True),
        ("GPT-2 width 768", (2, 4, 768), 2.0, 0.5, 1e-5, False),
    ]
    for i, (desc, shape, scale, offset, eps, pass_eps) in enumerate(specs):
        x = _randn(*shape, seed=20 + i) * scale + offset
        d = shape[-1]
        if i == 0:
            weight, bias = torch.ones(d), torch.zeros(d)
        else:
            weight, bias = 1.0 + 0.5 * _randn(d, seed=40 + i), 0.3 * _randn(d, seed=60 + i)
        expected = torch.nn.functional.layer_norm(x, (d,), weight, bias, eps)
        kwargs = {"eps": eps} if pass_eps else {}
        dims = ("token", "feature") if len(shape) == 2 else ("batch", "token", "feature")
        cases.append(Case(desc, args=(x.clone(), weight.clone(), bias.clone()), kwargs=kwargs, expected=expected,
                          dims=dims))
    return run_checks("layer_norm", fn, cases, mistakes=_LAYER_NORM_MISTAKES)


def _ln_params(cfg, *, per_block=2, final=1, per_norm=2, width=None) -> int:
    return (per_block * cfg.n_layers + final) * per_norm * (width or cfg.emb_dim)


_LN_PARAMS_MISTAKES = [
    Mistake(lambda cfg: _ln_params(cfg, final=0),
            "the final LayerNorm (after the last block, before the output head) is missing: add 2 * emb_dim"),
    Mistake(lambda cfg: _ln_params(cfg, per_norm=1),
            "only the weights were counted: each LayerNorm also has a bias, so 2 * emb_dim parameters each"),
    Mistake(lambda cfg: _ln_params(cfg, per_norm=1, final=0),
            "n_layers * 2 * emb_dim was counted: either only the weights, or one LayerNorm per block, and no final "
            "one. Each block has two LayerNorms with a weight and a bias each (2 * emb_dim), plus one more after "
            "the last block"),
    Mistake(lambda cfg: _ln_params(cfg, per_block=1),
            "one LayerNorm per block was counted: each block has two (before attention and before the "
            "feed-forward)"),
    Mistake(lambda cfg: _ln_params(cfg, per_block=3),
            "three LayerNorms per block were counted: a block has two (before attention and before the "
            "feed-forward), and the model one more at the end"),
    Mistake(lambda cfg: _ln_params(cfg, final=2),
            "one LayerNorm too many: two per block plus ONE final LayerNorm"),
    Mistake(lambda cfg: 2 * cfg.n_layers + 1,
            "the LayerNorms were counted, not their parameters: each holds a weight and a bias of emb_dim"),
    Mistake(lambda cfg: _ln_params(cfg, width=cfg.context_length),
            "the LayerNorm width is emb_dim (one weight and bias per feature), not context_length"),
]


def check_layer_norm_params(fn) -> CheckResult:
    """``fn(cfg)``: how many parameters all the LayerNorms of a GPT model with config ``cfg``
    hold together (two per block plus the final one; weight and bias each ``emb_dim`` long)."""
    cases = []
    for desc, cfg in [
        ("GPT-2 small", GPTConfig.from_preset("gpt2-small")),
        ("GPT-2 medium", GPTConfig.from_preset("gpt2-medium")),
        ("a tiny model: 2 layers, width 64", GPTConfig(context_length=32, emb_dim=64, n_heads=4, n_layers=2)),
        ("one layer, width 8", GPTConfig(context_length=8, emb_dim=8, n_heads=2, n_layers=1)),
    ]:
        cases.append(Case(desc, args=(cfg,), expected=_ln_params(cfg)))
    return run_checks("layer_norm_params", fn, cases, mistakes=_LN_PARAMS_MISTAKES)


def _rms(x, weight, eps=1e-5, *, center=False, eps_where="inside", root=True, mean=True, use_weight=True,
         dim=-1, keepdim=True, square_of_mean=False):
    if center:
        x_c = x - x.mean(dim=dim, keepdim=True)
        ms = x_c.pow(2).mean(dim=dim, keepdim=keepdim)
        x = x_c
    elif square_of_mean:
        ms = x.mean(dim=dim, keepdim=keepdim) ** 2
    else:
        ms = x.pow(2).mean(dim=dim, keepdim=keepdim) if mean else x.pow(2).sum(dim=dim, keepdim=keepdim)
    if eps_where == "inside":
        denom = torch.sqrt(ms + eps) if root else ms + eps
    elif eps_where == "outside":
        denom = torch.sqrt(ms) + eps
    else:
        denom = torch.sqrt(ms)
    y = x / denom
    return y * weight if use_weight else y


_RMS = "x / torch.sqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps) * weight"
_RMS_MISTAKES = [
    Mistake(lambda x, w, eps=1e-5: _rms(x, w, eps, center=True),
            f"the mean was subtracted: RMSNorm does not centre x, it only divides by the root mean square, {_RMS}"),
    Mistake(lambda x, w, eps=1e-5: x / x.std(dim=-1, keepdim=True, unbiased=False) * w,
            f"x was divided by its standard deviation, which subtracts the mean; RMS uses mean(x ** 2) directly: "
            f"{_RMS}"),
    Mistake(lambda x, w, eps=1e-5: x / torch.sqrt(x.var(dim=-1, keepdim=True) + eps) * w,
            f"x was divided by sqrt(x.var()), and the variance subtracts the mean; RMS uses mean(x ** 2) directly: "
            f"{_RMS}"),
    Mistake(lambda x, w, eps=1e-5: _rms(x, w, eps, eps_where="outside"),
            f"eps was added after the square root; it belongs inside: {_RMS}"),
    Mistake(lambda x, w, eps=1e-5: _rms(x, w, eps, eps_where="none"),
            f"eps is missing: {_RMS}"),
    Mistake(lambda x, w, eps=1e-5: _rms(x, w, eps, root=False),
            f"x was divided by the mean square, not by its square root: {_RMS}"),
    Mistake(lambda x, w, eps=1e-5: _rms(x, w, eps, mean=False),
            f"the squares were summed, not averaged: that is the L2 norm (x.norm()), sqrt(d) times the RMS: {_RMS}"),
    Mistake(lambda x, w, eps=1e-5: _rms(x, w, eps, square_of_mean=True),
            f"the mean was squared (x.mean() ** 2); RMS takes the mean of the squares, x.pow(2).mean(...): {_RMS}"),
    Mistake(lambda x, w, eps=1e-5: x / (x.abs().mean(dim=-1, keepdim=True) + eps) * w,
            f"x was divided by the mean of |x|; RMS is the square root of the mean of x ** 2: {_RMS}"),
    Mistake(lambda x, w, eps=1e-5: _rms(x, w, eps, use_weight=False) + w,
            f"weight was added; it is a scale: multiply by it, {_RMS}"),
    Mistake(lambda x, w, eps=1e-5: _rms(x, w, eps, use_weight=False),
            "the scale is missing: multiply by weight at the end"),
    Mistake(lambda x, w, eps=1e-5: _rms(x, w, 1e-5),
            "the eps argument is ignored (a fixed 1e-5?): use the eps that is passed in"),
    Mistake(lambda x, w, eps=1e-5: _rms(x, w, eps, dim=0),
            f"the mean was taken over the first axis (dim=0, across tokens); RMSNorm works per token over its "
            f"features: {_RMS}"),
    Mistake(lambda x, w, eps=1e-5: _rms(x, w, eps, keepdim=False),
            "keepdim=True is missing: mean(dim=-1) drops the last axis, so it no longer lines up with x"),
]


def check_rms_norm(fn) -> CheckResult:
    """``fn(x, weight, eps=1e-5)``: RMSNorm, x / sqrt(mean(x ** 2) + eps) * weight over the last
    dimension: no mean is subtracted and there is no bias."""
    cases = []
    specs = [
        ("2 tokens of width 5, weight 1", (2, 5), 1.0, 0.0, 1e-5, False),
        ("a learned weight, inputs not centred", (3, 4), 2.0, 3.0, 1e-5, False),
        ("tiny activations: eps inside the square root matters", (2, 6), 1e-3, 0.0, 1e-5, False),
        ("a (batch, tokens, width) tensor", (2, 3, 8), 5.0, -1.0, 1e-5, False),
        ("another eps", (2, 5), 0.1, 0.0, 0.1, True),
    ]
    for i, (desc, shape, scale, offset, eps, pass_eps) in enumerate(specs):
        x = _randn(*shape, seed=80 + i) * scale + offset
        d = shape[-1]
        weight = torch.ones(d) if i == 0 else 1.0 + 0.5 * _randn(d, seed=90 + i)
        expected = x / torch.sqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps) * weight
        kwargs = {"eps": eps} if pass_eps else {}
        dims = ("token", "feature") if len(shape) == 2 else ("batch", "token", "feature")
        cases.append(Case(desc, args=(x.clone(), weight.clone()), kwargs=kwargs, expected=expected, dims=dims))
    return run_checks("rms_norm", fn, cases, mistakes=_RMS_MISTAKES)
