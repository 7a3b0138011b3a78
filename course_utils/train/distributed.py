"""Several processes, one run (DDP): joining the process group, averaging, shared random state.

    torchrun --nproc_per_node=2 -m course_utils.train --preset tiny

Each process trains on its own share of every global batch (``data.BatchSchedule``);
``DistributedDataParallel`` averages the gradients, so every process takes the same optimizer
step. Nothing here is needed for a one-process run: every helper is then a no-op.
"""

from __future__ import annotations

import os
from contextlib import nullcontext
from dataclasses import dataclass

import torch

from ..checks import pick_device


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
        # On GPUs NCCL carries the gradients; gloo carries the few CPU tensors (RNG states), which
        # NCCL alone cannot.
        dist.init_process_group(backend="cpu:gloo,cuda:nccl" if device.type == "cuda" else "gloo")
    return d, device


def wrap_for_training(model: torch.nn.Module, d: Dist, device: torch.device, compile: bool) -> torch.nn.Module:
    """The module the loop calls: ``model`` itself, in DDP when several processes train, compiled if asked.
    The optimizer and checkpoints keep using ``model``: the wrappers share its parameters."""
    net = model
    if d.active:
        from torch.nn.parallel import DistributedDataParallel as DDP

        net = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
    if compile:
        net = torch.compile(net)
    return net


def gradient_sync(net: torch.nn.Module, d: Dist, last: bool):
    """A context for the forward and backward pass of one micro-batch. DDP averages gradients across
    processes during backward; over the micro-batches of one step that is needed once, at the last:
    the others run under ``no_sync`` and only add to ``.grad``. (One ``no_sync()`` per ``with``: it
    is a generator context manager and cannot be entered twice.)"""
    if not d.active or last:
        return nullcontext()
    return net.no_sync()


def mean_over_processes(value: torch.Tensor, d: Dist) -> torch.Tensor:
    """The mean of a scalar tensor over all processes (``value`` itself in a one-process run)."""
    if not d.active:
        return value
    import torch.distributed as dist

    total = value.detach().clone()
    dist.all_reduce(total)
    return total / d.world_size


def barrier(d: Dist) -> None:
    """Wait until every process arrives here."""
    if d.active:
        import torch.distributed as dist

        dist.barrier()


def gather_rng_states(d: Dist) -> dict[str, torch.Tensor]:
    """Every process's RNG states (CPU, and CUDA when used), each stacked (world_size, n):
    dropout masks differ per process. A collective: every process must call it."""
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


def restore_rng_states(states: dict[str, torch.Tensor], d: Dist, device: torch.device, fallback_seed: int) -> None:
    """Give this process back its random state from ``gather_rng_states``' output. Saved by another
    number of processes: a fresh, deterministic state per process (``fallback_seed + rank``)."""
    cpu = states["rng/cpu"]
    if cpu.shape[0] == d.world_size:
        torch.set_rng_state(cpu[d.rank].clone())
    else:
        torch.manual_seed(fallback_seed + d.rank)
    cuda = states.get("rng/cuda")
    if cuda is not None and device.type == "cuda":
        if cuda.dim() == 1:  # written by an older version: one state, rank 0's
            torch.cuda.set_rng_state(cuda)
        elif cuda.shape[0] == d.world_size:
            torch.cuda.set_rng_state(cuda[d.rank].clone())
        else:
            torch.cuda.manual_seed(fallback_seed + d.rank)


def world_size_from_env() -> int:
    """How many processes torchrun started (1 without torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank_from_env() -> int:
    return int(os.environ.get("RANK", "0"))


def shutdown() -> None:
    """Leave the process group together, once nothing refers to it any more: a process that tore it
    down while another was still writing, or with DDP's gloo work still alive, could abort at exit
    ("terminate called without an active exception", seen once in CI)."""
    import gc

    import torch.distributed as dist

    gc.collect()
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
