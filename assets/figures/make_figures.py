"""Render the course's own diagrams to PNG files in this folder (used by the README).

    .venv/bin/python assets/figures/make_figures.py

``course_model_timeline.png`` is drawn from the shipped model's record
(``checkpoints/course_model.json``), so remake it after retraining (``make figures``).
"""

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import torch  # noqa: E402

import course_utils as cu  # noqa: E402
from course_utils import baselines, viz  # noqa: E402
from course_utils.assets import asset_path  # noqa: E402
from course_utils.data import load_corpus  # noqa: E402
from course_utils.train.loop import sample_text  # noqa: E402

HERE = Path(__file__).resolve().parent


def course_model_timeline(at_steps=(0, 200, 1000, None)):
    """The shipped model's loss as it trained, its baselines and four of its samples (the first one
    from its starting weights, rebuilt from the record's seed, as notebook 10 does)."""
    record = json.loads(asset_path("checkpoints/course_model.json").read_text())
    tc, mc = record["train_config"], record["model_config"]
    torch.manual_seed(record["seed"])
    start = cu.GPTModel(cu.GPTConfig(**mc)).eval()
    before = sample_text(start, tc["sample_prompt"], tc["sample_tokens"], temperature=tc["sample_temperature"],
                         top_k=tc["sample_top_k"], seed=record["seed"])
    corpus = load_corpus()
    counts = baselines.count_ngrams(corpus.token_ids("train"))
    windows = baselines.eval_pairs(corpus.token_ids("val"), mc["context_length"],
                                   max_windows=tc["eval_batches"] * tc["batch_size"], spread=tc["eval_spread"])
    lines = {k: v for k, v in baselines.baseline_losses(counts, windows).items() if k != "uniform"}
    steps = [record["history"]["samples"][-1]["step"] if s is None else s for s in at_steps]
    return viz.training_timeline(record["history"], samples=[{"step": 0, "text": before}] + record["history"]["samples"],
                                 baselines=lines, at_steps=steps, title="The course model: its loss, and what it wrote")


if __name__ == "__main__":
    fig = viz.gpt2_map(None, title="GPT-2: the pieces this course builds")
    fig.savefig(HERE / "gpt2_map.png", dpi=110, bbox_inches="tight")
    print("wrote", HERE / "gpt2_map.png")
    fig = course_model_timeline()
    fig.savefig(HERE / "course_model_timeline.png", dpi=90, bbox_inches="tight")
    print("wrote", HERE / "course_model_timeline.png")
