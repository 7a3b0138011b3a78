"""The course's own checkpoints: one safetensors file, no pickle.

A checkpoint holds the model's tensors (the tied output head stored once), optional extra tensors
(e.g. optimizer state, under ``extra/``), and JSON metadata (the GPTConfig and anything else) in
the safetensors header. It is written to a temporary file, flushed to disk and renamed over the
target, so a crash mid-write leaves the previous file intact. ``load_course_model()`` loads the
small trained model the course ships.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ..checks import pick_device
from ..config import GPTConfig
from ..model import GPTModel

__all__ = [
    "Checkpoint",
    "atomic_write",
    "copy_state_into",
    "load_checkpoint",
    "load_course_model",
    "read_checkpoint",
    "read_safetensors",
    "save_checkpoint",
]

FORMAT = "course_utils.checkpoint/1"
EXTRA_PREFIX = "extra/"
TIED_KEY = "out_head.weight"


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)``, fsync, then rename onto ``path``: readers see old or new, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a checkpoint is an ordinary file
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass
    return path


def save_checkpoint(
    model: GPTModel,
    path: str | os.PathLike,
    *,
    meta: dict | None = None,
    extra_tensors: Mapping[str, torch.Tensor] | None = None,
    dtype: torch.dtype | None = None,
) -> Path:
    """Write ``model`` (and optional JSON-able ``meta`` and ``extra_tensors``) to one safetensors file.

    ``dtype`` (e.g. ``torch.bfloat16``) stores the model's floating-point weights in that type;
    they are cast back to the model's type when loaded.
    """
    if not isinstance(model, GPTModel):
        raise ValueError(f"save_checkpoint saves a GPTModel, got {type(model).__name__}")
    if model.out_head.weight is not model.tok_emb.weight:
        raise ValueError(
            "out_head is not tied to tok_emb; course checkpoints store GPT-2's tied layout (one matrix for "
            "both), so the head would be lost; tie it again with model.out_head.weight = model.tok_emb.weight, "
            "or save model.state_dict() with safetensors.torch.save_file yourself"
        )
    if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise ValueError(
            f"dtype must be a floating-point type such as torch.bfloat16 or torch.float16 (or None to keep "
            f"the model's), got {dtype}: other types would round the weights away"
        )
    tensors = {}
    for name, t in model.state_dict().items():
        if name == TIED_KEY:  # the same tensor as tok_emb.weight
            continue
        t = t.detach().to("cpu")
        if dtype is not None and t.is_floating_point():
            t = t.to(dtype)
        tensors[name] = t.contiguous()
    for name, t in (extra_tensors or {}).items():
        tensors[EXTRA_PREFIX + name] = t.detach().to("cpu").contiguous()
    header = {
        "format": FORMAT,
        "config": json.dumps(model.cfg.to_dict()),
        "meta": json.dumps(meta or {}),
    }
    return atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=header))


@dataclass
class Checkpoint:
    """Everything in a checkpoint file."""

    config: GPTConfig
    state_dict: dict[str, torch.Tensor]
    meta: dict = field(default_factory=dict)
    extra_tensors: dict[str, torch.Tensor] = field(default_factory=dict)


def _damaged(path, error: Exception) -> ValueError:
    return ValueError(
        f"{path} is damaged or not a safetensors file ({error}); if it is a checkpoint, "
        f"an interrupted copy is the usual cause: use an earlier checkpoint or save it again"
    )


def read_safetensors(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Every tensor of a safetensors file; a damaged file raises a clear ValueError."""
    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise _damaged(path, e) from None


def _course_header(path: Path) -> dict:
    """The safetensors header of a course checkpoint (format, config, meta); a clear ValueError if
    the file is missing, damaged or not one of ours. Reads no tensor."""
    if not path.is_file():
        raise ValueError(f"no checkpoint at {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise _damaged(path, e) from None
    if header.get("format") != FORMAT:
        raise ValueError(
            f"{path} is a safetensors file but not a course_utils checkpoint (no {FORMAT!r} "
            f"header); for Hugging Face GPT-2 weights use load_hf_gpt2_weights(model, path)"
        )
    return header


def read_config(path: str | os.PathLike) -> GPTConfig:
    """The model shape a checkpoint was saved from, read from its header alone (no tensor is loaded)."""
    return _config_of(_course_header(Path(path)))


def _config_of(header: dict) -> GPTConfig:
    return GPTConfig.from_dict(json.loads(header["config"]))


def read_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint written by ``save_checkpoint``; a damaged file raises a ValueError."""
    path = Path(path)
    header = _course_header(path)
    tensors = read_safetensors(path)
    config = _config_of(header)
    extra = {k[len(EXTRA_PREFIX) :]: v for k, v in tensors.items() if k.startswith(EXTRA_PREFIX)}
    model_sd = {k: v for k, v in tensors.items() if not k.startswith(EXTRA_PREFIX)}
    return Checkpoint(config, model_sd, json.loads(header.get("meta", "{}")), extra)


def load_checkpoint(
    path: str | os.PathLike,
    model: GPTModel | None = None,
    *,
    device: str | torch.device = "cpu",
) -> GPTModel:
    """Load a checkpoint into ``model`` (which must have the same config) or into a new model.

    The model is returned in eval mode on ``device``.
    """
    device = pick_device(device)  # an unknown or absent device: a clear ValueError
    ckpt = read_checkpoint(path)
    if model is None:
        model = GPTModel(ckpt.config)
    else:
        diffs = ckpt.config.differences(model.cfg)
        if diffs:
            raise ValueError(
                f"checkpoint {path} was saved from a model with another config "
                f"({'; '.join(d + ' (checkpoint vs model)' for d in diffs)}); build the model with "
                f"GPTModel(read_checkpoint(path).config) or call load_checkpoint(path) without a model"
            )
    copy_state_into(model, ckpt.state_dict, path)
    return model.to(device).eval()


def copy_state_into(model: GPTModel, state_dict: Mapping[str, torch.Tensor], source="checkpoint") -> None:
    """Copy a checkpoint's tensors into ``model`` in place (the tied head may be stored once)."""
    own = model.state_dict()
    sd = dict(state_dict)
    sd.setdefault(TIED_KEY, sd.get("tok_emb.weight"))
    missing = sorted(k for k in own if sd.get(k) is None)
    if missing:
        raise ValueError(f"checkpoint {source} lacks tensor {missing[0]!r}; it is incomplete")
    for name, t in sd.items():
        if name not in own:
            raise ValueError(f"checkpoint {source} has tensor {name!r} that the model does not")
        if t.shape != own[name].shape:
            raise ValueError(
                f"checkpoint tensor {name!r} has shape {tuple(t.shape)} but the model's is "
                f"{tuple(own[name].shape)}"
            )
    with torch.no_grad():
        for name, p in own.items():
            p.copy_(sd[name].to(p.dtype))


# ---------------------------------------------------------------- the course's trained model

COURSE_MODEL = "checkpoints/course_model.safetensors"


def load_course_model(device: str | torch.device = "cpu") -> GPTModel:
    """The small GPT-2 trained on Shakespeare that ships with the course, verified and in eval mode.

    Its training command, seed, corpus hash and loss history are in
    ``assets/checkpoints/course_model.json``.
    """
    from ..assets import AssetError, asset_path

    try:
        path = asset_path(COURSE_MODEL)
    except AssetError as e:
        raise AssetError(
            f"the trained course model is not available ({e}); it is produced by "
            f"`python -m course_utils.train --preset course` and shipped in assets/checkpoints/"
        ) from None
    return load_checkpoint(path, device=device)
