"""Checkers for notebook 03 (layer normalisation): LayerNorm by hand, RMSNorm, counting parameters.

Each checker prints one line of feedback and returns a ``CheckResult`` (truthy when every case
passed) that a notebook does not display, so a cell that calls it shows only that line.
"""

from __future__ import annotations

import torch

from ..config import GPTConfig
from ._check import Case, CheckResult, run_checks

__all__ = ["check_layer_norm", "check_layer_norm_params", "check_rms_norm"]


def _randn(*shape: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g)


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
        cases.append(Case(desc, args=(x.clone(), weight.clone(), bias.clone()), kwargs=kwargs, expected=expected))
    return run_checks("layer_norm", fn, cases)


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
        cases.append(Case(desc, args=(cfg,), expected=(2 * cfg.n_layers + 1) * 2 * cfg.emb_dim))
    return run_checks("layer_norm_params", fn, cases)


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
        cases.append(Case(desc, args=(x.clone(), weight.clone()), kwargs=kwargs, expected=expected))
    return run_checks("rms_norm", fn, cases)
