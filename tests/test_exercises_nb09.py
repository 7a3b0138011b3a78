"""The notebook 09 checkers accept the worked solutions, and reject the stub and plausible mistakes."""

import math

from course_utils.exercises import check_lr_schedule, check_tokens_per_step, check_training_hours


def stub(*args, **kwargs):
    raise NotImplementedError("your code here")


# --- lr_schedule ------------------------------------------------------------------------------------


def lr_schedule(step, max_steps, warmup_steps, lr, min_lr):
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, max_steps - warmup_steps))
    return min_lr + 0.5 * (1 + math.cos(math.pi * progress)) * (lr - min_lr)


def warmup_from_zero(step, max_steps, warmup_steps, lr, min_lr):
    if step < warmup_steps:
        return lr * step / warmup_steps
    return lr_schedule(step, max_steps, warmup_steps, lr, min_lr)


def decay_to_zero(step, max_steps, warmup_steps, lr, min_lr):
    return lr_schedule(step, max_steps, warmup_steps, lr, 0.0)


def no_floor(step, max_steps, warmup_steps, lr, min_lr):
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, max_steps - warmup_steps)  # the cosine climbs again after the end
    return min_lr + 0.5 * (1 + math.cos(math.pi * progress)) * (lr - min_lr)


def test_lr_schedule_accepts_solution(capsys):
    assert check_lr_schedule(lr_schedule)
    assert capsys.readouterr().out.startswith("✅ lr_schedule: all 21 checks passed")


def test_lr_schedule_rejects_stub(capsys):
    assert not check_lr_schedule(stub)
    assert capsys.readouterr().out.startswith("⏳ lr_schedule: not implemented yet")


def test_lr_schedule_rejects_mistakes(capsys):
    assert not check_lr_schedule(warmup_from_zero)
    out = capsys.readouterr().out
    assert out.startswith("❌ lr_schedule, case 1 (step 0 of 100, warmup 10 (warmup))") and "learns nothing" in out
    assert not check_lr_schedule(decay_to_zero)
    out = capsys.readouterr().out
    assert out.startswith("❌ lr_schedule, case 5 (step 55 of 100, warmup 10 (cosine decay))")
    assert not check_lr_schedule(no_floor)
    out = capsys.readouterr().out
    assert out.startswith("❌ lr_schedule, case 8 (step 110 of 100") and "stays at min_lr" in out


# --- tokens_per_step --------------------------------------------------------------------------------


def tokens_per_step(micro_batch_size, context_length, accumulation_steps, n_processes):
    return micro_batch_size * context_length * accumulation_steps * n_processes


def forgetting_processes(micro_batch_size, context_length, accumulation_steps, n_processes):
    return micro_batch_size * context_length * accumulation_steps


def test_tokens_per_step(capsys):
    assert check_tokens_per_step(tokens_per_step)
    assert capsys.readouterr().out.startswith("✅ tokens_per_step: all 5 checks passed")
    assert not check_tokens_per_step(stub)
    assert capsys.readouterr().out.startswith("⏳ tokens_per_step: not implemented yet")
    assert not check_tokens_per_step(forgetting_processes)
    out = capsys.readouterr().out
    assert out.startswith("❌ tokens_per_step, case 4 (2 processes under torchrun)") and "factor of 0.5" in out
    assert not check_tokens_per_step(lambda *a: float(tokens_per_step(*a)))
    assert "expected a whole number (int), got float" in capsys.readouterr().out


# --- training_hours ---------------------------------------------------------------------------------


def training_hours(n_params, n_layers, emb_dim, context_length, n_tokens, flops_per_second):
    flops_per_token = 6 * n_params + 12 * n_layers * emb_dim * context_length
    return n_tokens * flops_per_token / flops_per_second / 3600


def test_training_hours(capsys):
    assert check_training_hours(training_hours)
    assert capsys.readouterr().out.startswith("✅ training_hours: all 3 checks passed")
    assert round(training_hours(124_439_808, 12, 768, 1024, 10e9, 0.4 * 989e12), 2) == 6.04
    assert not check_training_hours(stub)
    assert capsys.readouterr().out.startswith("⏳ training_hours: not implemented yet")


def test_training_hours_rejects_mistakes(capsys):
    assert not check_training_hours(lambda *a: training_hours(*a) * 3600)
    assert "hint: that looks like seconds" in capsys.readouterr().out
    assert not check_training_hours(lambda n, L, d, T, tokens, fps: tokens * 6 * n / fps / 3600)
    assert "attention term" in capsys.readouterr().out
    assert not check_training_hours(lambda n, L, d, T, tokens, fps: tokens * (2 * n + 4 * L * d * T) / fps / 3600)
    assert "2 for the forward pass" in capsys.readouterr().out
