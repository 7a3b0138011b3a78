"""The checks of ``TrainConfig``: each setting once, when the config is made, with an error that
names the field and what it takes."""

from __future__ import annotations

from ..checks import check_device_name, check_sampling, is_finite_number, is_whole_number

PRECISIONS = ("auto", "fp32", "bf16")


def check_train_config(cfg) -> None:
    """Raise a ValueError naming the first ``TrainConfig`` field that cannot work."""
    for name in ("max_steps", "batch_size", "warmup_steps", "eval_batches", "average_interval"):
        v = getattr(cfg, name)
        if not is_whole_number(v) or v < (0 if name == "warmup_steps" else 1):
            raise ValueError(f"TrainConfig.{name} must be a positive whole number, got {v!r}")
    for name in ("eval_interval", "sample_interval", "checkpoint_interval", "sample_tokens"):
        v = getattr(cfg, name)
        if not is_whole_number(v) or v < 0:
            raise ValueError(f"TrainConfig.{name} must be a whole number >= 0, got {v!r}")
    if cfg.average_from is not None and (not is_whole_number(cfg.average_from)
                                         or not 1 <= cfg.average_from <= cfg.max_steps):
        raise ValueError(f"TrainConfig.average_from must be a step from 1 to max_steps ({cfg.max_steps}) or None, "
                         f"got {cfg.average_from!r}")
    for name in ("micro_batch_size", "stride", "max_train_tokens"):
        v = getattr(cfg, name)
        if v is not None and (not is_whole_number(v) or v <= 0):
            raise ValueError(f"TrainConfig.{name} must be a positive whole number or None, got {v!r}")
    micro = cfg.micro_batch_size
    if micro is not None and (micro <= 0 or cfg.batch_size % micro):
        raise ValueError(
            f"micro_batch_size ({cfg.micro_batch_size}) must be positive and divide batch_size ({cfg.batch_size})"
        )
    if not (is_finite_number(cfg.lr) and is_finite_number(cfg.min_lr)):
        raise ValueError(f"lr and min_lr must be finite numbers, got lr={cfg.lr!r}, min_lr={cfg.min_lr!r}")
    if not 0 < cfg.min_lr <= cfg.lr:
        raise ValueError(f"need 0 < min_lr <= lr, got min_lr={cfg.min_lr}, lr={cfg.lr}")
    for name in ("weight_decay", "grad_clip"):
        v = getattr(cfg, name)
        if not is_finite_number(v) or v < 0:
            raise ValueError(f"TrainConfig.{name} must be a number >= 0 (0: off), got {v!r}")
    for name in ("beta1", "beta2"):
        v = getattr(cfg, name)
        if not is_finite_number(v) or not 0 <= v < 1:
            raise ValueError(f"TrainConfig.{name} must be a number with 0 <= {name} < 1, got {v!r}")
    try:
        check_sampling(cfg.sample_temperature, cfg.sample_top_k, None)
    except ValueError as e:
        raise ValueError(f"TrainConfig sample_temperature / sample_top_k: {e}") from None
    if not isinstance(cfg.sample_prompt, str) or not cfg.sample_prompt:
        raise ValueError(f"TrainConfig.sample_prompt must be a non-empty string, got {cfg.sample_prompt!r}")
    if not is_whole_number(cfg.seed):
        raise ValueError(f"TrainConfig.seed must be a whole number, got {cfg.seed!r}")
    for name in ("compile", "eval_spread"):
        if not isinstance(getattr(cfg, name), bool):
            raise ValueError(f"TrainConfig.{name} must be True or False, got {getattr(cfg, name)!r}")
    if cfg.precision not in PRECISIONS:
        raise ValueError(f"TrainConfig.precision must be one of {', '.join(map(repr, PRECISIONS))}, "
                         f"got {cfg.precision!r}")
    check_device_name(cfg.device)
    if cfg.init_from is not None and (not isinstance(cfg.init_from, str) or not cfg.init_from):
        raise ValueError(f"TrainConfig.init_from must be the path of a model file or None, got {cfg.init_from!r}")
    if not isinstance(cfg.teachers, list) or not all(isinstance(p, str) and p for p in cfg.teachers):
        raise ValueError(f"TrainConfig.teachers must be a list of model file paths (empty: no teachers), "
                         f"got {cfg.teachers!r}")
    if not is_finite_number(cfg.distill_weight) or not 0 <= cfg.distill_weight <= 1:
        raise ValueError(f"TrainConfig.distill_weight must be a number from 0 (only the text) to 1 (only the "
                         f"teachers), got {cfg.distill_weight!r}")


def check_stop_at(stop_at) -> None:
    if stop_at is not None and (not is_whole_number(stop_at) or stop_at < 1):
        raise ValueError(f"stop_at must be a whole number >= 1 (the step to stop after), got {stop_at!r}")
