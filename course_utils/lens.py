"""Generation frame by frame, the way "The Illustrated GPT-2" draws it, on a real model.

One step of generation: the newest token's vector rises through every block; at the top it is
scored against the whole vocabulary; a token is picked and appended; and every layer keeps the
keys and values of the earlier tokens (the KV cache), so the next step only computes one column.

* ``residual_stream(model, ids)``: the vectors at every height of the stack (after the embeddings,
  after each block), captured with forward hooks while the model itself runs;
* ``logit_lens(model, ids)``: what each height would already predict for the next token if its
  vector were read through the final LayerNorm and the output head (the "logit lens",
  nostalgebraist 2020): one ``LensReading`` per height, for the last position;
* ``generation_frames(model, prompt_ids, steps)``: one ``Frame`` per step (text so far, the lens
  of the newest token's column, the final top candidates, the pick, the cache it keeps);
* ``plot_frame(frame)``: one frame as a picture (tokens along the bottom, the stack above the
  newest one, cached K,V of the earlier ones, the final scores as bars, "append and repeat").

Greedy by default, so the frames are the same on every run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from .checks import is_whole_number
from .generate import sample_next_token
from .model import eval_mode
from .tokenizer import get_tokenizer

__all__ = ["Frame", "LensReading", "format_frame", "frames_as_data", "generation_frames", "logit_lens",
           "plot_frame", "residual_stream"]


@dataclass(frozen=True)
class LensReading:
    """What one height of the stack predicts for the next token (via final LayerNorm + head)."""

    layer: str  # "embeddings", "block 1", ..., "block N"
    tokens: list[str]  # the top tokens, most likely first
    ids: list[int]
    probs: list[float]


@dataclass(frozen=True)
class Frame:
    """One step of generation."""

    step: int  # 1, 2, ...
    context: str  # the text the model has read (prompt + earlier picks)
    context_tokens: list[str]  # the same, token by token
    new_token: str  # the token whose column rises this step (the last of the context)
    computed: int  # tokens run through the stack this step (the whole prompt at step 1, then 1)
    cached: int  # tokens whose keys and values every layer already held before this step
    lens: list[LensReading]  # bottom to top: embeddings, block 1 .. block N (last position)
    candidates: list[tuple[str, float]]  # final top-k tokens with their probabilities
    candidate_ids: list[int]
    pick: str  # the token appended
    pick_id: int
    kv_shape: tuple[int, int, int, int]  # the keys each layer keeps after this step (B, heads, tokens, head_dim)


def residual_stream(model: nn.Module, ids: torch.Tensor, cache=None) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Run ``model(ids, cache=cache)`` and return (the vectors after the embeddings and after each
    block, each (B, T, d); the model's logits (B, T, V))."""
    seen: list[torch.Tensor] = []
    hooks = [model.drop_emb.register_forward_hook(lambda _m, _i, out: seen.append(out))]
    for block in model.blocks:
        hooks.append(block.register_forward_hook(lambda _m, _i, out: seen.append(out)))
    try:
        logits = model(ids, cache=cache)
    finally:
        for h in hooks:
            h.remove()
    return seen, logits


def _read(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A residual-stream vector (B, d) read as next-token probabilities (B, V)."""
    return torch.softmax(model.out_head(model.final_norm(x)).float(), dim=-1)


def _lens(model, stream, k, tok) -> list[LensReading]:
    names = ["embeddings"] + [f"block {i + 1}" for i in range(len(stream) - 1)]
    readings = []
    for name, x in zip(names, stream, strict=True):
        probs, idx = torch.topk(_read(model, x[0, -1:]), k, dim=-1)  # (1, k)
        ids = [int(i) for i in idx[0]]
        readings.append(LensReading(name, [tok.decode([i]) for i in ids], ids, [float(p) for p in probs[0]]))
    return readings


def _check_ids(model, ids) -> torch.Tensor:
    if not isinstance(ids, torch.Tensor):
        ids = torch.tensor(ids, dtype=torch.long)
    if ids.dim() == 1:
        ids = ids[None]
    if ids.dim() != 2 or ids.shape[0] != 1:
        raise ValueError(f"give one sequence of token ids, shape (T,) or (1, T); got shape {tuple(ids.shape)}")
    model.check_ids(ids)
    return ids.to(device=model.device, dtype=torch.long)


def logit_lens(model: nn.Module, ids, k: int = 1) -> list[LensReading]:
    """For the last position of ``ids``: the top-``k`` next tokens each height of the stack would
    predict (embeddings, block 1, ..., block N). The last reading is the model's own prediction."""
    if not is_whole_number(k) or k < 1:
        raise ValueError(f"k must be a whole number >= 1, got {k!r}")
    ids = _check_ids(model, ids)
    with eval_mode(model), torch.inference_mode():
        stream, _ = residual_stream(model, ids)
        return _lens(model, stream, k, get_tokenizer())


def generation_frames(
    model: nn.Module,
    prompt_ids,
    steps: int = 6,
    k: int = 5,
    *,
    temperature: float = 0.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int = 123,
) -> list[Frame]:
    """``steps`` frames of generation after ``prompt_ids`` (with a KV cache, as ``generate`` runs it).

    Greedy by default (the pick is the top candidate); with ``temperature > 0`` the pick is drawn
    with ``sample_next_token`` and a generator seeded with ``seed``. The candidates and the lens
    always show the model's own probabilities (temperature 1, no filter).
    """
    if not is_whole_number(steps) or steps < 1:
        raise ValueError(f"steps must be a whole number >= 1, got {steps!r}")
    if not is_whole_number(k) or k < 1:
        raise ValueError(f"k must be a whole number >= 1, got {k!r}")
    ids = _check_ids(model, prompt_ids)
    ctx = model.cfg.context_length
    if ids.shape[1] + steps - 1 > ctx:
        raise ValueError(
            f"{ids.shape[1]} prompt tokens + {steps} steps do not fit the context of {ctx} tokens; "
            f"use fewer steps or a shorter prompt"
        )
    tok = get_tokenizer()
    generator = torch.Generator(device=model.device).manual_seed(seed)
    frames: list[Frame] = []
    cache = model.new_cache()
    all_ids = ids[0].tolist()
    feed = ids  # step 1: the whole prompt ("prefill"); then only the newest token
    with eval_mode(model), torch.inference_mode():
        for step in range(1, steps + 1):
            cached = len(cache)
            stream, logits = residual_stream(model, feed, cache=cache)
            last = logits[:, -1, :]  # (1, V)
            probs = torch.softmax(last.float(), dim=-1)[0]
            top, idx = torch.topk(probs, k)
            pick = int(sample_next_token(last, temperature, top_k, top_p, generator)[0])
            frames.append(Frame(
                step=step,
                context=tok.decode(all_ids),
                context_tokens=[tok.decode([i]) for i in all_ids],
                new_token=tok.decode([all_ids[-1]]),
                computed=feed.shape[1],
                cached=cached,
                lens=_lens(model, stream, 1, tok),
                candidates=[(tok.decode([int(i)]), float(p)) for p, i in zip(top, idx, strict=True)],
                candidate_ids=[int(i) for i in idx],
                pick=tok.decode([pick]),
                pick_id=pick,
                kv_shape=tuple(cache.keys[0].shape),
            ))
            all_ids.append(pick)
            feed = torch.tensor([[pick]], device=model.device)
    return frames


def frames_as_data(frames: list[Frame], digits: int = 4) -> list[dict]:
    """The frames as plain JSON-ready data, probabilities rounded to ``digits`` decimals."""
    out = []
    for f in frames:
        d = asdict(f)
        d["candidates"] = [[t, round(p, digits)] for t, p in f.candidates]
        d["lens"] = [{**asdict(r), "probs": [round(p, digits) for p in r.probs]} for r in f.lens]
        d["kv_shape"] = list(f.kv_shape)
        out.append(d)
    return out


def format_frame(frame: Frame) -> str:
    """One frame as text: the text so far, the lens up the newest token's column, the final top
    candidates, the pick and the cache."""
    went = f"{frame.computed} tokens go up the stack" if frame.computed > 1 else "1 token goes up the stack"
    # probabilities to 3 decimals: the 4th differs between CPUs (Intel and AMD EPYC), and nbval compares text
    lens = "  ".join(f"{r.layer}: {r.tokens[0]!r} {r.probs[0]:.3f}" for r in frame.lens)
    top = "  ".join(f"{t!r} {p:.3f}" for t, p in frame.candidates)
    return (
        f"step {frame.step}: {frame.context!r}  ({went}; K,V of {frame.cached} earlier tokens kept)\n"
        f"   lens on {frame.new_token!r}: {lens}\n"
        f"   final top: {top}\n"
        f"   pick: {frame.pick!r}   keys kept per layer now: {frame.kv_shape}"
    )


# ---------------------------------------------------------------- the picture of one frame

_NEW, _KEPT, _BOX, _PICK = "#f4a261", "#dbe7f3", "#fff7ef", "#e76f51"


def plot_frame(frame: Frame, max_tokens: int = 7, fig=None):
    """Draw one frame: the tokens so far along the bottom; above the newest one the stack (the
    embeddings, then each block, labelled with what the logit lens reads there); above the earlier
    ones the keys and values each layer keeps; on the right the final scores; and the arrow that
    appends the pick and repeats. Returns the matplotlib Figure."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    def box(x, y, w, h, text, face, size=7.0, bold=False, lw=0.6):
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02", facecolor=face,
                                    edgecolor="#333333", linewidth=lw))
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=size,
                weight="bold" if bold else "normal")

    def arrow(a, b, color="#333333", lw=1.0, style="-", scale=10):
        ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=scale, color=color, linewidth=lw,
                                     linestyle=style))

    if fig is None:
        fig = plt.figure(figsize=(11, 4.8))
    ax = fig.add_axes((0.0, 0.0, 0.7, 0.9))
    bars = fig.add_axes((0.79, 0.15, 0.19, 0.6))
    tokens = frame.context_tokens[-max_tokens:]
    hidden = len(frame.context_tokens) - len(tokens)
    n, levels = len(tokens), len(frame.lens)  # levels: embeddings + one per block
    w_old, w_new, gap, h, dy = 1.1, 2.3, 0.12, 0.55, 0.78
    xs = [0.7 + i * (w_old + gap) for i in range(n)]
    computed = min(frame.computed, n)
    for i, (x, t) in enumerate(zip(xs[:-1], tokens[:-1], strict=True)):  # the earlier tokens
        fresh = i >= n - computed  # the prompt's tokens at step 1 go up the stack too
        box(x, 0, w_old, h, repr(t), _NEW if fresh else _KEPT, size=7.5)
        for lev in range(1, levels):
            box(x, lev * dy, w_old, h, f"block {lev}\nK,V " + ("made" if fresh else "kept"),
                "#fbd3b5" if fresh else _KEPT, size=6.3)
    x = xs[-1]  # the newest token: its column rises through the stack
    box(x, 0, w_new, h, repr(tokens[-1]), _NEW, size=8.5, bold=True, lw=1.6)
    for lev, r in enumerate(frame.lens):
        y = (lev + 1) * dy if lev == 0 else lev * dy
        if lev == 0:
            continue
        box(x, y, w_new, h, f"{r.layer}: lens -> {r.tokens[0]!r} {r.probs[0]:.2f}", _NEW, size=7.3, lw=1.2)
        arrow((x + w_new / 2, y - dy + h), (x + w_new / 2, y))
    emb = frame.lens[0]
    ax.text(x + w_new / 2 - 0.08, h + 0.08, f"embeddings: lens -> {emb.tokens[0]!r} {emb.probs[0]:.2f}",
            ha="right", va="bottom", fontsize=6.3, color="#555555")
    top_y = levels * dy
    box(x, top_y, w_new, h, "final LayerNorm + output head\n-> scores for every token", _BOX, size=6.8)
    arrow((x + w_new / 2, top_y - dy + h), (x + w_new / 2, top_y))
    pick_x = x + w_new + 0.6
    box(pick_x, top_y, w_old + 0.2, h, f"pick\n{frame.pick!r}", _PICK, size=8, bold=True, lw=1.6)
    arrow((x + w_new, top_y + h / 2), (pick_x, top_y + h / 2))
    mid = pick_x + (w_old + 0.2) / 2
    arrow((mid, top_y), (mid, h / 2), color=_PICK, lw=2, style="--", scale=14)
    ax.text(mid + 0.1, top_y / 2, "append\nand\nrepeat", ha="left", va="center", fontsize=8, color=_PICK,
            weight="bold")
    if hidden:
        ax.text(0.35, h / 2, f"+{hidden}\nmore", ha="center", va="center", fontsize=7, color="#555555")
    ax.set_xlim(0, pick_x + w_old + 1.2)
    ax.set_ylim(-0.6, top_y + h + 0.15)
    ax.axis("off")
    kept = (f"every block reuses the keys and values it kept for {frame.cached} earlier tokens; only the newest "
            f"token's column is computed" if frame.cached else
            f"step 1 runs the whole prompt ({frame.computed} tokens) up the stack at once")
    ax.text(0.7, -0.35, f"{kept}. Keys kept per block now: {frame.kv_shape} (batch, heads, tokens, head width)",
            fontsize=7.2, color="#333333")
    context = frame.context if len(frame.context) <= 60 else "..." + frame.context[-57:]
    fig.suptitle(f"step {frame.step}: text so far {context!r}", fontsize=11, x=0.01, ha="left", y=0.98)
    labels = [repr(t) for t, _ in frame.candidates]
    probs = [p for _, p in frame.candidates]
    colors = [_PICK if i == frame.pick_id else "#8fb3d9" for i in frame.candidate_ids]
    ys = list(range(len(probs)))[::-1]
    bars.barh(ys, probs, color=colors)
    bars.set_yticks(ys, labels, fontsize=8)
    right = min(1.0, max(probs) * 1.35 + 0.02)
    bars.set_xlim(0, right)
    for y, p in zip(ys, probs, strict=True):
        bars.text(p + right * 0.02, y, f"{p:.2f}", va="center", fontsize=8)
    bars.set_xlabel("probability", fontsize=8)
    bars.tick_params(axis="x", labelsize=7)
    bars.set_title(f"final scores, softmax:\ntop {len(probs)} of the whole vocabulary", fontsize=9)
    return fig
