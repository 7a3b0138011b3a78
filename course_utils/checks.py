"""Argument checks shared by the package: numbers, devices, sampling settings, token-id tensors.

Each runs once where input enters (a public function, a command line), never inside a loop over
tokens or batches: ``generate`` checks its arguments before the first step, ``TokenWindows`` its
data when it is built.

``bool`` is an ``int`` in Python, but ``top_k=True`` or ``batch_size=False`` is a mistake, so the
number checks refuse it.
"""

from __future__ import annotations

import math
import platform
import re
from pathlib import Path

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


def machine_name() -> str:
    """Where code runs, for training records and benchmark tables: the CPU's model name as
    /proc/cpuinfo gives it (e.g. "AMD EPYC"), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


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


def check_sampling(temperature, top_k, top_p) -> None:
    """Raise a clear ValueError unless the sampling settings are usable (0 = greedy temperature)."""
    if not is_finite_number(temperature) or temperature < 0:
        raise ValueError(
            f"temperature must be a number >= 0 (0 = greedy, 1 = the model's own probabilities), "
            f"got {temperature!r}"
        )
    if top_k is not None:
        check_top_k(top_k)
    if top_p is not None:
        check_top_p(top_p)


def check_id_tensor(ids) -> None:
    """Raise a clear ValueError unless ``ids`` is an integer tensor of shape (batch, tokens)."""
    if not isinstance(ids, torch.Tensor):
        raise ValueError(
            f"expected a tensor of token ids, got {type(ids).__name__}; "
            f"use course_utils.text_to_ids(text) or torch.tensor([[...]])"
        )
    if ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
        raise ValueError(f"token ids must be integers, got dtype {ids.dtype}; convert with ids.long()")
    if ids.dim() != 2:
        hint = "; add a batch dimension with ids.unsqueeze(0)" if ids.dim() == 1 else ""
        raise ValueError(f"expected ids of shape (batch, tokens), got {tuple(ids.shape)}{hint}")


def check_top_k(top_k) -> None:
    """Raise a clear ValueError unless ``top_k`` is a whole number >= 1."""
    if not is_whole_number(top_k) or top_k <= 0:
        raise ValueError(f"top_k must be a whole number >= 1 (or None to keep every token), got {top_k!r}")


def check_top_p(top_p) -> None:
    """Raise a clear ValueError unless ``0 < top_p <= 1``."""
    if not is_finite_number(top_p) or not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be a number with 0 < top_p <= 1 (or None, the same as 1), got {top_p!r}")


def check_token_range(ids: torch.Tensor, vocab_size: int, what: str = "token id") -> None:
    """Raise a clear ValueError if an id in ``ids`` is outside ``0 .. vocab_size - 1``.

    It reads ``ids.min()`` and ``ids.max()`` (on a GPU that waits for the device), so it runs where
    input enters (a prompt, a data set), not on every forward pass.
    """
    if ids.numel() == 0:
        return
    lo, hi = int(ids.min()), int(ids.max())
    if lo < 0 or hi >= vocab_size:
        bad = lo if lo < 0 else hi
        raise ValueError(
            f"{what} {bad} is outside the model's vocabulary (0 .. {vocab_size - 1}); "
            f"were the ids made by a different tokenizer?"
        )


def check_generation(model, ids, max_new_tokens, temperature, top_k, top_p, eos_id, generator) -> None:
    """Every argument of ``generate`` / ``generate_stream``, checked once before the first step."""
    check_sampling(temperature, top_k, top_p)
    if not is_whole_number(max_new_tokens) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be a whole number >= 0, got {max_new_tokens!r}")
    check_id_tensor(ids)  # a prompt may be longer than the context, so not model.check_ids
    if ids.shape[0] == 0 or ids.shape[1] == 0:
        raise ValueError(
            f"the prompt is empty (shape {tuple(ids.shape)}); give at least one token per row, "
            f"e.g. the end-of-text id 50256 to start from nothing"
        )
    vocab = model.cfg.vocab_size
    check_token_range(ids, vocab, what="the prompt holds token id")
    if eos_id is not None and (not is_whole_number(eos_id) or not 0 <= eos_id < vocab):
        raise ValueError(f"eos_id must be None or a token id in 0 .. {vocab - 1}, got {eos_id!r}")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    device = next(model.parameters()).device
    if generator is not None and temperature > 0 and generator.device.type != device.type:
        raise ValueError(
            f"the generator lives on {generator.device} but the model on {device}; "
            f"make it with torch.Generator(device={str(device)!r})"
        )
