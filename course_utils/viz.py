"""Pictures for the notebooks: the GPT-2 map with the current piece highlighted, and shared plots.

Every figure is drawn here with matplotlib (no image is fetched from anywhere);
``assets/figures/make_figures.py`` saves them as PNG files for the README.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

# Pieces of the map, bottom to top: (key, label, y-centre, height, x-left, width).
_MAP = [
    ("text", 'Input text  "Every effort moves you"', 0.2, 0.55, 0.5, 5.0),
    ("tokenizer", "Tokenizer (BPE): text -> token ids", 1.15, 0.55, 0.5, 5.0),
    ("token_embedding", "Token embedding\n50257 x 768", 2.15, 0.75, 0.5, 2.4),
    ("positional_embedding", "Positional embedding\n1024 x 768", 2.15, 0.75, 3.1, 2.4),
    ("dropout", "Sum + dropout", 3.05, 0.45, 0.5, 5.0),
    ("layernorm", "LayerNorm 1", 4.0, 0.45, 1.0, 4.0),
    ("attention", "Masked multi-head self-attention\n12 heads", 4.75, 0.7, 1.0, 4.0),
    ("residual", "+  (residual add)", 5.5, 0.4, 1.0, 4.0),
    ("layernorm2", "LayerNorm 2", 6.15, 0.45, 1.0, 4.0),
    ("feedforward", "Feed-forward: 768 -> 3072 -> GELU -> 768", 6.85, 0.6, 1.0, 4.0),
    ("residual2", "+  (residual add)", 7.55, 0.4, 1.0, 4.0),
    ("final_norm", "Final LayerNorm", 8.65, 0.45, 0.5, 5.0),
    ("out_head", "Linear output head (tied to the token embedding)\n768 -> 50257 logits", 9.45, 0.7, 0.5, 5.0),
    ("softmax", "Softmax -> next-token probabilities", 10.35, 0.5, 0.5, 5.0),
]
# What each notebook highlights (several keys may light up together).
HIGHLIGHTS = {
    "overview": [],
    "input_encoding": ["text", "tokenizer", "token_embedding", "positional_embedding", "dropout"],
    "attention": ["attention"],
    "layer_norm": ["layernorm", "layernorm2", "final_norm"],
    "feed_forward": ["feedforward"],
    "residual": ["residual", "residual2"],
    "block": ["block"],
    "model": ["all"],
    "generation": ["out_head", "softmax"],
    "pretraining": ["all"],
    "loss": ["softmax"],
}
_BLOCK_KEYS = {"layernorm", "attention", "residual", "layernorm2", "feedforward", "residual2"}
_ACCENT, _BASE, _DIM = "#f4a261", "#dbe7f3", "#eeeeee"


def _fit_width(text, width: float) -> None:
    """Shrink a text's font, a quarter point at a time, until it is at most ``width`` wide in data units."""
    to_data = text.axes.transData.inverted()
    while text.get_fontsize() > 6:
        (x0, _), (x1, _) = to_data.transform(text.get_window_extent().get_points())
        if x1 - x0 <= width:
            return
        text.set_fontsize(text.get_fontsize() - 0.25)


def gpt2_map(highlight: str | list[str] | None = None, title: str | None = None, ax=None, loop: bool = False):
    """Draw GPT-2 as a stack of pieces; ``highlight`` is a notebook key (see ``HIGHLIGHTS``)
    or a list of piece keys. ``loop=True`` adds generation's "append and repeat" arrow from the
    next-token probabilities back to the input. Returns the matplotlib Figure."""
    keys = HIGHLIGHTS.get(highlight, highlight) if isinstance(highlight, str) else (highlight or [])
    keys = set(keys)
    lit_all = "all" in keys or not keys  # everything in the base colour, nothing dimmed
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.2, 8.4))
    else:
        fig = ax.figure
    ax.set_xlim(-0.75 if loop else -0.2, 6.3)  # first: labels are fitted to their boxes in these units
    ax.set_ylim(-0.3, 10.8)
    block_lit = "block" in keys
    ax.add_patch(
        FancyBboxPatch(
            (0.6, 3.6), 4.8, 4.3, boxstyle="round,pad=0.05",
            facecolor="#fff7ef" if block_lit else "white",
            edgecolor=_ACCENT if block_lit else "#555555", linewidth=2.5 if block_lit else 1.2,
            linestyle="--",
        )
    )
    ax.text(5.55, 5.75, "Transformer block\nx 12 layers", rotation=90, va="center", ha="left", fontsize=10)
    for key, label, y, h, x, w in _MAP:
        on = key in keys or (block_lit and key in _BLOCK_KEYS)
        face = _ACCENT if on else (_BASE if lit_all else _DIM)
        ax.add_patch(
            FancyBboxPatch(
                (x, y - h / 2), w, h, boxstyle="round,pad=0.03", facecolor=face,
                edgecolor="#333333", linewidth=1.8 if on else 0.8,
            )
        )
        label = ax.text(x + w / 2, y, label, ha="center", va="center", fontsize=9, weight="bold" if on else "normal")
        _fit_width(label, 0.96 * w)  # bold is wider: the feed-forward's label would spill out of its box
    for (_, _, a, ha, _, _), (_, _, b, hb, _, _) in zip(_MAP, _MAP[1:], strict=False):
        if a == b:  # the two embeddings sit side by side
            continue
        ax.add_patch(
            FancyArrowPatch((3.0, a + ha / 2 + 0.03), (3.0, b - hb / 2 - 0.03),
                            arrowstyle="-|>", mutation_scale=12, color="#333333")
        )
    # The two residual shortcuts: around attention and around the feed-forward network.
    shortcut = _ACCENT if {"residual", "residual2", "block"} & keys else "#777777"
    for start, end in ((3.7, 5.5), (5.85, 7.55)):
        ax.plot([3.0, 0.78, 0.78], [start, start, end], color=shortcut, linewidth=2)
        ax.add_patch(FancyArrowPatch((0.78, end), (1.0, end), arrowstyle="-|>", mutation_scale=12,
                                     color=shortcut, linewidth=2))
    if loop:  # generation: the picked token is appended to the input and everything runs again
        color = _ACCENT if "softmax" in keys else "#555555"
        ax.plot([0.5, -0.05, -0.05], [10.35, 10.35, 0.2], color=color, linewidth=2.2, linestyle="--")
        ax.add_patch(FancyArrowPatch((-0.05, 0.2), (0.5, 0.2), arrowstyle="-|>", mutation_scale=16,
                                     color=color, linewidth=2.2))
        ax.text(-0.2, 5.3, "pick a token, append it to the input, and repeat", rotation=90, ha="right",
                va="center", fontsize=9.5, color="#333333", weight="bold")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=12)
    return fig


# ---------------------------------------------------------------- a training run, as it happened

_LINE_COLOURS = ("gray", "#2a9d8f", "#9b5de5", "#e9c46a")


def training_timeline(history: dict, samples: list[dict] | None = None, baselines: dict | None = None,
                      at_steps: list[int] | None = None, title: str | None = None, max_lines: int = 12,
                      width: int = 34):
    """The loss of a training run against the tokens it had seen, with the text it wrote at a few
    steps printed underneath, each panel lettered like its point on the curve.

    ``history`` is a run's record (``history["steps"]``, ``["evals"]``, ``["samples"]``, as
    ``course_utils.train`` writes it); ``samples`` replaces ``history["samples"]`` (e.g. to add the
    untrained model's text at step 0); ``baselines`` maps a name to a loss, drawn as a dashed line;
    ``at_steps`` picks the samples shown (default: four, spread from the first to the last).
    Returns the matplotlib Figure."""
    samples = sorted(history["samples"] if samples is None else samples, key=lambda s: s["step"])
    by_step = {s["step"]: s["text"] for s in samples}
    if not by_step:
        raise ValueError("this run recorded no samples: train with sample_interval > 0 (--sample-interval)")
    if at_steps is None:
        steps = sorted(by_step)
        at_steps = sorted({steps[round(i * (len(steps) - 1) / 3)] for i in range(4)})
    missing = [s for s in at_steps if s not in by_step]
    if missing:
        raise ValueError(f"no sample at step(s) {missing}; the run has samples at {sorted(by_step)}")
    tokens_per_step = history["steps"][0]["tokens"] // history["steps"][0]["step"]
    evals = {e["step"]: e["val_loss"] for e in history["evals"]}
    batch = {s["step"]: s["loss"] for s in history["steps"]}

    fig = plt.figure(figsize=(3.1 * max(len(at_steps), 3), 6.6))
    ax = fig.add_axes([0.07, 0.54, 0.9, 0.4])
    ax.plot([s["tokens"] for s in history["steps"]], list(batch.values()), color="#8aa1b8", linewidth=0.8,
            label="training batch loss")
    if evals:
        ax.plot([s * tokens_per_step for s in evals], list(evals.values()), "o-", color="#e76f51",
                markersize=4, label="validation loss (held-out plays)")
    for (name, value), colour in zip((baselines or {}).items(), _LINE_COLOURS, strict=False):
        ax.axhline(value, color=colour, linestyle="--", linewidth=1, label=f"{name} baseline {value:.2f}")
    width_each = 0.9 / len(at_steps)
    for k, step in enumerate(at_steps):
        letter = "ABCDEFGH"[k]
        x = max(step, 1) * tokens_per_step  # step 0 (before training) is drawn at the first step
        y = evals.get(step, batch.get(max(step, 1)))
        if y is not None:
            ax.annotate(letter, (x, y), xytext=(0, 14), textcoords="offset points", ha="center",
                        weight="bold", fontsize=11, arrowprops=dict(arrowstyle="-", color="#333333"))
        shown = _sample_lines(by_step[step], width, max_lines)
        head = f"{letter} · step {step:,} · " + (f"{step * tokens_per_step / 1e6:.2f}M tokens" if step else "0 tokens")
        if step in evals:
            head += f"\nval loss {evals[step]:.2f}"
        elif step == 0:
            head += "\nbefore training"
        tx = fig.add_axes([0.07 + k * width_each, 0.02, width_each - 0.01, 0.36])
        tx.set_xticks([])
        tx.set_yticks([])
        for side in tx.spines.values():
            side.set_color("#bbbbbb")
        tx.set_title(head, fontsize=9, loc="left")
        tx.text(0.03, 0.97, shown, family="monospace", fontsize=8, va="top", transform=tx.transAxes)
    ax.set_xscale("log")
    ax.set_xlabel("training tokens seen (log scale)")
    ax.set_ylabel("loss")
    ax.legend(fontsize=8, loc="upper right")
    if title:
        ax.set_title(title)
    return fig


def _sample_lines(text: str, width: int, max_lines: int) -> str:
    """The sample as it would print, cut to ``max_lines`` lines of at most ``width`` characters."""
    import textwrap

    lines = [part for line in text.split("\n") for part in (textwrap.wrap(line, width) or [""])]
    cut = lines[:max_lines] + (["..."] if len(lines) > max_lines else [])
    return "\n".join(cut).replace("$", r"\$")  # a "$" pair would start matplotlib's maths mode
