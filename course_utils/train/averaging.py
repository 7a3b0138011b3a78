"""Weight averaging: a run can hand back the mean of its weights at several late steps.

Late in a run AdamW still takes steps of a real size, so the weights wander around the bottom of
a valley of the loss instead of sitting in it; the mean of several points along that walk lies
nearer the bottom than any one of them (stochastic weight averaging, Izmailov et al. 2018; on
language models, Kaddour 2022 and Sanyal et al. 2023). With ``TrainConfig.average_from = S`` and
``average_interval = k`` the run keeps the mean of its weights after steps S, S + k, S + 2k, ...
up to ``max_steps``: a running mean, stored in every checkpoint, so a resumed run continues it
exactly. Training itself is unchanged (the optimizer steps the same weights); evaluations score
the mean too (``avg_val_loss``), and the run returns and exports the mean.

The same mean can be taken afterwards from a run's saved checkpoints (``average_checkpoints``):
the same arithmetic in the same order gives the same tensors, bit for bit (``tests/test_train.py``).
Measured on the course model's run: benchmarks/RESULTS.md, attempt 10.
"""

from __future__ import annotations

import copy
import os

import torch

from ..model import GPTModel
from ..weights import TIED_KEY, load_checkpoint

PREFIX = "average/"  # the running mean's tensors in a training checkpoint: average/<parameter name>


def is_average_step(step: int, cfg) -> bool:
    """Whether the weights after ``step`` (1-based, as counted by the loop) go into the mean."""
    return (cfg.average_from is not None and step >= cfg.average_from
            and (step - cfg.average_from) % cfg.average_interval == 0)


class WeightAverage:
    """The running mean of a model's floating-point weights: ``add`` a model's weights, ``n`` of them so
    far; ``mean`` holds float32 copies (the tied output head once, as tok_emb.weight).
    mean += (w - mean) / n, so the first ``add`` copies w exactly."""

    def __init__(self, model: torch.nn.Module):
        self.n = 0
        self.mean = {name: torch.zeros_like(t, dtype=torch.float32)
                     for name, t in model.state_dict().items() if t.is_floating_point() and name != TIED_KEY}

    @torch.no_grad()
    def add(self, model: torch.nn.Module) -> None:
        self.n += 1
        state = model.state_dict()
        for name, m in self.mean.items():
            m.add_(state[name].detach().float() - m, alpha=1.0 / self.n)

    def tensors(self) -> dict[str, torch.Tensor]:
        """For a training checkpoint: ``average/<name>`` tensors."""
        return {PREFIX + name: t for name, t in self.mean.items()}

    def load(self, extra_tensors: dict[str, torch.Tensor], n: int, source) -> None:
        """Continue the mean saved in a checkpoint (``n`` weights in it so far)."""
        for name, m in self.mean.items():
            if PREFIX + name not in extra_tensors:
                raise ValueError(f"{source} is damaged or incomplete: its weight average has no {name!r}; "
                                 f"resume from an earlier checkpoint or start a new run")
            m.copy_(extra_tensors[PREFIX + name])
        self.n = n

    @torch.no_grad()
    def model_like(self, model: GPTModel) -> GPTModel:
        """A copy of ``model`` that holds the mean (in eval mode; the tied head follows tok_emb)."""
        averaged = copy.deepcopy(model).eval()
        state = averaged.state_dict()
        for name, m in self.mean.items():
            state[name].copy_(m)
        return averaged


def average_checkpoints(paths: list[str | os.PathLike]) -> tuple[GPTModel, int]:
    """The mean of the weights in ``paths`` (checkpoints of one run, in the order of their steps),
    with the arithmetic of the loop's running mean: ``--average-from S --average-interval k`` gives the
    same tensors as averaging that run's checkpoints at steps S, S + k, ... (returns the model, in
    eval mode, and how many were averaged)."""
    if not paths:
        raise ValueError("average_checkpoints needs at least one checkpoint")
    first = load_checkpoint(paths[0])
    average = WeightAverage(first)
    average.add(first)
    for path in paths[1:]:
        model = load_checkpoint(path)
        if model.cfg != first.cfg:
            raise ValueError(f"{path} holds another model config than {paths[0]}: average checkpoints of one run")
        average.add(model)
    return average.model_like(first), average.n
