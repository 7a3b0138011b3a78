"""The notebook 09 checkers accept the worked solutions, reject the stub, and name each classic mistake."""

import math

import pytest

from course_utils.exercises import check_lr_schedule, check_tokens_per_step, check_training_hours, nb09


def stub(*args, **kwargs):
    raise NotImplementedError("your code here")


def first_line(capsys):
    return capsys.readouterr().out.splitlines()[0]


# --- lr_schedule ------------------------------------------------------------------------------------


def lr_schedule(step, max_steps, warmup_steps, lr, min_lr):
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, max_steps - warmup_steps))
    return min_lr + 0.5 * (1 + math.cos(math.pi * progress)) * (lr - min_lr)


def test_lr_schedule_accepts_solution_and_rejects_stub(capsys):
    assert check_lr_schedule(lr_schedule)
    assert first_line(capsys).startswith("✅ lr_schedule: all 27 checks passed")
    assert not check_lr_schedule(stub)
    assert first_line(capsys).startswith("⏳ lr_schedule: not implemented yet")


@pytest.mark.parametrize("mistake", nb09._LR_MISTAKES, ids=lambda m: m.hint[:40])
def test_lr_schedule_names_each_mistake(mistake, capsys):
    assert not check_lr_schedule(mistake.fn)
    assert mistake.hint in first_line(capsys)


def test_lr_schedule_names_student_mistakes(capsys):
    def cosine_from_step_0(step, max_steps, warmup_steps, lr, min_lr):
        if step < warmup_steps:
            return lr * (step + 1) / warmup_steps
        return min_lr + 0.5 * (1 + math.cos(math.pi * min(1.0, step / max_steps))) * (lr - min_lr)

    def zero_after_the_end(step, max_steps, warmup_steps, lr, min_lr):
        return 0.0 if step >= max_steps else lr_schedule(step, max_steps, warmup_steps, lr, min_lr)

    for wrong, words in [(cosine_from_step_0, "measured from step 0"), (zero_after_the_end, "drops to 0")]:
        assert not check_lr_schedule(wrong)
        assert words in first_line(capsys)


def test_lr_schedule_unknown_mistake_says_which_phase(capsys):
    assert not check_lr_schedule(lambda s, m, w, lr, lo: lr_schedule(s, m, w, lr, lo) * (1.3 if w <= s < m else 1))
    assert "between warmup_steps and max_steps the rate is" in first_line(capsys)


# --- tokens_per_step --------------------------------------------------------------------------------


def tokens_per_step(micro_batch_size, context_length, accumulation_steps, n_processes):
    return micro_batch_size * context_length * accumulation_steps * n_processes


def test_tokens_per_step_accepts_solution_and_rejects_stub(capsys):
    assert check_tokens_per_step(tokens_per_step)
    assert first_line(capsys).startswith("✅ tokens_per_step: all 5 checks passed")
    assert not check_tokens_per_step(stub)
    assert first_line(capsys).startswith("⏳ tokens_per_step: not implemented yet")


@pytest.mark.parametrize("mistake", nb09._TOKENS_MISTAKES, ids=lambda m: m.hint[:40])
def test_tokens_per_step_names_each_mistake(mistake, capsys):
    assert not check_tokens_per_step(mistake.fn)
    assert mistake.hint in first_line(capsys)


def test_tokens_per_step_float_and_unknown(capsys):
    assert not check_tokens_per_step(lambda *a: float(tokens_per_step(*a)))
    assert "expected a whole number (int), got a float" in first_line(capsys)
    assert not check_tokens_per_step(lambda b, t, a, p: b * t * (a + p))
    assert "(a factor of 2): multiply" in first_line(capsys)


# --- training_hours ---------------------------------------------------------------------------------


def training_hours(n_params, n_layers, emb_dim, context_length, n_tokens, flops_per_second):
    flops_per_token = 6 * n_params + 12 * n_layers * emb_dim * context_length
    return n_tokens * flops_per_token / flops_per_second / 3600


def test_training_hours_accepts_solution_and_rejects_stub(capsys):
    assert check_training_hours(training_hours)
    assert first_line(capsys).startswith("✅ training_hours: all 3 checks passed")
    assert round(training_hours(124_439_808, 12, 768, 1024, 10e9, 0.4 * 989e12), 2) == 6.04
    assert not check_training_hours(stub)
    assert first_line(capsys).startswith("⏳ training_hours: not implemented yet")


@pytest.mark.parametrize("mistake", nb09._HOURS_MISTAKES, ids=lambda m: m.hint[:40])
def test_training_hours_names_each_mistake(mistake, capsys):
    assert not check_training_hours(mistake.fn)
    assert mistake.hint in first_line(capsys)


def test_training_hours_student_mistakes(capsys):
    assert not check_training_hours(lambda *a: training_hours(*a) * 3600)
    assert "that is seconds" in first_line(capsys)
    assert not check_training_hours(lambda n, L, d, T, tokens, fps: tokens * 3 * n / fps / 3600)
    assert "hours = n_tokens x (6 x n_params" in first_line(capsys)
