"""Checks on the notebook files themselves (no kernel): what strict nbval cannot see.

nbval compares only cells that have stored outputs from a run, so every code cell must have been
executed; links between notebooks must resolve; nothing may load from the internet; and
`nbval-ignore-output` is reserved for cells whose output truly varies (widgets, timings, training,
the versions and device of the machine, whether the optional GPT-2 weights are there).
"""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(p for p in (ROOT / "notebooks").glob("**/*.ipynb") if ".ipynb_checkpoints" not in p.parts)
LINK = re.compile(r"\]\(([^)\s]+\.ipynb)(#[^)]*)?\)")
REMOTE_IMAGE = re.compile(r"!\[[^\]]*\]\(https?://|<img[^>]+src=[\"']https?://")
VARYING = re.compile(  # what may make a cell's output differ between runs or machines
    r"(?i)widget|explorer|playground|stepper|interact|perf_counter|time\.|tokens/s|train|display\("
    r"|__version__|sys\.version|load_gpt2_or_course_model|gpt2_weights_path"
)


def _cells(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    return nb, nb["cells"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.relative_to(ROOT / "notebooks").as_posix())
def test_notebook_file(path):
    nb, cells = _cells(path)
    assert nb["nbformat"] == 4
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    assert "widgets" not in nb["metadata"], "run `make execute`: widget state must not be stored"
    for i, cell in enumerate(cells):
        src = "".join(cell["source"])
        tags = cell.get("metadata", {}).get("tags", [])
        if cell["cell_type"] == "markdown":
            assert not REMOTE_IMAGE.search(src), f"cell {i}: image from the internet; ship it in assets/"
            for target, _ in LINK.findall(src):
                if not target.startswith("http"):
                    assert (path.parent / target).exists(), f"cell {i}: link to missing notebook {target}"
            continue
        if cell["cell_type"] != "code" or "nbval-skip" in tags:
            continue
        assert cell.get("execution_count") is not None, f"cell {i} was never run: `make execute` stores outputs"
        errors = [o for o in cell.get("outputs", []) if o["output_type"] == "error"]
        if "raises-exception" not in tags:
            assert not errors, f"cell {i} stores an error: {errors[0]['ename'] if errors else ''}"
        if "nbval-ignore-output" in tags:
            assert VARYING.search(src), f"cell {i} ignores its output but shows no widget, timing, training or version"
        for o in cell.get("outputs", []):
            text = "".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", ""))
            assert "0x" not in text or "ADDRESS" in text or not re.search(r"0x[0-9a-f]{8,}", text), (
                f"cell {i} prints a memory address"
            )


def test_every_course_notebook_is_in_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for path in NOTEBOOKS:
        if path.parent.name == "notebooks":
            assert f"notebooks/{path.name}" in readme, f"README's notebook table lacks {path.name}"


def test_make_lab_opens_jupyterlab_on_the_notebooks():
    import os
    import shutil
    import subprocess

    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    # -n: print the commands (install steps if needed, then JupyterLab) without running them
    out = subprocess.run(["make", "-n", "lab"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    lab = [line for line in out.splitlines() if "jupyter lab" in line]
    assert lab and "--notebook-dir=notebooks" in lab[-1], out
    assert ("--allow-root" in lab[-1]) == (os.geteuid() == 0), lab[-1]  # root (containers) needs the flag
