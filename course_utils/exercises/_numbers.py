"""Helpers the notebook 06-10 checkers share on top of ``_check``: numbers compared with a relative
tolerance, counts that must be whole numbers, and nan/inf that match a mistake which also gives nan/inf.

(Candidates to move into ``_check.py``: ``compare_number``, ``compare_relative``, ``whole_number``,
``compare_tensors``.)
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ._check import compare


def as_number(got: Any) -> tuple[float | None, str | None]:
    """``(value, None)`` for a Python number or a one-element tensor, else ``(None, why not)``."""
    if isinstance(got, torch.Tensor):
        if got.numel() != 1:
            return None, f"expected one number, got a tensor of shape {tuple(got.shape)}"
        got = got.item()
    if isinstance(got, bool) or not isinstance(got, (int, float)):
        if hasattr(got, "__float__") and not isinstance(got, (str, bytes)):
            try:
                return float(got), None
            except (TypeError, ValueError):
                pass
        return None, f"expected a number, got {type(got).__name__}"
    return float(got), None


def _non_finite(value: float, expected: float) -> str | None:
    if math.isnan(value):
        if math.isnan(expected):
            return None
        return ("got nan: it comes from inf - inf, inf / inf or 0 * inf (e.g. 0 * log(0) for a count of 0, "
                "or exp() of a large number overflowing to inf)")
    if math.isinf(value):
        if value == expected:
            return None
        return ("got inf: it comes from log(0) (a probability that underflowed to 0) or from exp() of a "
                "large number")
    return ""


def compare_number(got: Any, expected: Any, atol: float = 1e-4) -> str | None:
    """None when ``got`` is within ``atol`` of ``expected`` (nan matches nan, inf matches inf)."""
    if isinstance(expected, torch.Tensor) and expected.numel() != 1:  # a mistake that returns a tensor
        return compare_tensors(got, expected, atol=atol)
    value, problem = as_number(got)
    if problem:
        return problem
    expected = float(expected)
    problem = _non_finite(value, expected)
    if problem != "":
        return problem
    if not math.isfinite(expected):
        return f"got {value:.6g}, expected {expected}"
    return None if abs(value - expected) <= atol else f"got {value:.6g}, expected {expected:.6g}"


def compare_relative(got: Any, expected: Any, atol: float = 1e-6) -> str | None:
    """Like ``compare_number`` but ``atol`` is relative: for learning rates (1e-4) and hours (1e4) alike."""
    value, problem = as_number(got)
    if problem:
        return problem
    expected = float(expected)
    problem = _non_finite(value, expected)
    if problem != "":
        return problem
    if abs(value - expected) <= atol * abs(expected) + 1e-15:
        return None
    ratio = f" ({value / expected:.4g} times the right value)" if expected != 0 else ""
    return f"got {value:.6g}, expected {expected:.6g}{ratio}"


def whole_number(got: Any, case) -> str | None:
    """Property: a count is a Python int (or a one-element integer tensor), not a float or a bool."""
    if isinstance(got, bool):
        return "expected a whole number (int), got a bool"
    if isinstance(got, int):
        return None
    if isinstance(got, torch.Tensor) and got.numel() == 1 and not got.is_floating_point():
        return None
    if isinstance(got, float) or (isinstance(got, torch.Tensor) and got.is_floating_point()):
        return ("expected a whole number (int), got a float: a count is an int; use // instead of /, "
                "or int(...)")
    return f"expected a whole number (int), got {type(got).__name__}"


def compare_tensors(got: Any, expected: Any, atol: float = 1e-4, dims=None) -> str | None:
    """``_check.compare``, except that an inf where the other tensor has the same inf counts as equal
    (so a mistake that gives inf, e.g. log(0), can be recognised)."""
    if (isinstance(got, torch.Tensor) and isinstance(expected, torch.Tensor) and got.shape == expected.shape
            and got.is_floating_point() and expected.is_floating_point()):
        same_inf = torch.isinf(got) & (got == expected)
        if same_inf.any():
            got, expected = got.masked_fill(same_inf, 0.0), expected.masked_fill(same_inf, 0.0)
    return compare(got, expected, atol=atol, dims=dims)
