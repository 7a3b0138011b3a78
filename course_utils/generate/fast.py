"""Speed machinery for generation, beside the loop (``loop.py``) it serves.

* ``PreallocatedKVCache``: a KV cache that writes into room allocated once, instead of
  concatenating (copying) every cached key and value at every step;
* ``prepare_for_generation(model)``: re-stores the weights in the memory layout that is fastest
  for one token at a time (optional; the CLI calls it).

Neither changes which tokens come out.
"""

from __future__ import annotations

import torch
from torch import nn

from ..attention import KVCache

__all__ = ["PreallocatedKVCache", "prepare_for_generation"]


class PreallocatedKVCache(KVCache):
    """A ``KVCache`` with room for ``capacity`` tokens allocated at the first update.

    ``KVCache.update`` concatenates, which copies every cached key and value at every step (work
    that grows with the text). This one writes the new keys and values into place and hands the
    model views of the filled part: the same numbers, without the copies. It is what
    ``generate`` uses; the model sees an ordinary cache (``keys[layer]`` holds the filled part).
    """

    def __init__(self, n_layers: int, capacity: int):
        super().__init__(n_layers)
        self.capacity = capacity
        self._k: list[torch.Tensor | None] = [None] * n_layers
        self._v: list[torch.Tensor | None] = [None] * n_layers

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        past = 0 if self.keys[layer] is None else self.keys[layer].shape[2]
        n = past + k.shape[2]
        if n > self.capacity:
            raise ValueError(f"the cache holds at most {self.capacity} tokens, got {n}")
        if self._k[layer] is None:
            b, h, _, d = k.shape
            self._k[layer] = k.new_empty(b, h, self.capacity, d)
            self._v[layer] = v.new_empty(b, h, self.capacity, d)
        self._k[layer][:, :, past:n] = k
        self._v[layer][:, :, past:n] = v
        self.keys[layer] = self._k[layer][:, :, :n]  # (B, nh, n, hs) views, no copy
        self.values[layer] = self._v[layer][:, :, :n]
        return self.keys[layer], self.values[layer]


def prepare_for_generation(model: nn.Module) -> nn.Module:
    """Store the weights that multiply one token at a time in the layout that is fastest for that,
    in place, and return the model. Every value stays exactly the same; only the memory order
    changes (optional: ``generate`` works either way, and the CLI calls this).

    Generating with a KV cache multiplies a single token vector by every weight matrix, a
    matrix-vector product limited by how fast the weights stream from memory. ``nn.Linear``
    stores its weight as (out, in) and computes ``x @ W.T``; on an AMD EPYC CPU (torch's MKL
    build) that product ran slower than with the weight stored as (in, out) (column-major ``W``),
    the layout Hugging Face's GPT-2 uses (``Conv1D``); on an Intel Xeon the gain was only 5%.
    Measured on the AMD CPU, GPT-2 small, 1 thread, batch 1 (see benchmarks/RESULTS.md): the
    output head (768 -> 50257, 14 ms -> 8 ms per token), the query/key/value, attention-output
    and first feed-forward layers got faster with (in, out) storage; the second feed-forward
    layer (3072 -> 768) got slower and is left as it is. The output head shares its weight with
    the token embedding, which is then read column by column (one row per token: cheap).

    The matrix products then add up in another order, so logits can differ from an unprepared
    model's in the last float bits (cached and uncached generation still agree with each other).
    Checkpoints are unaffected: ``save_checkpoint`` writes the same values.
    """
    weights = [model.tok_emb.weight, model.out_head.weight]  # the same tensor when tied
    for block in model.blocks:
        attn, ff = block.attn, block.ff
        weights += [attn.W_query.weight, attn.W_key.weight, attn.W_value.weight, attn.out_proj.weight, ff.fc_in.weight]
    with torch.no_grad():
        for w in weights:
            if w.stride(0) != 1:  # still row-major (out, in): re-lay out once
                w.data = w.data.t().contiguous().t()  # same shape and values, (in, out) in memory
    return model
