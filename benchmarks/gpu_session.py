"""One device call on a CUDA GPU for issue 14: item 7 (bf16, fused AdamW, --compile, exact resume,
tokens/s, MFU) and item 3 (recipes for the shipped model, trained side by side, each a full course
run with its evaluations and samples, scored on every validation window; the best comes back).

On the device machine (its python3 has torch with CUDA; the repo travels):
    PYTHONPATH=. python3 benchmarks/gpu_session.py $OUT      # an estimate: under 10 minutes on an H200
Here, to check that it runs (tiny sizes, on the CPU; a few minutes on an idle 2-core machine):
    PYTHONPATH=. .venv/bin/python benchmarks/gpu_session.py /tmp/gpu-smoke --smoke
Not run on a GPU yet: no session has had one (issue 14 item 7).

Two plans, one per device call (a session's device time holds one):
  (default)   item 7, and item 3 as a sweep of the recipes in CANDIDATES, each from random weights.
  --distill   item 7, and item 3 as the CPU sessions left it (RESULTS.md, attempts 11 to 15): the three
              teacher presets (course-base, teacher-256d, teacher-256) side by side, then, with them,
              `--preset course` (attempt 11's refinement of course-base) and course-base trained from
              step 0 with the three as teachers (attempt 14, lost on the CPU at step 1,809 of 7,000).
              The teachers cannot travel to the device (117 MB; the working tree that goes is at most
              64 MiB and has no git history), so they are trained there, in bf16: other models than
              the shipped record's teachers, of the same recipes.

What comes back under OUT: summary.json (every number), *.log tails in summary, and the best
export as best.safetensors.part-00.. (15 MiB each: the device tool returns files of at most 16 MiB)
plus best.json. Join here with `cat best.safetensors.part-* > course_model.safetensors`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from bench_train import flops_per_token  # benchmarks/bench_train.py: 6 x parameters + attention

from course_utils.train.cli import build_parser, configs_from_args

OUT = Path(sys.argv[1])
SMOKE = "--smoke" in sys.argv
DISTILL = "--distill" in sys.argv
WORK = Path("/tmp/gpu-runs-smoke" if SMOKE else "/tmp/gpu-runs") / ("distill" if DISTILL else "sweep")
TRAIN = [sys.executable, "-m", "course_utils.train"]
DEVICE = "cpu" if SMOKE else "cuda"
DEADLINE_S = 420 if not SMOKE else 3600  # then unfinished runs are stopped (they stay resumable)
DEADLINE_S += 120 * (DISTILL and not SMOKE)  # two phases; the command still ends inside 10 minutes
PEAK_BF16 = 989e12  # H100/H200 SXM dense bf16 peak, the usual MFU denominator

# The course-base preset's evaluation and sampling (what the record of the shipped model must hold), with
# more evaluation windows than the preset (20 batches), spread over both held-out plays.
COURSE = ["--preset", "course-base", "--warmup-steps", "200", "--eval-interval", "200", "--eval-batches", "20",
          "--eval-spread", "true",
          "--sample-interval", "200", "--sample-tokens", "60", "--sample-temperature", "0.8",
          "--sample-top-k", "40", "--checkpoint-interval", "400", "--device", DEVICE,
          "--precision", "auto"]  # the preset says fp32 (how the shipped model ran on a CPU); a GPU runs bf16

# Item 3 candidates: name -> options on top of COURSE (the preset: 6 x 320, dropout 0.15, batch 16,
# random offsets, 7,000 steps, the weights averaged from step 5,000). Files stay under 64 MB in bf16
# (width 384 x 6 blocks is 30M parameters, 60 MB). The first is the recipe of the shipped model's
# first run (CPU attempt 10; `--preset course` then refines it with teachers) and the second the
# first course model's (attempt 2: fixed windows, no dropout), as
# cross-checks of the GPU. Each averages its weights over its last 2/7 of steps, as the preset does.
CANDIDATES = {
    "shipped": [],
    "l6w256d0": ["--n-layers", "6", "--batch-size", "8", "--max-steps", "6400", "--stride", "128",
                 "--drop-rate", "0.0"],
    "l6w256d1": ["--n-layers", "6", "--batch-size", "8", "--max-steps", "12800", "--drop-rate", "0.1"],
    "l6w256d2": ["--n-layers", "6", "--batch-size", "8", "--max-steps", "19200", "--drop-rate", "0.2"],
    "l6w384d1": ["--n-layers", "6", "--emb-dim", "384", "--n-heads", "6", "--batch-size", "8",
                 "--max-steps", "12800", "--drop-rate", "0.1", "--lr", "1.5e-3", "--min-lr", "1.5e-4"],
    "l6w384d2": ["--n-layers", "6", "--emb-dim", "384", "--n-heads", "6", "--batch-size", "8",
                 "--max-steps", "19200", "--drop-rate", "0.2", "--lr", "1e-3", "--min-lr", "1e-4"],
    "l4w256d1b16": ["--n-layers", "4", "--batch-size", "16", "--max-steps", "6000", "--drop-rate", "0.1"],
    "l8w256d1": ["--n-layers", "8", "--batch-size", "8", "--max-steps", "12800", "--drop-rate", "0.1"],
    "l6w320d15": ["--n-layers", "6", "--emb-dim", "320", "--n-heads", "5", "--batch-size", "8",
                  "--max-steps", "16000", "--drop-rate", "0.15", "--lr", "1.5e-3", "--min-lr", "1.5e-4"],
}
for _name, _opts in CANDIDATES.items():
    if "w256" in _name:  # the preset is 320 wide now
        _opts += ["--emb-dim", "256", "--n-heads", "4"]
    if "--max-steps" in _opts:
        _steps = int(_opts[_opts.index("--max-steps") + 1])
        _opts += ["--average-from", str(_steps - _steps * 2 // 7 // 200 * 200)]
# --smoke: every run at tiny sizes for a few steps (AVERAGED for the runs whose preset averages weights).
SHRINK = (["--n-layers", "1", "--emb-dim", "64", "--n-heads", "2", "--max-steps", "20", "--eval-interval", "10",
           "--sample-interval", "10", "--eval-batches", "2", "--warmup-steps", "2"] if SMOKE else [])
AVERAGED = ["--average-from", "10", "--average-interval", "5"] if SMOKE else []
if SMOKE:  # two small ones, a few steps
    CANDIDATES = {k: [o for i, o in enumerate(v) if "--drop-rate" not in v[max(i - 1, 0):i + 1]]
                  for k, v in list(CANDIDATES.items())[:2]}  # their dropout: the preset's
    CANDIDATES = {k: v + SHRINK + AVERAGED for k, v in CANDIDATES.items()}


def start(args: list[str], log: Path) -> subprocess.Popen:
    log.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(TRAIN + args, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def tail(log: Path, n: int = 6) -> list[str]:
    lines = log.read_text(errors="replace").replace("\r", "\n").splitlines() if log.exists() else []
    return [ln for ln in lines if not ln.startswith("training:")][-n:]


# The --distill plan: the presets themselves, on the GPU's precision, checkpointing rarely (a GPU step
# takes milliseconds; the CPU presets save every 50 to 200 steps).
ON_DEVICE = ["--device", DEVICE, "--precision", "auto", "--checkpoint-interval", "1000"]
TEACHERS = ["course-base", "teacher-256d", "teacher-256"]
TEACHER_DEADLINE_S = 330 if not SMOKE else 3600  # then phase 2 starts with whichever teachers exported


def export_of(name: str) -> Path:
    return WORK / name / "export.safetensors"


def start_run(name: str, options: list[str]) -> subprocess.Popen:
    return start(options + ["--out", str(WORK / name), "--export", str(export_of(name))], WORK / f"{name}.log")


def wait_all(procs: dict, deadline: float, summary: dict) -> None:
    """Wait for each run; one still running at the deadline gets Ctrl-C (it checkpoints and exits 130)."""
    for name, p in procs.items():
        try:
            p.wait(timeout=max(1.0, deadline - time.time()))
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGINT)
            p.wait()
        summary.setdefault("exit", {})[name] = p.returncode


def distill_runs(deadline: float, summary: dict) -> list[str]:
    """The teachers side by side, then the two runs that learn from them; returns the runs' names."""
    teachers = {name: start_run(name, ["--preset", name, *ON_DEVICE, *SHRINK,
                                       *(AVERAGED if name == "course-base" else [])]) for name in TEACHERS}
    wait_all(teachers, min(deadline, time.time() + TEACHER_DEADLINE_S), summary)
    ready = [str(export_of(n)) for n in TEACHERS if export_of(n).exists()]
    summary["teachers_exported"] = len(ready)
    if not ready:
        return TEACHERS
    students = {  # attempt 11's refinement of course-base, and attempt 14: course-base from step 0 with teachers
        "course": ["--preset", "course", "--init-from", str(export_of("course-base")), "--teachers", ",".join(ready),
                   *ON_DEVICE, *SHRINK, *AVERAGED],
        "from-step-0": ["--preset", "course-base", "--teachers", ",".join(ready), "--distill-weight", "1.0",
                        *ON_DEVICE, *SHRINK, *AVERAGED],
    }
    if not export_of("course-base").exists():
        del students["course"]
    wait_all({name: start_run(name, opts) for name, opts in students.items()}, deadline, summary)
    return TEACHERS + list(students)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    WORK.mkdir(parents=True, exist_ok=True)
    summary: dict = {"torch": torch.__version__, "device": torch.cuda.get_device_name() if not SMOKE else "cpu",
                     "plan": "distill" if DISTILL else "sweep"}
    t0 = time.time()
    deadline = t0 + DEADLINE_S  # the device tool stops a command at 10 minutes: stop runs in time
    procs = {}
    # Item 7: the tiny preset compiled; the course recipe 300 steps straight and as 150 + 150.
    steps = "20" if SMOKE else "300"
    half = "10" if SMOKE else "150"
    small = (["--n-layers", "1", "--emb-dim", "64", "--n-heads", "2", "--warmup-steps", "2"] if SMOKE
             else ["--n-layers", "6"])
    procs["tiny_compiled"] = start(["--preset", "tiny", "--compile", str(not SMOKE), "--device", DEVICE,
                                            "--out", str(WORK / "tiny")], WORK / "tiny.log")
    c300 = COURSE + small + ["--batch-size", "8", "--max-steps", steps, "--sample-interval", "0",
                             "--eval-interval", half, "--average-from", half,  # resumed inside the average
                             "--average-interval", "5" if SMOKE else "50"]
    for name, extra in (("straight", []), ("stopped", ["--stop-at", half])):
        procs[f"course300_{name}"] = start(c300 + ["--out", str(WORK / f"c300-{name}")] + extra,
                                           WORK / f"c300-{name}.log")
    if not DISTILL:  # item 3 as a sweep: every candidate at once (the GPU has room; 16 CPU cores feed it)
        for name, opts in CANDIDATES.items():
            procs[name] = start_run(name, COURSE + opts)
    procs["course300_stopped"].wait()
    procs["course300_resumed"] = start(c300 + ["--out", str(WORK / "c300-stopped"), "--resume"],
                                       WORK / "c300-resumed.log")
    names = distill_runs(deadline, summary) if DISTILL else list(CANDIDATES)
    wait_all(procs, deadline, summary)
    summary["wall_s"] = round(time.time() - t0, 1)

    # Item 7 numbers: loss falls; resume equals the straight run (bf16 tolerance); speed and MFU.
    def history(folder: str) -> dict:
        return json.loads((WORK / folder / "history.json").read_text())
    a, b = history("c300-straight"), history("c300-stopped")
    la = {s["step"]: s["loss"] for s in a["steps"]}
    lb = {s["step"]: s["loss"] for s in b["steps"]}
    summary["item7"] = {
        "loss_first_last": [a["steps"][0]["loss"], a["steps"][-1]["loss"]],
        "resume_max_abs_diff": max(abs(la[k] - lb[k]) for k in la),
        "resume_final": [a["evals"][-1]["val_loss"], b["evals"][-1]["val_loss"]],
        "resume_final_weight_average": [a["evals"][-1].get("avg_val_loss"), b["evals"][-1].get("avg_val_loss")],
        "straight_runs": a["runs"], "tiny_log": tail(WORK / "tiny.log"),
    }
    run = a["runs"][0]
    tokens = a["steps"][-1]["tokens"]
    m, _ = configs_from_args(build_parser().parse_args(COURSE + small))  # the model the 300 steps trained
    summary["item7"]["tokens_per_s_incl_evals"] = round(tokens / run["wall_s"])
    summary["item7"]["mfu_incl_evals"] = tokens / run["wall_s"] * flops_per_token(m) / PEAK_BF16

    # Item 3: every run's every-window validation loss (recorded by the export, on bf16 weights).
    results = {}
    for name in names:
        rec_path = export_of(name).with_suffix(".json")
        if rec_path.exists():
            rec = json.loads(rec_path.read_text())
            legs = [r for r in rec["history"]["runs"] if "to_step" in r]
            results[name] = {"val": rec["final"]["val_loss"], "train": rec["final"]["train_loss"],
                             "evals": [(e["step"], e["val_loss"]) for e in rec["history"]["evals"]],
                             "wall_s": sum(r["wall_s"] for r in legs),
                             "bytes": export_of(name).stat().st_size}
        else:
            results[name] = {"failed": tail(WORK / f"{name}.log", 12)}
    summary["item3"] = results
    done = {k: v for k, v in results.items() if "val" in v and v["bytes"] <= 64e6}
    if done:
        best = min(done, key=lambda k: done[k]["val"])
        summary["best"] = best
        data = export_of(best).read_bytes()
        part = 15 * 2**20
        for i in range(0, len(data), part):
            (OUT / f"best.safetensors.part-{i // part:02d}").write_bytes(data[i : i + part])
        (OUT / "best.json").write_text(export_of(best).with_suffix(".json").read_text())
    (OUT / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "item3"}, indent=1)[:3000])
    for k, v in results.items():
        print(k, v.get("val"), v.get("wall_s"), v.get("failed", "")[-2:] if "failed" in v else "")


if __name__ == "__main__":
    main()
