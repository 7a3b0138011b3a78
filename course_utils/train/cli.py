"""The command line: ``python -m course_utils.train`` (presets, options, resume, export).

    python -m course_utils.train --preset class                 # the in-class run
    python -m course_utils.train --preset class --resume        # continue a stopped run exactly
    python -m course_utils.train --preset course --export runs/course/export.safetensors  # after its 3 teachers

Bad settings, data or checkpoints end in one line naming the problem (exit status 2), not a
traceback; Ctrl-C checkpoints and exits with 130.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

import torch

from ..config import GPTConfig
from ..data import TokenWindows, load_corpus
from ..weights import atomic_write, load_checkpoint, save_checkpoint
from .distill import sources_of
from .distributed import rank_from_env, shutdown, world_size_from_env
from .loop import TrainConfig, TrainResult, evaluate, train
from .presets import PRESETS, preset


def parse_bool(s: str) -> bool:
    if s.lower() in ("1", "true", "yes"):
        return True
    if s.lower() in ("0", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {s!r}")


def parse_paths(s: str) -> list[str]:
    """--teachers a.safetensors,b.safetensors: a comma-separated list of files."""
    return [p for p in s.split(",") if p]


# How the command line reads each setting: --max-steps 7 sets TrainConfig.max_steps = 7. Every
# TrainConfig field has an entry (tests/test_train_cli.py checks), and an option left out keeps
# the preset's value.
TRAIN_OPTIONS: dict[str, Callable[[str], object]] = {
    "max_steps": int, "batch_size": int, "micro_batch_size": int, "lr": float, "min_lr": float,
    "warmup_steps": int, "weight_decay": float, "beta1": float, "beta2": float, "grad_clip": float,
    "stride": int, "eval_interval": int, "eval_batches": int, "eval_spread": parse_bool, "sample_interval": int,
    "sample_prompt": str, "sample_tokens": int, "sample_temperature": float, "sample_top_k": int,
    "checkpoint_interval": int, "average_from": int, "average_interval": int,
    "init_from": str, "teachers": parse_paths, "distill_weight": float,
    "seed": int, "device": str, "compile": parse_bool, "precision": str,
    "max_train_tokens": int,
}
MODEL_OPTIONS: dict[str, Callable[[str], object]] = {
    "context_length": int, "emb_dim": int, "n_heads": int, "n_layers": int, "drop_rate": float,
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m course_utils.train",
        description="Pretrain a GPT-2-style model on the shipped Shakespeare corpus.",
    )
    p.add_argument("--preset", default="class", choices=sorted(PRESETS), help="named run (default: class)")
    p.add_argument("--out", default=None, help="folder for latest.safetensors and history.json (default: runs/PRESET)")
    p.add_argument("--resume", action="store_true", help="continue from <out>/latest.safetensors")
    p.add_argument("--stop-at", type=int, default=None, help="stop after this step (resume later with --resume)")
    p.add_argument("--export", default=None, help="after training, write the model alone (bf16) to this file")
    for name, kind in TRAIN_OPTIONS.items():
        p.add_argument(f"--{name.replace('_', '-')}", type=kind, default=None,
                       help=f"(default from the preset; {name} in TrainConfig)")
    for name, kind in MODEL_OPTIONS.items():
        p.add_argument(f"--{name.replace('_', '-')}", type=kind, default=None,
                       help=f"(default from the preset; {name} in GPTConfig)")
    return p


def configs_from_args(args: argparse.Namespace) -> tuple[GPTConfig, TrainConfig]:
    """The preset's configs with the options given on the command line put in."""
    model_cfg, cfg = preset(args.preset)
    model_over = {k: getattr(args, k) for k in MODEL_OPTIONS if getattr(args, k) is not None}
    train_over = {k: getattr(args, k) for k in TRAIN_OPTIONS if getattr(args, k) is not None}
    return model_cfg.replace(**model_over), dataclasses.replace(cfg, **train_over)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    try:  # bad settings, data or checkpoints: one line naming the problem, not a traceback
        model_cfg, cfg = configs_from_args(args)
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
            print(f"not exported to {args.export}: the run was interrupted; resume it to finish, then export",
                  flush=True)
        elif args.export and rank_from_env() == 0:
            export_model(result, args.export, model_cfg, cfg, command)
    except ValueError as e:  # AssetError (a missing or damaged shipped file) is a ValueError too
        parser.exit(2, f"error: {e}\n")
    if world_size_from_env() > 1:
        del result  # nothing may refer to DDP's process group when it is torn down
        shutdown()
    return 130 if interrupted else 0  # 130: the usual exit status after Ctrl-C


def export_model(result: TrainResult, path, model_cfg: GPTConfig, cfg: TrainConfig, command: str) -> dict:
    """Write the trained model alone (bf16 safetensors) plus a JSON record beside it: the command,
    seed, corpus hash, settings, loss history, and the loss of the exported (bf16) weights on the
    whole validation set and on the first 100k training tokens (with ``average_from``: the weight
    average's, and how many steps it averages). With ``init_from`` and ``teachers`` it names their
    files (path, sha256, what trained each); a model trained on from an export (``init_from``) gets
    that export's history first, its steps counted on (``continued_history``), and ``phases``."""
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
        return round(evaluate(model, TokenWindows(ids, ctx), 10**9, 32), 4)

    record["final"] = {
        "step": result.step,
        "tokens_seen": result.step * cfg.batch_size * ctx,
        "val_loss": full_loss(corpus.token_ids("val")),  # every validation window
        "train_loss": full_loss(corpus.token_ids("train")[:100_000]),  # the first 100k training tokens
    }
    if result.averaged:  # TrainConfig.average_from: the weights are the mean of this many steps' weights
        record["final"]["averaged"] = result.averaged
    record["history"] = result.history
    sources = sources_of(cfg)  # init_from and teachers: which files, and what trained each of them
    for source in [sources.get("init_from")] * ("init_from" in sources) + sources.get("teachers", []):
        source.update(summary(record_beside(source["path"]) or {}))
    if sources:
        record["sources"] = sources
    base = record_beside(cfg.init_from) if cfg.init_from is not None else None
    if base and "history" in base:  # a model trained on: its life so far comes first, steps counted on
        record["phases"] = [*base.get("phases", [summary(base)]), {**summary(record), "final": dict(record["final"])}]
        record["history"] = continued_history(base["history"], result.history, base["final"])
        record["final"]["step"] += base["final"]["step"]
        record["final"]["tokens_seen"] += base["final"]["tokens_seen"]
    atomic_write(path.with_suffix(".json"), lambda tmp: Path(tmp).write_text(json.dumps(record, indent=1) + "\n"))
    print(f"exported {path}: val loss {record['final']['val_loss']}, train loss {record['final']['train_loss']}",
          flush=True)
    return record


def record_beside(model_path) -> dict | None:
    """The JSON record ``export_model`` wrote beside a model file, or None if there is none."""
    path = Path(model_path).with_suffix(".json")
    return json.loads(path.read_text()) if path.is_file() else None


def summary(record: dict) -> dict:
    """What trained a model, from its record: the command, shapes, settings and final losses."""
    return {k: record[k] for k in ("command", "model_config", "train_config", "final") if k in record}


def continued_history(before: dict, after: dict, before_final: dict) -> dict:
    """One history for a model trained in two runs, the second started from the first's export
    (``init_from``): the second run's steps, evaluations, samples and invocations numbered on from
    the first's last step and token, so a curve or timeline shows the model's whole training."""
    step0, tokens0 = before_final["step"], before_final["tokens_seen"]

    def moved(entry: dict) -> dict:
        entry = dict(entry)
        for key in ("step", "from_step", "to_step"):
            if key in entry:
                entry[key] += step0
        if "tokens" in entry:
            entry["tokens"] += tokens0
        return entry

    return {key: list(before.get(key, [])) + [moved(e) for e in after.get(key, [])]
            for key in dict.fromkeys([*before, *after])}
