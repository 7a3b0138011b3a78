"""LayerNorm, GELU and the feed-forward network of a GPT-2 block."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class LayerNorm(nn.Module):
    """Normalise each token vector to mean 0 and variance 1, then scale and shift.

    y = (x - mean) / sqrt(var + eps) * weight + bias, with the biased variance (divide by n)
    over the last dimension and eps = 1e-5, as in GPT-2. ``F.layer_norm`` computes exactly
    this in one fused kernel; ``tests/test_model.py`` (``test_layer_norm_matches_formula_and_torch``)
    checks it against the formula.
    """

    def __init__(self, emb_dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(emb_dim))  # "scale", learned
        self.bias = nn.Parameter(torch.zeros(emb_dim))  # "shift", learned

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, self.eps)


def gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    """GPT-2's GELU: the tanh approximation 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


class GELU(nn.Module):
    """GELU with the tanh approximation (the formula in ``gelu_tanh``, computed by PyTorch)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(x, approximate="tanh")


class FeedForward(nn.Module):
    """Per-token MLP: expand to 4 x emb_dim, GELU, project back to emb_dim."""

    def __init__(self, emb_dim: int, hidden_mult: int = 4):
        super().__init__()
        self.fc_in = nn.Linear(emb_dim, hidden_mult * emb_dim)  # 768 -> 3072
        self.gelu = GELU()
        self.fc_out = nn.Linear(hidden_mult * emb_dim, emb_dim)  # 3072 -> 768

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc_out(self.gelu(self.fc_in(x)))
