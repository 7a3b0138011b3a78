"""Feedback in words for the exercise checkers (``_check.py`` runs the cases and diagnoses):

* ``show_value``: a value as a student reads it (integers as integers, small tensors in full);
* ``compare`` / ``describe_difference``: None when an answer matches, otherwise where and how it
  differs (which row, position or head; a constant factor or offset; a transpose; nan and inf
  explained);
* ``explain_exception``: a torch error turned into a sentence (which operand had which shape).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import torch

# ---------------------------------------------------------------- showing values


def fmt_number(v: float | int) -> str:
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int) or (isinstance(v, float) and v.is_integer() and abs(v) < 1e15):
        return f"{int(v):,}"
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return f"{v:.6g}"


def show_value(x: Any) -> str:
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
        return fmt_number(x)
    text = repr(x)
    return text if len(text) <= 200 else text[:200] + "..."


def where(index: Sequence[int], dims: Sequence[str] | None) -> str:
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
        return (f"{n} of {expected.numel()} entries differ; the first at {where(idx, dims)}: "
                f"got {show_value(got[tuple(idx)].item())}, expected {show_value(expected[tuple(idx)].item())}")
    if not got.is_floating_point() and got.dtype != torch.bool:
        got = got.to(expected.dtype)
    g = got.detach().to("cpu").double()
    e = expected.detach().to("cpu").double()
    nan, inf = torch.isnan(g) & ~torch.isnan(e), torch.isinf(g) & ~torch.isinf(e)
    if nan.any():
        idx = nan.nonzero()[0].tolist()
        return (f"your output has {int(nan.sum())} nan value(s), the first at {where(idx, dims)}. nan comes from "
                "inf - inf, inf / inf or 0 * inf: e.g. exp() of large numbers overflowing, a row whose every "
                "entry is -inf before the softmax, or 0 * log(0)")
    if inf.any():
        idx = inf.nonzero()[0].tolist()
        return (f"your output has {int(inf.sum())} infinite value(s), the first at {where(idx, dims)}. inf comes "
                "from exp() of a large number or log(0): e.g. the log of a probability that underflowed to 0")
    diff = (g - e).abs()
    same = (torch.isnan(e) & torch.isnan(g)) | (g == e)  # equal infinities (e.g. -inf in log-probabilities) agree
    diff = torch.where(same, torch.zeros_like(diff), diff)
    worst = diff.max().item()
    if worst <= atol:
        return None
    idx = list(divmod_index(int(diff.argmax()), tuple(diff.shape)))
    msg = (f"the values differ by up to {worst:.4g} (allowed {atol}), most at {where(idx, dims)}: "
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
            return (f"got {fmt_number(got)}, expected {fmt_number(expected)} "
                    f"({'+' if off > 0 else '-'}{fmt_number(abs(off))})")
        if abs(float(got) - expected) <= atol:
            return None
        return f"got {float(got):.6g}, expected {expected:.6g}"
    if isinstance(expected, (list, tuple)) and isinstance(got, (list, tuple)) and len(got) != len(expected):
        return f"got {len(got)} items, expected {len(expected)}"
    return None if got == expected else f"got {show_value(got)}, expected {show_value(expected)}"


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
