"""course_utils.viz: the GPT-2 map and the training timeline (loss curve + text sampled as it trained)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from course_utils import viz  # noqa: E402


def fake_history(n_steps=400, tokens_per_step=2048, sample_every=100):
    steps = [{"step": s, "tokens": s * tokens_per_step, "loss": 11 - s / 100, "lr": 1e-3} for s in range(1, n_steps + 1)]
    evals = [{"step": s, "tokens": s * tokens_per_step, "train_loss": 10 - s / 100, "val_loss": 10.5 - s / 100}
             for s in range(100, n_steps + 1, 100)]
    samples = [{"step": s, "text": f"ROMEO.\nsample at {s}"} for s in range(sample_every, n_steps + 1, sample_every)]
    return {"steps": steps, "evals": evals, "samples": samples, "runs": []}


def panel_texts(fig):
    return [t.get_text() for a in fig.axes[1:] for t in a.texts]


def test_map_highlights_each_notebooks_piece():
    fig = viz.gpt2_map("attention")
    labels = {t.get_text(): t.get_fontweight() for t in fig.axes[0].texts}
    assert labels["Masked multi-head self-attention\n12 heads"] == "bold"
    assert labels["LayerNorm 1"] == "normal"
    plt.close(fig)


@pytest.mark.parametrize("notebook", sorted(viz.HIGHLIGHTS))
def test_every_map_label_fits_inside_its_box(notebook):
    """Bold (highlighted) labels are wider: notebook 04's "Feed-forward: 768 -> 3072 -> GELU -> 768"
    spilled out of its box at 9 points before labels were fitted to their boxes."""
    fig = viz.gpt2_map(notebook, loop=notebook == "generation")
    ax = fig.axes[0]
    boxes = {label: (x, w) for _, label, _, _, x, w in viz._MAP}
    to_data = ax.transData.inverted()
    for t in ax.texts:
        if t.get_text() in boxes:
            (x0, _), (x1, _) = to_data.transform(t.get_window_extent().get_points())
            x, w = boxes[t.get_text()]
            assert x <= x0 and x1 <= x + w, f"{t.get_text()!r} ({t.get_fontweight()}) spills out of its box"
    plt.close(fig)


def test_timeline_shows_the_chosen_samples_lettered_at_their_points():
    h = fake_history()
    fig = viz.training_timeline(h, at_steps=[100, 400], baselines={"unigram": 6.4, "bigram": 4.9})
    ax = fig.axes[0]
    assert len(fig.axes) == 3  # the curve, and one panel per sample
    assert panel_texts(fig) == ["ROMEO.\nsample at 100", "ROMEO.\nsample at 400"]
    titles = [a.get_title(loc="left") for a in fig.axes[1:]]
    assert titles[0] == "A · step 100 · 0.20M tokens\nval loss 9.50"
    assert titles[1].startswith("B · step 400 · 0.82M tokens")
    letters = {a.get_text(): a.xy for a in ax.texts}
    assert letters == {"A": (100 * 2048, 9.5), "B": (400 * 2048, 6.5)}  # on the validation curve
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "unigram baseline 6.40" in legend and "bigram baseline 4.90" in legend
    plt.close(fig)


def test_timeline_defaults_to_four_samples_from_first_to_last_and_takes_a_step_0_sample():
    h = fake_history(n_steps=1000)
    fig = viz.training_timeline(h)
    assert [a.get_title(loc="left").split(" · ")[1] for a in fig.axes[1:]] == [
        "step 100", "step 400", "step 700", "step 1,000"]
    plt.close(fig)
    fig = viz.training_timeline(h, samples=[{"step": 0, "text": "ROMEO.\nzq"}] + h["samples"], at_steps=[0, 1000])
    assert fig.axes[1].get_title(loc="left") == "A · step 0 · 0 tokens\nbefore training"
    assert fig.axes[0].texts[0].xy == (2048, 10.99)  # drawn at the first step's batch loss
    plt.close(fig)


def test_long_samples_are_wrapped_and_cut_and_dollars_stay_literal():
    text = "ROMEO.\n" + "word " * 40 + "\n$5 and $6\n" + "\n".join(f"line {i}" for i in range(20))
    shown = viz._sample_lines(text, width=20, max_lines=6)
    lines = shown.split("\n")
    assert len(lines) == 7 and lines[-1] == "..." and all(len(x) <= 20 for x in lines)
    assert r"\$5 and \$6" in viz._sample_lines("$5 and $6", 20, 6)


def test_timeline_errors_name_the_missing_samples():
    h = fake_history()
    with pytest.raises(ValueError, match=r"no sample at step\(s\) \[150\]; the run has samples at \[100, 200, 300, 400\]"):
        viz.training_timeline(h, at_steps=[100, 150])
    with pytest.raises(ValueError, match="recorded no samples: train with sample_interval > 0"):
        viz.training_timeline({**h, "samples": []})
