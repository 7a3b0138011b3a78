"""Checkers for notebook 04 (the feed-forward network)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..layers import FeedForward
from ._check import Case, CheckResult, Mistake, run_checks

__all__ = ["check_ffn_parameter_count", "check_feed_forward"]


def _ffn_parameter_count(emb_dim: int, hidden_mult: int = 4, *, bias_in: bool = True, bias_out: bool = True,
                         layers: int = 2, bias_width: str = "right") -> int:
    hidden = hidden_mult * emb_dim
    weights = emb_dim * hidden * layers
    if bias_width == "emb":  # both biases emb_dim long
        return weights + emb_dim * (bias_in + bias_out)
    return weights + hidden * bias_in + (emb_dim * bias_out if layers == 2 else 0)


_FORMULA = "emb_dim * hidden + hidden (fc_in) + hidden * emb_dim + emb_dim (fc_out), hidden = hidden_mult * emb_dim"
_COUNT_MISTAKES = [
    Mistake(lambda d, hidden_mult=4: _ffn_parameter_count(d, hidden_mult, bias_in=False, bias_out=False),
            f"the biases are missing: each linear layer also has one bias per output, {_FORMULA}"),
    Mistake(lambda d, hidden_mult=4: _ffn_parameter_count(d, 4),
            f"hidden_mult is ignored (always 4?): the hidden width is hidden_mult * emb_dim, {_FORMULA}"),
    Mistake(lambda d, hidden_mult=4: _ffn_parameter_count(d, hidden_mult, bias_width="emb"),
            f"the first layer's bias was counted as emb_dim long; it has one entry per hidden unit, {_FORMULA}"),
    Mistake(lambda d, hidden_mult=4: _ffn_parameter_count(d, hidden_mult, bias_out=False),
            f"the second layer's bias (emb_dim) is missing: {_FORMULA}"),
    Mistake(lambda d, hidden_mult=4: _ffn_parameter_count(d, hidden_mult, bias_in=False),
            f"the first layer's bias (hidden_mult * emb_dim) is missing: {_FORMULA}"),
    Mistake(lambda d, hidden_mult=4: _ffn_parameter_count(d, hidden_mult, layers=1),
            f"only the first linear layer was counted; there are two (expand, then project back): {_FORMULA}"),
    Mistake(lambda d, hidden_mult=4: 2 * d * hidden_mult * d + 2 * hidden_mult * d,
            f"the second layer's bias was counted as hidden long; it has one entry per output, emb_dim: {_FORMULA}"),
    Mistake(lambda d, hidden_mult=4: 2 * d * d + 2 * d,
            f"the hidden layer was taken as emb_dim wide; it is hidden_mult * emb_dim: {_FORMULA}"),
]


def check_ffn_parameter_count(fn: Callable) -> CheckResult:
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
    return run_checks("ffn_parameter_count", fn, cases, mistakes=_COUNT_MISTAKES)


def _gelu_tanh(h: torch.Tensor, power: int = 3) -> torch.Tensor:
    return 0.5 * h * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (h + 0.044715 * h**power)))


def _ffn(x, w_in, b_in, w_out, b_out, *, act=_gelu_tanh, bias_in=True, bias_out=True, act_out=False,
         transpose=True):
    h = x @ (w_in.T if transpose else w_in)
    if bias_in:
        h = h + b_in
    y = act(h) @ (w_out.T if transpose else w_out)
    if bias_out:
        y = y + b_out
    return act(y) if act_out else y


_FFN = "act(x @ w_in.T + b_in) @ w_out.T + b_out"
_FFN_MISTAKES = [
    Mistake(lambda *a: _ffn(*a, act=F.gelu),
            'the exact GELU was used (F.gelu(h) without approximate="tanh"); GPT-2 uses the tanh approximation: '
            'F.gelu(h, approximate="tanh")'),
    Mistake(lambda *a: _ffn(*a, act=F.relu),
            'ReLU was used; GPT-2 uses GELU with the tanh approximation: F.gelu(h, approximate="tanh")'),
    Mistake(lambda *a: _ffn(*a, act=lambda h: h),
            f"the activation is missing: two linear layers in a row are just one linear map; {_FFN} with GPT-2's "
            "tanh GELU"),
    Mistake(lambda *a: _ffn(*a, act=lambda h: h * torch.sigmoid(1.702 * h)),
            'the sigmoid approximation of GELU (x * sigmoid(1.702 x)) was used; GPT-2 uses the tanh one: '
            'F.gelu(h, approximate="tanh")'),
    Mistake(lambda *a: _ffn(*a, act=lambda h: _gelu_tanh(h, power=2)),
            "the GELU formula has h ** 2 where it needs h ** 3: 0.5 h (1 + tanh(sqrt(2/pi) (h + 0.044715 h^3)))"),
    Mistake(lambda *a: _ffn(*a, act=lambda h: 2 * _gelu_tanh(h)),
            "the GELU formula lacks its factor 0.5: 0.5 h (1 + tanh(sqrt(2/pi) (h + 0.044715 h^3)))"),
    Mistake(lambda *a: _ffn(*a, act=torch.tanh),
            'tanh alone was used as the activation; GPT-2 uses GELU: F.gelu(h, approximate="tanh")'),
    Mistake(lambda *a: _ffn(*a, act=F.silu),
            'SiLU (x * sigmoid(x)) was used; GPT-2 uses GELU with the tanh approximation: '
            'F.gelu(h, approximate="tanh")'),
    Mistake(lambda x, w_in, b_in, w_out, b_out: _gelu_tanh(x @ w_out + b_in) @ w_in + b_out,
            "w_out was used for the first layer and w_in for the second: x @ w_in.T + b_in first (to the hidden "
            "width), then h @ w_out.T + b_out"),
    Mistake(lambda x, w_in, b_in, w_out, b_out: (_gelu_tanh(x @ w_in.T) + b_in) @ w_out.T + b_out,
            "b_in was added after the GELU: the bias belongs to the linear layer, act(x @ w_in.T + b_in)"),
    Mistake(lambda *a: _ffn(*a, bias_in=False),
            f"the first layer's bias b_in is missing: {_FFN}"),
    Mistake(lambda *a: _ffn(*a, bias_out=False),
            f"the second layer's bias b_out is missing: {_FFN}"),
    Mistake(lambda *a: _ffn(*a, bias_in=False, bias_out=False),
            f"both biases are missing: {_FFN}"),
    Mistake(lambda *a: _ffn(*a, act_out=True),
            "the GELU was applied after the second layer too: the activation sits only between the two layers"),
    Mistake(lambda *a: _ffn(*a, transpose=False),
            "the weights were used without transposing: like nn.Linear, w_in is (hidden, emb_dim), so a layer "
            "computes x @ w_in.T + b_in"),
]


def check_feed_forward(fn: Callable) -> CheckResult:
    """``fn(x, w_in, b_in, w_out, b_out)`` must equal FeedForward with those weights.

    Weights follow ``nn.Linear``'s layout: ``w_in`` is (hidden, emb_dim), ``w_out`` is (emb_dim, hidden).
    """
    cases = []
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
            weights = [p.detach().clone() for p in (ff.fc_in.weight, ff.fc_in.bias, ff.fc_out.weight, ff.fc_out.bias)]
            cases.append(Case(desc, args=(x, *weights), expected=expected, dims=("batch", "token", "feature")))
    return run_checks("feed_forward", fn, cases, mistakes=_FFN_MISTAKES)
