"""Training on a CPU with and without course_utils.allocator.tune_allocator(), each run in its own process.

    .venv/bin/python benchmarks/bench_allocator.py               # class model, 3 interleaved rounds of 10 steps
    .venv/bin/python benchmarks/bench_allocator.py --smoke       # tiny model, 1 round of 2 steps: does it run?
    .venv/bin/python benchmarks/bench_allocator.py --variants today,tuned,env,issue-env,transformers

Each run is a fresh child process that trains ``--preset class``'s model (2 layers, width 128,
ctx 64, batch 8; batch 16 before the preset was retuned) for a few steps the way course_utils.train
does (its loss_fn, its fused AdamW, gradient clipping), after untimed warm-up steps. The variants:

    today         the default allocator (COURSE_NO_MALLOC_TUNING=1, no MALLOC_* variables)
    tuned         tune_allocator() called right after import, as the training entry points do
    tuned-early   tune_allocator() called before torch is imported (the allocator module loaded by path)
    env           MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=4 GiB set before the process starts
    issue-env     MALLOC_MMAP_THRESHOLD_ and MALLOC_TRIM_THRESHOLD_ set very high (issue 14's try)
    transformers  transformers.GPT2LMHeadModel, same shape and step, run as it runs by default

Minor page faults and user/sys CPU of the timed steps come from the child's getrusage(RUSAGE_SELF);
the whole child (imports, model, data) from the parent's getrusage(RUSAGE_CHILDREN). Those counts
hold on a busy machine; tokens/s does not, so rounds alternate the order of the variants and the
table shows the median round.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
GiB = 2**30
ENV_TUNING = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(4 * GiB)}
VARIANTS = {  # name: (extra environment, when the child calls tune_allocator(), model)
    "today": ({"COURSE_NO_MALLOC_TUNING": "1"}, "never", "ours"),
    "tuned": ({}, "after-import", "ours"),
    "tuned-early": ({}, "before-torch", "ours"),
    "env": ({"COURSE_NO_MALLOC_TUNING": "1", **ENV_TUNING}, "never", "ours"),
    "issue-env": ({"COURSE_NO_MALLOC_TUNING": "1", "MALLOC_MMAP_THRESHOLD_": str(16 * GiB),
                   "MALLOC_TRIM_THRESHOLD_": str(16 * GiB)}, "never", "ours"),
    "transformers": ({"COURSE_NO_MALLOC_TUNING": "1"}, "never", "transformers"),
}


# ---------------------------------------------------------------- the child: one training run


def child(args) -> None:
    if args.tune == "before-torch":  # load course_utils/allocator.py alone: course_utils itself imports torch
        import importlib.util

        spec = importlib.util.spec_from_file_location("allocator", HERE.parent / "course_utils" / "allocator.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        assert module.tune_allocator(), "tune_allocator() did not apply on this machine"
    elif args.tune == "after-import":
        from course_utils.allocator import tune_allocator

        assert tune_allocator(), "tune_allocator() did not apply on this machine"
    import torch
    from common import hf_model  # benchmarks/common.py

    import course_utils as cu
    from course_utils.data import TokenWindows, load_corpus
    from course_utils.train import loss_fn, make_optimizer, preset

    torch.set_num_threads(args.threads)
    model_cfg, cfg = preset("class")
    if args.smoke:
        model_cfg, cfg = preset("tiny")
    torch.manual_seed(0)
    class Logits(torch.nn.Module):  # transformers' model, called like ours: ids in, logits out
        def __init__(self, hf):
            super().__init__()
            self.hf = hf

        def forward(self, x):
            return self.hf(input_ids=x).logits

    model = (cu.GPTModel(model_cfg) if args.model == "ours" else Logits(hf_model(model_cfg))).train()
    opt = make_optimizer(model, cfg, torch.device("cpu"))
    n = args.warmup + args.steps
    ids = load_corpus().token_ids("train", max_tokens=n * cfg.batch_size * model_cfg.context_length + 1)
    windows = TokenWindows(ids, model_cfg.context_length)
    data = [windows.batch(range(i * cfg.batch_size, (i + 1) * cfg.batch_size)) for i in range(n)]

    def step(x, y):  # what course_utils.train.train does each step on a CPU
        loss = loss_fn(model, x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()

    for x, y in data[: args.warmup]:
        step(x, y)
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    for x, y in data[args.warmup :]:
        step(x, y)
    dt, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({
        "tokens_per_s": args.steps * cfg.batch_size * model_cfg.context_length / dt,
        "user_s": r1.ru_utime - r0.ru_utime, "sys_s": r1.ru_stime - r0.ru_stime,
        "minflt": r1.ru_minflt - r0.ru_minflt, "maxrss_mib": r1.ru_maxrss / 1024,  # Linux: KiB
    }))


# ---------------------------------------------------------------- the parent: rounds of children


def run_child(name: str, args) -> dict:
    extra, tune, model = VARIANTS[name]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "COURSE_NO_MALLOC_TUNING"}
    env.update(extra)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--model", model, "--threads", str(args.threads),
           "--steps", str(args.steps), "--warmup", str(args.warmup)]
    cmd += ["--tune", tune] + ["--smoke"] * args.smoke
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(cmd, cwd=HERE, env=env, capture_output=True, text=True, timeout=1200)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"variant {name!r} failed:\n{proc.stderr[-3000:]}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res.update(proc_user_s=after.ru_utime - before.ru_utime, proc_sys_s=after.ru_stime - before.ru_stime,
               proc_minflt=after.ru_minflt - before.ru_minflt)
    return res


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variants", default="today,tuned,env", help=f"comma-separated, of {', '.join(VARIANTS)}")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    p.add_argument("--steps", type=int, default=10, help="timed training steps per run (default 10)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--smoke", action="store_true", help="tiny model, 1 round of 2 steps: checks the script runs")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--tune", default="never", help=argparse.SUPPRESS)
    p.add_argument("--model", default="ours", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.threads is None:
        import torch

        args.threads = torch.get_num_threads()
    if args.child:
        return child(args)
    if args.smoke:
        args.rounds, args.steps, args.warmup = 1, 2, 1
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        sys.exit(f"unknown variant(s) {', '.join(unknown)}: choose from {', '.join(VARIANTS)}")

    runs: dict[str, list[dict]] = {v: [] for v in names}
    for i in range(args.rounds):
        for name in names if i % 2 == 0 else names[::-1]:
            runs[name].append(run_child(name, args))

    from common import cpu_name

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"Machine: {cpu_name()}, {os.cpu_count()} logical CPUs, load average {load:.1f}; "
          f"{'tiny' if args.smoke else 'class'} model, {args.threads} torch threads; {args.rounds} interleaved "
          f"rounds of {args.warmup} untimed + {args.steps} timed steps, one process per run, median round shown.\n")
    print("| variant | tokens/s | / today | user s | sys s | minor faults | whole process: sys s, minor faults "
          "| peak RSS MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    med = {v: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for v, rs in runs.items()}
    base = med.get("today", {}).get("tokens_per_s")
    for v, m in med.items():
        ratio = f"{m['tokens_per_s'] / base:.2f}" if base else ""
        print(f"| {v} | {m['tokens_per_s']:,.0f} | {ratio} | {m['user_s']:.2f} | {m['sys_s']:.2f} | "
              f"{m['minflt']:,.0f} | {m['proc_sys_s']:.2f}, {m['proc_minflt']:,.0f} | {m['maxrss_mib']:,.0f} |")
    print("\nPer round (tokens/s): " + "; ".join(f"{v} {[round(r['tokens_per_s']) for r in rs]}"
                                                 for v, rs in runs.items()))


if __name__ == "__main__":
    main()
