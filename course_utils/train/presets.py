"""Named runs: a model shape and training settings for ``python -m course_utils.train --preset NAME``."""

from __future__ import annotations

import copy

from ..config import GPTConfig
from .loop import TrainConfig

# "course" is the last run of the shipped model (assets/checkpoints/), below.

# What the runs of the shipped model record besides training: an evaluation of 160 windows spread
# over both held-out plays and a sample from "ROMEO.\n" every 200 steps (notebook 10's timeline).
RECORDED = {"eval_interval": 200, "eval_batches": 10, "eval_spread": True,
            "sample_interval": 200, "sample_tokens": 60, "sample_temperature": 0.8, "sample_top_k": 40}
# The shipped model's shape: course-base trains it, course refines it (init_from needs the same shape).
COURSE_SHAPE = {"context_length": 128, "emb_dim": 320, "n_heads": 5, "n_layers": 6, "drop_rate": 0.15}
PRESETS: dict[str, tuple[dict, dict]] = {
    # (GPTConfig overrides on top of GPT-2 small's vocabulary, TrainConfig fields)
    "tiny": (
        {"context_length": 32, "emb_dim": 64, "n_heads": 4, "n_layers": 2, "drop_rate": 0.0},
        {"max_steps": 30, "batch_size": 8, "lr": 3e-3, "min_lr": 3e-4, "warmup_steps": 5,
         "eval_interval": 10, "eval_batches": 2, "max_train_tokens": 200_000},
    ),
    # The in-class run of notebook 09 (the same settings there): 600 steps of 8 windows of 64 tokens,
    # 307,200 tokens, about 3 minutes on a 2-core CPU. Tuned on the held-out plays at that budget
    # (benchmarks/RESULTS.md): batch 8 beat batch 16 and batch 4, lr 2e-3 beat 1.5e-3 and 3e-3,
    # and 2 blocks beat 4.
    "class": (
        {"context_length": 64, "emb_dim": 128, "n_heads": 4, "n_layers": 2, "drop_rate": 0.0},
        {"max_steps": 600, "batch_size": 8, "lr": 2e-3, "min_lr": 2e-4, "warmup_steps": 60,
         "eval_interval": 100, "eval_batches": 16, "sample_interval": 100, "sample_tokens": 30,
         "sample_temperature": 0.8, "sample_top_k": 40},
    ),
    # The shipped model (assets/checkpoints/course_model.*) comes from four runs: three models trained
    # from scratch, then "course", which refines the first of them with all three as teachers
    # (distill.py). `python -m course_utils.train --preset NAME --export runs/NAME/export.safetensors`
    # for course-base, teacher-256d and teacher-256 (any order), then the same for course.
    #
    # course-base: 6 blocks of width 320 (5 heads of 64), context 128, dropout 0.15, 7,000 steps of
    # 16 windows of 128 tokens at random offsets (stride 1): 14.3M tokens, about 10 passes over the
    # training plays, with a sample from "ROMEO.\n" every 200 steps for the timeline of notebook 10.
    # It returns (and --export writes) the mean of its weights after steps 5,000, 5,200, ..., 7,000
    # (averaging.py): 4.0904 over every validation window, where the weights after step 7,000 alone
    # score 4.1063. Its evaluations score 160 windows spread over both held-out plays. float32: 4.0
    # hours on a 2-core Intel Xeon VM without AMX (benchmarks/RESULTS.md, attempt 10). On a CPU with
    # AMX, --precision bf16 takes about half the time (not bit for bit the same run;
    # `benchmarks/bench_train.py --bf16` tells which is faster: on a VM without AMX a bf16 step of this
    # shape takes twice as long). Minutes on a GPU. It was the shipped model on 2026-12-07, before course.
    "course-base": (
        COURSE_SHAPE,
        {**RECORDED, "max_steps": 7000, "batch_size": 16, "lr": 2e-3, "min_lr": 2e-4, "warmup_steps": 200,
         "stride": 1, "checkpoint_interval": 200, "average_from": 5000, "average_interval": 200,
         "precision": "fp32"},
    ),
    # teacher-256d: 6 blocks of width 256, dropout 0.1, 5,000 steps at random offsets, bf16: 4.1431
    # (RESULTS.md, attempt 7; the shipped model from 2026-12-03 to 2026-12-07).
    "teacher-256d": (
        {"context_length": 128, "emb_dim": 256, "n_heads": 4, "n_layers": 6, "drop_rate": 0.1},
        {**RECORDED, "max_steps": 5000, "batch_size": 16, "lr": 2e-3, "min_lr": 2e-4, "warmup_steps": 200,
         "stride": 1, "checkpoint_interval": 200, "precision": "bf16"},
    ),
    # teacher-256: 6 blocks of width 256, no dropout, 6,400 steps of 8 windows side by side (stride
    # 128), float32: 4.2348 (RESULTS.md, attempt 2; the shipped model from 2026-12-02 to 2026-12-03).
    # Its evaluations scored the first 160 validation windows (eval_spread False).
    "teacher-256": (
        {"context_length": 128, "emb_dim": 256, "n_heads": 4, "n_layers": 6, "drop_rate": 0.0},
        {**RECORDED, "max_steps": 6400, "batch_size": 8, "lr": 2e-3, "min_lr": 2e-4, "warmup_steps": 200,
         "eval_batches": 20, "eval_spread": False, "checkpoint_interval": 50},
    ),
    # course: course-base's exported weights trained 1,200 more steps with the three models above as
    # teachers (the mean of their next-token probabilities; distill_weight 1: the loss is the
    # cross-entropy with the teachers alone), warmup 20 steps to 4e-4, cosine to 5e-5, returning the
    # mean of its weights after steps 400, 450, ..., 1,200. 4.0619 over every validation window (the
    # teachers together: 4.0197; course-base alone: 4.0904). float32: 1.3 hours on the same VM, a step
    # 3.1 s idle (1.8 s of it the student's). RESULTS.md, attempt 11. Shipped since 2026-12-07.
    "course": (
        COURSE_SHAPE,
        {**RECORDED, "max_steps": 1200, "batch_size": 16, "lr": 4e-4, "min_lr": 5e-5, "warmup_steps": 20,
         "stride": 1, "checkpoint_interval": 100, "average_from": 400, "average_interval": 50, "precision": "fp32",
         "init_from": "runs/course-base/export.safetensors",
         "teachers": ["runs/course-base/export.safetensors", "runs/teacher-256d/export.safetensors",
                      "runs/teacher-256/export.safetensors"],
         "distill_weight": 1.0},
    ),
}


def preset(name: str) -> tuple[GPTConfig, TrainConfig]:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    model_kw, train_kw = copy.deepcopy(PRESETS[name])  # a run's lists (teachers) are its own
    return GPTConfig(**model_kw), TrainConfig(**train_kw)
