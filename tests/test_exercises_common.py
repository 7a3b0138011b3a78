"""What every ``check_*`` in ``course_utils.exercises`` must do, whatever the notebook: report a stub
in one line, turn garbage into a ❌ instead of a traceback, leave the torch RNG alone, and return a
falsy result when the answer is not right."""

import pytest
import torch

import course_utils.exercises as ex
from course_utils.exercises._check import (
    Case,
    CheckResult,
    Mistake,
    describe_difference,
    explain_exception,
    run_checks,
)

CHECKERS = sorted(name for name in ex.__all__ if name.startswith("check_"))


def stub(*args, **kwargs):
    raise NotImplementedError("your code here")


def garbage(*args, **kwargs):
    torch.rand(5)  # a student's function may draw random numbers: the checker must undo that
    return "garbage"


def random_tensor(*args, **kwargs):
    return torch.randn(3, 3)


def test_every_notebook_checker_is_listed():
    assert len(CHECKERS) >= 20 and "check_model_input" in CHECKERS


@pytest.mark.parametrize("name", CHECKERS)
def test_stub_prints_one_not_implemented_line(capsys, name):
    result = getattr(ex, name)(stub)
    out = capsys.readouterr().out
    assert isinstance(result, CheckResult) and not result
    assert len(out.strip().splitlines()) == 1 and out.startswith("⏳ "), out


@pytest.mark.parametrize("wrong", [garbage, random_tensor, None], ids=["garbage", "random tensor", "not callable"])
@pytest.mark.parametrize("name", CHECKERS)
def test_wrong_answer_is_a_message_not_a_traceback(capsys, name, wrong):
    torch.manual_seed(123)
    before = torch.get_rng_state()
    result = getattr(ex, name)(wrong)
    out = capsys.readouterr().out
    assert not result and result._ipython_display_() is None
    assert out.startswith("❌ "), out
    assert torch.equal(torch.get_rng_state(), before), "the checker moved the global torch RNG"


# ---- the shared mechanism itself (course_utils/exercises/_check.py)


def _one_case(expected, *args, **kwargs):
    return [Case("a case", args=args, expected=expected, **kwargs)]


def test_a_mistake_is_recognised_by_what_it_computes(capsys):
    cases = _one_case(torch.tensor([2.0, 4.0]), torch.tensor([1.0, 2.0]))
    doubled = Mistake(lambda x: 4 * x, "the input was doubled twice")
    assert not run_checks("t", lambda x: 4 * x, cases, mistakes=[doubled])
    assert "it looks like the input was doubled twice" in capsys.readouterr().out
    assert not run_checks("t", lambda x: 3 * x, cases, mistakes=[doubled])
    assert "it looks like" not in capsys.readouterr().out


def test_a_crash_is_recognised_by_reproducing_it(capsys):
    cases = _one_case(torch.ones(2, 3), torch.ones(2, 3))
    no_transpose = Mistake(lambda x: x @ x, "x was not transposed")
    assert not run_checks("t", lambda x: x @ x, cases, mistakes=[no_transpose])
    out = capsys.readouterr().out
    assert "it looks like x was not transposed; your function raised RuntimeError: a matrix product" in out


def test_a_mistake_that_equals_the_answer_on_a_case_is_not_blamed(capsys):
    cases = _one_case(torch.tensor([0.0, 0.0]), torch.tensor([0.0, 0.0]))  # 2 * 0 == 0: this case cannot tell
    assert not run_checks("t", lambda x: x + 1, cases, mistakes=[Mistake(lambda x: 2 * x, "doubled")])
    assert "doubled" not in capsys.readouterr().out


def test_changed_input_and_missing_return_are_named(capsys):
    cases = _one_case(torch.tensor([2.0]), torch.tensor([1.0]))

    def in_place(x):
        x += 1
        return x

    assert not run_checks("t", in_place, cases)
    assert "changed its input (argument 1) in place" in capsys.readouterr().out
    assert not run_checks("t", lambda x: None, cases)
    assert "returned None: did you forget the `return`?" in capsys.readouterr().out


def test_changed_module_weights_are_noticed(capsys):
    layer = torch.nn.Linear(2, 2)
    with torch.no_grad():
        expected = layer(torch.ones(2))

    def edits(lin, x):
        with torch.no_grad():
            lin.weight.zero_()
        return expected

    assert not run_checks("t", edits, _one_case(expected, layer, torch.ones(2)))
    assert "changed its input (argument 1, its parameter weight)" in capsys.readouterr().out


def test_generic_differences_are_located_and_explained():
    e = torch.zeros(2, 3, 4)
    g = e.clone()
    g[1, 2, 0] = 5.0
    msg = describe_difference(g, e, 1e-4, dims=("batch", "token", "feature"))
    assert "most at batch 1, token 2, feature 0" in msg and "1 of 24 values differ" in msg
    nan = e.clone()
    nan[0, 1, 2] = float("nan")
    assert "nan value(s), the first at batch 0, token 1, feature 2" in describe_difference(
        nan, e, 1e-4, dims=("batch", "token", "feature"))
    assert "infinite value(s)" in describe_difference(torch.tensor([float("inf")]), torch.tensor([1.0]), 1e-4)
    m = torch.arange(9.0).view(3, 3)
    assert "last two axes swapped" in describe_difference(m.T, m, 1e-4)
    assert "every value is 2 times the expected one" in describe_difference(2 * (m + 1), m + 1, 1e-4)
    assert describe_difference(torch.tensor([float("-inf"), 0.0]), torch.tensor([float("-inf"), 0.0]), 1e-4) is None


def test_integers_are_shown_as_integers():
    msg = describe_difference(torch.tensor([[1, 2], [3, 9]]), torch.tensor([[1, 2], [3, 4]]), 0, dims=("row", "col"))
    assert msg == "1 of 4 entries differ; the first at row 1, col 1: got 9, expected 4"
    assert "values are floats" in describe_difference(torch.tensor([1.0]), torch.tensor([1]), 0)


@pytest.mark.parametrize("make, fragment", [
    (lambda: torch.ones(2, 3) @ torch.ones(2, 3), "a matrix product got (2 x 3) @ (2 x 3)"),
    (lambda: torch.ones(2, 3) + torch.ones(2, 4), "combined elementwise whose sizes 3 and 4 differ in dimension 1"),
    (lambda: torch.ones(3, 4).t().view(-1), "use `.reshape(...)`"),
    (lambda: torch.nn.Embedding(5, 2)(torch.tensor([0.0])), "ids must be integers"),
    (lambda: torch.ones(4).view(2, 1.5), "use integer division `//`"),
    (lambda: torch.ones(2, 2).masked_fill(torch.ones(2, 2), 0), "give it a bool mask"),
])
def test_torch_errors_become_sentences(make, fragment):
    with pytest.raises(Exception) as info:
        make()
    assert fragment in explain_exception(info.value)
