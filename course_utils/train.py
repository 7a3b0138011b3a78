"""Pretraining: the loop, evaluation, checkpoints that lose nothing, a CLI, and DDP.

    python -m course_utils.train --preset class            # a few minutes on a laptop CPU
    torchrun --nproc_per_node=2 -m course_utils.train --preset tiny   # the same with 2 processes

What a checkpoint holds (one safetensors file, written atomically): the model, the AdamW state,
the step (which fixes the learning rate and the data position, see ``data.BatchSchedule``), the
random-number-generator state of every process, the training settings and the loss history.
Resuming from it continues exactly: on the CPU, N steps + resume + N steps gives bitwise the same
weights as 2N steps straight (``tests/test_train.py``).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import os
import shlex
import signal
import sys
import tempfile
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from .checks import check_device_name, check_sampling, is_finite_number, is_whole_number, pick_device
from .config import GPTConfig
from .data import BatchSchedule, TokenWindows, load_corpus
from .model import GPTModel, eval_mode
from .weights import atomic_write, copy_state_into, load_checkpoint, read_checkpoint, save_checkpoint

# ---------------------------------------------------------------- settings


@dataclass
class TrainConfig:
    """Everything that decides a training run besides the model's shape."""

    max_steps: int = 200
    batch_size: int = 16  # sequences per optimizer step, summed over processes and accumulation
    micro_batch_size: int | None = None  # sequences per forward pass per process (None: all at once)
    lr: float = 6e-4  # peak learning rate
    min_lr: float = 6e-5  # where the cosine decay ends
    warmup_steps: int = 20
    weight_decay: float = 0.1  # on weight matrices only
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0  # max global gradient norm (0: off)
    stride: int | None = None  # window stride (None: context_length, no overlap)
    eval_interval: int = 50  # steps between evaluations (0: only at the end)
    eval_batches: int = 10  # batches averaged per evaluation
    sample_interval: int = 0  # steps between printed samples (0: never)
    sample_prompt: str = "ROMEO.\n"
    sample_tokens: int = 40
    sample_temperature: float = 0.0  # 0: greedy; above 0: sampled (seeded, so runs repeat exactly)
    sample_top_k: int | None = None  # with sample_temperature > 0: draw among the k most likely tokens
    checkpoint_interval: int = 0  # steps between checkpoints (0: only at the end, if out_dir is set)
    seed: int = 123
    device: str = "auto"  # auto = cuda > mps > cpu
    compile: bool = False  # torch.compile the model
    max_train_tokens: int | None = None  # use only the first N training tokens (quick runs)

    def __post_init__(self):
        for name in ("max_steps", "batch_size", "warmup_steps", "eval_batches"):
            v = getattr(self, name)
            if not is_whole_number(v) or v < (0 if name == "warmup_steps" else 1):
                raise ValueError(f"TrainConfig.{name} must be a positive whole number, got {v!r}")
        for name in ("eval_interval", "sample_interval", "checkpoint_interval", "sample_tokens"):
            v = getattr(self, name)
            if not is_whole_number(v) or v < 0:
                raise ValueError(f"TrainConfig.{name} must be a whole number >= 0, got {v!r}")
        for name in ("micro_batch_size", "stride", "max_train_tokens"):
            v = getattr(self, name)
            if v is not None and (not is_whole_number(v) or v <= 0):
                raise ValueError(f"TrainConfig.{name} must be a positive whole number or None, got {v!r}")
        micro = self.micro_batch_size
        if micro is not None and (micro <= 0 or self.batch_size % micro):
            raise ValueError(
                f"micro_batch_size ({self.micro_batch_size}) must be positive and divide batch_size ({self.batch_size})"
            )
        if not (is_finite_number(self.lr) and is_finite_number(self.min_lr)):
            raise ValueError(f"lr and min_lr must be finite numbers, got lr={self.lr!r}, min_lr={self.min_lr!r}")
        if not 0 < self.min_lr <= self.lr:
            raise ValueError(f"need 0 < min_lr <= lr, got min_lr={self.min_lr}, lr={self.lr}")
        for name in ("weight_decay", "grad_clip"):
            v = getattr(self, name)
            if not is_finite_number(v) or v < 0:
                raise ValueError(f"TrainConfig.{name} must be a number >= 0 (0: off), got {v!r}")
        for name in ("beta1", "beta2"):
            v = getattr(self, name)
            if not is_finite_number(v) or not 0 <= v < 1:
                raise ValueError(f"TrainConfig.{name} must be a number with 0 <= {name} < 1, got {v!r}")
        try:
            check_sampling(self.sample_temperature, self.sample_top_k, None)
        except ValueError as e:
            raise ValueError(f"TrainConfig sample_temperature / sample_top_k: {e}") from None
        if not isinstance(self.sample_prompt, str) or not self.sample_prompt:
            raise ValueError(f"TrainConfig.sample_prompt must be a non-empty string, got {self.sample_prompt!r}")
        if not is_whole_number(self.seed):
            raise ValueError(f"TrainConfig.seed must be a whole number, got {self.seed!r}")
        if not isinstance(self.compile, bool):
            raise ValueError(f"TrainConfig.compile must be True or False, got {self.compile!r}")
        check_device_name(self.device)


# Named runs. "course" is the command that trained the shipped model (assets/checkpoints/).
PRESETS: dict[str, tuple[dict, dict]] = {
    # (GPTConfig overrides on top of GPT-2 small's vocabulary, TrainConfig fields)
    "tiny": (
        {"context_length": 32, "emb_dim": 64, "n_heads": 4, "n_layers": 2, "drop_rate": 0.0},
        {"max_steps": 30, "batch_size": 8, "lr": 3e-3, "min_lr": 3e-4, "warmup_steps": 5,
         "eval_interval": 10, "eval_batches": 2, "max_train_tokens": 200_000},
    ),
    "class": (
        {"context_length": 64, "emb_dim": 128, "n_heads": 4, "n_layers": 2, "drop_rate": 0.0},
        {"max_steps": 300, "batch_size": 16, "lr": 2e-3, "min_lr": 2e-4, "warmup_steps": 30,
         "eval_interval": 50, "eval_batches": 8, "sample_interval": 100},
    ),
    "course": (
        {"context_length": 128, "emb_dim": 256, "n_heads": 4, "n_layers": 4, "drop_rate": 0.0},
        {"max_steps": 2000, "batch_size": 16, "lr": 2e-3, "min_lr": 2e-4, "warmup_steps": 100,
         "eval_interval": 100, "eval_batches": 10, "checkpoint_interval": 50},
    ),
}


def preset(name: str) -> tuple[GPTConfig, TrainConfig]:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    model_kw, train_kw = PRESETS[name]
    return GPTConfig(**model_kw), TrainConfig(**train_kw)


# ---------------------------------------------------------------- pieces of the loop


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warmup to ``lr``, then cosine decay to ``min_lr`` at ``max_steps``."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps))
    return cfg.min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (cfg.lr - cfg.min_lr)


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    """AdamW; weight decay only on matrices (embeddings and linear weights), not biases or norms."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    fused = device.type in ("cuda", "cpu")
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), fused=fused)


def loss_fn(model: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy over every position of the batch."""
    logits = model(inputs)  # (B, T, V)
    return F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten())


@torch.no_grad()
def evaluate(model: GPTModel, windows: TokenWindows, n_batches: int, batch_size: int, device) -> float:
    """Mean loss over the first ``n_batches`` batches of ``windows`` (fixed, so evaluations compare)."""
    n = min(len(windows), n_batches * batch_size)
    losses = []
    with eval_mode(model):
        for start in range(0, n, batch_size):
            x, y = windows.batch(range(start, min(n, start + batch_size)))
            with _autocast(device):
                losses.append(loss_fn(model, x.to(device), y.to(device)).item() * len(x))
    return sum(losses) / n


def _autocast(device: torch.device):
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


# ---------------------------------------------------------------- distributed helpers


@dataclass
class Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


def init_distributed(device_name: str = "auto") -> tuple[Dist, torch.device]:
    """Read torchrun's environment; join the process group (gloo on CPU, NCCL on CUDA)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Dist(), pick_device(device_name)
    import torch.distributed as dist

    d = Dist(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    device = pick_device(device_name)
    if device.type == "cuda":
        torch.cuda.set_device(d.local_rank)
        device = torch.device("cuda", d.local_rank)
    if not dist.is_initialized():
        # On GPUs NCCL carries the gradients; gloo carries the few CPU tensors (the logged loss, RNG
        # states), which NCCL alone cannot.
        dist.init_process_group(backend="cpu:gloo,cuda:nccl" if device.type == "cuda" else "gloo")
    return d, device


def _gather_rng_states(d: Dist) -> dict[str, torch.Tensor]:
    """Every process's RNG states (CPU, and CUDA when used), each stacked (world_size, n):
    dropout masks differ per process."""
    states = {"rng/cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["rng/cuda"] = torch.cuda.get_rng_state()  # the current GPU's, a CPU tensor
    if not d.active:
        return {k: v.unsqueeze(0) for k, v in states.items()}
    import torch.distributed as dist

    gathered = {}
    for name, state in states.items():
        out = [torch.empty_like(state) for _ in range(d.world_size)]
        dist.all_gather(out, state)
        gathered[name] = torch.stack(out)
    return gathered


# ---------------------------------------------------------------- checkpoints


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
    path, model, optimizer, step, train_cfg, history, rng_states, command=None, train_data=None
) -> Path:
    """``rng_states``: from ``_gather_rng_states``, {"rng/cpu": (world_size, n), maybe "rng/cuda"};
    ``train_data``: ``data_fingerprint`` of the training tokens (checked on resume)."""
    opt_tensors, opt_meta = _optimizer_tensors(optimizer)
    extra = {**opt_tensors, **rng_states}
    meta = {
        "kind": "training",
        "step": step,
        "train_config": dataclasses.asdict(train_cfg),
        "optimizer": opt_meta,
        "history": history,
        "command": command,
        "train_data": train_data,
    }
    return save_checkpoint(model, path, meta=meta, extra_tensors=extra)


# Settings that decide what a run computes: a resumed run must use the checkpoint's values, or
# it would not continue the same run. (micro_batch_size changes only the order in which the
# gradient is summed, but then the weights differ in the last bits: not an exact continuation.
# max_steps may change: that extends or shortens the schedule on purpose; the rest, e.g.
# eval/sample/checkpoint intervals or the device, may differ.)
RESUME_MUST_MATCH = (
    "batch_size", "micro_batch_size", "lr", "min_lr", "warmup_steps", "weight_decay", "beta1", "beta2",
    "grad_clip", "stride", "seed", "max_train_tokens",
)


def data_fingerprint(ids: torch.Tensor) -> dict:
    """Length and sha256 of a token stream: a resumed run must train on exactly the same tokens."""
    ids = ids.long().contiguous()
    return {"tokens": len(ids), "sha256": hashlib.sha256(ids.numpy().tobytes()).hexdigest()}


def _check_resumable(ckpt, path, model_cfg: GPTConfig, cfg: TrainConfig, train_data: dict | None = None) -> None:
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
    if saved.get("max_steps", cfg.max_steps) != cfg.max_steps:
        _log(f"note: max_steps changed from {saved['max_steps']} to {cfg.max_steps}: the learning-rate "
             f"schedule continues on the new length")


# ---------------------------------------------------------------- the loop


@dataclass
class TrainResult:
    model: GPTModel
    history: dict = field(default_factory=dict)
    step: int = 0
    interrupted: bool = False  # stopped early by Ctrl-C (after a checkpoint at ``step``)


class _StopOnInterrupt:
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
        _log("\ninterrupted: finishing this step, then writing a checkpoint (Ctrl-C again to stop at once)")

    def __enter__(self):
        if self.enabled:
            self._previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc) -> None:
        if self.enabled:
            signal.signal(signal.SIGINT, self._previous)


def train(
    model_cfg: GPTConfig,
    cfg: TrainConfig,
    *,
    train_ids: torch.Tensor | None = None,
    val_ids: torch.Tensor | None = None,
    out_dir: str | os.PathLike | None = None,
    resume: str | os.PathLike | None = None,
    progress: bool = True,
    command: str | None = None,
    stop_at: int | None = None,
) -> TrainResult:
    """Train a GPTModel from scratch (or resume) and return it with its loss history.

    ``train_ids`` / ``val_ids``: 1-D token streams (default: the shipped Shakespeare corpus).
    ``out_dir``: where ``latest.safetensors`` (rolling checkpoint) and ``history.json`` go; a
    folder that already holds a run is refused unless ``resume`` is given (nothing is overwritten).
    ``resume``: a checkpoint written by this function; the run continues exactly where it was.
    ``stop_at``: stop after this step (checkpointing there) although the schedule runs to
    ``max_steps``; resuming later continues exactly as if the run had never stopped.
    Under ``torchrun`` every process calls this; rank 0 alone writes files and prints.
    A loss that turns NaN or infinite stops the run with a ValueError before it updates the weights
    or overwrites a checkpoint.
    """
    if stop_at is not None and (not is_whole_number(stop_at) or stop_at < 1):
        raise ValueError(f"stop_at must be a whole number >= 1 (the step to stop after), got {stop_at!r}")
    d, device = init_distributed(cfg.device)
    if train_ids is None or val_ids is None:
        corpus = load_corpus()
        train_ids = corpus.token_ids("train", cfg.max_train_tokens) if train_ids is None else train_ids
        val_ids = corpus.token_ids("val") if val_ids is None else val_ids
    if cfg.max_train_tokens:
        train_ids = train_ids[: cfg.max_train_tokens]
    train_windows = _windows("train_ids", train_ids, model_cfg.context_length, cfg.stride)
    val_windows = _windows("val_ids", val_ids, model_cfg.context_length)
    # The training tokens' fingerprint, stored in checkpoints and checked on resume (only hashed then).
    train_data = data_fingerprint(train_windows.ids) if out_dir is not None or resume is not None else None
    schedule = BatchSchedule(len(train_windows), cfg.batch_size, cfg.seed, d.rank, d.world_size)
    local_batch = cfg.batch_size // d.world_size
    micro = min(cfg.micro_batch_size or local_batch, local_batch)
    if local_batch % micro:
        raise ValueError(f"per-process batch {local_batch} is not divisible by micro_batch_size {micro}")
    accum = local_batch // micro

    start_step, history = 0, {"steps": [], "evals": [], "samples": []}
    ckpt = None
    if resume is not None:
        ckpt = read_checkpoint(resume)
        _check_resumable(ckpt, resume, model_cfg, cfg, train_data)
        start_step, history = ckpt.meta["step"], ckpt.meta["history"]
        if stop_at is not None and stop_at <= start_step:
            raise ValueError(f"stop_at={stop_at}, but {resume} is already at step {start_step}; pass a later "
                             f"stop_at, or none to train on to max_steps ({cfg.max_steps})")
    out = Path(out_dir) if out_dir is not None else None
    if out is not None and d.main:
        _check_out_dir(out, resuming=resume is not None)
    # Every invocation that contributed to this run, with the thread count it ran at.
    history.setdefault("runs", []).append(
        {"command": command, "from_step": start_step, "threads": torch.get_num_threads(), "world_size": d.world_size}
    )

    torch.manual_seed(cfg.seed)  # the same initial weights in every process
    model = GPTModel(model_cfg).to(device)
    if ckpt is not None:
        copy_state_into(model, ckpt.state_dict, resume)
    model.train()
    optimizer = make_optimizer(model, cfg, device)
    if ckpt is not None:
        try:
            opt_state = _optimizer_state(ckpt.extra_tensors, ckpt.meta["optimizer"])
            indices = {i for g in opt_state["param_groups"] for i in g["params"]}
            if start_step > 0 and set(opt_state["state"]) != indices:
                raise ValueError(f"state for {len(opt_state['state'])} of {len(indices)} parameters")
            optimizer.load_state_dict(opt_state)
        except (KeyError, ValueError, RuntimeError, IndexError, TypeError) as e:
            raise ValueError(
                f"{resume} is damaged or incomplete: its optimizer state does not fit the model ({e}); "
                f"resume from an earlier checkpoint or start a new run"
            ) from None
        states = ckpt.extra_tensors["rng/cpu"]
        if states.shape[0] == d.world_size:
            torch.set_rng_state(states[d.rank].clone())
        else:
            torch.manual_seed(cfg.seed + 1000 * start_step + d.rank)
        cuda_states = ckpt.extra_tensors.get("rng/cuda")
        if cuda_states is not None and device.type == "cuda":
            if cuda_states.dim() == 1:  # written by an older version: one state, rank 0's
                torch.cuda.set_rng_state(cuda_states)
            elif cuda_states.shape[0] == d.world_size:
                torch.cuda.set_rng_state(cuda_states[d.rank].clone())
            else:  # another number of processes: a fresh, deterministic state per process
                torch.cuda.manual_seed(cfg.seed + 1000 * start_step + d.rank)
    else:
        torch.manual_seed(cfg.seed + d.rank)  # dropout differs per process

    net = model
    if d.active:
        from torch.nn.parallel import DistributedDataParallel as DDP

        net = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
    if cfg.compile:
        net = torch.compile(net)

    def checkpoint(step: int) -> None:
        rng = _gather_rng_states(d)  # a collective: every process takes part
        if d.main and out is not None:
            save_training_checkpoint(
                out / "latest.safetensors", model, optimizer, step, cfg, history, rng, command, train_data
            )
            atomic_write(out / "history.json", lambda tmp: Path(tmp).write_text(json.dumps(history, indent=1)))
        _barrier(d)  # no process moves on (or exits) before the checkpoint is on disk

    def run_eval(step: int) -> None:
        if d.main:
            tokens = step * cfg.batch_size * model_cfg.context_length
            # The same windows whatever the number of processes: eval_batches * batch_size of them,
            # in forward passes of micro sequences (micro divides batch_size).
            n_chunks = cfg.eval_batches * (cfg.batch_size // micro)
            tl = evaluate(model, train_windows, n_chunks, micro, device)
            vl = evaluate(model, val_windows, n_chunks, micro, device)
            entry = {"step": step, "tokens": tokens, "train_loss": round(tl, 4), "val_loss": round(vl, 4)}
            history["evals"].append(entry)
            if progress:
                _log(f"step {step}: train loss {tl:.3f}, val loss {vl:.3f}")
        _barrier(d)

    def run_sample(step: int) -> None:
        if d.main:
            text = sample_text(model, cfg.sample_prompt, cfg.sample_tokens, temperature=cfg.sample_temperature,
                               top_k=cfg.sample_top_k, seed=cfg.seed + step)
            history["samples"].append({"step": step, "text": text})
            if progress:
                _log(f"--- sample at step {step} ---\n{text}\n---")
        _barrier(d)

    bar = None
    if progress and d.main:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.max_steps, initial=start_step, desc="training", unit="step")
    tokens_per_step = cfg.batch_size * model_cfg.context_length
    last_good = (resume, start_step) if resume is not None else None  # the newest checkpoint of this run
    end = cfg.max_steps if stop_at is None else min(stop_at, cfg.max_steps)
    t0 = time.perf_counter()
    done = start_step
    interrupt = _StopOnInterrupt(enabled=out is not None and not d.active)
    with interrupt:
        for step in range(start_step, end):
            lr = lr_at(step, cfg)
            for group in optimizer.param_groups:
                group["lr"] = lr
            x_all, y_all = train_windows.batch(schedule.local_indices(step))
            loss_sum = 0.0
            for m in range(accum):
                x = x_all[m * micro : (m + 1) * micro].to(device)
                y = y_all[m * micro : (m + 1) * micro].to(device)
                sync = nullcontext() if (not d.active or m == accum - 1) else net.no_sync()
                with sync, _autocast(device):
                    loss = loss_fn(net, x, y) / accum
                with sync:
                    loss.backward()
                loss_sum += loss.item()
            loss_sum = _mean_over_processes(loss_sum, d)  # the loss of the global batch, for the log
            if not math.isfinite(loss_sum):  # diverged: stop before the weights (and checkpoints) turn to NaN
                if bar is not None:
                    bar.close()
                kept = "no checkpoint had been written"
                if last_good is not None:
                    kept = f"the last good checkpoint, {last_good[0]} (step {last_good[1]}), was kept"
                raise ValueError(f"the loss became {loss_sum} at step {step + 1} (lr {lr:.3g}): training diverged; "
                                 f"{kept}; lower --lr (TrainConfig.lr) and start again")
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            done = step + 1
            history["steps"].append(
                {"step": done, "tokens": done * tokens_per_step, "loss": round(loss_sum, 4), "lr": lr}
            )
            if bar is not None:
                bar.set_postfix(loss=f"{loss_sum:.3f}", lr=f"{lr:.2e}")
                bar.update(1)
            if cfg.eval_interval and done % cfg.eval_interval == 0 or done == cfg.max_steps:
                run_eval(done)
            if cfg.sample_interval and done % cfg.sample_interval == 0:
                run_sample(done)
            due = cfg.checkpoint_interval and done % cfg.checkpoint_interval == 0 or done == end
            if due or interrupt.requested:  # after Ctrl-C: this step is complete, put it on disk
                checkpoint(done)
                if out is not None:
                    last_good = (out / "latest.safetensors", done)
            if interrupt.requested:
                _log(f"stopped after step {done}; {out}/latest.safetensors holds it: continue with --resume")
                break
    if bar is not None:
        bar.close()
    if d.main and progress and done > start_step:
        dt = time.perf_counter() - t0
        _log(f"{(done - start_step) * tokens_per_step / dt:,.0f} tokens/s over {dt:.0f} s")
    model.eval()
    return TrainResult(model=model, history=history, step=done, interrupted=interrupt.requested)


def sample_text(
    model: GPTModel, prompt: str, n_tokens: int, *, temperature: float = 0.0, top_k: int | None = None, seed: int = 0
) -> str:
    """Continue ``prompt`` (for progress reports while training): greedy by default, or sampled with
    ``temperature`` / ``top_k`` from a generator seeded with ``seed``. The global random state is not
    touched, so taking samples does not change the training run."""
    from .generate import generate
    from .tokenizer import ids_to_text, text_to_ids

    ids = text_to_ids(prompt).to(model.device)
    generator = torch.Generator(device=model.device).manual_seed(seed) if temperature > 0 else None
    out = generate(model, ids, n_tokens, temperature=temperature, top_k=top_k, generator=generator)  # in eval mode
    return ids_to_text(out[0])


def export_model(result: TrainResult, path, model_cfg: GPTConfig, cfg: TrainConfig, command: str) -> dict:
    """Write the trained model alone (bf16 safetensors) plus a JSON record beside it: the command,
    seed, corpus hash, settings, loss history, and the loss of the exported (bf16) weights on the
    whole validation set and on the first 100k training tokens."""
    corpus = load_corpus()
    path = Path(path)
    record = {
        "command": command,
        "seed": cfg.seed,
        "corpus_sha256": corpus.sha256,
        "train_plays": list(corpus.train_plays),
        "val_plays": list(corpus.val_plays),
        "model_config": model_cfg.to_dict(),
        "train_config": dataclasses.asdict(cfg),
        "torch": torch.__version__,
    }
    save_checkpoint(result.model, path, meta={"record": record}, dtype=torch.bfloat16)
    model = load_checkpoint(path)  # measure what ships: the bf16-rounded weights
    ctx = model_cfg.context_length
    def full_loss(ids: torch.Tensor) -> float:
        return round(evaluate(model, TokenWindows(ids, ctx), 10**9, 32, model.device), 4)

    record["final"] = {
        "step": result.step,
        "tokens_seen": result.step * cfg.batch_size * ctx,
        "val_loss": full_loss(corpus.token_ids("val")),  # every validation window
        "train_loss": full_loss(corpus.token_ids("train")[:100_000]),  # the first 100k training tokens
    }
    record["history"] = result.history
    atomic_write(path.with_suffix(".json"), lambda tmp: Path(tmp).write_text(json.dumps(record, indent=1) + "\n"))
    _log(f"exported {path}: val loss {record['final']['val_loss']}, train loss {record['final']['train_loss']}")
    return record


def _windows(name: str, ids, context_length: int, stride: int | None = None) -> TokenWindows:
    try:
        return TokenWindows(ids, context_length, stride)
    except ValueError as e:
        raise ValueError(f"{name}: {e}") from None  # say which of the two texts is the problem


def _check_out_dir(out: Path, resuming: bool) -> None:
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


def _mean_over_processes(value: float, d: Dist) -> float:
    if not d.active:
        return value
    import torch.distributed as dist

    t = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(t)
    return t.item() / d.world_size


def _barrier(d: Dist) -> None:
    if d.active:
        import torch.distributed as dist

        dist.barrier()


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- CLI


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m course_utils.train",
        description="Pretrain a GPT-2-style model on the shipped Shakespeare corpus.",
    )
    p.add_argument("--preset", default="class", choices=sorted(PRESETS), help="named run (default: class)")
    p.add_argument("--out", default=None, help="folder for latest.safetensors and history.json (default: runs/PRESET)")
    p.add_argument("--resume", action="store_true", help="continue from <out>/latest.safetensors")
    p.add_argument("--stop-at", type=int, default=None, help="stop after this step (resume later with --resume)")
    p.add_argument("--export", default=None, help="after training, write the model alone (bf16) to this file")
    types = {"int": int, "int | None": int, "float": float, "str": str, "bool": _bool}
    for f in dataclasses.fields(TrainConfig):
        p.add_argument(f"--{f.name.replace('_', '-')}", type=types[f.type], default=None,
                       help=f"(default from the preset; {f.name} in TrainConfig)")
    for name in ("context_length", "emb_dim", "n_heads", "n_layers", "drop_rate"):
        p.add_argument(f"--{name.replace('_', '-')}", type=float if name == "drop_rate" else int, default=None)
    return p


def _bool(s: str) -> bool:
    if s.lower() in ("1", "true", "yes"):
        return True
    if s.lower() in ("0", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {s!r}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = _parser()
    args = parser.parse_args(argv)
    try:  # bad settings, data or checkpoints: one line naming the problem, not a traceback
        model_cfg, cfg = preset(args.preset)
        model_over = {k: getattr(args, k) for k in ("context_length", "emb_dim", "n_heads", "n_layers", "drop_rate")}
        model_cfg = model_cfg.replace(**{k: v for k, v in model_over.items() if v is not None})
        train_over = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)}
        cfg = dataclasses.replace(cfg, **{k: v for k, v in train_over.items() if v is not None})
        out = Path(args.out or f"runs/{args.preset}")
        resume = out / "latest.safetensors" if args.resume else None
        if resume is not None and not resume.exists():
            raise SystemExit(f"--resume: no checkpoint at {resume}")
        if resume is None and (out / "latest.safetensors").exists():
            raise SystemExit(
                f"{out}/latest.safetensors exists; pass --resume to continue it, or --out another folder "
                f"(nothing was overwritten)"
            )
        command = "python -m course_utils.train " + shlex.join(argv)
        result = train(model_cfg, cfg, out_dir=out, resume=resume, command=command, stop_at=args.stop_at)
        interrupted = result.interrupted
        if args.export and interrupted:
            _log(f"not exported to {args.export}: the run was interrupted; resume it to finish, then export")
        elif args.export and int(os.environ.get("RANK", "0")) == 0:
            export_model(result, args.export, model_cfg, cfg, command)
    except ValueError as e:  # AssetError (a missing or damaged shipped file) is a ValueError too
        parser.exit(2, f"error: {e}\n")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        import gc

        import torch.distributed as dist

        # Shut down together, once nothing refers to the process group any more: a process that
        # tore it down while the other was still writing, or with DDP's gloo work still alive,
        # could abort at exit ("terminate called without an active exception", seen once in CI).
        del result
        gc.collect()
        dist.barrier()
        dist.destroy_process_group()
    return 130 if interrupted else 0  # 130: the usual exit status after Ctrl-C


if __name__ == "__main__":
    sys.exit(main())
