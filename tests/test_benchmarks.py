"""The benchmark scripts still run (tiny sizes) and print the tables RESULTS.md is made from.

No timing is asserted here: speed is measured by `make bench` and recorded in benchmarks/RESULTS.md.
"""

import subprocess
import sys
from pathlib import Path

import pytest

# each runs a benchmark script in its own process (20-50 s): make test runs them, make test-fast does not
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent


def _run(*args: str) -> str:
    proc = subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_bench_train_smoke():
    out = _run("benchmarks/bench_train.py", "--smoke", "--bf16")
    assert "| config | params | model | train tokens/s | ours / transformers |" in out
    assert out.count("course_utils.GPTModel") >= 2 and out.count("transformers.GPT2LMHeadModel") >= 2
    assert out.count("| course_utils.GPTModel, bf16 autocast |") == 2  # one row per smoke config
    assert out.count("ours bf16 autocast / ours float32: ") == 2


def test_bench_generate_smoke():
    out = _run("benchmarks/bench_generate.py", "--new-tokens", "3", "--rounds", "1", "--threads", "1")
    assert "all runs generate the same 3 tokens" in out  # the script checks the contenders agree
    assert "| run | tokens/s (median) | rounds (tokens/s) |" in out
    assert "ours cached / ours uncached" in out and "ours cached / transformers" in out


def test_bench_memory_smoke():
    out = _run("benchmarks/bench_memory.py", "--smoke")
    assert "| case | model | weights (MiB) | peak above start of work (MiB) | ours / transformers |" in out
    rows = [line for line in out.splitlines() if line.startswith("| smoke") or line.startswith("| generate")]
    assert len(rows) == 5  # training: ours, transformers; generation: ours cached, ours uncached, transformers
    assert all(float(row.split("|")[4]) > 0 for row in rows)  # every case measured a peak above its start


def test_bench_allocator_smoke():
    out = _run("benchmarks/bench_allocator.py", "--smoke", "--variants", "today,tuned")
    assert "| variant | tokens/s | / today | user s | sys s | minor faults |" in out
    assert "| today |" in out and "| tuned |" in out
