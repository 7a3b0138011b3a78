"""Distillation: a run can learn from other trained models' predictions as well as from the text.

The loss of notebook 09 scores the model against the one token that came next. A trained model
knows more than that token: for "my good" it gives "lord" 0.4, "friend" 0.1, "master" 0.05, ...
Learning that whole distribution (the *soft targets*) teaches far more per position than the one
right answer, which matters when the text is small and has been read ten times over (Hinton et
al. 2015). The mean of several models' probabilities (an *ensemble*) predicts better than each of
them, because their mistakes differ; distilling it into one model keeps much of that gain in a
single file (Kim et al. 2025, arXiv 2509.14786, on models trained many passes over a fixed text).

With ``TrainConfig.teachers = [path, ...]`` each step's loss is

    (1 - distill_weight) * cross-entropy with the next token
      + distill_weight   * cross-entropy with the teachers' mean probabilities

The second term is the KL divergence from the teachers' distribution to the model's, plus the
teachers' entropy (a constant): its minimum is where the model predicts what the teachers do.
The teachers run in eval mode, without gradients; the student keeps its dropout.
``TrainConfig.init_from`` starts the student from a trained model's weights instead of random
ones, so a run can refine a model with teachers. The history's ``loss`` stays the cross-entropy
with the next token, so curves compare with runs without teachers. Measured: RESULTS.md.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from ..assets import sha256_of
from ..weights import load_checkpoint, read_config


def sources_of(cfg) -> dict:
    """The files a run starts from or learns from, with their sha256: stored in every checkpoint and
    in the exported record, and checked when a run resumes (other files would not continue the run)."""
    out = {}
    if cfg.init_from is not None:
        out["init_from"] = {"path": str(cfg.init_from), "sha256": sha256_of(cfg.init_from)}
    if cfg.teachers:
        out["teachers"] = [{"path": str(p), "sha256": sha256_of(p)} for p in cfg.teachers]
    return out


def check_sources(model_cfg, cfg) -> None:
    """Before training: every teacher and the init_from file exist, are course checkpoints, and fit
    (the same vocabulary; init_from: the same shape as the model trained); a ValueError names the file."""
    for field, path in [("init_from", cfg.init_from)] * (cfg.init_from is not None) + [
            ("teachers", p) for p in cfg.teachers]:
        if not Path(path).is_file():
            raise ValueError(f"TrainConfig.{field}: no model file at {path}; train and export it first "
                             f"(python -m course_utils.train ... --export {path})")
        config = read_config(path)  # the header alone: the tensors are read once, later
        if field == "init_from":
            diffs = config.differences(model_cfg)
            if diffs:
                raise ValueError(f"TrainConfig.init_from: {path} holds another model shape ({'; '.join(diffs)}, "
                                 f"file vs this run); train with the shape it was saved with")
        elif config.vocab_size != model_cfg.vocab_size:
            raise ValueError(f"TrainConfig.teachers: {path} predicts {config.vocab_size} tokens, this model "
                             f"{model_cfg.vocab_size}; a teacher needs the same vocabulary")


class Teachers:
    """The teacher models, in eval mode and without gradients; ``probs(x)`` is the mean of their
    next-token probabilities, (B, T, V) float32."""

    def __init__(self, paths, device: torch.device):
        self.models = [load_checkpoint(p, device=device).requires_grad_(False) for p in paths]

    @torch.no_grad()
    def probs(self, inputs: torch.Tensor) -> torch.Tensor:
        total = None
        for model in self.models:
            p = F.softmax(model(inputs).float(), dim=-1)
            total = p if total is None else total.add_(p)
        return total.div_(len(self.models))


def distill_loss(logits: torch.Tensor, targets: torch.Tensor, teacher_probs: torch.Tensor,
                 weight: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(the loss to minimise, the cross-entropy with the next token): ``weight`` of the loss is the
    cross-entropy with ``teacher_probs`` (B, T, V), the rest the usual one with ``targets`` (B, T)."""
    logp = F.log_softmax(logits.flatten(0, 1).float(), dim=-1)
    hard = F.nll_loss(logp, targets.flatten())
    if weight == 0:
        return hard, hard
    soft = -(teacher_probs.flatten(0, 1) * logp).sum(-1).mean()
    return (1 - weight) * hard + weight * soft, hard
