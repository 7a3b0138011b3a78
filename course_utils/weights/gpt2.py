"""OpenAI's GPT-2 124M, opt-in: downloaded once, checked on every load.

Nothing in the course downloads by itself. A student with internet runs, once::

    python -m course_utils.weights download gpt2      # or: make gpt2

which fetches ``model.safetensors`` and ``config.json`` of ``openai-community/gpt2`` from the
Hugging Face Hub, copies them into ``assets/checkpoints/gpt2-124M/`` (git-ignored; or wherever
the environment variable ``GPT2_WEIGHTS`` points) and records their sha256 in ``SHA256.json``
beside them. ``load_gpt2()`` refuses a file whose sha256 no longer matches that record.
``load_gpt2_or_course_model()`` is the notebooks' switch: GPT-2 when it is there, else the
course model, and a line saying which one it is.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import torch

from .. import assets
from ..config import GPTConfig
from ..model import GPTModel
from .checkpoints import atomic_write, load_course_model
from .huggingface import load_hf_gpt2_weights

__all__ = [
    "GPT2DownloadError",
    "download_gpt2",
    "gpt2_weights_path",
    "load_gpt2",
    "load_gpt2_or_course_model",
]

HF_REPO = "openai-community/gpt2"
FOLDER = "checkpoints/gpt2-124M"  # under assets/
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
HASH_FILE = "SHA256.json"
ENV_VAR = "GPT2_WEIGHTS"
GET_IT = "run `make gpt2` once (needs internet; the same as `python -m course_utils.weights download gpt2`)"


class GPT2DownloadError(RuntimeError):
    """The download failed (no internet, no huggingface_hub, no room): the message says why in one sentence."""


# ---------------------------------------------------------------- where the weights are looked for


def _target() -> Path:
    """Where the weights file goes and is looked for: ``GPT2_WEIGHTS`` (a file or a folder), else the
    assets folder of a checkout, or ``~/.local/share/course_utils`` for an installed (read-only) course."""
    env = os.environ.get(ENV_VAR)
    if env:
        p = Path(env).expanduser()
        return p if p.suffix == ".safetensors" else p / WEIGHTS_FILE
    return assets.user_files_dir() / FOLDER / WEIGHTS_FILE


def _where() -> str:
    """Where ``gpt2_weights_path`` looked, for messages."""
    env = os.environ.get(ENV_VAR)
    return f"{_target()} (from {ENV_VAR}={env})" if env else str(_target())


def gpt2_weights_path() -> Path | None:
    """The downloaded GPT-2 124M safetensors file, or None: ``GPT2_WEIGHTS`` (a file, or a folder
    holding model.safetensors) if set, else ``assets/checkpoints/gpt2-124M/model.safetensors``."""
    path = _target()
    return path if path.is_file() else None


# ---------------------------------------------------------------- the sha256 record


def _hash_file(weights: Path) -> Path:
    return weights.parent / HASH_FILE


def _record_sha256(weights: Path, config: Path | None) -> dict:
    record = {"source": f"https://huggingface.co/{HF_REPO}", WEIGHTS_FILE: assets.sha256_of(weights)}
    if config is not None:
        record[CONFIG_FILE] = assets.sha256_of(config)
    text = json.dumps(record, indent=2) + "\n"
    atomic_write(_hash_file(weights), lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    return record


@cache
def _sha256_checked(path: Path, size: int, mtime_ns: int) -> str:
    # Cached on (size, mtime): a notebook that loads the weights twice hashes 500 MB once.
    return assets.sha256_of(path)


def _verify(weights: Path) -> None:
    """Raise a clear ValueError unless ``weights`` matches the sha256 recorded at download time."""
    record_path = _hash_file(weights)
    try:
        expected = json.loads(record_path.read_text(encoding="utf-8"))[WEIGHTS_FILE]
    except (OSError, ValueError, KeyError, TypeError):
        raise ValueError(
            f"{weights} has no sha256 record ({record_path} is missing or unreadable), so it cannot be "
            f"checked; download it again: {GET_IT}"
        ) from None
    st = weights.stat()
    actual = _sha256_checked(weights.resolve(), st.st_size, st.st_mtime_ns)
    if actual != expected:
        raise ValueError(
            f"{weights} has sha256 {actual}, but {expected} was recorded when it was downloaded: the file "
            f"is damaged or was changed; download it again: {GET_IT}"
        )


# ---------------------------------------------------------------- loading


def _config_of(weights: Path) -> GPTConfig:
    """The model shape from the Hugging Face config.json beside the weights (GPT-2 124M if absent)."""
    cfg_path = weights.parent / CONFIG_FILE
    if not cfg_path.is_file():
        return GPTConfig.from_preset("gpt2-small", drop_rate=0.0)
    hf = json.loads(cfg_path.read_text(encoding="utf-8"))
    return GPTConfig(
        vocab_size=hf["vocab_size"], context_length=hf["n_positions"], emb_dim=hf["n_embd"],
        n_heads=hf["n_head"], n_layers=hf["n_layer"], drop_rate=0.0, qkv_bias=True,
    )


def load_gpt2(device: str | torch.device = "cpu") -> GPTModel:
    """OpenAI's GPT-2 124M from the downloaded weights, checked against their recorded sha256,
    in eval mode on ``device``. Not downloaded: a FileNotFoundError that says how to get it."""
    from ..checks import pick_device

    device = pick_device(device)
    path = gpt2_weights_path()
    if path is None:
        raise FileNotFoundError(f"OpenAI's GPT-2 124M weights are not downloaded (looked for {_where()}); {GET_IT}")
    _verify(path)
    model = GPTModel(_config_of(path))
    load_hf_gpt2_weights(model, path)
    return model.to(device).eval()


COURSE_LINE = (
    "Using the course model (4 layers, trained on Shakespeare). For OpenAI's GPT-2 124M run "
    "`make gpt2` once (needs internet)."
)
GPT2_LINE = "Using OpenAI's GPT-2 124M (downloaded weights). Without them the course model is used."


def load_gpt2_or_course_model(device: str | torch.device = "cpu") -> tuple[GPTModel, str]:
    """The notebooks' switch: (GPT-2 124M, a line saying so) when its weights are downloaded, else
    (the shipped course model, a line saying how to get GPT-2). Changed GPT-2 weights are refused."""
    if gpt2_weights_path() is not None:
        return load_gpt2(device), GPT2_LINE
    model = load_course_model(device)
    return model, COURSE_LINE.replace("4 layers", f"{model.cfg.n_layers} layers")


# ---------------------------------------------------------------- the download (opt-in)


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:200]


def pip_install(package: str) -> str | None:
    """``pip install package`` into this Python; None when it worked, else pip's last line of complaint."""
    res = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", package],
                         capture_output=True, text=True, check=False)
    if res.returncode == 0:
        return None
    lines = [line for line in (res.stderr or res.stdout).splitlines() if line.strip()]
    return lines[-1].strip()[:200] if lines else f"pip exited with {res.returncode}"


def _hub_client(install: bool):
    """``huggingface_hub.hf_hub_download``; with ``install`` (the download command) pip installs it if missing."""
    try:
        from huggingface_hub import hf_hub_download
        return hf_hub_download
    except ImportError:
        if not install:
            raise GPT2DownloadError(
                "downloading GPT-2 needs the huggingface_hub package: install it with `pip install huggingface_hub` "
                "and run this command again"
            ) from None
    print("installing huggingface_hub (the Hugging Face Hub client) with pip...")
    problem = pip_install("huggingface_hub")
    importlib.invalidate_caches()
    try:
        from huggingface_hub import hf_hub_download
        return hf_hub_download
    except ImportError:
        raise GPT2DownloadError(
            f"downloading GPT-2 needs the huggingface_hub package and pip could not install it ({problem}); "
            f"check the internet connection, or run `pip install huggingface_hub` yourself"
        ) from None


def download_gpt2(quiet: bool = False, install: bool = False) -> Path:
    """Download GPT-2 124M (model.safetensors + config.json) once, into ``gpt2_weights_path``'s place,
    and record their sha256. Already there and matching its record: nothing is fetched.
    ``install=True`` (what the download command passes) pip-installs ``huggingface_hub`` if missing.
    Raises ``GPT2DownloadError`` with one sentence when it cannot (no internet, no huggingface_hub)."""
    say = (lambda *a: None) if quiet else print
    target = _target()
    if target.is_file() and _hash_file(target).is_file():
        try:
            _verify(target)
            say(f"GPT-2 124M is already here: {target} (sha256 checked)")
            return target
        except ValueError:
            say(f"{target} does not match its sha256 record: downloading it again")
    hf_hub_download = _hub_client(install)
    say(f"downloading {WEIGHTS_FILE} and {CONFIG_FILE} of {HF_REPO} from the Hugging Face Hub (about 550 MB)...")
    try:
        weights_src = Path(hf_hub_download(HF_REPO, WEIGHTS_FILE))
        config_src = Path(hf_hub_download(HF_REPO, CONFIG_FILE))
    except Exception as e:  # no network, DNS, proxy, HTTP errors: all end the same way for the user
        raise GPT2DownloadError(
            f"could not download GPT-2 from https://huggingface.co/{HF_REPO} ({type(e).__name__}: {_one_line(e)}); "
            f"check the internet connection and run this command again"
        ) from None
    blob = weights_src.resolve().name  # the Hub's cache names a large file by its sha256
    try:
        atomic_write(target, lambda tmp: shutil.copyfile(weights_src, tmp))
        atomic_write(target.parent / CONFIG_FILE, lambda tmp: shutil.copyfile(config_src, tmp))
        record = _record_sha256(target, target.parent / CONFIG_FILE)
    except OSError as e:
        raise GPT2DownloadError(f"could not write the weights to {target.parent} ({_one_line(e)})") from None
    if re.fullmatch(r"[0-9a-f]{64}", blob) and blob != record[WEIGHTS_FILE]:
        target.unlink(missing_ok=True)
        raise GPT2DownloadError(
            f"the downloaded {WEIGHTS_FILE} has sha256 {record[WEIGHTS_FILE]}, not the Hub's {blob}: the "
            f"download was damaged; run this command again"
        )
    say(f"saved {target} (sha256 {record[WEIGHTS_FILE]}, recorded in {_hash_file(target)})")
    return target
