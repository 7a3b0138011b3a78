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
import math
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

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


# ---------------------------------------------------------------- showing values


def _fmt_number(v: float | int) -> str:
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int) or (isinstance(v, float) and v.is_integer() and abs(v) < 1e15):
        return f"{int(v):,}"
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return f"{v:.6g}"


def _show(x: Any) -> str:
    if isinstance(x, torch.Tensor):
        t = x.detach().to("cpu")
        if t.numel() <= 16:
            if t.dtype == torch.bool or not t.is_floating_point():
                body = str(t.tolist())
            else:
                body = str(t.double().numpy().round(4).tolist())
        else:
            body = "..."
        return f"tensor of shape {tuple(t.shape)}, dtype {t.dtype}: {body}"
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return _fmt_number(x)
    text = repr(x)
    return text if len(text) <= 200 else text[:200] + "..."


def _where(index: Sequence[int], dims: Sequence[str] | None) -> str:
    if dims and len(dims) == len(index):
        return ", ".join(f"{name} {i}" for name, i in zip(dims, index, strict=True))
    return "index " + str(tuple(int(i) for i in index))


# ---------------------------------------------------------------- comparing


def describe_difference(got: torch.Tensor, expected: torch.Tensor, atol: float, dims=None) -> str | None:
    """None when the tensors agree; otherwise where and how they differ, in words."""
    if tuple(got.shape) != tuple(expected.shape):
        msg = f"the shape is {tuple(got.shape)}, expected {tuple(expected.shape)}"
        if got.dim() == expected.dim() + 1 and got.shape[0] == 1 and tuple(got.shape[1:]) == tuple(expected.shape):
            msg += " (an extra leading axis of size 1: drop it)"
        elif got.dim() + 1 == expected.dim() and tuple(got.shape) == tuple(expected.shape[1:]):
            msg += " (the batch axis is missing: keep every dimension of the input)"
        elif sorted(got.shape) == sorted(expected.shape):
            msg += " (the same sizes in another order: check which axes you transposed or permuted)"
        return msg
    if expected.dtype == torch.bool or not expected.is_floating_point():
        if got.is_floating_point():
            return (f"the values are floats ({got.dtype}), expected integers ({expected.dtype}); "
                    "ids and counts must be an integer dtype (torch.long)")
        bad = got.to(expected.dtype) != expected
        if not bad.any():
            return None
        idx = bad.nonzero()[0].tolist()
        n = int(bad.sum())
        return (f"{n} of {expected.numel()} entries differ; the first at {_where(idx, dims)}: "
                f"got {_show(got[tuple(idx)].item())}, expected {_show(expected[tuple(idx)].item())}")
    if not got.is_floating_point() and got.dtype != torch.bool:
        got = got.to(expected.dtype)
    g = got.detach().to("cpu").double()
    e = expected.detach().to("cpu").double()
    nan, inf = torch.isnan(g) & ~torch.isnan(e), torch.isinf(g) & ~torch.isinf(e)
    if nan.any():
        idx = nan.nonzero()[0].tolist()
        return (f"your output has {int(nan.sum())} nan value(s), the first at {_where(idx, dims)}. nan comes from "
                "inf - inf, inf / inf or 0 * inf: e.g. exp() of large numbers overflowing, a row whose every "
                "entry is -inf before the softmax, or 0 * log(0)")
    if inf.any():
        idx = inf.nonzero()[0].tolist()
        return (f"your output has {int(inf.sum())} infinite value(s), the first at {_where(idx, dims)}. inf comes "
                "from exp() of a large number or log(0): e.g. the log of a probability that underflowed to 0")
    diff = (g - e).abs()
    same = (torch.isnan(e) & torch.isnan(g)) | (g == e)  # equal infinities (e.g. -inf in log-probabilities) agree
    diff = torch.where(same, torch.zeros_like(diff), diff)
    worst = diff.max().item()
    if worst <= atol:
        return None
    idx = list(divmod_index(int(diff.argmax()), tuple(diff.shape)))
    msg = (f"the values differ by up to {worst:.4g} (allowed {atol}), most at {_where(idx, dims)}: "
           f"got {g[tuple(idx)].item():.4f}, expected {e[tuple(idx)].item():.4f}")
    pattern = _difference_pattern(g, e, diff > atol, atol, dims)
    return msg + (f"; {pattern}" if pattern else "")


def _difference_pattern(g: torch.Tensor, e: torch.Tensor, bad: torch.Tensor, atol: float, dims) -> str | None:
    """What the wrong entries have in common, in words: a constant factor or offset, a transpose,
    or all of them in one row / position / head."""
    finite = torch.isfinite(e) & torch.isfinite(g)
    if g.dim() >= 2 and g.shape[-1] == g.shape[-2] and g.shape[-1] > 1:
        if torch.allclose(g, e.transpose(-2, -1), atol=atol, rtol=0, equal_nan=True):
            return "your values are the expected ones with the last two axes swapped (a transpose too many or too few)"
    big = finite & (e.abs() > 1e-3)
    if int(big.sum()) >= 2 and bool(finite.all()):
        ratio = g[big] / e[big]
        c = ratio.median().item()
        if abs(c - 1) > 1e-3 and torch.allclose(g, c * e, atol=atol, rtol=1e-4):
            return (f"every value is {c:.4g} times the expected one: look for a missing, extra or wrong factor "
                    "(a scale, a division)")
    if bool(finite.all()) and g.numel() >= 2:
        off = (g - e).median().item()
        if abs(off) > atol and torch.allclose(g, e + off, atol=atol, rtol=0):
            return f"every value is off by the same {off:+.4g}: look for a missing or extra added constant"
    n_bad, n = int(bad.sum()), bad.numel()
    if n_bad < n:
        where = f"{n_bad:,} of {n:,} values differ"
        for d in range(bad.dim()):
            if bad.shape[d] < 2:
                continue
            hit = bad.movedim(d, 0).reshape(bad.shape[d], -1).any(1)
            rows = hit.nonzero().flatten().tolist()
            if len(rows) == 1:
                named = dims and len(dims) == bad.dim()
                label = f"{dims[d]} {rows[0]}" if named else f"index {rows[0]} of axis {d}"
                return f"{where}, all of them in {label}"
        return where
    return None


def divmod_index(flat: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The multi-dimensional index of the ``flat``-th element of a tensor of ``shape``."""
    out = []
    for size in reversed(shape):
        flat, r = divmod(flat, size)
        out.append(r)
    return tuple(reversed(out))


def compare(got: Any, expected: Any, atol: float = 1e-4, dims=None) -> str | None:
    """None when ``got`` matches ``expected``; otherwise a sentence saying how they differ."""
    if isinstance(expected, torch.Tensor):
        if not isinstance(got, torch.Tensor):
            if isinstance(got, (list, tuple)) or hasattr(got, "__array__"):
                return (f"expected a tensor, got {type(got).__name__}: build one with torch.tensor(...) "
                        f"(dtype {expected.dtype})")
            return f"expected a tensor, got {type(got).__name__}"
        return describe_difference(got, expected, atol, dims)
    if isinstance(expected, bool):
        return None if got is expected or got == expected else f"got {got!r}, expected {expected!r}"
    if isinstance(expected, (int, float)):
        if isinstance(got, torch.Tensor):
            if got.numel() != 1:
                return f"expected one number, got a tensor of shape {tuple(got.shape)}"
            got = got.item()
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            return f"expected a number, got {type(got).__name__}"
        if isinstance(got, float) and math.isnan(got):
            return ("got nan: it comes from inf - inf, inf / inf or 0 * inf (e.g. 0 * log(0), or exp() "
                    "overflowing)")
        if isinstance(expected, int):
            if got == expected:
                return None
            off = got - expected
            return (f"got {_fmt_number(got)}, expected {_fmt_number(expected)} "
                    f"({'+' if off > 0 else '-'}{_fmt_number(abs(off))})")
        if abs(float(got) - expected) <= atol:
            return None
        return f"got {float(got):.6g}, expected {expected:.6g}"
    if isinstance(expected, (list, tuple)) and isinstance(got, (list, tuple)) and len(got) != len(expected):
        return f"got {len(got)} items, expected {len(expected)}"
    return None if got == expected else f"got {_show(got)}, expected {_show(expected)}"


# ---------------------------------------------------------------- exceptions


_SHAPE_PATTERNS: list[tuple[re.Pattern, Callable[[re.Match], str]]] = [
    (re.compile(r"mat1 and mat2 shapes cannot be multiplied \((\d+)x(\d+) and (\d+)x(\d+)\)"),
     lambda m: (f"a matrix product got ({m[1]} x {m[2]}) @ ({m[3]} x {m[4]}): the left operand's last size "
                f"({m[2]}) must equal the right operand's first ({m[3]}). Print the shapes just before the "
                "product; one operand may need a transpose, or the layer was built for another width")),
    (re.compile(r"The size of tensor a \((\d+)\) must match the size of tensor b \((\d+)\) at non-singleton "
                r"dimension (\d+)"),
     lambda m: (f"two tensors were combined elementwise whose sizes {m[1]} and {m[2]} differ in dimension "
                f"{m[3]} (they must be equal or 1 to broadcast). Print both shapes just before that line")),
    (re.compile(r"Expected size for first two dimensions of batch2 tensor to be: \[(\d+), (\d+)\] but got: "
                r"\[(\d+), (\d+)\]"),
     lambda m: (f"a batched matrix product (@) got a right operand whose inner size is {m[3]}, but the left "
                f"operand's last size is {m[2]}: check the transpose of the keys (k.transpose(-2, -1))")),
    (re.compile(r"Dimension out of range \(expected to be in range of \[(-?\d+), (-?\d+)\], but got (-?\d+)\)"),
     lambda m: (f"a dim={m[3]} was used on a tensor with fewer dimensions (allowed {m[1]} to {m[2]}): "
                "check which tensor it was and how many axes it has")),
    (re.compile(r"view size is not compatible with input tensor's size and stride"),
     lambda m: ("`.view` was called on a tensor whose memory is no longer in order (after a transpose or "
                "permute): use `.reshape(...)` or `.contiguous().view(...)`")),
    (re.compile(r"shape '\[([-\d, ]+)\]' is invalid for input of size (\d+)"),
     lambda m: (f"a view/reshape to [{m[1]}] does not fit a tensor of {int(m[2]):,} elements: the sizes you "
                "asked for must multiply to the number of elements")),
    (re.compile(r"Expected tensor for argument #1 'indices' to have one of the following scalar types: "
                r"Long, Int; but got (\S+)"),
     lambda m: (f"an embedding lookup got ids of dtype {m[1]}: ids must be integers (torch.long), "
                "not floats")),
    (re.compile(r"index out of range in self"),
     lambda m: ("an embedding or index got an id that is too large for the table: check the ids against "
                "the table size (vocabulary, or context length for positions)")),
    (re.compile(r"expected m1 and m2 to have the same dtype, but got: (.+?) != (\S+)"),
     lambda m: f"a matrix product mixed dtypes {m[1]} and {m[2]}: convert one (e.g. .float())"),
    (re.compile(r"one_hot is only applicable to index tensor"),
     lambda m: "F.one_hot got a float tensor: it needs integer ids (torch.long)"),
    (re.compile(r"Class values must be smaller than num_classes"),
     lambda m: ("F.one_hot got an id >= num_classes: pass num_classes= the table size (weight.shape[0]), not "
                "a smaller number")),
    (re.compile(r"Tensors must have same number of dimensions: got (\d+) and (\d+)"),
     lambda m: (f"torch.cat got a {m[1]}-dimensional and a {m[2]}-dimensional tensor: they must have the same "
                "number of axes (and should you concatenate at all, or add?)")),
    (re.compile(r"must be tuple of ints,\s*but got float"),
     lambda m: ("a shape given to view/reshape contains a float: use integer division `//`, not `/` "
                "(e.g. d // num_heads)")),
    (re.compile(r"masked_fill_? only supports boolean masks, but got mask with dtype (\S+)"),
     lambda m: f"masked_fill got a mask of dtype {m[1]}: give it a bool mask (e.g. mask.bool() or mask == 0)"),
    (re.compile(r"(\w+): input tensor must have at least 2 dimensions"),
     lambda m: f"{m[1]} got a 1-dimensional tensor: build the mask from a (T, T) matrix, e.g. torch.ones(T, T)"),
]


def explain_exception(e: BaseException) -> str:
    """A torch error as a sentence that says what went wrong and where to look."""
    text = str(e)
    for pattern, say in _SHAPE_PATTERNS:
        m = pattern.search(text)
        if m:
            return f"your function raised {type(e).__name__}: {say(m)}"
    first = text.strip().splitlines()[0] if text.strip() else ""
    return f"your function raised {type(e).__name__}: {first}"


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
        text += f"\n   expected: {_show(case.expected)}\n   got:      {_show(got)}"
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
            return (f"your weights contain nan, the first at {_where(idx, names)}. A softmax gives nan when every "
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
            return (f"{_where(idx, dims or case.dims)} holds weight {g[tuple(idx)].item():.4g} for a later token "
                    "(column > row): future weights must be exactly 0. Fill the future scores with -inf before "
                    "the softmax")
        return None

    return prop
