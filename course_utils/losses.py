"""The next-token cross-entropy loss, looked at closely: per token, as perplexity, and against
reference points (uniform guessing, a fresh model, a model that ignores context).

    per_token_loss(model, ids)       the loss of every next-token prediction in a text, (T-1,)
    token_losses(logits, targets)    the same from logits you already have
    text_loss(model, ids)            mean loss over a long token stream, window by window
    windows_loss(model, windows)     the same over TokenWindows you already have (training's evaluation)
    perplexity(loss)                 exp(loss): "as unsure as choosing among N tokens"
    uniform_loss(vocab_size)         ln V, the loss of guessing uniformly
    expected_init_loss(std, V)       ln V + std**2 / 2, the loss of near-Gaussian random logits
    unigram_entropy(ids)             the loss of the best guesser that ignores context

All losses are in nats (natural logarithm), as ``torch.nn.functional.cross_entropy`` reports them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .checks import check_token_range, is_whole_number
from .data import TokenWindows
from .model import GPTModel, eval_mode

GPT2_VOCAB_SIZE = 50257


def token_losses(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of every position: ``-log softmax(logits)[target]``.

    ``logits``: (..., V); ``targets``: (...) integer ids. Returns float32 losses of shape (...).
    """
    if logits.shape[:-1] != targets.shape:
        raise ValueError(
            f"logits {tuple(logits.shape)} and targets {tuple(targets.shape)} do not fit: logits need "
            f"one more (vocabulary) dimension than targets, e.g. (B, T, V) and (B, T)"
        )
    flat = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1), reduction="none")
    return flat.view(targets.shape)


@torch.no_grad()
def per_token_loss(model: GPTModel, ids: torch.Tensor) -> torch.Tensor:
    """The loss of each next-token prediction in ``ids``.

    ``ids``: (T,) or (B, T) token ids. Position t predicts token t + 1 from tokens 0..t, so a text
    of T tokens gives T - 1 losses: shape (T - 1,) or (B, T - 1), float32 on the CPU. The model is
    run in eval mode (no dropout) and left in the mode it was in.
    """
    if isinstance(ids, str):
        raise ValueError("per_token_loss takes token ids, not text; encode it first: cu.text_to_ids(text)")
    ids = torch.as_tensor(ids)
    if ids.dim() not in (1, 2) or ids.shape[-1] < 2:
        raise ValueError(
            f"expected token ids of shape (T,) or (B, T) with T >= 2 (one token to read, one to predict), "
            f"got {tuple(ids.shape)}"
        )
    ctx = model.cfg.context_length
    if ids.shape[-1] > ctx + 1:
        raise ValueError(
            f"ids have {ids.shape[-1]} tokens, but per_token_loss scores at most context_length + 1 = {ctx + 1} "
            f"(the model reads {ctx}, each predicting the next); use text_loss for longer texts"
        )
    batch = (ids if ids.dim() == 2 else ids.unsqueeze(0)).to(model.device)
    with eval_mode(model):
        logits = model(batch[:, :-1])  # (B, T-1, V): predictions for tokens 1..T-1
    losses = token_losses(logits, batch[:, 1:]).cpu()  # (B, T-1)
    return losses if ids.dim() == 2 else losses[0]


def text_loss(
    model: GPTModel,
    ids: torch.Tensor,
    *,
    context_length: int | None = None,
    stride: int | None = None,
    max_windows: int | None = None,
    spread: bool = False,
    batch_size: int = 16,
) -> float:
    """Mean next-token loss over a 1-D token stream, window by window.

    Windows of ``context_length`` tokens (default: the model's) start every ``stride`` tokens
    (default: ``context_length``, back to back) and are scored as in training (``TokenWindows``:
    inputs ``ids[s:s+C]``, targets shifted by one); ``max_windows`` uses only the first ones, or
    with ``spread`` that many spread evenly over the whole text (as the training loop's
    evaluations do). A stride of k * context_length also scores every k-th window.
    Use the same ``context_length`` to compare models fairly: a longer window gives each
    prediction more to read.
    """
    ctx = model.cfg.context_length if context_length is None else context_length
    return windows_loss(model, TokenWindows(ids, ctx, stride), max_windows=max_windows, spread=spread,
                        batch_size=batch_size)


@torch.no_grad()
def windows_loss(
    model: torch.nn.Module,
    windows: TokenWindows,
    *,
    max_windows: int | None = None,
    spread: bool = False,
    batch_size: int = 16,
    device: torch.device | str | None = None,
) -> float:
    """Mean next-token loss over the first ``max_windows`` windows (default: all), or with ``spread``
    over that many spread evenly over the text (``TokenWindows.pick``), ``batch_size`` at a time, in
    eval mode (no dropout; the model is left in the mode it was in).

    The one mean-loss-over-windows of the package: ``text_loss``, the evaluations during training
    (``train.evaluate``) and the record of an exported model all use it. ``device``: where the
    model is (default: where its parameters are).
    """
    if not is_whole_number(batch_size) or batch_size < 1:
        raise ValueError(f"batch_size must be a whole number >= 1, got {batch_size!r}")
    picked = windows.pick(max_windows, spread)
    if hasattr(model, "cfg"):  # a GPTModel: every id must be in its vocabulary (checked once, on the CPU)
        check_token_range(windows.ids, model.cfg.vocab_size)
    device = next(model.parameters()).device if device is None else device
    total = 0.0
    with eval_mode(model):
        for start in range(0, len(picked), batch_size):
            x, y = windows.batch(picked[start : start + batch_size])
            logits = model(x.to(device))  # (B, T, V)
            losses = F.cross_entropy(logits.flatten(0, 1).float(), y.to(device).flatten(), reduction="none")
            total += losses.sum().item()  # one float32 sum per batch, added up in float64
    return total / (len(picked) * windows.context_length)


def perplexity(loss):
    """exp(loss). A loss of L nats is as unsure as picking uniformly among exp(L) tokens.

    Takes a float (returns a float) or a tensor (returns a tensor)."""
    if isinstance(loss, torch.Tensor):
        return torch.exp(loss)
    try:
        return math.exp(loss)
    except OverflowError:  # a loss above ~709 nats: more unsure than a float can count
        return math.inf


def uniform_loss(vocab_size: int = GPT2_VOCAB_SIZE) -> float:
    """The loss of guessing every token with probability 1 / vocab_size: ln(vocab_size)."""
    if vocab_size < 1:
        raise ValueError(f"vocab_size must be positive, got {vocab_size}")
    return math.log(vocab_size)


def expected_init_loss(logit_std: float, vocab_size: int = GPT2_VOCAB_SIZE) -> float:
    """The loss to expect from random logits: ln(vocab_size) + logit_std**2 / 2.

    loss = logsumexp(z) - z_target. For V logits drawn from N(0, s^2), logsumexp(z) is about
    ln(V * E[e^z]) = ln V + s^2 / 2 (the mean of a log-normal), while the target's logit is as
    likely to be high as low, 0 on average. So a model starts a little above uniform guessing.
    """
    return uniform_loss(vocab_size) + logit_std**2 / 2


def unigram_entropy(ids: torch.Tensor) -> float:
    """The loss of the best guesser that ignores context, on the text ``ids`` itself.

    It predicts every token with its frequency p in the text; its loss is the entropy
    -sum p ln p (nats). A language model that scores below it has learnt from the context.
    """
    ids = torch.as_tensor(ids).flatten()
    if ids.numel() == 0:
        raise ValueError("need at least one token")
    _, counts = torch.unique(ids, return_counts=True)
    p = counts.double() / ids.numel()
    return float(-(p * p.log()).sum())
