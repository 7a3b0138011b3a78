"""The machinery behind every ``check_<thing>``: run cases, compare, diagnose, print feedback, never raise.

A checker is a list of ``Case``s handed to ``run_checks``. For each case the student's function is
called on fresh copies of the inputs, and then, in this order:

1. an exception is turned into a sentence (``explain_exception``): which operand had which shape; and
   if a ``Mistake`` raises the very same error on that case, its hint is printed first
   (``diagnose_exception``): a crash is recognised by reproducing it;
2. the inputs are compared with their copies (tensors, and the parameters of any ``nn.Module``
   passed in): a function that changed its input in place is told so;
3. ``properties`` (functions ``(got, case) -> str | None``) check what every right answer has
   (integer ids, rows that sum to 1, zero weight on future tokens, ...); ready-made ones are
   ``has_dtype``, ``rows_sum_to_one`` and ``future_is_zero`` at the end of this file;
4. ``got`` is compared with ``case.expected``; when it differs, every ``Mistake`` (the classic wrong
   answer, written as code) is run on the same inputs, and if the student's output equals what the
   mistake produces, the mistake's hint is printed: the mistake is recognised by what it computes,
   never by reading the student's code;
5. when no mistake matches, ``describe_difference`` still says where the tensors differ (which row,
   position or head, from ``Case.dims``), how many values differ and what they have in common (a
   constant factor or offset, a transpose, all in one row / head), shows integers as integers and
   explains a nan or an inf.

The torch random state is left as it was, whatever the student's function draws.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from ._feedback import compare, describe_difference, divmod_index, explain_exception, show_value, where

__all__ = [
    "Case", "CheckResult", "Mistake", "Property", "compare", "describe_difference", "diagnose", "diagnose_exception",
    "divmod_index", "explain_exception", "future_is_zero", "has_dtype", "rows_sum_to_one", "run_checks", "show_value",
]

Property = Callable[[Any, "Case"], "str | None"]


@dataclass
class Mistake:
    """A classic wrong answer: ``fn`` takes the case's inputs and returns what that mistake gives;
    ``hint`` says, in plain words, what it looks like was done and where to look."""

    fn: Callable
    hint: str


@dataclass
class Case:
    """One hidden test: call the function with ``args``/``kwargs``, expect ``expected``.

    ``mistakes`` and ``properties`` add to the ones given to ``run_checks`` for this case only;
    ``dims`` names the axes of a tensor answer (e.g. ``("batch", "head", "row", "column")``) so a
    difference can be located in words; ``atol`` overrides the comparer's tolerance.
    """

    description: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    expected: Any = None
    mistakes: Sequence[Mistake] = ()
    properties: Sequence[Property] = ()
    dims: Sequence[str] | None = None
    atol: float | None = None


# ---------------------------------------------------------------- running


def _tensors_in(obj: Any, path: str = "argument") -> list[tuple[str, torch.Tensor]]:
    if isinstance(obj, torch.Tensor):
        return [(path, obj)]
    if isinstance(obj, torch.nn.Module):  # its weights, e.g. a layer or an nn.Embedding passed in
        return [(f"{path}, its parameter {name}", p) for name, p in obj.named_parameters()]
    if isinstance(obj, (list, tuple)):
        return [t for i, o in enumerate(obj) for t in _tensors_in(o, f"{path}[{i}]")]
    if isinstance(obj, dict):
        return [t for k, o in obj.items() for t in _tensors_in(o, f"{path}[{k!r}]")]
    return []


def _input_tensors(args: tuple, kwargs: dict) -> list[tuple[str, torch.Tensor]]:
    """Every tensor among the inputs, named as a student would: 'argument 1', 'weight='."""
    found = [t for i, a in enumerate(args) for t in _tensors_in(a, f"argument {i + 1}")]
    return found + [t for k, a in kwargs.items() for t in _tensors_in(a, f"{k}=")]


def _changed_input(args: tuple, kwargs: dict, before: list[tuple[str, torch.Tensor]]) -> str | None:
    now = _input_tensors(args, kwargs)
    for (name, old), (_, new) in zip(before, now, strict=True):
        if old.shape != new.shape or not torch.equal(old, new):
            return name
    return None


def _call(fn: Callable, case: Case):
    args, kwargs = copy.deepcopy(case.args), copy.deepcopy(case.kwargs)
    return fn(*args, **kwargs)


def _matches(got: Any, would: Any, comparer, atol) -> bool:
    try:
        return _compare(comparer, got, would, atol, None) is None
    except Exception:
        return False


def _compare(comparer, got, expected, atol, dims):
    kwargs = {}
    if atol is not None:
        kwargs["atol"] = atol
    if dims is not None and comparer is compare:
        kwargs["dims"] = dims
    return comparer(got, expected, **kwargs)


def _call_quietly(fn: Callable, case: Case):
    """Run a mistake's function without printing its warnings (e.g. `x.T` on a batch)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _call(fn, case)


def diagnose_exception(error: BaseException, case: Case, mistakes: Sequence[Mistake]) -> str | None:
    """The hint of the first mistake that raises the very same error (type and message) on this case,
    or None: a crash is recognised by reproducing it, never by reading the code."""
    for mistake in list(case.mistakes) + list(mistakes):
        try:
            _call_quietly(mistake.fn, case)
        except Exception as e:  # noqa: BLE001 - reproducing the student's error is the point
            if type(e) is type(error) and str(e) == str(error):
                return mistake.hint
    return None


def diagnose(got: Any, case: Case, mistakes: Sequence[Mistake], comparer=compare) -> str | None:
    """The hint of the first mistake whose output equals ``got`` on this case (and differs from the
    right answer there), or None."""
    for mistake in list(case.mistakes) + list(mistakes):
        try:
            would = _call_quietly(mistake.fn, case)
        except Exception:
            continue
        if _matches(would, case.expected, comparer, case.atol):
            continue  # this case cannot tell the mistake apart from the right answer
        if _matches(got, would, comparer, case.atol):
            return mistake.hint
    return None


class CheckResult:
    """Whether a check passed. Truthy on success; shows nothing in a notebook (the printed line is
    the feedback), so a cell ending in ``check_x(f)`` stores no extra ``True``/``False`` output."""

    def __init__(self, passed: bool):
        self.passed = bool(passed)

    def __bool__(self) -> bool:
        return self.passed

    def __eq__(self, other) -> bool:
        return self.passed == bool(other)

    __hash__ = None

    def __repr__(self) -> str:
        return f"CheckResult(passed={self.passed})"

    def _ipython_display_(self) -> None:
        pass


def run_checks(
    title: str,
    fn: Callable,
    cases: list[Case],
    comparer: Callable[..., str | None] = compare,
    mistakes: Sequence[Mistake] = (),
    properties: Sequence[Property] = (),
) -> CheckResult:
    """Run ``fn`` on every case; print one line of feedback (or the first failure, diagnosed)."""
    rng = torch.get_rng_state()
    try:
        return CheckResult(_run(title, fn, cases, comparer, mistakes, properties))
    finally:
        torch.set_rng_state(rng)


def _fail(title: str, i: int, case: Case, problem: str, got: Any = None, show: bool = True) -> bool:
    text = f"❌ {title}, case {i} ({case.description}): {problem}"
    text = text if text.endswith((".", "?", "!", ")")) else text + "."
    if show:
        text += f"\n   expected: {show_value(case.expected)}\n   got:      {show_value(got)}"
    print(text)
    return False


def _run(title, fn, cases, comparer, mistakes, properties) -> bool:
    if not callable(fn):
        print(f"❌ {title}: expected a function, got {type(fn).__name__}")
        return False
    for i, case in enumerate(cases, 1):
        args, kwargs = copy.deepcopy(case.args), copy.deepcopy(case.kwargs)
        before = [(name, t.detach().clone()) for name, t in _input_tensors(args, kwargs)]
        try:
            got = fn(*args, **kwargs)
        except NotImplementedError:
            print(f"⏳ {title}: not implemented yet. Fill in the function, run its cell, then this one.")
            return False
        except Exception as e:  # the student's code: report, don't raise
            hint = diagnose_exception(e, case, mistakes)
            problem = explain_exception(e)
            return _fail(title, i, case, f"it looks like {hint}; {problem}" if hint else problem, show=False)
        if got is None:
            return _fail(title, i, case, "your function returned None: did you forget the `return`?", show=False)
        changed = _changed_input(args, kwargs, before)
        if changed is not None:
            return _fail(title, i, case, (
                f"your function changed its input ({changed}) in "
                "place, e.g. with `x += ...` or `x[...] = ...`; the caller's tensor must stay as it was: "
                "write `x = x + ...` to make a new tensor"), show=False)
        for prop in list(case.properties) + list(properties):
            problem = prop(got, case)
            if problem:
                hint = diagnose(got, case, mistakes, comparer)
                return _fail(title, i, case, f"it looks like {hint}" if hint else problem, got)
        problem = _compare(comparer, got, case.expected, case.atol, case.dims)
        if problem:
            hint = diagnose(got, case, mistakes, comparer)
            return _fail(title, i, case, f"it looks like {hint}" if hint else problem, got)
    print(f"✅ {title}: all {len(cases)} checks passed.")
    return True


# ---------------------------------------------------------------- properties every right answer has
# Each returns a ``Property``: ``(got, case) -> None`` when the property holds (or cannot be judged,
# e.g. ``got`` is not a tensor: the comparison then says so), else a sentence.


def has_dtype(dtype: torch.dtype, fix: str) -> Property:
    """The output is a tensor of ``dtype``; ``fix`` says how to get there."""

    def prop(got: Any, case: Case) -> str | None:
        if isinstance(got, torch.Tensor) and got.dtype != dtype:
            return f"the output has dtype {got.dtype}, expected {dtype}: {fix}"
        return None

    return prop


def _row_where(index: Sequence[int], dims: Sequence[str] | None) -> str:
    if dims and len(dims) == len(index) + 1:
        return ", ".join(f"{name} {i}" for name, i in zip(dims[:-1], index, strict=True))
    return "row " + str(tuple(int(i) for i in index))


def rows_sum_to_one(dims: Sequence[str] | None = None) -> Property:
    """Attention weights / probabilities: no nan, and every row (last axis) sums to 1."""

    def prop(got: Any, case: Case) -> str | None:
        if not isinstance(got, torch.Tensor) or not got.is_floating_point() or got.dim() == 0:
            return None
        names = dims or case.dims
        g = got.detach().to("cpu").double()
        if torch.isnan(g).any():
            idx = torch.isnan(g).nonzero()[0].tolist()
            return (f"your weights contain nan, the first at {where(idx, names)}. A softmax gives nan when every "
                    "score of a row is -inf (does the mask hide the diagonal too?) or when exp() overflows on "
                    "large scores (exp(100) is inf, and inf / inf is nan: use torch.softmax, or subtract the row max)")
        sums = g.sum(-1)
        bad = (sums - 1).abs() > 1e-3
        if bad.any():
            idx = bad.nonzero()[0].tolist()
            return (f"the weights of {_row_where(idx, names)} sum to {sums[tuple(idx)].item():.4g}, not 1: the softmax "
                    "must run along each row (dim=-1), and nothing may change the weights after it")
        return None

    return prop


def future_is_zero(dims: Sequence[str] | None = None) -> Property:
    """Causal weights (..., T, T): every entry above the diagonal (a later token) is 0."""

    def prop(got: Any, case: Case) -> str | None:
        if not isinstance(got, torch.Tensor) or got.dim() < 2 or got.shape[-1] != got.shape[-2]:
            return None
        t = got.shape[-1]
        future = torch.ones(t, t).triu(1).bool()
        g = got.detach().to("cpu").double()
        leak = (g.abs() > 1e-6) & future
        if leak.any():
            idx = leak.nonzero()[0].tolist()
            return (f"{where(idx, dims or case.dims)} holds weight {g[tuple(idx)].item():.4g} for a later token "
                    "(column > row): future weights must be exactly 0. Fill the future scores with -inf before "
                    "the softmax")
        return None

    return prop
