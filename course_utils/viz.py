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
        ax.text(x + w / 2, y, label, ha="center", va="center", fontsize=9, weight="bold" if on else "normal")
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
    ax.set_xlim(-0.75 if loop else -0.2, 6.3)
    ax.set_ylim(-0.3, 10.8)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=12)
    return fig
