"""GPTModel: token + positional embeddings, n_layers transformer blocks, final LayerNorm, tied LM head."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from .attention import KVCache
from .block import TransformerBlock
from .checks import check_id_tensor, check_token_range
from .config import GPTConfig
from .layers import LayerNorm


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """``with eval_mode(model):`` runs the block in eval mode (no dropout), then puts the model back
    in the mode it was in, even if the block raises."""
    was_training = model.training
    if was_training:  # already in eval mode: nothing to switch (cheap inside a generation loop)
        model.eval()
    try:
        yield model
    finally:
        if was_training:
            model.train()


class GPTModel(nn.Module):
    """GPT-2. ``model(ids)`` maps token ids (B, T) to next-token logits (B, T, vocab_size).

    The output head shares its weight matrix with the token embedding ("weight tying"), as in
    GPT-2, and the weights start as GPT-2's did: N(0, 0.02), with the two projections that write
    into the residual stream scaled down by 1/sqrt(2 * n_layers).
    """

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        if not isinstance(cfg, GPTConfig):
            raise ValueError(f"GPTModel needs a GPTConfig, got {type(cfg).__name__}")
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.emb_dim)
        self.pos_emb = nn.Embedding(cfg.context_length, cfg.emb_dim)
        self.drop_emb = nn.Dropout(cfg.drop_rate)
        self.blocks = nn.ModuleList(TransformerBlock(cfg) for _ in range(cfg.n_layers))
        self.final_norm = LayerNorm(cfg.emb_dim)
        self.out_head = nn.Linear(cfg.emb_dim, cfg.vocab_size, bias=False)
        self.out_head.weight = self.tok_emb.weight  # weight tying
        self.apply(self._init_weights)
        residual_std = 0.02 / math.sqrt(2 * cfg.n_layers)
        for block in self.blocks:
            nn.init.normal_(block.attn.out_proj.weight, mean=0.0, std=residual_std)
            nn.init.normal_(block.ff.fc_out.weight, mean=0.0, std=residual_std)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def check_ids(self, ids: torch.Tensor, past: int = 0) -> None:
        """Raise a clear ValueError for input the model cannot take: not an integer (B, T) tensor,
        empty, or longer than the context. These checks look at the shape and dtype only, so they
        cost nothing on a GPU; the vocabulary range (which reads the ids) is checked where input
        enters: ``generate`` checks its prompt, ``check_token_range`` a data set, and on the CPU
        ``forward`` turns the embedding's IndexError into the same clear message."""
        check_id_tensor(ids)
        n = ids.shape[1]
        if n == 0:
            raise ValueError("got an empty sequence (0 tokens); give the model at least one token")
        if ids.shape[0] == 0:
            raise ValueError(f"got an empty batch (0 rows, shape {tuple(ids.shape)}); give the model at least one "
                             f"sequence, e.g. ids of shape (1, tokens)")
        ctx = self.cfg.context_length
        if past + n > ctx:
            seen = f"{n} tokens" if past == 0 else f"{n} new tokens after {past} cached ones"
            raise ValueError(
                f"sequence has {seen} but context_length is {ctx}; keep the last {ctx} tokens "
                f"(ids[:, -{ctx}:]) or use a model with a longer context"
            )

    def forward(
        self,
        ids: torch.Tensor,
        *,
        cache: KVCache | None = None,
        return_attention: bool = False,
        last_only: bool = False,
    ):
        """Logits (B, T, vocab_size). With ``return_attention`` also a list, one (B, nh, T, T)
        tensor of attention weights per layer. With a ``KVCache`` the ids are the tokens that
        follow the cached ones. ``last_only=True`` computes the logits of the last position only,
        (B, 1, vocab_size): all that generation needs, and the output head is the largest matrix."""
        if cache is not None and len(cache.keys) != len(self.blocks):
            raise ValueError(
                f"the cache has room for {len(cache.keys)} layers but the model has {len(self.blocks)}; "
                f"make it with model.new_cache()"
            )
        past = len(cache) if cache is not None else 0
        self.check_ids(ids, past)
        if ids.dtype not in (torch.long, torch.int32):  # e.g. uint16 from a token file: the lookup needs these
            ids = ids.long()
        t = ids.shape[1]
        pos = torch.arange(past, past + t, device=ids.device)
        x = self._embed_tokens(ids) + self.pos_emb(pos)  # (B, T, d) + (T, d) -> (B, T, d)
        x = self.drop_emb(x)
        attention = []
        for i, block in enumerate(self.blocks):
            x = block(x, cache=cache, layer=i, return_weights=return_attention)
            if return_attention:
                x, w = x
                attention.append(w)
        if last_only:
            x = x[:, -1:, :]  # (B, 1, d)
        x = self.final_norm(x)
        logits = self.out_head(x)  # (B, T, vocab_size)
        return (logits, attention) if return_attention else logits

    def _embed_tokens(self, ids: torch.Tensor) -> torch.Tensor:
        """``tok_emb(ids)``; an id outside the vocabulary (an IndexError on the CPU) becomes a clear error."""
        try:
            return self.tok_emb(ids)  # (B, T, d)
        except IndexError:
            try:
                check_token_range(ids, self.cfg.vocab_size)  # names the bad id
            except ValueError as clear:
                raise clear from None
            raise

    def new_cache(self) -> KVCache:
        return KVCache(self.cfg.n_layers)

    def set_attention_path(self, fast: bool) -> GPTModel:
        """Use ``F.scaled_dot_product_attention`` (fast=True) or the explicit steps everywhere."""
        for block in self.blocks:
            block.attn.use_fast = fast
        return self

    @property
    def device(self) -> torch.device:
        return self.tok_emb.weight.device


@dataclass(frozen=True)
class ParameterCounts:
    """Where the parameters of a GPT model live (tied = GPT-2 as released)."""

    token_embedding: int
    position_embedding: int
    attention_per_block: int
    feed_forward_per_block: int
    layer_norms_per_block: int
    per_block: int
    blocks: int
    final_norm: int
    out_head: int  # counted only when untied
    tied: int
    untied: int

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def parameter_counts(cfg: GPTConfig) -> ParameterCounts:
    """Count parameters from the config alone (no tensors allocated), with and without tying."""
    v, c, d, n = cfg.vocab_size, cfg.context_length, cfg.emb_dim, cfg.n_layers
    attn = 3 * (d * d + (d if cfg.qkv_bias else 0)) + d * d + d  # Q, K, V, output projection
    ff = d * 4 * d + 4 * d + 4 * d * d + d  # expand and project back
    norms = 2 * 2 * d  # two LayerNorms, each weight + bias
    per_block = attn + ff + norms
    tied = v * d + c * d + n * per_block + 2 * d
    return ParameterCounts(
        token_embedding=v * d,
        position_embedding=c * d,
        attention_per_block=attn,
        feed_forward_per_block=ff,
        layer_norms_per_block=norms,
        per_block=per_block,
        blocks=n * per_block,
        final_norm=2 * d,
        out_head=v * d,
        tied=tied,
        untied=tied + v * d,
    )


def count_parameters(model: nn.Module) -> dict[str, int]:
    """Count a model's parameters; a tied weight is counted once ("tied") or twice ("untied")."""
    unique = sum(p.numel() for p in model.parameters())  # parameters() yields a shared tensor once
    untied = sum(p.numel() for _, p in model.named_parameters(remove_duplicate=False))
    return {"tied": unique, "untied": untied}
