"""The logit lens and generation frames (course_utils.lens), and the animation made from them."""

import importlib.util
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # tests draw off-screen

import matplotlib.pyplot as plt
import pytest
import torch

import course_utils as cu
from course_utils.assets import load_manifest, sha256_of
from course_utils.generate import generate
from course_utils.lens import (
    format_frame,
    frames_as_data,
    generation_frames,
    logit_lens,
    plot_frame,
    residual_stream,
)

FIGURES = Path(__file__).resolve().parent.parent / "assets" / "figures"


@pytest.fixture
def model(tiny_cfg):
    torch.manual_seed(0)
    return cu.GPTModel(tiny_cfg).eval()


def test_residual_stream_has_one_vector_per_height(model, tiny_cfg):
    ids = cu.text_to_ids("To be, or not to be")
    with torch.no_grad():
        stream, logits = residual_stream(model, ids)
        assert len(stream) == tiny_cfg.n_layers + 1
        assert all(x.shape == (1, ids.shape[1], tiny_cfg.emb_dim) for x in stream)
        torch.testing.assert_close(logits, model(ids), rtol=0, atol=0)
        # the top of the stream, read through the final LayerNorm and the head, is the model's output
        torch.testing.assert_close(model.out_head(model.final_norm(stream[-1])), logits, rtol=0, atol=0)
    assert not model.drop_emb._forward_hooks and not model.blocks[0]._forward_hooks  # hooks removed


def test_logit_lens_last_layer_is_the_models_prediction(model, tiny_cfg):
    ids = cu.text_to_ids("Hello there, my lord")
    readings = logit_lens(model, ids, k=3)
    assert [r.layer for r in readings] == ["embeddings"] + [f"block {i + 1}" for i in range(tiny_cfg.n_layers)]
    with torch.no_grad():
        probs = torch.softmax(model(ids)[0, -1], dim=-1)
    top = torch.topk(probs, 3)
    assert readings[-1].ids == top.indices.tolist()
    assert readings[-1].probs == pytest.approx(top.values.tolist(), abs=1e-6)
    for r in readings:
        assert len(r.ids) == 3 and r.probs == sorted(r.probs, reverse=True) and sum(r.probs) <= 1 + 1e-6
        assert r.tokens == [cu.get_tokenizer().decode([i]) for i in r.ids]


def test_logit_lens_rejects_bad_input(model):
    with pytest.raises(ValueError, match="k must"):
        logit_lens(model, [1, 2, 3], k=0)
    with pytest.raises(ValueError, match="one sequence"):
        logit_lens(model, torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="outside the"):
        logit_lens(model, [1, 99999])


def test_frames_follow_greedy_generate(model, tiny_cfg):
    ids = cu.text_to_ids("To be, or not")
    frames = generation_frames(model, ids, steps=5, k=4)
    expected = generate(model, ids, 5)[0, ids.shape[1]:].tolist()
    assert [f.pick_id for f in frames] == expected
    t = ids.shape[1]
    for i, f in enumerate(frames):
        assert f.step == i + 1
        assert f.candidate_ids[0] == f.pick_id  # greedy: the top candidate
        assert len(f.candidates) == 4 and [p for _, p in f.candidates] == sorted((p for _, p in f.candidates),
                                                                                 reverse=True)
        assert f.lens[-1].ids[0] == f.pick_id  # the last block's lens is the model's own top token
        assert len(f.lens) == tiny_cfg.n_layers + 1
        assert f.computed == (t if i == 0 else 1) and f.cached == (0 if i == 0 else t + i - 1)
        assert f.kv_shape == (1, tiny_cfg.n_heads, t + i, tiny_cfg.emb_dim // tiny_cfg.n_heads)
        assert len(f.context_tokens) == t + i and "".join(f.context_tokens) == f.context
        assert f.new_token == f.context_tokens[-1]
        if i:
            assert f.context == frames[i - 1].context + frames[i - 1].pick


def test_frames_sampling_is_seeded_and_checked(model, tiny_cfg):
    ids = cu.text_to_ids("Hello")
    a = generation_frames(model, ids, 4, temperature=1.5, seed=3)
    b = generation_frames(model, ids, 4, temperature=1.5, seed=3)
    assert [f.pick_id for f in a] == [f.pick_id for f in b]
    expected = generate(model, ids, 4, temperature=1.5, generator=torch.Generator().manual_seed(3))
    assert [f.pick_id for f in a] == expected[0, 1:].tolist()
    with pytest.raises(ValueError, match="steps must"):
        generation_frames(model, ids, 0)
    with pytest.raises(ValueError, match="do not fit the context"):
        generation_frames(model, ids, tiny_cfg.context_length + 1)


def test_frames_as_data_format_and_plot(model):
    frames = generation_frames(model, cu.text_to_ids("My lord"), 3)
    data = frames_as_data(frames)
    assert json.loads(json.dumps(data)) == data  # plain JSON
    assert data[0]["candidates"][0][1] == round(frames[0].candidates[0][1], 4)
    text = format_frame(frames[1])
    assert text.startswith("step 2:") and "pick:" in text and "lens on" in text and "block 2" in text
    fig = plot_frame(frames[1])
    assert len(fig.axes) == 2
    plt.close(fig)


# ---------------------------------------------------------------- the shipped animation


def _script():
    spec = importlib.util.spec_from_file_location("make_generation_animation", FIGURES / "make_generation_animation.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _close(a, b, path=""):
    """Equal data, floats within 2e-4 (4 stored decimals; another CPU's rounding)."""
    if isinstance(a, float) or isinstance(b, float):
        assert abs(a - b) <= 2e-4, f"{path}: {a} != {b}"
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), f"{path}: keys differ"
        for key in a:
            _close(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), f"{path}: length {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{path}[{i}]")
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def test_generation_animation_is_up_to_date_with_the_shipped_model():
    from PIL import Image

    script = _script()
    stored = json.loads(script.DATA.read_text(encoding="utf-8"))
    entries = {f["path"]: f for f in load_manifest()["files"]}
    hint = "the shipped model changed: re-run `python assets/figures/make_generation_animation.py`"
    assert stored["model_sha256"] == entries["checkpoints/course_model.safetensors"]["sha256"], hint
    fresh = script.frame_data(cu.load_course_model())
    try:
        _close(fresh, stored)
    except AssertionError as e:
        raise AssertionError(f"{hint} ({e})") from None
    for name in ("generation_frames.gif", "generation_frames.json"):
        entry = entries[f"figures/{name}"]
        assert sha256_of(FIGURES / name) == entry["sha256"], f"update the manifest entry of figures/{name}"
        assert "make_generation_animation.py" in entry["source"]
    with Image.open(script.GIF) as gif:
        assert gif.n_frames == len(stored["frames"]) == script.STEPS
    assert script.GIF.stat().st_size < 1_000_000
