"""The CLI under torchrun with 2 CPU processes (gloo) matches a 1-process run with the same global batch.

DDP averages the gradients of the two halves of every global batch, which is the gradient of
the whole batch: after a few steps the weights of the two runs agree up to float rounding. Each
process takes its half (4 sequences) in 2 micro-batches of 2, so gradient accumulation under DDP
(``no_sync`` for all but the last micro-batch) is what is tested.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from course_utils import read_checkpoint

pytestmark = pytest.mark.ddp

REPO = Path(__file__).resolve().parent.parent
STEPS = 8
ARGS = ["-m", "course_utils.train", "--preset", "tiny", "--max-steps", str(STEPS), "--eval-interval", "4",
        "--device", "cpu"]  # tiny: a global batch of 8 sequences
MICRO = ["--micro-batch-size", "2"]  # 2 processes x 2 micro-batches x 2 sequences


def _run(cmd: list[str], out: Path, extra: list[str] = ()) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
    env.pop("WORLD_SIZE", None)
    proc = subprocess.run([*cmd, *ARGS, *extra, "--out", str(out)], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr[-4000:]}"
    return json.loads((out / "history.json").read_text())


def test_two_processes_in_micro_batches_match_one_process_in_one_pass(tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    assert torchrun.exists(), f"torchrun not found next to {sys.executable}"
    two = _run([str(torchrun), "--nproc_per_node=2", "--standalone"], tmp_path / "two", extra=MICRO)
    one = _run([sys.executable], tmp_path / "one")  # the 8 sequences in one forward pass

    assert [r["world_size"] for r in two["runs"]] == [2] and [r["world_size"] for r in one["runs"]] == [1]
    losses2 = [s["loss"] for s in two["steps"]]
    losses1 = [s["loss"] for s in one["steps"]]
    assert len(losses2) == len(losses1) == STEPS
    assert losses2[-1] < losses2[0] - 0.5  # it learns
    assert losses2 == pytest.approx(losses1, abs=1e-4)  # the loss of the whole global batch, every step
    for e2, e1 in zip(two["evals"], one["evals"], strict=True):
        assert e2["step"] == e1["step"] and e2["tokens"] == e1["tokens"]
        assert e2["val_loss"] == pytest.approx(e1["val_loss"], abs=1e-4)
        assert e2["train_loss"] == pytest.approx(e1["train_loss"], abs=1e-4)

    a = read_checkpoint(tmp_path / "two" / "latest.safetensors")
    b = read_checkpoint(tmp_path / "one" / "latest.safetensors")
    assert a.meta["step"] == b.meta["step"] == STEPS
    assert a.extra_tensors["rng/cpu"].shape[0] == 2  # one random state per process, for an exact resume
    worst = max((a.state_dict[k] - b.state_dict[k]).abs().max().item() for k in b.state_dict)
    assert worst < 1e-4, f"weights differ by up to {worst:.3g}"
    moved = max((a.state_dict[k] - _initial(k, a)).abs().max().item() for k in ("blocks.0.attn.W_query.weight",))
    assert moved > 1e-3  # the comparison is not trivial: training changed the weights


def _initial(name: str, ckpt) -> torch.Tensor:
    from course_utils import GPTModel

    torch.manual_seed(ckpt.meta["train_config"]["seed"])  # train() seeds this before building the model
    return GPTModel(ckpt.config).state_dict()[name]


def test_two_processes_in_micro_batches_resume_exactly(tmp_path):
    """Stopped at step 4 and resumed under torchrun == 8 steps straight, bit for bit: each process
    gets back its own random state (dropout is on, so the two processes' masks differ) and its data."""
    torchrun = [str(Path(sys.executable).with_name("torchrun")), "--nproc_per_node=2", "--standalone"]
    dropout = ["--drop-rate", "0.1", *MICRO]
    _run([*torchrun], tmp_path / "straight", extra=dropout)
    _run([*torchrun], tmp_path / "split", extra=[*dropout, "--stop-at", "4"])
    assert read_checkpoint(tmp_path / "split" / "latest.safetensors").meta["step"] == 4
    history = _run([*torchrun], tmp_path / "split", extra=[*dropout, "--resume"])
    assert [r["from_step"] for r in history["runs"]] == [0, 4]

    a = read_checkpoint(tmp_path / "straight" / "latest.safetensors")
    b = read_checkpoint(tmp_path / "split" / "latest.safetensors")
    assert a.meta["step"] == b.meta["step"] == STEPS
    for name in a.state_dict:
        assert torch.equal(a.state_dict[name], b.state_dict[name]), name
    for name in a.extra_tensors:  # AdamW moments and every process's random state
        assert torch.equal(a.extra_tensors[name], b.extra_tensors[name]), name
    assert a.meta["history"]["steps"] == b.meta["history"]["steps"]
