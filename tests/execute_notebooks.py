"""Re-run notebooks top to bottom and store their outputs (``make execute``).

The stored outputs are what strict nbval compares in CI, so they must come from one clean run:
a fresh kernel per notebook, cells tagged ``raises-exception`` allowed to fail, and run-specific
metadata (execution timings, widget state) stripped.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def clean(nb: nbformat.NotebookNode) -> None:
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("ExecuteTime", None)


def execute(path: Path, timeout: int = 900) -> float:
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    clean(nb)
    nbformat.write(nb, path)
    return time.perf_counter() - start


if __name__ == "__main__":
    paths = [Path(p) for p in sys.argv[1:]] or sorted(Path("notebooks").glob("**/*.ipynb"))
    for p in paths:
        if ".ipynb_checkpoints" in p.parts:
            continue
        print(f"{p}: {execute(p):.1f} s", flush=True)
