"""Pretraining, as notebook 09 builds it: settings, the learning-rate schedule, the optimizer, the
loss, evaluation, and the step loop ``train()``.

    python -m course_utils.train --preset class            # a few minutes on a laptop CPU
    torchrun --nproc_per_node=2 -m course_utils.train --preset tiny   # the same with 2 processes

One step: set this step's learning rate, take this step's batch, forward, loss, backward (in
micro-batches whose gradients add up), clip the gradient, optimizer step. The machinery around it
lives beside this file: ``resume`` (checkpoints that continue exactly, Ctrl-C), ``distributed``
(several processes under torchrun), ``cli`` (presets, command line, export).
"""

from __future__ import annotations

import math
import os
import time
from contextlib import nullcontext
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ..checks import check_token_range
from ..data import BatchSchedule, TokenWindows, load_corpus
from ..losses import windows_loss
from ..model import GPTModel
from ..weights import copy_state_into, read_checkpoint
from .averaging import WeightAverage, is_average_step
from .distill import Teachers, check_sources, distill_loss
from .distributed import barrier, gradient_sync, init_distributed, mean_over_processes, wrap_for_training
from .resume import RunFiles, StopOnInterrupt
from .validate import check_stop_at, check_train_config

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
    eval_spread: bool = True  # evaluations score eval_batches * batch_size windows spread evenly over
    # each text (False: the first ones, as the shipped model's run did: only the first play of two)
    sample_interval: int = 0  # steps between printed samples (0: never)
    sample_prompt: str = "ROMEO.\n"
    sample_tokens: int = 40
    sample_temperature: float = 0.0  # 0: greedy; above 0: sampled (seeded, so runs repeat exactly)
    sample_top_k: int | None = None  # with sample_temperature > 0: draw among the k most likely tokens
    checkpoint_interval: int = 0  # steps between checkpoints (0: only at the end, if out_dir is set)
    average_from: int | None = None  # return the mean of the weights after steps average_from,
    average_interval: int = 200  # average_from + average_interval, ... (averaging.py; None: the last weights)
    init_from: str | None = None  # start from this model file's weights instead of random ones (distill.py)
    teachers: list[str] = field(default_factory=list)  # model files whose mean predictions the run learns too
    distill_weight: float = 1.0  # with teachers: the share of the loss taken from them, the rest from the text
    seed: int = 123
    device: str = "auto"  # auto = cuda > mps > cpu
    compile: bool = False  # torch.compile the model
    precision: str = "auto"  # "auto": bf16 autocast on CUDA, float32 elsewhere; "bf16": bf16 autocast on
    # any device (about 2x faster on some CPUs, 0.55x on others: benchmarks/bench_train.py --bf16 and
    # RESULTS.md); "fp32": float32 everywhere. Weights, optimizer and evaluations stay float32.
    max_train_tokens: int | None = None  # use only the first N training tokens (quick runs)

    def __post_init__(self):
        check_train_config(self)  # every field, once, with an error naming it (validate.py)


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


def evaluate(model: GPTModel, windows: TokenWindows, n_batches: int, batch_size: int, device=None,
             spread: bool = True) -> float:
    """Mean loss over ``n_batches`` batches of ``windows``, spread evenly over the text (or with
    ``spread=False`` the first ones), the same every time so evaluations compare, in eval mode:
    ``losses.windows_loss``, the one mean-loss-over-windows of the package."""
    return windows_loss(model, windows, max_windows=n_batches * batch_size, spread=spread, batch_size=batch_size,
                        device=device)


@dataclass
class TrainResult:
    model: GPTModel  # with TrainConfig.average_from: the mean of the weights (averaging.py)
    history: dict = field(default_factory=dict)
    step: int = 0
    averaged: int = 0  # how many steps' weights ``model`` is the mean of (0: the weights after the last step)
    interrupted: bool = False  # stopped early by Ctrl-C (after a checkpoint at ``step``)


# ---------------------------------------------------------------- the loop


def train(
    model_cfg,
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
    """Train a GPTModel from scratch (or from ``cfg.init_from``'s weights, or resume) and return it
    with its loss history. With ``cfg.teachers`` it learns their predictions too (distill.py).

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
    check_stop_at(stop_at)
    d, device = init_distributed(cfg.device)  # d: this process's rank among d.world_size
    train_windows, val_windows = training_windows(model_cfg, cfg, train_ids, val_ids)
    check_sources(model_cfg, cfg)  # init_from and teachers: there, and fit this model
    schedule = BatchSchedule(len(train_windows), cfg.batch_size, cfg.seed, d.rank, d.world_size)
    micro, accum = micro_batches(cfg, d.world_size)  # accum forward passes of micro sequences per step
    run = RunFiles.open(d, model_cfg, cfg, train_windows.ids, out_dir=out_dir, resume=resume, command=command,
                        stop_at=stop_at)  # refuses a checkpoint or folder that cannot hold this run
    history = run.history

    torch.manual_seed(cfg.seed)  # the same initial weights in every process
    model = GPTModel(model_cfg).to(device).train()
    if cfg.init_from is not None:  # a trained model's weights instead (a resumed run then replaces them)
        copy_state_into(model, read_checkpoint(cfg.init_from).state_dict, cfg.init_from)
    teachers = Teachers(cfg.teachers, device) if cfg.teachers else None  # distill.py
    optimizer = make_optimizer(model, cfg, device)
    average = WeightAverage(model) if cfg.average_from is not None else None
    run.restore(model, optimizer, device, average)  # resuming: weights, AdamW state, random state, average
    net = wrap_for_training(model, d, device, cfg.compile)  # DDP under torchrun; the same model otherwise

    tokens_per_step = cfg.batch_size * model_cfg.context_length
    end = cfg.max_steps if stop_at is None else min(stop_at, cfg.max_steps)
    done, t0 = run.start_step, time.perf_counter()
    with (progress_bar(progress and d.main, cfg.max_steps, done) as bar,  # tqdm, on stderr
          StopOnInterrupt(enabled=run.out is not None and not d.active) as interrupt):  # Ctrl-C: finish the step
        for step in range(run.start_step, end):
            lr = lr_at(step, cfg)
            for group in optimizer.param_groups:
                group["lr"] = lr
            x_all, y_all = train_windows.batch(schedule.local_indices(step))  # this process's share of the batch
            loss = torch.zeros((), device=device)
            for m in range(accum):  # gradient accumulation: each backward adds to .grad
                x, y = x_all[m * micro : (m + 1) * micro].to(device), y_all[m * micro : (m + 1) * micro].to(device)
                with gradient_sync(net, d, last=m == accum - 1):  # DDP averages over processes once, at the last
                    with autocast(device, cfg.precision):
                        if teachers is None:
                            objective = next_token = loss_fn(net, x, y)
                        else:  # learn the teachers' predictions too; next_token is still what the curves show
                            objective, next_token = distill_loss(net(x), y, teachers.probs(x), cfg.distill_weight)
                    (objective / accum).backward()
                loss += next_token.detach() / accum
            loss = mean_over_processes(loss, d).item()  # the global batch's loss: read once per step
            if not math.isfinite(loss):  # diverged: stop before the weights (and checkpoints) turn to NaN
                raise run.diverged(loss, step, lr)
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

            done = step + 1
            history["steps"].append({"step": done, "tokens": done * tokens_per_step, "loss": round(loss, 4), "lr": lr})
            bar.set_postfix(loss=f"{loss:.3f}", lr=f"{lr:.2e}")
            bar.update(1)
            if is_average_step(done, cfg):
                average.add(model)
            if cfg.eval_interval and done % cfg.eval_interval == 0 or done == cfg.max_steps:
                evaluate_during_training(model, cfg, done, train_windows, val_windows, micro, history, progress, d,
                                         average)
            if cfg.sample_interval and done % cfg.sample_interval == 0:
                sample_during_training(model, cfg, done, history, progress, d)
            due = cfg.checkpoint_interval and done % cfg.checkpoint_interval == 0 or done == end
            if due or interrupt.requested:  # after Ctrl-C: this step is complete, put it on disk
                run.save(done, model, optimizer, history, average)
            if interrupt.requested:
                print(f"stopped after step {done}; {run.out}/latest.safetensors holds it: continue with --resume",
                      flush=True)
                break
    if d.main and progress and done > run.start_step:
        dt = time.perf_counter() - t0
        print(f"{(done - run.start_step) * tokens_per_step / dt:,.0f} tokens/s over {dt:.0f} s", flush=True)
    model.eval()
    if average is not None and average.n > 0:
        return TrainResult(model=average.model_like(model), history=history, step=done,
                           interrupted=interrupt.requested, averaged=average.n)
    return TrainResult(model=model, history=history, step=done, interrupted=interrupt.requested)


# ---------------------------------------------------------------- around the loop


def evaluate_during_training(model, cfg, step, train_windows, val_windows, micro, history, progress, d,
                             average=None) -> None:
    """Rank 0 scores the same windows whatever the number of processes: eval_batches * batch_size of
    them (spread over each text, ``cfg.eval_spread``), in forward passes of ``micro`` sequences
    (micro divides batch_size). With a weight average under way, its validation loss too."""
    if d.main:
        n_chunks = cfg.eval_batches * (cfg.batch_size // micro)
        tl = evaluate(model, train_windows, n_chunks, micro, spread=cfg.eval_spread)
        vl = evaluate(model, val_windows, n_chunks, micro, spread=cfg.eval_spread)
        tokens = step * cfg.batch_size * train_windows.context_length
        entry = {"step": step, "tokens": tokens, "train_loss": round(tl, 4), "val_loss": round(vl, 4)}
        if average is not None and average.n > 0:
            avl = evaluate(average.model_like(model), val_windows, n_chunks, micro, spread=cfg.eval_spread)
            entry.update(avg_val_loss=round(avl, 4), averaged=average.n)
        history["evals"].append(entry)
        if progress:
            also = f", weight average of {average.n}: val loss {avl:.3f}" if "averaged" in entry else ""
            print(f"step {step}: train loss {tl:.3f}, val loss {vl:.3f}{also}", flush=True)
    barrier(d)


def sample_during_training(model, cfg, step, history, progress, d) -> None:
    if d.main:
        text = sample_text(model, cfg.sample_prompt, cfg.sample_tokens, temperature=cfg.sample_temperature,
                           top_k=cfg.sample_top_k, seed=cfg.seed + step)
        history["samples"].append({"step": step, "text": text})
        if progress:
            print(f"--- sample at step {step} ---\n{text}\n---", flush=True)
    barrier(d)


def sample_text(
    model: GPTModel, prompt: str, n_tokens: int, *, temperature: float = 0.0, top_k: int | None = None, seed: int = 0
) -> str:
    """Continue ``prompt`` (for progress reports while training): greedy by default, or sampled with
    ``temperature`` / ``top_k`` from a generator seeded with ``seed``. The global random state is not
    touched, so taking samples does not change the training run."""
    from ..generate import generate
    from ..tokenizer import ids_to_text, text_to_ids

    ids = text_to_ids(prompt).to(model.device)
    generator = torch.Generator(device=model.device).manual_seed(seed) if temperature > 0 else None
    out = generate(model, ids, n_tokens, temperature=temperature, top_k=top_k, generator=generator)  # in eval mode
    return ids_to_text(out[0])


def training_windows(model_cfg, cfg: TrainConfig, train_ids, val_ids) -> tuple[TokenWindows, TokenWindows]:
    """The windows to train and evaluate on (default: the shipped corpus); an error names the text."""
    if train_ids is None or val_ids is None:
        corpus = load_corpus()
        train_ids = corpus.token_ids("train", cfg.max_train_tokens) if train_ids is None else train_ids
        val_ids = corpus.token_ids("val") if val_ids is None else val_ids
    if cfg.max_train_tokens:
        train_ids = train_ids[: cfg.max_train_tokens]
    windows = []
    for name, ids, stride in (("train_ids", train_ids, cfg.stride), ("val_ids", val_ids, None)):
        try:
            windows.append(TokenWindows(ids, model_cfg.context_length, stride))
            check_token_range(windows[-1].ids, model_cfg.vocab_size)  # once here, not in every forward pass
        except ValueError as e:
            raise ValueError(f"{name}: {e}") from None  # say which of the two texts is the problem
    return windows[0], windows[1]


def micro_batches(cfg: TrainConfig, world_size: int) -> tuple[int, int]:
    """(sequences per forward pass, forward passes per step) for one process."""
    local_batch = cfg.batch_size // world_size
    micro = min(cfg.micro_batch_size or local_batch, local_batch)
    if local_batch % micro:
        raise ValueError(f"per-process batch {local_batch} is not divisible by micro_batch_size {micro}")
    return micro, local_batch // micro


def autocast(device: torch.device, precision: str = "auto"):
    """The forward pass's precision (TrainConfig.precision): bfloat16 matrix products under
    ``torch.autocast`` for "bf16", and for "auto" on CUDA; full float32 otherwise."""
    if precision == "bf16" or (precision == "auto" and device.type == "cuda"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


def progress_bar(show: bool, total: int, initial: int):
    """A tqdm bar on stderr (``disable``d when not shown: every call on it is then a no-op)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc="training", unit="step", disable=not show)
