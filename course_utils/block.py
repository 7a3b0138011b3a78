"""The GPT-2 transformer block: pre-LayerNorm attention and feed-forward, each around a residual add."""

from __future__ import annotations

import torch
from torch import nn

from .attention import KVCache, MultiHeadAttention
from .config import GPTConfig
from .layers import FeedForward, LayerNorm


class TransformerBlock(nn.Module):
    """x -> x + attn(norm1(x)) -> x + ff(norm2(x)); the output has the input's shape, so blocks stack."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.norm1 = LayerNorm(cfg.emb_dim)
        self.attn = MultiHeadAttention(
            d_in=cfg.emb_dim,
            d_out=cfg.emb_dim,
            context_length=cfg.context_length,
            dropout=cfg.drop_rate,
            num_heads=cfg.n_heads,
            qkv_bias=cfg.qkv_bias,
        )
        self.norm2 = LayerNorm(cfg.emb_dim)
        self.ff = FeedForward(cfg.emb_dim)
        self.drop_resid = nn.Dropout(cfg.drop_rate)

    def forward(
        self,
        x: torch.Tensor,
        *,
        cache: KVCache | None = None,
        layer: int = 0,
        return_weights: bool = False,
    ):
        a = self.attn(self.norm1(x), cache=cache, layer=layer, return_weights=return_weights)
        a, weights = a if return_weights else (a, None)
        x = x + self.drop_resid(a)  # first residual add  (B, T, d)
        x = x + self.drop_resid(self.ff(self.norm2(x)))  # second residual add  (B, T, d)
        return (x, weights) if return_weights else x
