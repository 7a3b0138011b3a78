"""The notebook 10 checkers accept the worked solutions, reject the stub, and name each classic mistake."""

import math

import pytest
import torch

from course_utils.exercises import check_cross_entropy, check_next_token_losses, check_unigram_entropy, nb10
from course_utils.exercises._numbers import compare_number, compare_relative, compare_tensors, whole_number
from course_utils.losses import unigram_entropy as reference_unigram_entropy


def stub(*args, **kwargs):
    raise NotImplementedError("your code here")


def first_line(capsys):
    return capsys.readouterr().out.splitlines()[0]


# --- cross_entropy ----------------------------------------------------------------------------------


def cross_entropy(logits, targets):
    shifted = logits - logits.max(dim=-1, keepdim=True).values
    log_probs = shifted - shifted.exp().sum(dim=-1, keepdim=True).log()
    return -log_probs[torch.arange(len(targets)), targets].mean()


def test_cross_entropy_accepts_solution_and_float(capsys):
    assert check_cross_entropy(cross_entropy)
    assert first_line(capsys).startswith("✅ cross_entropy: all 6 checks passed")
    assert check_cross_entropy(lambda logits, targets: float(cross_entropy(logits, targets)))


def test_cross_entropy_rejects_stub(capsys):
    assert not check_cross_entropy(stub)
    assert first_line(capsys).startswith("⏳ cross_entropy: not implemented yet")


@pytest.mark.parametrize("mistake", nb10._CE_MISTAKES, ids=lambda m: m.hint[:40])
def test_cross_entropy_names_each_mistake(mistake, capsys):
    assert not check_cross_entropy(mistake.fn)
    assert mistake.hint in first_line(capsys)


def test_cross_entropy_log_of_softmax_no_longer_passes(capsys):
    assert not check_cross_entropy(lambda z, t: -torch.softmax(z, -1).log()[torch.arange(len(t)), t].mean())
    line = first_line(capsys)
    assert "targets far below the largest logit" in line and "log was taken of the softmax" in line


def test_cross_entropy_names_student_mistakes(capsys):
    def naive(logits, targets):
        probs = logits.exp() / logits.exp().sum(dim=-1, keepdim=True)
        return -probs[torch.arange(len(targets)), targets].log().mean()

    def in_place(logits, targets):
        logits -= logits.max(dim=-1, keepdim=True).values
        return -(logits - logits.exp().sum(-1, keepdim=True).log())[torch.arange(len(targets)), targets].mean()

    for wrong, words in [(naive, "log-sum-exp trick"), (in_place, "changed its input (argument 1) in place"),
                         (lambda z, t: cross_entropy(z, t) / math.log(2), "log base 2"),
                         (lambda z, t: -torch.log_softmax(z, -1)[torch.arange(len(t)), t], "one loss per position")]:
        assert not check_cross_entropy(wrong)
        assert words in first_line(capsys)


# --- next_token_losses ------------------------------------------------------------------------------


def next_token_losses(logits, ids):
    log_probs = torch.log_softmax(logits[:-1], dim=-1)
    return -log_probs[torch.arange(len(ids) - 1), ids[1:]]


def test_next_token_losses_accepts_solution_and_rejects_stub(capsys):
    assert check_next_token_losses(next_token_losses)
    assert first_line(capsys).startswith("✅ next_token_losses: all 4 checks passed")
    assert not check_next_token_losses(stub)
    assert first_line(capsys).startswith("⏳ next_token_losses: not implemented yet")


@pytest.mark.parametrize("mistake", nb10._NTL_MISTAKES, ids=lambda m: m.hint[:40])
def test_next_token_losses_names_each_mistake(mistake, capsys):
    assert not check_next_token_losses(mistake.fn)
    assert mistake.hint in first_line(capsys)


def test_next_token_losses_student_mistakes(capsys):
    for wrong, words in [
        (lambda z, ids: -torch.log_softmax(z, -1)[torch.arange(len(ids)), ids], "no shift"),
        (lambda z, ids: -torch.log_softmax(z[1:], -1)[torch.arange(len(ids) - 1), ids[:-1]], "the wrong way"),
        (lambda z, ids: next_token_losses(z, ids).mean(), "averaged"),
        (lambda z, ids: -torch.softmax(z[:-1], -1).log()[torch.arange(len(ids) - 1), ids[1:]], "log(0) = -inf"),
    ]:
        assert not check_next_token_losses(wrong)
        assert words in first_line(capsys)


# --- unigram_entropy --------------------------------------------------------------------------------


def unigram_entropy(ids):
    counts = torch.bincount(ids)
    p = counts[counts > 0].double() / len(ids)
    return float(-(p * p.log()).sum())


def test_unigram_entropy_accepts_solution_and_the_course_utils_version(capsys):
    assert check_unigram_entropy(unigram_entropy)
    assert first_line(capsys).startswith("✅ unigram_entropy: all 4 checks passed")
    assert check_unigram_entropy(reference_unigram_entropy)


def test_unigram_entropy_rejects_stub(capsys):
    assert not check_unigram_entropy(stub)
    assert first_line(capsys).startswith("⏳ unigram_entropy: not implemented yet")


@pytest.mark.parametrize("mistake", nb10._UNIGRAM_MISTAKES, ids=lambda m: m.hint[:40])
def test_unigram_entropy_names_each_mistake(mistake, capsys):
    assert not check_unigram_entropy(mistake.fn)
    assert mistake.hint in first_line(capsys)


def test_unigram_entropy_zero_counts_are_not_blamed_on_overflow(capsys):
    def keeps_zero_counts(ids):
        p = torch.bincount(ids).double() / len(ids)
        return float(-(p * p.log()).sum())

    assert not check_unigram_entropy(keeps_zero_counts)
    line = first_line(capsys)
    assert "0 * log(0)" in line and "counts > 0" in line and "overflow" not in line


# --- the shared number helpers ----------------------------------------------------------------------


def test_number_helpers_recognise_nan_inf_scale_and_float_counts():
    assert compare_number(float("nan"), float("nan")) is None  # a mistake giving nan is recognised
    assert compare_number(float("inf"), float("inf")) is None
    assert "got nan" in compare_number(float("nan"), 1.0)
    assert "log(0)" in compare_number(float("inf"), 1.0)
    assert compare_number(torch.tensor(1.00001), 1.0) is None
    assert "expected one number" in compare_number(torch.ones(3), 1.0)
    assert compare_relative(1.0000001e-4, 1e-4) is None and "times the right value" in compare_relative(2e-4, 1e-4)
    assert compare_tensors(torch.tensor([1.0, float("inf")]), torch.tensor([1.0, float("inf")])) is None
    assert compare_tensors(torch.tensor([1.0, float("inf")]), torch.tensor([1.0, 2.0])) is not None
    assert whole_number(3, None) is None and "float" in whole_number(3.0, None) and whole_number(True, None)
