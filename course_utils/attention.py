"""Causal multi-head self-attention, exactly as in GPT-2.

Two ways to compute the same thing:

* the explicit path writes every step out (scores, scale, mask, softmax, weighted sum) and can
  hand back the attention weights for plots;
* the fast path calls ``F.scaled_dot_product_attention``, which fuses those steps.

``tests/test_model.py`` checks that both give the same output.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class KVCache:
    """Keys and values of every layer for the tokens processed so far (used by generation).

    Feeding the model one new token at a time with a cache gives the same logits as feeding the
    whole sequence again, while each step only computes the new token's query, key and value.
    """

    def __init__(self, n_layers: int):
        self.keys: list[torch.Tensor | None] = [None] * n_layers
        self.values: list[torch.Tensor | None] = [None] * n_layers

    def __len__(self) -> int:
        """Number of tokens cached so far."""
        k = self.keys[0]
        return 0 if k is None else k.shape[2]

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Append this step's keys/values (B, nh, T_new, hs) and return all of them so far."""
        if self.keys[layer] is not None:
            if self.keys[layer].shape[0] != k.shape[0]:
                raise ValueError(
                    f"this cache holds {self.keys[layer].shape[0]} sequence(s) but got a batch of {k.shape[0]}; "
                    f"use one cache per batch (model.new_cache())"
                )
            k = torch.cat([self.keys[layer], k], dim=2)
            v = torch.cat([self.values[layer], v], dim=2)
        self.keys[layer], self.values[layer] = k, v
        return k, v


class MultiHeadAttention(nn.Module):
    """Causal self-attention with ``num_heads`` heads of width ``d_out // num_heads``."""

    def __init__(
        self,
        d_in: int,
        d_out: int,
        context_length: int,
        dropout: float,
        num_heads: int,
        qkv_bias: bool = True,
    ):
        super().__init__()
        if d_out % num_heads != 0:
            raise ValueError(f"d_out ({d_out}) must be divisible by num_heads ({num_heads})")
        self.d_out = d_out
        self.num_heads = num_heads
        self.head_dim = d_out // num_heads
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.out_proj = nn.Linear(d_out, d_out)  # combines the heads
        self.dropout = nn.Dropout(dropout)  # on the attention weights
        # True above the diagonal = "future token, may not look". persistent=False keeps it out
        # of state_dict and checkpoints: it is derived from context_length, not learned.
        mask = torch.triu(torch.ones(context_length, context_length, dtype=torch.bool), diagonal=1)
        self.register_buffer("mask", mask, persistent=False)
        self.use_fast = True  # F.scaled_dot_product_attention unless weights are requested

    def _check_input(self, x, past: int) -> None:
        """A clear ValueError for input of the wrong shape, instead of a shape error deep inside."""
        d_in = self.W_query.in_features
        if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.shape[-1] != d_in:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            hint = "; add a batch dimension: x.unsqueeze(0)" if isinstance(x, torch.Tensor) and x.dim() == 2 else ""
            raise ValueError(f"attention expects x of shape (batch, tokens, {d_in}), got {got}{hint}")
        ctx = self.mask.shape[0]
        if past + x.shape[1] > ctx:
            raise ValueError(f"{past + x.shape[1]} tokens but context_length is {ctx}; keep the last {ctx}")

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        return x.view(b, t, self.num_heads, self.head_dim).transpose(1, 2)  # (B, nh, T, hs)

    def forward(
        self,
        x: torch.Tensor,
        *,
        cache: KVCache | None = None,
        layer: int = 0,
        return_weights: bool = False,
    ):
        """``x``: (B, T, d_in) -> (B, T, d_out); with ``return_weights`` also (B, nh, T, T_all)."""
        past = 0 if cache is None or cache.keys[layer] is None else cache.keys[layer].shape[2]  # tokens cached
        self._check_input(x, past)
        b, t, _ = x.shape
        q = self._split_heads(self.W_query(x))  # (B, nh, T, hs)
        k = self._split_heads(self.W_key(x))  # (B, nh, T, hs)
        v = self._split_heads(self.W_value(x))  # (B, nh, T, hs)
        if cache is not None:
            k, v = cache.update(layer, k, v)  # (B, nh, past + T, hs)
        t_all = k.shape[2]

        if return_weights or not self.use_fast:
            scores = q @ k.transpose(-2, -1)  # (B, nh, T, T_all)
            scores = scores / math.sqrt(self.head_dim)
            scores = scores.masked_fill(self.mask[past : past + t, :t_all], float("-inf"))
            weights = torch.softmax(scores, dim=-1)  # each row sums to 1
            context = self.dropout(weights) @ v  # (B, nh, T, hs)
        else:
            weights = None
            drop = self.dropout.p if self.training else 0.0
            if past == 0:
                context = F.scaled_dot_product_attention(q, k, v, dropout_p=drop, is_causal=t > 1)
            else:  # new tokens at positions past..past+T-1 may see keys 0..their own position
                allowed = ~self.mask[past : past + t, :t_all]
                context = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=drop)

        context = context.transpose(1, 2).contiguous().view(b, t, self.d_out)  # (B, T, d_out)
        out = self.out_proj(context)
        return (out, weights) if return_weights else out
