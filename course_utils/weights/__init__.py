"""Weights in and out, one module per source:

* ``checkpoints.py``: the course's own checkpoints (safetensors, no pickle, atomic writes) and
  ``load_course_model()``, the small trained model the course ships;
* ``huggingface.py``: ``load_hf_gpt2_weights``, the import of Hugging Face GPT-2 weights;
* ``gpt2.py``: OpenAI's GPT-2 124M, opt-in: ``python -m course_utils.weights download gpt2``
  fetches it once, ``load_gpt2()`` checks its sha256 and loads it, ``load_gpt2_or_course_model()``
  is the notebooks' switch.
"""

from .checkpoints import (
    EXTRA_PREFIX,
    FORMAT,
    TIED_KEY,
    Checkpoint,
    atomic_write,
    copy_state_into,
    load_checkpoint,
    load_course_model,
    read_checkpoint,
    read_config,
    read_safetensors,
    save_checkpoint,
)
from .gpt2 import GPT2DownloadError, download_gpt2, gpt2_weights_path, load_gpt2, load_gpt2_or_course_model
from .huggingface import load_hf_gpt2_weights

__all__ = [
    "EXTRA_PREFIX",
    "FORMAT",
    "TIED_KEY",
    "Checkpoint",
    "GPT2DownloadError",
    "atomic_write",
    "copy_state_into",
    "download_gpt2",
    "gpt2_weights_path",
    "load_checkpoint",
    "load_course_model",
    "load_gpt2",
    "load_gpt2_or_course_model",
    "load_hf_gpt2_weights",
    "read_checkpoint",
    "read_config",
    "read_safetensors",
    "save_checkpoint",
]
