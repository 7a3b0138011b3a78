"""The generation loop of notebook 08: run the model, take the last position's logits, pick a
token, append it, repeat.

``generate`` adds what a real decoder needs:

* decoding strategies: greedy (``temperature=0``), temperature sampling, top-k and top-p
  (nucleus) filtering (``sampling.py``), reproducible through a ``torch.Generator``;
* batches of prompts, each row stopping at its own end-of-text id;
* a KV cache (on by default): the keys and values of the tokens already seen are kept, so each
  step only runs the one new token through the model. It gives the same tokens as the uncached
  loop (both pick with the same sampler from the same logits, up to float rounding);
* going past ``context_length``: the model then sees the last ``context_length`` tokens.

Every argument is checked once, before the first step (``checks.check_generation``); the model
computes the logits of the last position only (``last_only=True``), the only ones a step uses.
``generate_stream`` yields each step's tokens as they come (widgets, the CLI); ``generate``
returns them all at once.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from ..checks import check_generation
from ..model import eval_mode
from .fast import PreallocatedKVCache
from .sampling import Sampler

__all__ = ["generate", "generate_stream"]


def _steps(model, ids, max_new_tokens, sampler, eos_id, generator, use_cache) -> Iterator[torch.Tensor]:
    """Yield the new token of every row (B,), one step at a time. The arguments are checked."""
    ctx = model.cfg.context_length
    seq = ids[:, -ctx:]  # what the model sees: at most the last context_length tokens
    done = torch.zeros(ids.shape[0], dtype=torch.bool, device=ids.device)
    cache = PreallocatedKVCache(model.cfg.n_layers, min(ctx, seq.shape[1] + max_new_tokens)) if use_cache else None
    new = seq  # the tokens the cache has not seen: the whole prompt first, then one token per step
    for _ in range(max_new_tokens):
        with eval_mode(model), torch.inference_mode():
            if cache is not None and len(cache) + new.shape[1] > ctx:
                # The window has slid past context_length. With absolute positional embeddings
                # every token's position changes when the window slides, so the cached keys and
                # values are stale: from now on recompute the window, as the uncached path does.
                cache = None
            if cache is not None:
                logits = model(new, cache=cache, last_only=True)[:, -1, :]  # (B, V): prompt once, then 1 token
            else:
                logits = model(seq, last_only=True)[:, -1, :]  # (B, V): the whole window again
            token = sampler(logits, generator)  # (B,)
            if eos_id is not None:
                token = token.masked_fill(done, eos_id)  # finished rows are padded with eos
                done = done | (token == eos_id)
            seq = torch.cat([seq, token[:, None]], dim=1)[:, -ctx:]  # (B, <= ctx)
            new = token[:, None]  # (B, 1)
        yield token.clone()  # a normal tensor (not an inference tensor) for the caller
        if eos_id is not None and bool(done.all()):
            return


def generate_stream(
    model: nn.Module,
    ids: torch.Tensor,
    max_new_tokens: int,
    *,
    temperature: float = 0.0,
    top_k: int | None = None,
    top_p: float | None = None,
    eos_id: int | None = None,
    generator: torch.Generator | None = None,
    use_cache: bool = True,
) -> Iterator[torch.Tensor]:
    """Like ``generate``, but yields the new token of every row, shape (B,), one step at a time.

    The arguments are checked when this is called (not at the first ``next``). Between steps the
    model is left as it was (train or eval) and inference mode is off, so the caller may do
    anything with the yielded tensors.
    """
    check_generation(model, ids, max_new_tokens, temperature, top_k, top_p, eos_id, generator)
    sampler = Sampler(temperature, top_k, top_p)
    ids = ids.to(device=next(model.parameters()).device, dtype=torch.long)
    return _steps(model, ids, max_new_tokens, sampler, eos_id, generator, use_cache)


def generate(
    model: nn.Module,
    ids: torch.Tensor,
    max_new_tokens: int,
    *,
    temperature: float = 0.0,
    top_k: int | None = None,
    top_p: float | None = None,
    eos_id: int | None = None,
    generator: torch.Generator | None = None,
    use_cache: bool = True,
) -> torch.Tensor:
    """Continue every prompt in ``ids`` (B, T) by up to ``max_new_tokens`` tokens -> (B, T + n).

    temperature  0 (default) picks the most likely token every step (greedy); above 0 samples
                 from softmax(logits / temperature): below 1 sharper, above 1 flatter.
    top_k        sample only among the k most likely tokens (exactly k, ties included).
    top_p        sample only from the smallest set of tokens whose probability reaches top_p.
    eos_id       a row that produces this id is finished: its later positions are filled with
                 eos_id, and generation stops early once every row is finished (so n can be
                 smaller than max_new_tokens). None: always generate max_new_tokens tokens.
    generator    a seeded ``torch.Generator`` makes sampling reproducible.
    use_cache    keep a KV cache (default): each step runs only the new token through the model.
                 ``use_cache=False`` reruns the whole sequence every step; both give the same tokens.

    Context length: the model sees at most the last ``context_length`` tokens. A prompt longer
    than that is not an error: only its last ``context_length`` tokens are fed to the model (the
    returned tensor still starts with the whole prompt). When the text grows past
    ``context_length``, every later step looks at the last ``context_length`` tokens. Positions
    are absolute (learned positional embeddings), so a sliding window shifts every token's
    position and the cache cannot simply drop its oldest entry; from that point on each step
    recomputes the window without a cache, exactly like the uncached path (the speed-up of the
    cache ends there, but cached and uncached still give the same tokens).

    The model runs in eval mode under ``torch.inference_mode()`` (its train/eval mode is
    restored afterwards). ``max_new_tokens=0`` returns the prompt. Bad arguments raise a
    ``ValueError`` saying what is wrong.
    """
    stream = generate_stream(
        model, ids, max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p,
        eos_id=eos_id, generator=generator, use_cache=use_cache,
    )
    ids = ids.to(device=next(model.parameters()).device, dtype=torch.long)
    new = list(stream)
    if not new:
        return ids.clone()
    return torch.cat([ids, torch.stack(new, dim=1)], dim=1)
