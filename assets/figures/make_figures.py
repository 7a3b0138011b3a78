"""Render the course's own diagrams to PNG files in this folder (used by the README).

    .venv/bin/python assets/figures/make_figures.py
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from course_utils import viz  # noqa: E402

HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    fig = viz.gpt2_map(None, title="GPT-2: the pieces this course builds")
    fig.savefig(HERE / "gpt2_map.png", dpi=110, bbox_inches="tight")
    print("wrote", HERE / "gpt2_map.png")
