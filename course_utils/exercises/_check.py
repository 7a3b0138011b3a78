"""The machinery behind every ``check_<thing>``: run cases, compare, print feedback, never raise."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class Case:
    """One hidden test: call the function with ``args``/``kwargs``, expect ``expected``."""

    description: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    expected: Any = None


def _show(x: Any) -> str:
    if isinstance(x, torch.Tensor):
        body = str(x.detach().to("cpu").double().numpy().round(4).tolist()) if x.numel() <= 16 else "..."
        return f"tensor of shape {tuple(x.shape)}, dtype {x.dtype}: {body}"
    text = repr(x)
    return text if len(text) <= 200 else text[:200] + "..."


def compare(got: Any, expected: Any, atol: float = 1e-4) -> str | None:
    """None when ``got`` matches ``expected``; otherwise a sentence saying how they differ."""
    if isinstance(expected, torch.Tensor):
        if not isinstance(got, torch.Tensor):
            return f"expected a tensor, got {type(got).__name__}"
        if tuple(got.shape) != tuple(expected.shape):
            return f"the shape is {tuple(got.shape)}, expected {tuple(expected.shape)}"
        if expected.dtype == torch.bool or not expected.is_floating_point():
            return None if torch.equal(got.to(expected.dtype), expected) else "some entries differ"
        diff = (got.detach().float() - expected.float()).abs().max().item()
        return None if diff <= atol else f"largest difference {diff:.4g} (allowed {atol})"
    if isinstance(expected, float):
        try:
            ok = abs(float(got) - expected) <= atol
        except (TypeError, ValueError):
            return f"expected a number, got {type(got).__name__}"
        return None if ok else "the numbers differ"
    return None if got == expected else "the values differ"


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
    comparer: Callable[[Any, Any], str | None] = compare,
) -> CheckResult:
    """Run ``fn`` on every case; print one line of feedback (or the first failure)."""
    return CheckResult(_run(title, fn, cases, comparer))


def _run(title, fn, cases, comparer) -> bool:
    if not callable(fn):
        print(f"❌ {title}: expected a function, got {type(fn).__name__}")
        return False
    for i, case in enumerate(cases, 1):
        try:
            got = fn(*case.args, **case.kwargs)
        except NotImplementedError:
            print(f"⏳ {title}: not implemented yet. Fill in the function, run its cell, then this one.")
            return False
        except Exception as e:  # the student's code: report, don't raise
            print(f"❌ {title}, case {i} ({case.description}): your function raised {type(e).__name__}: {e}")
            return False
        problem = comparer(got, case.expected)
        if problem:
            print(
                f"❌ {title}, case {i} ({case.description}): {problem}.\n"
                f"   expected: {_show(case.expected)}\n"
                f"   got:      {_show(got)}"
            )
            return False
    print(f"✅ {title}: all {len(cases)} checks passed.")
    return True
