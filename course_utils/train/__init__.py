"""Pretraining: the loop of notebook 09 in front (``loop.py``), its machinery beside it.

    loop.py         TrainConfig, lr_at, make_optimizer, loss_fn, evaluate, train: what notebook 09 builds
    resume.py       checkpoints that continue a run exactly, refusing ones that cannot; Ctrl-C
    averaging.py    the mean of the weights at several late steps (TrainConfig.average_from)
    distill.py      learning from trained models' predictions too (TrainConfig.teachers, init_from)
    distributed.py  several processes under torchrun (DDP)
    presets.py      named runs (tiny, class, and the four runs of the shipped model: course-base,
                    teacher-256d, teacher-256, then course)
    cli.py          python -m course_utils.train, and export of a trained model
    validate.py     TrainConfig's argument checks

Importing this package tunes glibc's malloc (``course_utils.allocator``): freed logits buffers are
reused instead of unmapped and faulted in again every step (1.4x the tokens/s of the class run on
a 2-core CPU); ``COURSE_NO_MALLOC_TUNING=1`` switches it off, and it does nothing off glibc.
"""

from ..allocator import tune_allocator
from .cli import export_model, main
from .distributed import Dist, init_distributed
from .loop import TrainConfig, TrainResult, evaluate, loss_fn, lr_at, make_optimizer, sample_text, train
from .presets import PRESETS, preset
from .resume import RESUME_MUST_MATCH, data_fingerprint, save_training_checkpoint

tune_allocator()  # every way a student trains imports this package: notebooks 09-10, the CLI, torchrun

__all__ = [
    "PRESETS",
    "RESUME_MUST_MATCH",
    "Dist",
    "TrainConfig",
    "TrainResult",
    "data_fingerprint",
    "evaluate",
    "export_model",
    "init_distributed",
    "loss_fn",
    "lr_at",
    "main",
    "make_optimizer",
    "preset",
    "sample_text",
    "save_training_checkpoint",
    "train",
]
