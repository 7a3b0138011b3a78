"""Attention explorer (notebook 02): pick a sentence, a layer and a head, see who attends to whom.

Three plain functions do the work and are tested without a browser; the ipywidgets app is a thin
layer over them:

* ``explorer_model()`` -> (model, description): the trained course model if it is shipped,
  otherwise a seeded random model of the same shape (the description says which);
* ``attention_figure(model, text, layer, head)`` -> a matplotlib Figure: one head's attention
  weights as a heatmap, tokens on both axes;
* ``query_attention(model, text, query)`` -> where one token looks in every layer and head, and
  ``plot_query_attention`` to draw it (one row per layer and head, one column per visible token);
* ``attention_explorer(model=None, sentences=...)`` -> the app: a ``Dropdown`` ("sentence"), two
  ``IntSlider`` ("layer", "head") and an ``Output`` that shows the heatmap as a PNG image and is
  redrawn whenever a value changes.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..assets import AssetError
from ..config import GPTConfig
from ..model import GPTModel, eval_mode
from ..tokenizer import get_tokenizer, text_to_ids
from ..weights import load_course_model

DEFAULT_SENTENCES = (
    "The animal didn't cross the street because it was too tired",
    "The animal didn't cross the street because it was too wide",
    "A robot must obey the orders given it by human beings except where such orders would conflict with the First Law",
    "To be, or not to be, that is the question",
    "Friends, Romans, countrymen, lend me your ears",
    "The king is dead. Long live the king!",
)

# The shape the shipped course model is expected to have (used for the random stand-in).
EXPLORER_CONFIG = GPTConfig(context_length=256, emb_dim=256, n_heads=4, n_layers=4, drop_rate=0.0)
RANDOM_DESCRIPTION = (
    "random weights: the trained model is not shipped yet "
    "(a seeded GPTModel with 4 layers, 4 heads, width 256)"
)


def explorer_model() -> tuple[GPTModel, str]:
    """The model the explorer looks inside, in eval mode, and one line saying which it is."""
    try:
        model = load_course_model()
        cfg = model.cfg
        description = (
            f"the trained course model ({cfg.n_layers} layers, {cfg.n_heads} heads, "
            f"width {cfg.emb_dim}, trained on Shakespeare)"
        )
    except AssetError:
        with torch.random.fork_rng(devices=[]):  # seeded, without touching the caller's RNG
            torch.manual_seed(0)
            model = GPTModel(EXPLORER_CONFIG)
        description = RANDOM_DESCRIPTION
    return model.eval(), description


def token_labels(ids: torch.Tensor) -> list[str]:
    """One readable label per token id (GPT-2 tokens often start with a space)."""
    tok = get_tokenizer()
    return [tok.decode([i]) for i in ids.reshape(-1).tolist()]


@torch.no_grad()
def attention_weights(model: GPTModel, text: str) -> tuple[list[str], list[torch.Tensor]]:
    """Token labels of ``text`` and the attention weights of every layer, each (nh, T, T)."""
    ids = text_to_ids(text).to(model.device)
    ids = ids[:, -model.cfg.context_length :]
    with eval_mode(model):
        _, attention = model(ids, return_attention=True)
    return token_labels(ids), [w[0].float().cpu() for w in attention]


def _check_layer_head(model: GPTModel, layer: int, head: int) -> None:
    if not 0 <= layer < model.cfg.n_layers:
        raise ValueError(f"layer must be in 0 .. {model.cfg.n_layers - 1}, got {layer}")
    if not 0 <= head < model.cfg.n_heads:
        raise ValueError(f"head must be in 0 .. {model.cfg.n_heads - 1}, got {head}")


def plot_attention(weights: torch.Tensor, tokens: Sequence[str], title: str = "", ax=None):
    """Draw one (T, T) attention matrix: row = the token that looks, column = the token looked at."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 5.6))
    t = len(tokens)
    im = ax.imshow(weights.numpy(), cmap="viridis", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(t), tokens, rotation=90)
    ax.set_yticks(range(t), tokens)
    ax.set_xlabel("key: the token looked at")
    ax.set_ylabel("query: the token looking")
    if title:
        ax.set_title(title)
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="attention weight")
    return ax


def attention_figure(model: GPTModel, text: str = DEFAULT_SENTENCES[0], layer: int = 0, head: int = 0):
    """A Figure with the attention weights of one head of one layer of ``model`` on ``text``."""
    _check_layer_head(model, layer, head)
    tokens, attention = attention_weights(model, text)
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    plot_attention(attention[layer][head], tokens, f"layer {layer}, head {head}", ax=ax)
    fig.tight_layout()
    return fig


@torch.no_grad()
def query_attention(model: GPTModel, text: str, query: int) -> tuple[list[str], torch.Tensor]:
    """Where the token at position ``query`` of ``text`` looks, in every layer and head.

    ``query`` counts from 0 (negative counts from the end). Returns the tokens it can see (positions
    0 .. query) and their weights, shape (n_layers, nh, query + 1): entry (l, h, j) is how much that
    token attends to token j in layer l, head h. Each row sums to 1 (the causal mask hides the rest).
    """
    tokens, attention = attention_weights(model, text)
    t = len(tokens)
    if not -t <= query < t:
        raise ValueError(f"query must be a token position in {-t} .. {t - 1} (the text has {t} tokens), got {query}")
    q = query % t
    return tokens[: q + 1], torch.stack([w[:, q, : q + 1] for w in attention])


def plot_query_attention(weights: torch.Tensor, tokens: Sequence[str], title: str = "", ax=None):
    """Draw ``query_attention``'s weights: one row per (layer, head), one column per visible token,
    with a colorbar. Up to 48 rows (the course model has 16) the weights are written in the cells;
    a bigger model (GPT-2 small: 144 rows) gets smaller labels and no numbers."""
    n_layers, nh, t = weights.shape
    if len(tokens) != t:
        raise ValueError(f"got {len(tokens)} tokens for weights over {t} positions; "
                         "pass the tokens that query_attention returned")
    n_rows = n_layers * nh
    if ax is None:
        _, ax = plt.subplots(figsize=(0.55 * t + 2.5, min(12.0, 0.32 * n_rows + 1.6)))
    rows = weights.reshape(n_rows, t).numpy()
    im = ax.imshow(rows, cmap="viridis", vmin=0.0, vmax=max(float(rows.max()), 1e-6), aspect="auto")
    if n_rows <= 48:
        for (i, j), val in np.ndenumerate(rows):
            ax.text(j, i, f"{val:.2f}", ha="center", va="center", fontsize=6,
                    color="black" if im.norm(val) > 0.6 else "white")
    ax.set_xticks(range(t), [f"{tok} ({j})" for j, tok in enumerate(tokens)], rotation=90)
    ax.set_yticks(range(n_rows), [f"layer {i}, head {h}" for i in range(n_layers) for h in range(nh)],
                  fontsize=8 if n_rows <= 48 else 4)
    ax.set_xlabel("key: the token looked at (position)")
    if title:
        ax.set_title(title)
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.02, label="attention weight")
    return ax


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    return buf.getvalue()


def attention_explorer(model: GPTModel | None = None, sentences: Sequence[str] = DEFAULT_SENTENCES):
    """An ipywidgets app: choose a sentence, a layer and a head; the heatmap is redrawn.

    The returned ``VBox`` carries its parts as attributes (``sentence``, ``layer``, ``head``,
    ``output``) and the state of the picture on show (``weights``: the (T, T) matrix, ``png``:
    the image bytes), so code and tests can drive it without a browser.
    """
    import ipywidgets as widgets

    if model is None:
        model, description = explorer_model()
    else:
        description = f"your model ({model.cfg.n_layers} layers, {model.cfg.n_heads} heads)"
    sentences = list(sentences)
    if not sentences:
        raise ValueError("give at least one sentence")
    sentence = widgets.Dropdown(options=sentences, value=sentences[0], description="sentence",
                                layout=widgets.Layout(width="95%"))
    layer = widgets.IntSlider(value=0, min=0, max=model.cfg.n_layers - 1, description="layer",
                              continuous_update=False)
    head = widgets.IntSlider(value=0, min=0, max=model.cfg.n_heads - 1, description="head",
                             continuous_update=False)
    output = widgets.Output()
    app = widgets.VBox([widgets.HTML(f"<b>Model:</b> {description}"), sentence, layer, head, output])
    cache: dict[str, tuple[list[str], list[torch.Tensor]]] = {}

    def redraw(_change=None) -> None:
        text = sentence.value
        if text not in cache:  # one forward pass per sentence; layer/head only pick a matrix
            cache[text] = attention_weights(model, text)
        tokens, attention = cache[text]
        weights = attention[layer.value][head.value]
        fig, ax = plt.subplots(figsize=(6.4, 5.6))
        plot_attention(weights, tokens, f"layer {layer.value}, head {head.value}", ax=ax)
        fig.tight_layout()
        png = _png(fig)
        plt.close(fig)  # shown through the Output below, not by pyplot
        app.weights, app.png = weights, png
        # Replacing the outputs in one assignment redraws in the browser and also works with no
        # kernel attached (tests).
        output.outputs = (
            {
                "output_type": "display_data",
                "data": {
                    "image/png": base64.b64encode(png).decode("ascii"),
                    "text/plain": f"<attention heatmap: layer {layer.value}, head {head.value}>",
                },
                "metadata": {},
            },
        )

    for w in (sentence, layer, head):
        w.observe(redraw, names="value")
    app.model, app.description = model, description
    app.sentence, app.layer, app.head, app.output = sentence, layer, head, output
    redraw()
    return app


__all__ = [
    "DEFAULT_SENTENCES",
    "EXPLORER_CONFIG",
    "attention_explorer",
    "attention_figure",
    "attention_weights",
    "explorer_model",
    "plot_attention",
    "plot_query_attention",
    "query_attention",
]
