"""Checkers for notebook 09 · Pretraining.

Each classic mistake is written as code (a ``Mistake``): when the student's answer equals what the
mistake computes on a case, its hint names it. Nothing reads the student's code. Learning rates
(1e-4) and hours (1e4) are compared with a relative tolerance.
"""

from __future__ import annotations

import math

from ..train import TrainConfig, lr_at
from ._check import Case, Mistake, run_checks
from ._numbers import as_number, compare_relative, whole_number

__all__ = ["check_lr_schedule", "check_tokens_per_step", "check_training_hours"]


# ---------------------------------------------------------------- exercise 1: the learning-rate schedule


def _schedule(step, max_steps, warmup, lr, min_lr, *, warm=lambda s, w: (s + 1) / w, start=None, floor=True,
              shape=lambda progress: 0.5 * (1 + math.cos(math.pi * progress)), end=None):
    """The schedule with knobs for the classic slips (defaults: the right answer)."""
    if step < warmup:
        return lr * warm(step, warmup)
    start = warmup if start is None else start
    progress = (step - start) / max(1, max_steps - start)
    if floor:
        progress = min(1.0, progress)
    if end is not None and step >= max_steps:
        return end
    return min_lr + shape(progress) * (lr - min_lr)


_LR_MISTAKES = [
    Mistake(lambda s, m, w, lr, lo: _schedule(s, m, w, lr, lo, warm=lambda s, w: s / w),
            "the warmup starts at 0 (lr * step / warmup_steps), so the first step learns nothing: warm up as "
            "lr * (step + 1) / warmup_steps"),
    Mistake(lambda s, m, w, lr, lo: _schedule(s, m, w, lr, lo, warm=lambda s, w: (s + 1) / (w + 1)),
            "the warmup divides by warmup_steps + 1, so it never reaches lr: use lr * (step + 1) / warmup_steps"),
    Mistake(lambda s, m, w, lr, lo: _schedule(s, m, w, lr, lo, end=0.0),
            "after max_steps the rate drops to 0: it stays at min_lr"),
    Mistake(lambda s, m, w, lr, lo: _schedule(s, m, w, lr, 0.0),
            "the cosine decays to 0 instead of min_lr: min_lr + 0.5 * (1 + cos(pi * progress)) * (lr - min_lr)"),
    Mistake(lambda s, m, w, lr, lo: _schedule(s, m, w, lr, lo) + (0 if s < w else lo * 0.5 * (1 + math.cos(
        math.pi * min(1.0, (s - w) / max(1, m - w))))),
            "the cosine part is scaled by lr instead of (lr - min_lr): min_lr + 0.5 * (1 + cos(pi * progress)) * "
            "(lr - min_lr) goes from lr to min_lr"),
    Mistake(lambda s, m, w, lr, lo: _schedule(s, m, w, lr, lo, floor=False),
            "after max_steps the cosine climbs again: clamp progress at 1 so the rate stays at min_lr"),
    Mistake(lambda s, m, w, lr, lo: _schedule(s, m, w, lr, lo, start=0),
            "the cosine is measured from step 0, not from the end of the warmup: progress = (step - warmup_steps) "
            "/ (max_steps - warmup_steps)"),
    Mistake(lambda s, m, w, lr, lo: lr * (s + 1) / w if s < w else lo + 0.5 * (1 + math.cos(
        math.pi * min(1.0, (s - w) / m))) * (lr - lo),
            "progress was divided by max_steps: the decay lasts max_steps - warmup_steps steps, progress = "
            "(step - warmup_steps) / (max_steps - warmup_steps)"),
    Mistake(lambda s, m, w, lr, lo: _schedule(s, m, 0, lr, lo),
            "there is no warmup (step 0 already gets the full lr): for step < warmup_steps the rate climbs "
            "linearly, lr * (step + 1) / warmup_steps"),
    Mistake(lambda s, m, w, lr, lo: _schedule(s, m, w, lr, lo, shape=lambda p: 1 - p),
            "the decay is a straight line: it follows half a cosine, 0.5 * (1 + cos(pi * progress))"),
    Mistake(lambda s, m, w, lr, lo: _schedule(s, m, w, lr, lo, shape=lambda p: 0.5 * (1 + math.cos(2 * math.pi * p))),
            "the cosine runs a full period (cos(2 * pi * progress)), so it climbs back to lr: use half a period, "
            "cos(pi * progress)"),
    Mistake(lambda s, m, w, lr, lo: _schedule(s, m, w, lr, lo, shape=lambda p: math.cos(math.pi * p)),
            "the cosine goes from 1 to -1 (cos(pi * progress)): rescale it to go from 1 to 0, "
            "0.5 * (1 + cos(pi * progress))"),
    Mistake(lambda s, m, w, lr, lo: _schedule(s, m, w, lr, lo, shape=lambda p: 0.5 * (1 + math.cos(p))),
            "the cosine's argument is missing pi: cos(pi * progress), so that progress 0 -> 1 is half a period"),
    Mistake(lambda s, m, w, lr, lo: lr * (s + 1) / w if s < w else lr,
            "after the warmup the rate stays at lr: it decays along half a cosine to min_lr at max_steps"),
]


def _explain_lr(got, case) -> str | None:
    """Generic help: which phase the failing step is in, and what the rate is there."""
    value, _ = as_number(got)
    if value is None or compare_relative(got, case.expected) is None:
        return None
    step, max_steps, warmup, lr, min_lr = case.args
    if step < warmup:
        where = f"in the warmup (step < warmup_steps) the rate is lr * (step + 1) / warmup_steps = {case.expected:.4g}"
    elif step >= max_steps:
        where = f"from max_steps on the rate stays at min_lr = {min_lr:.4g}"
    else:
        where = (f"between warmup_steps and max_steps the rate is min_lr + 0.5 * (1 + cos(pi * progress)) * (lr - "
                 f"min_lr), progress = (step - warmup_steps) / (max_steps - warmup_steps), here {case.expected:.4g}")
    return f"got {value:.4g}, expected {case.expected:.4g}: {where}"


def check_lr_schedule(fn):
    """``fn(step, max_steps, warmup_steps, lr, min_lr) -> float``: linear warmup from lr / warmup_steps
    (step 0) to lr (step warmup_steps - 1), then cosine decay from lr to min_lr at max_steps, and
    min_lr from there on."""
    runs = [(100, 10, 1e-3, 1e-4), (2000, 100, 2e-3, 2e-4), (50, 0, 6e-4, 6e-5)]
    cases = []
    for max_steps, warmup, lr, min_lr in runs:
        cfg = TrainConfig(max_steps=max_steps, warmup_steps=warmup, lr=lr, min_lr=min_lr)
        steps = sorted({0, warmup // 2, max(warmup - 1, 0), warmup, (3 * warmup + max_steps) // 4,
                        (warmup + max_steps) // 2, (warmup + 3 * max_steps) // 4, max_steps - 1, max_steps,
                        max_steps + 10})
        for s in steps:
            where = ("warmup" if s < warmup else "after the end" if s >= max_steps else "cosine decay")
            cases.append(Case(f"step {s} of {max_steps}, warmup {warmup} ({where})", (s, max_steps, warmup, lr, min_lr),
                              expected=lr_at(s, cfg)))
    return run_checks("lr_schedule", fn, cases, comparer=compare_relative, mistakes=_LR_MISTAKES,
                      properties=[_explain_lr])


# ---------------------------------------------------------------- exercise 2: tokens per step

_TOKENS_MISTAKES = [
    Mistake(lambda b, t, a, p: b * t * a,
            "the processes are missing: under torchrun every one of n_processes processes runs its own micro-batches "
            "before the gradients are averaged, so multiply by n_processes"),
    Mistake(lambda b, t, a, p: b * t * p,
            "the accumulation steps are missing: one optimizer step sums the gradients of accumulation_steps "
            "micro-batches, so multiply by accumulation_steps"),
    Mistake(lambda b, t, a, p: b * a * p,
            "this counts sequences, not tokens: multiply by context_length (every position is a prediction)"),
    Mistake(lambda b, t, a, p: b * t * a // p,
            "the tokens were divided by the processes: each process adds its own micro-batches, so multiply"),
    Mistake(lambda b, t, a, p: b * t // a * p,
            "the tokens were divided by the accumulation steps: every accumulation step adds a micro-batch, so "
            "multiply"),
    Mistake(lambda b, t, a, p: b * (t - 1) * a * p,
            "context_length - 1 tokens per sequence: the inputs and the shifted targets each have context_length "
            "positions, so every one of the context_length positions is a target"),
]


def _explain_tokens(got, case) -> str | None:
    if got == case.expected or isinstance(got, bool) or not isinstance(got, int):
        return None
    ratio = got / case.expected
    return (f"got {got:,}, expected {case.expected:,} (a factor of {ratio:.4g}): multiply micro_batch_size x "
            "context_length x accumulation_steps x n_processes")


def check_tokens_per_step(fn):
    """``fn(micro_batch_size, context_length, accumulation_steps, n_processes) -> int``: tokens that
    go into one optimizer step."""
    settings = [(16, 128, 1, 1, "the course model's run"), (8, 64, 1, 1, "the short run in the notebook"),
                (4, 1024, 8, 1, "4 sequences of 1024, 8 accumulation steps"),
                (2, 256, 1, 2, "2 processes under torchrun"),
                (16, 1024, 4, 8, "GPT-2-style: 8 GPUs, 4 accumulation steps")]
    cases = [Case(name, (b, t, a, p), expected=b * t * a * p) for b, t, a, p, name in settings]
    return run_checks("tokens_per_step", fn, cases, mistakes=_TOKENS_MISTAKES,
                      properties=[whole_number, _explain_tokens])


# ---------------------------------------------------------------- exercise 3: training time


def _hours(n_params, n_layers, emb_dim, context_length, n_tokens, flops_per_second, *, per_param=6, attn=12,
           unit=3600) -> float:
    per_token = per_param * n_params + attn * n_layers * emb_dim * context_length
    return n_tokens * per_token / flops_per_second / unit


_HOURS_MISTAKES = [
    Mistake(lambda *a: _hours(*a, unit=1),
            "that is seconds: divide by 3600 for hours"),
    Mistake(lambda *a: _hours(*a, unit=60),
            "that is minutes: divide the seconds by 3600 (not 60) for hours"),
    Mistake(lambda *a: _hours(*a, unit=86400),
            "that is days: divide the seconds by 3600 (not 86400) for hours"),
    Mistake(lambda *a: _hours(*a, per_param=2, attn=4),
            "only the forward pass was counted (2 x n_params): training also runs the backward pass (4 more), "
            "6 FLOPs per parameter per token"),
    Mistake(lambda *a: _hours(*a, per_param=2),
            "the parameters were counted with 2 FLOPs each (the forward pass): training needs 6, 2 forward and 4 "
            "backward"),
    Mistake(lambda *a: _hours(*a, attn=0),
            "the attention term 12 x n_layers x emb_dim x context_length is missing"),
    Mistake(lambda *a: _hours(*a, attn=6),
            "the attention term has 6 where the formula has 12: 12 x n_layers x emb_dim x context_length"),
    Mistake(lambda n, L, d, T, tokens, fps: (6 * n + 12 * L * d * T) / fps / 3600,
            "the FLOPs of ONE token came back: multiply by n_tokens"),
    Mistake(lambda n, L, d, T, tokens, fps: tokens * (6 * n + 12 * L * d * T) * fps / 3600,
            "the work was multiplied by flops_per_second: divide by it (FLOPs / (FLOPs per second) = seconds)"),
    Mistake(lambda n, L, d, T, tokens, fps: tokens * (6 * n + 12 * L * d * T * T) / fps / 3600,
            "the attention term has context_length squared: it is 12 x n_layers x emb_dim x context_length per "
            "token"),
]


def _explain_hours(got, case) -> str | None:
    value, _ = as_number(got)
    if value is None or compare_relative(got, case.expected) is None:
        return None
    return (f"got {value:.4g} hours, expected {case.expected:.4g} ({value / case.expected:.4g} times as much): "
            "hours = n_tokens x (6 x n_params + 12 x n_layers x emb_dim x context_length) / flops_per_second / 3600")


def check_training_hours(fn):
    """``fn(n_params, n_layers, emb_dim, context_length, n_tokens, flops_per_second) -> float``: hours
    to train on ``n_tokens`` tokens at ``flops_per_second``, with 6 x n_params + 12 x n_layers x
    emb_dim x context_length FLOPs per token."""
    settings = [
        ("GPT-2 small, 10B tokens, one H100 at 40%", (124_439_808, 12, 768, 1024, 10e9, 0.4 * 989e12)),
        ("the course model, 4M tokens, 100 GFLOP/s", (16_000_000, 4, 256, 128, 4e6, 100e9)),
        ("GPT-2 XL, 1B tokens, 1 PFLOP/s", (1_557_611_200, 48, 1600, 1024, 1e9, 1e15)),
    ]
    cases = [Case(name, args, expected=_hours(*args)) for name, args in settings]
    return run_checks("training_hours", fn, cases, comparer=compare_relative, mistakes=_HOURS_MISTAKES,
                      properties=[_explain_hours])
