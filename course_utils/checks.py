"""Small argument checks shared by the package: whole numbers, finite numbers, devices.

``bool`` is an ``int`` in Python, but ``top_k=True`` or ``batch_size=False`` is a mistake, so the
number checks refuse it.
"""

from __future__ import annotations

import math
import re

import torch


def is_whole_number(x) -> bool:
    """An ``int`` that is not a ``bool``."""
    return isinstance(x, int) and not isinstance(x, bool)


def is_finite_number(x) -> bool:
    """An ``int`` or ``float`` (not a ``bool``) that is neither infinite nor NaN."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def check_device_name(name) -> None:
    """Raise a clear ValueError unless ``name`` is auto, cpu, cuda, cuda:N or mps."""
    if isinstance(name, str) and (name in ("auto", "cpu", "cuda", "mps") or re.fullmatch(r"cuda:\d+", name)):
        return
    raise ValueError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps")


def pick_device(name: str | torch.device = "auto") -> torch.device:
    """The device called ``name``, which must exist on this machine; auto = cuda > mps > cpu."""
    name = str(name)  # a torch.device works too
    check_device_name(name)
    mps = getattr(torch.backends, "mps", None)
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if mps and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r}: there is no CUDA GPU here; use --device cpu (device='cpu')")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ValueError(f"device {name!r}: this machine has only {torch.cuda.device_count()} CUDA GPU(s), "
                         f"cuda:0 .. cuda:{torch.cuda.device_count() - 1}")
    if device.type == "mps" and not (mps and mps.is_available()):
        raise ValueError(f"device {name!r}: MPS (Apple GPU) is not available here; use --device cpu (device='cpu')")
    return device
