"""Named runs: a model shape and training settings for ``python -m course_utils.train --preset NAME``."""

from __future__ import annotations

from ..config import GPTConfig
from .loop import TrainConfig

# "course" is the run that trained the shipped model (assets/checkpoints/).
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
    # The shipped model (assets/checkpoints/course_model.*): 6 blocks of width 320 (5 heads of 64),
    # context 128, dropout 0.15, 7,000 steps of 16 windows of 128 tokens at random offsets (stride 1):
    # 14.3M tokens, about 10 passes over the training plays, with a sample from "ROMEO.\n" every 200
    # steps for the timeline of notebook 10. It returns (and --export writes) the mean of its weights
    # after steps 5,000, 5,200, ..., 7,000 (averaging.py): 4.0904 over every validation window, where
    # the weights after step 7,000 alone score 4.1063. Its evaluations score 160 windows spread over
    # both held-out plays. float32: 4.0 hours on a 2-core Intel Xeon VM without AMX
    # (benchmarks/RESULTS.md, attempt 10). On a CPU with AMX, --precision bf16 takes about half the
    # time (not bit for bit the same run; `benchmarks/bench_train.py --bf16` tells which is faster:
    # on a VM without AMX a bf16 step of this shape takes twice as long). Minutes on a GPU.
    "course": (
        {"context_length": 128, "emb_dim": 320, "n_heads": 5, "n_layers": 6, "drop_rate": 0.15},
        {"max_steps": 7000, "batch_size": 16, "lr": 2e-3, "min_lr": 2e-4, "warmup_steps": 200, "stride": 1,
         "eval_interval": 200, "eval_batches": 10, "eval_spread": True, "checkpoint_interval": 200,
         "average_from": 5000, "average_interval": 200,
         "sample_interval": 200, "sample_tokens": 60, "sample_temperature": 0.8, "sample_top_k": 40,
         "precision": "fp32"},
    ),
}


def preset(name: str) -> tuple[GPTConfig, TrainConfig]:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    model_kw, train_kw = PRESETS[name]
    return GPTConfig(**model_kw), TrainConfig(**train_kw)
