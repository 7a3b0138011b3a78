"""Text generation: turn next-token logits into new tokens, one step at a time.

The loop is the one notebook 08 writes by hand: run the model on the tokens so far, take the
logits of the last position, pick a token, append it, repeat. ``generate`` adds what a real
decoder needs:

* decoding strategies: greedy (``temperature=0``), temperature sampling, top-k and top-p
  (nucleus) filtering, reproducible through a ``torch.Generator``;
* batches of prompts, each row stopping at its own end-of-text id;
* a KV cache (on by default): the keys and values of the tokens already seen are kept, so each
  step only runs the one new token through the model. It gives the same tokens as the uncached
  loop (both pick with the same function from the same logits, up to float rounding);
* going past ``context_length``: the model then sees the last ``context_length`` tokens.

``generate_stream`` yields each step's tokens as they come (widgets, the CLI); ``generate``
returns them all at once. The helpers ``top_k_filter``, ``top_p_filter`` and
``next_token_distribution`` are the pieces the notebook plots. ``prepare_for_generation(model)``
(optional) re-stores the weights in the memory layout that is fastest for one token at a time.

Command line (streams text to the terminal as it is generated)::

    python -m course_utils.generate --prompt "To be, or not to be" --temperature 0.8 --top-k 40
"""

from __future__ import annotations

import argparse
import codecs
import sys
from collections.abc import Iterator

import torch
from torch import nn

from ..attention import KVCache
from ..checks import check_id_tensor, check_sampling, is_finite_number, is_whole_number
from ..model import eval_mode

__all__ = [
    "PreallocatedKVCache",
    "generate",
    "generate_stream",
    "prepare_for_generation",
    "next_token_distribution",
    "sample_next_token",
    "top_k_filter",
    "top_p_filter",
]


def _prepare(model: nn.Module, ids, max_new_tokens, temperature, top_k, top_p, eos_id, generator) -> torch.Tensor:
    """Check every argument; return the prompt as a long tensor on the model's device."""
    check_sampling(temperature, top_k, top_p)
    if not is_whole_number(max_new_tokens) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be a whole number >= 0, got {max_new_tokens!r}")
    check_id_tensor(ids)  # a prompt may be longer than the context, so not model.check_ids
    if ids.shape[0] == 0 or ids.shape[1] == 0:
        raise ValueError(
            f"the prompt is empty (shape {tuple(ids.shape)}); give at least one token per row, "
            f"e.g. the end-of-text id 50256 to start from nothing"
        )
    vocab = model.cfg.vocab_size
    lo, hi = int(ids.min()), int(ids.max())
    if lo < 0 or hi >= vocab:
        bad = lo if lo < 0 else hi
        raise ValueError(
            f"the prompt holds token id {bad}, outside the model's vocabulary (0 .. {vocab - 1}); "
            f"were the ids made by a different tokenizer?"
        )
    if eos_id is not None and (not is_whole_number(eos_id) or not 0 <= eos_id < vocab):
        raise ValueError(f"eos_id must be None or a token id in 0 .. {vocab - 1}, got {eos_id!r}")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    device = next(model.parameters()).device
    if generator is not None and temperature > 0 and generator.device.type != device.type:
        raise ValueError(
            f"the generator lives on {generator.device} but the model on {device}; "
            f"make it with torch.Generator(device={str(device)!r})"
        )
    return ids.to(device=device, dtype=torch.long)


# ---------------------------------------------------------------- from logits to a token


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the ``k`` largest logits of every row and set the rest to ``-inf``.

    Exactly ``k`` survive per row, even when several logits tie at the border: the kept
    positions are the indices ``torch.topk`` returns, scattered into a mask (a threshold
    ``logits >= kth_value`` would let every tie through).
    """
    if not is_whole_number(k) or k <= 0:
        raise ValueError(f"top_k must be a whole number >= 1, got {k!r}")
    k = min(k, logits.shape[-1])
    idx = torch.topk(logits, k, dim=-1).indices  # (..., k)
    keep = torch.zeros_like(logits, dtype=torch.bool).scatter_(-1, idx, True)
    return logits.masked_fill(~keep, float("-inf"))


def top_p_filter(probs: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filtering: keep the smallest set of most likely tokens whose probability adds up
    to at least ``p`` (always at least the top token), zero the rest, and renormalise.

    A token is kept when the tokens more likely than it hold less than ``p`` between them.
    """
    if not is_finite_number(p) or not 0.0 < p <= 1.0:
        raise ValueError(f"top_p must be a number with 0 < top_p <= 1, got {p!r}")
    if p >= 1.0:
        return probs
    sorted_probs, order = torch.sort(probs, dim=-1, descending=True, stable=True)
    cum = torch.cumsum(sorted_probs.double(), dim=-1)
    mass_before = cum - sorted_probs.double()  # probability of the tokens ranked above each one
    keep_sorted = mass_before < p
    keep = torch.zeros_like(keep_sorted).scatter_(-1, order, keep_sorted)
    kept = probs.masked_fill(~keep, 0.0)
    return kept / kept.sum(dim=-1, keepdim=True)


def next_token_distribution(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
) -> torch.Tensor:
    """The probabilities the next token is drawn from, given the last position's logits (..., V).

    Steps, in this order: divide the logits by ``temperature``; keep the ``top_k`` largest;
    softmax; keep the top-p nucleus and renormalise. ``temperature=0`` means greedy: all the
    probability on the largest logit (the first one if several tie).
    """
    check_sampling(temperature, top_k, top_p)
    logits = logits.float()
    if temperature == 0:
        top = logits.argmax(dim=-1, keepdim=True)
        return torch.zeros_like(logits).scatter_(-1, top, 1.0)
    scaled = logits / temperature
    if torch.isposinf(scaled).any():  # a tiny temperature overflowed float32: shift the logits first
        scaled = (logits - logits.amax(dim=-1, keepdim=True)) / temperature  # same softmax, no overflow
    logits = scaled
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    probs = torch.softmax(logits, dim=-1)
    if top_p is not None:
        probs = top_p_filter(probs, top_p)
    return probs


def sample_next_token(
    logits: torch.Tensor,
    temperature: float = 0.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Pick one token per row from logits (B, V) -> (B,): the argmax when ``temperature`` is 0,
    otherwise a draw from ``next_token_distribution`` with ``torch.multinomial``."""
    if temperature == 0:
        return logits.argmax(dim=-1)
    probs = next_token_distribution(logits, temperature, top_k, top_p)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)  # (B,)


# ---------------------------------------------------------------- the loop


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


def _steps(
    model, ids, max_new_tokens, temperature, top_k, top_p, eos_id, generator, use_cache
) -> Iterator[torch.Tensor]:
    ctx = model.cfg.context_length
    seq = ids[:, -ctx:]  # what the model sees: at most the last context_length tokens
    done = torch.zeros(ids.shape[0], dtype=torch.bool, device=ids.device)
    cache = None
    for step in range(max_new_tokens):
        with eval_mode(model), torch.inference_mode():
            if not use_cache:
                logits = model(seq)[:, -1, :]  # the whole window again, every step
            elif step == 0:
                capacity = min(ctx, seq.shape[1] + max_new_tokens)
                cache = PreallocatedKVCache(model.cfg.n_layers, capacity)
                logits = model(seq, cache=cache)[:, -1, :]  # prefill: the prompt, once
            elif cache is not None and len(cache) < ctx:
                logits = model(seq[:, -1:], cache=cache)[:, -1, :]  # only the newest token
            else:
                # The window has slid past context_length. With absolute positional embeddings
                # every token's position changes when the window slides, so the cached keys and
                # values are stale: recompute the window, exactly as the uncached path does.
                cache = None
                logits = model(seq)[:, -1, :]
            token = sample_next_token(logits, temperature, top_k, top_p, generator)  # (B,)
            if eos_id is not None:
                token = token.masked_fill(done, eos_id)  # finished rows are padded with eos
                done = done | (token == eos_id)
            seq = torch.cat([seq, token[:, None]], dim=1)[:, -ctx:]
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
    ids = _prepare(model, ids, max_new_tokens, temperature, top_k, top_p, eos_id, generator)
    return _steps(model, ids, max_new_tokens, temperature, top_k, top_p, eos_id, generator, use_cache)


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
    ids = _prepare(model, ids, max_new_tokens, temperature, top_k, top_p, eos_id, generator)
    new = list(_steps(model, ids, max_new_tokens, temperature, top_k, top_p, eos_id, generator, use_cache))
    if not new:
        return ids.clone()
    return torch.cat([ids, torch.stack(new, dim=1)], dim=1)


# ---------------------------------------------------------------- speed


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


# ---------------------------------------------------------------- command line


def _load_model(checkpoint: str | None, device: str):
    from ..assets import AssetError
    from ..weights import load_checkpoint, load_course_model

    if checkpoint is not None:
        return load_checkpoint(checkpoint, device=device)
    try:
        return load_course_model(device=device)
    except AssetError as e:
        raise SystemExit(
            f"error: the trained course model is not available yet ({e}).\n"
            f"Pass a checkpoint of your own with --checkpoint PATH "
            f"(e.g. one written by `python -m course_utils.train`)."
        ) from None


def stream_text(tokens: Iterator[torch.Tensor], tokenizer, out=None, eos_id: int | None = None) -> str:
    """Write the text of a stream of (1,) token tensors to ``out`` as it comes; return all of it.

    A token can end in the middle of a multi-byte UTF-8 character (emoji, accented letters): its
    bytes are held back until the rest of the character arrives, so nothing prints garbled.
    """
    out = out if out is not None else sys.stdout
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pieces = []
    for token in tokens:
        tid = int(token[0])
        if eos_id is not None and tid == eos_id:
            break
        text = decoder.decode(tokenizer.decode_single_token_bytes(tid))
        if text:
            out.write(text)
            out.flush()
            pieces.append(text)
    tail = decoder.decode(b"", final=True)
    if tail:
        out.write(tail)
        pieces.append(tail)
    out.flush()
    return "".join(pieces)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m course_utils.generate",
        description="Continue a prompt with a GPT model, streaming the text as it is generated.",
    )
    parser.add_argument(
        "--prompt", required=True, help='the text to continue ("<|endoftext|>" starts from nothing)'
    )
    parser.add_argument("--checkpoint", help="a checkpoint from save_checkpoint (default: the course model)")
    parser.add_argument("--temperature", type=float, default=0.8, help="0 = greedy (default 0.8)")
    parser.add_argument("--top-k", type=int, default=None, help="sample among the k most likely tokens")
    parser.add_argument("--top-p", type=float, default=None, help="sample from the top-p nucleus")
    parser.add_argument("--max-new-tokens", type=int, default=100, help="how many tokens to add (default 100)")
    parser.add_argument("--seed", type=int, default=None, help="seed for reproducible sampling")
    parser.add_argument("--device", default="cpu", help="cpu (default) or e.g. cuda")
    parser.add_argument("--no-cache", action="store_true", help="recompute everything each step (slow)")
    args = parser.parse_args(argv)

    from ..tokenizer import ENDOFTEXT_ID, get_tokenizer, text_to_ids

    try:
        check_sampling(args.temperature, args.top_k, args.top_p)
        if not args.prompt:
            raise ValueError('--prompt is empty; give some text to continue, or "<|endoftext|>" to start from nothing')
        tokenizer = get_tokenizer()
        ids = text_to_ids(args.prompt, tokenizer, allow_special=True)  # "<|endoftext|>": GPT-2's text boundary
        model = prepare_for_generation(_load_model(args.checkpoint, args.device))
        generator = None
        if args.seed is not None:
            generator = torch.Generator(device=model.device).manual_seed(args.seed)
        eos = ENDOFTEXT_ID if ENDOFTEXT_ID < model.cfg.vocab_size else None
        tokens = generate_stream(
            model,
            ids,
            args.max_new_tokens,
            temperature=args.temperature,
            top_k=args.top_k,
            top_p=args.top_p,
            eos_id=eos,
            generator=generator,
            use_cache=not args.no_cache,
        )
    except ValueError as e:
        parser.exit(2, f"error: {e}\n")
    sys.stdout.write(args.prompt)
    sys.stdout.flush()
    stream_text(tokens, tokenizer, sys.stdout, eos_id=eos)
    sys.stdout.write("\n")
    sys.stdout.flush()
    return 0

