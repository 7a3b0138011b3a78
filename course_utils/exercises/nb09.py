"""Checkers for notebook 09 · Pretraining."""

from __future__ import annotations

import math

from ..train import TrainConfig, lr_at
from ._check import Case, run_checks

__all__ = ["check_lr_schedule", "check_tokens_per_step", "check_training_hours"]


def _close(got, expected, rel: float = 1e-6) -> str | None:
    """None when ``got`` is a number within ``rel`` (relative) of ``expected``."""
    if isinstance(got, bool) or not isinstance(got, (int, float)) and not hasattr(got, "__float__"):
        return f"expected a number, got {type(got).__name__}"
    try:
        got = float(got)
    except (TypeError, ValueError):
        return f"expected a single number, got {type(got).__name__}"
    if not math.isfinite(got):
        return f"got {got}"
    return None if abs(got - expected) <= rel * abs(expected) + 1e-15 else "the numbers differ"


class _Expected(float):
    """The expected number (shown like a float) that remembers the arguments of its case, for hints."""

    def __new__(cls, value: float, args: tuple):
        obj = super().__new__(cls, value)
        obj.args = args
        return obj


def check_lr_schedule(fn):
    """``fn(step, max_steps, warmup_steps, lr, min_lr) -> float``: linear warmup from lr / warmup_steps
    (step 0) to lr (step warmup_steps - 1), then cosine decay from lr to min_lr at max_steps, and
    min_lr from there on."""
    runs = [(100, 10, 1e-3, 1e-4), (2000, 100, 2e-3, 2e-4), (50, 0, 6e-4, 6e-5)]
    cases = []
    for max_steps, warmup, lr, min_lr in runs:
        cfg = TrainConfig(max_steps=max_steps, warmup_steps=warmup, lr=lr, min_lr=min_lr)
        steps = sorted({0, warmup // 2, max(warmup - 1, 0), warmup, (warmup + max_steps) // 2, max_steps - 1,
                        max_steps, max_steps + 10})
        for s in steps:
            where = ("warmup" if s < warmup else "after the end" if s >= max_steps else "cosine decay")
            args = (s, max_steps, warmup, lr, min_lr)
            cases.append(Case(f"step {s} of {max_steps}, warmup {warmup} ({where})", args,
                              expected=_Expected(lr_at(s, cfg), args)))

    def compare(got, expected):
        problem = _close(got, expected)
        if problem is None or problem.startswith("expected"):
            return problem
        step, max_steps, warmup, lr, min_lr = expected.args
        if step == 0 and warmup > 0 and abs(float(got)) < 1e-12:
            return ("the first step has learning rate 0, so it learns nothing (hint: warm up as "
                    "lr * (step + 1) / warmup_steps)")
        if step >= max_steps and abs(float(got)) < 1e-12:
            return "the numbers differ (hint: the schedule ends at min_lr, not at 0)"
        if step > max_steps:
            return "the numbers differ (hint: after max_steps the learning rate stays at min_lr)"
        return "the numbers differ"

    return run_checks("lr_schedule", fn, cases, comparer=compare)


def check_tokens_per_step(fn):
    """``fn(micro_batch_size, context_length, accumulation_steps, n_processes) -> int``: tokens that
    go into one optimizer step."""
    settings = [(16, 128, 1, 1, "the course model's run"), (8, 64, 1, 1, "the short run in the notebook"),
                (4, 1024, 8, 1, "4 sequences of 1024, 8 accumulation steps"),
                (2, 256, 1, 2, "2 processes under torchrun"),
                (16, 1024, 4, 8, "GPT-2-style: 8 GPUs, 4 accumulation steps")]
    cases = [Case(name, (b, t, a, p), expected=b * t * a * p) for b, t, a, p, name in settings]

    def compare(got, expected):
        if isinstance(got, bool) or not isinstance(got, int):
            return f"expected a whole number (int), got {type(got).__name__}"
        return None if got == expected else f"off by a factor of {got / expected:.4g}"

    return run_checks("tokens_per_step", fn, cases, comparer=compare)


def _hours(n_params, n_layers, emb_dim, context_length, n_tokens, flops_per_second) -> float:
    per_token = 6 * n_params + 12 * n_layers * emb_dim * context_length
    return n_tokens * per_token / flops_per_second / 3600


def check_training_hours(fn):
    """``fn(n_params, n_layers, emb_dim, context_length, n_tokens, flops_per_second) -> float``: hours
    to train on ``n_tokens`` tokens at ``flops_per_second``, with 6 x n_params + 12 x n_layers x
    emb_dim x context_length FLOPs per token."""
    settings = [
        ("GPT-2 small, 10B tokens, one H100 at 40%", (124_439_808, 12, 768, 1024, 10e9, 0.4 * 989e12)),
        ("the course model, 4M tokens, 100 GFLOP/s", (16_000_000, 4, 256, 128, 4e6, 100e9)),
        ("GPT-2 XL, 1B tokens, 1 PFLOP/s", (1_557_611_200, 48, 1600, 1024, 1e9, 1e15)),
    ]
    cases = [Case(name, args, expected=_Expected(_hours(*args), args)) for name, args in settings]

    def compare(got, expected):
        problem = _close(got, expected)
        if problem != "the numbers differ":
            return problem
        n, layers, d, ctx, tokens, fps = expected.args
        ratio = float(got) / expected
        no_attn = tokens * 6 * n / fps / 3600
        hints = [
            (3600, "that looks like seconds; divide by 3600 for hours"),
            (1 / 3, "count 6 FLOPs per parameter per token: 2 for the forward pass, 4 for the backward pass"),
            (no_attn / expected, "the attention term 12 x n_layers x emb_dim x context_length is missing"),
        ]
        for r, hint in hints:
            if abs(ratio - r) <= 1e-4 * r:
                return f"off by a factor of {ratio:.4g} (hint: {hint})"
        return f"off by a factor of {ratio:.4g}"

    return run_checks("training_hours", fn, cases, comparer=compare)
