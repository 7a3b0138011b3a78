"""Checkpoints that lose nothing: what ``train()`` writes, and how a run continues from it exactly.

What a checkpoint holds (one safetensors file, written atomically): the model, the AdamW state,
the step (which fixes the learning rate and the data position, see ``data.BatchSchedule``), the
random-number-generator state of every process, the training settings and the loss history.
Resuming from it continues exactly: on the CPU, N steps + resume + N steps gives bitwise the same
weights as 2N steps straight (``tests/test_train.py``; under torchrun ``tests/test_ddp.py``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import signal
import tempfile
import threading
import time
from pathlib import Path

import torch

from ..checks import machine_name
from ..config import GPTConfig
from ..weights import atomic_write, copy_state_into, read_checkpoint, save_checkpoint
from .distill import sources_of
from .distributed import Dist, barrier, gather_rng_states, restore_rng_states

# Settings that decide what a run computes: a resumed run must use the checkpoint's values, or
# it would not continue the same run. (micro_batch_size changes only the order in which the
# gradient is summed, but then the weights differ in the last bits: not an exact continuation.
# max_steps may change: that extends or shortens the schedule on purpose; the rest, e.g.
# eval/sample/checkpoint intervals or the device, may differ.)
RESUME_MUST_MATCH = (
    "batch_size", "micro_batch_size", "lr", "min_lr", "warmup_steps", "weight_decay", "beta1", "beta2",
    "grad_clip", "stride", "seed", "max_train_tokens", "eval_spread",  # eval_spread: one kind of curve per run
    "average_from", "average_interval",  # the weight average a run returns
    "init_from", "teachers", "distill_weight",  # where the weights start, what else they learn (distill.py)
)


def data_fingerprint(ids: torch.Tensor) -> dict:
    """Length and sha256 of a token stream: a resumed run must train on exactly the same tokens."""
    ids = ids.long().contiguous()
    return {"tokens": len(ids), "sha256": hashlib.sha256(ids.numpy().tobytes()).hexdigest()}


def _optimizer_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    sd = opt.state_dict()
    tensors = {}
    for idx, state in sd["state"].items():
        for key, value in state.items():
            tensors[f"optim/{idx}/{key}"] = torch.as_tensor(value)
    return tensors, {"param_groups": sd["param_groups"]}


def _optimizer_state(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict] = {}
    for name, value in tensors.items():
        if name.startswith("optim/"):
            _, idx, key = name.split("/", 2)
            state.setdefault(int(idx), {})[key] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def save_training_checkpoint(
    path, model, optimizer, step, train_cfg, history, rng_states, command=None, train_data=None, average=None,
    sources=None,
) -> Path:
    """``rng_states``: from ``distributed.gather_rng_states``, {"rng/cpu": (world_size, n), maybe
    "rng/cuda"}; ``train_data``: ``data_fingerprint`` of the training tokens, ``sources``:
    ``distill.sources_of`` the init_from and teacher files (both checked on resume);
    ``average``: the run's ``averaging.WeightAverage``, if it keeps one."""
    opt_tensors, opt_meta = _optimizer_tensors(optimizer)
    extra = {**opt_tensors, **rng_states}
    if average is not None:
        extra.update(average.tensors())
    meta = {
        "kind": "training",
        "step": step,
        "train_config": dataclasses.asdict(train_cfg),
        "optimizer": opt_meta,
        "history": history,
        "command": command,
        "train_data": train_data,
    }
    if sources:
        meta["sources"] = sources
    if average is not None:
        meta["average_n"] = average.n
    return save_checkpoint(model, path, meta=meta, extra_tensors=extra)


def check_resumable(ckpt, path, model_cfg: GPTConfig, cfg, train_data: dict | None = None,
                    sources: dict | None = None) -> None:
    """Raise a ValueError naming the field when ``ckpt`` cannot continue this run."""
    meta = ckpt.meta
    if meta.get("kind") != "training":
        raise ValueError(
            f"{path} is a model checkpoint (weights only), not a training checkpoint: it holds no optimizer "
            f"state, step or random state, so it cannot be resumed; resume from <out>/latest.safetensors"
        )
    missing = [k for k in ("step", "history", "optimizer", "train_config") if k not in meta]
    if missing or "rng/cpu" not in ckpt.extra_tensors:
        what = missing[0] if missing else "rng/cpu"
        raise ValueError(f"{path} is damaged or incomplete (no {what!r}); resume from an earlier checkpoint")
    diffs = ckpt.config.differences(model_cfg, ignore=())
    if diffs:
        raise ValueError(
            f"cannot resume from {path}: it was trained with another model config ({'; '.join(diffs)}, "
            f"checkpoint vs this run); use the same preset/config, or start a new run in another out_dir"
        )
    saved, now = meta["train_config"], dataclasses.asdict(cfg)
    diffs = [f"{k}: {saved[k]} vs {now[k]}" for k in RESUME_MUST_MATCH if k in saved and saved[k] != now[k]]
    if diffs:
        raise ValueError(
            f"cannot resume from {path}: it was trained with other training settings ({'; '.join(diffs)}, "
            f"checkpoint vs this run); resume with the same settings, or start a new run in another out_dir"
        )
    saved_data = meta.get("train_data")  # absent in checkpoints written before it was recorded
    if saved_data and train_data and saved_data != train_data:
        raise ValueError(
            f"cannot resume from {path}: it was trained on other training tokens ({saved_data['tokens']:,} tokens, "
            f"sha256 {saved_data['sha256'][:12]}…) than this run gives it ({train_data['tokens']:,}, "
            f"{train_data['sha256'][:12]}…); resume with the same data, or start a new run in another out_dir"
        )
    for what, saved_file in _files(meta.get("sources", {})):
        now_file = dict(_files(sources or {})).get(what)
        if now_file is not None and now_file["sha256"] != saved_file["sha256"]:
            raise ValueError(
                f"cannot resume from {path}: {what} {now_file['path']} is not the file the run started with (sha256 "
                f"{now_file['sha256'][:12]}…, was {saved_file['sha256'][:12]}…); put that file back, or start a new "
                f"run in another out_dir"
            )
    if saved.get("precision", "auto") != cfg.precision:
        print(f"note: precision changed from {saved.get('precision', 'auto')} to {cfg.precision}: the run "
              f"continues, but not bit for bit as it would have", flush=True)
    if saved.get("max_steps", cfg.max_steps) != cfg.max_steps:
        print(f"note: max_steps changed from {saved['max_steps']} to {cfg.max_steps}: the learning-rate "
              f"schedule continues on the new length", flush=True)


def _files(sources: dict) -> list[tuple[str, dict]]:
    """(what, {"path", "sha256"}) for each file in ``distill.sources_of``'s dict: init_from, teacher 1, ..."""
    files = [("init_from", sources["init_from"])] if "init_from" in sources else []
    return files + [(f"teacher {i}", t) for i, t in enumerate(sources.get("teachers", []), 1)]


def check_out_dir(out: Path, resuming: bool) -> None:
    """Before training: refuse to overwrite a run, and make sure checkpoints can be written to ``out``."""
    if not resuming and (out / "latest.safetensors").exists():
        raise ValueError(
            f"{out}/latest.safetensors exists; pass resume={str(out / 'latest.safetensors')!r} to continue "
            f"it, or another out_dir (nothing was overwritten)"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as e:
        raise ValueError(f"cannot write checkpoints to {out}: {e}; pass another --out (out_dir)") from None


class RunFiles:
    """The files of one run: the checkpoint it resumes from (if any) and the ``out_dir`` it writes,
    with the step and history to continue from. ``RunFiles.open`` refuses, before anything is
    trained or written, a checkpoint that cannot continue this run and a folder that cannot hold it."""

    def __init__(self, d: Dist, cfg, out: Path | None, resume, ckpt, command: str | None, train_data: dict | None,
                 sources: dict | None = None):
        self.d, self.cfg, self.out, self.resume, self.ckpt = d, cfg, out, resume, ckpt
        self.command, self.train_data, self.sources = command, train_data, sources
        self.started = time.perf_counter()  # this invocation's wall time, recorded by ``save``
        self.start_step = ckpt.meta["step"] if ckpt is not None else 0
        self.history = ckpt.meta["history"] if ckpt is not None else {"steps": [], "evals": [], "samples": []}
        self.last_good = (resume, self.start_step) if resume is not None else None  # the newest checkpoint

    @classmethod
    def open(cls, d: Dist, model_cfg: GPTConfig, cfg, train_ids: torch.Tensor, *, out_dir, resume, command,
             stop_at) -> RunFiles:
        # The training tokens' fingerprint, stored in checkpoints and checked on resume (only hashed then).
        train_data = data_fingerprint(train_ids) if out_dir is not None or resume is not None else None
        sources = sources_of(cfg) if out_dir is not None or resume is not None else None
        ckpt = None
        if resume is not None:
            ckpt = read_checkpoint(resume)
            check_resumable(ckpt, resume, model_cfg, cfg, train_data, sources)
            if stop_at is not None and stop_at <= ckpt.meta["step"]:
                raise ValueError(f"stop_at={stop_at}, but {resume} is already at step {ckpt.meta['step']}; pass a "
                                 f"later stop_at, or none to train on to max_steps ({cfg.max_steps})")
        out = Path(out_dir) if out_dir is not None else None
        if out is not None and d.main:
            check_out_dir(out, resuming=resume is not None)
        run = cls(d, cfg, out, resume, ckpt, command, train_data, sources)
        # Every invocation that contributed to this run: what ran, where, and (filled in by ``save``)
        # the step it reached and its wall time, so a record says how long the whole run took.
        run.history.setdefault("runs", []).append({"command": command, "from_step": run.start_step,
                                                   "threads": torch.get_num_threads(), "world_size": d.world_size,
                                                   "machine": machine_name()})
        return run

    def restore(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, device: torch.device,
                average=None) -> None:
        """Weights, AdamW state, weight average and this process's random state from the checkpoint;
        for a new run, a random state per process (dropout differs per process)."""
        if self.ckpt is None:
            torch.manual_seed(self.cfg.seed + self.d.rank)
            return
        copy_state_into(model, self.ckpt.state_dict, self.resume)
        try:
            opt_state = _optimizer_state(self.ckpt.extra_tensors, self.ckpt.meta["optimizer"])
            indices = {i for g in opt_state["param_groups"] for i in g["params"]}
            if self.start_step > 0 and set(opt_state["state"]) != indices:
                raise ValueError(f"state for {len(opt_state['state'])} of {len(indices)} parameters")
            optimizer.load_state_dict(opt_state)
        except (KeyError, ValueError, RuntimeError, IndexError, TypeError) as e:
            raise ValueError(
                f"{self.resume} is damaged or incomplete: its optimizer state does not fit the model ({e}); "
                f"resume from an earlier checkpoint or start a new run"
            ) from None
        if average is not None:
            if "average_n" in self.ckpt.meta:
                average.load(self.ckpt.extra_tensors, self.ckpt.meta["average_n"], self.resume)
            elif self.start_step >= self.cfg.average_from:
                raise ValueError(
                    f"{self.resume} was saved at step {self.start_step} without a weight average, so averaging "
                    f"from step {self.cfg.average_from} cannot continue it; resume without average_from, or "
                    f"with an average_from after step {self.start_step}"
                )
        restore_rng_states(self.ckpt.extra_tensors, self.d, device, self.cfg.seed + 1000 * self.start_step)
        self.ckpt = None  # the tensors are in the model and optimizer now: free the copy

    def save(self, step: int, model, optimizer, history: dict, average=None) -> None:
        """Write ``latest.safetensors`` and ``history.json`` (rank 0, atomically); every process
        takes part, and none moves on (or exits) before the files are on disk."""
        rng = gather_rng_states(self.d)  # a collective: every process takes part
        this_run = history["runs"][-1]
        this_run["to_step"], this_run["wall_s"] = step, round(time.perf_counter() - self.started, 1)
        if self.d.main and self.out is not None:
            path = self.out / "latest.safetensors"
            save_training_checkpoint(path, model, optimizer, step, self.cfg, history, rng, self.command,
                                     self.train_data, average, self.sources)
            atomic_write(self.out / "history.json", lambda tmp: Path(tmp).write_text(json.dumps(history, indent=1)))
        if self.out is not None:
            self.last_good = (self.out / "latest.safetensors", step)
        barrier(self.d)

    def diverged(self, loss: float, step: int, lr: float) -> ValueError:
        """The error for a loss that became NaN or infinite at ``step`` (0-based)."""
        kept = "no checkpoint had been written"
        if self.last_good is not None:
            kept = f"the last good checkpoint, {self.last_good[0]} (step {self.last_good[1]}), was kept"
        return ValueError(f"the loss became {loss} at step {step + 1} (lr {lr:.3g}): training diverged; "
                          f"{kept}; lower --lr (TrainConfig.lr) and start again")


class StopOnInterrupt:
    """While a one-process run with an out_dir trains: the first Ctrl-C (SIGINT) lets the current
    step finish, then the loop writes a checkpoint and stops, so nothing is lost and ``--resume``
    continues exactly; a second Ctrl-C stops at once. Elsewhere (torchrun, no out_dir, not the
    main thread) Ctrl-C behaves as usual."""

    def __init__(self, enabled: bool):
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.requested = False
        self._previous = None

    def _handler(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\ninterrupted: finishing this step, then writing a checkpoint (Ctrl-C again to stop at once)",
              flush=True)

    def __enter__(self):
        if self.enabled:
            self._previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc) -> None:
        if self.enabled:
            signal.signal(signal.SIGINT, self._previous)
