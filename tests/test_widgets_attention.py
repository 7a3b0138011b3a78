"""The attention explorer (notebook 02), driven from Python: no browser needed."""

import base64

import matplotlib.pyplot as plt
import pytest
import torch

import course_utils as cu
from course_utils.widgets import attention as att


@pytest.fixture
def small_model(tiny_cfg):
    torch.manual_seed(0)
    model = cu.GPTModel(tiny_cfg.replace(n_layers=3)).eval()
    # Sharpen the attention so that layers and heads differ visibly (random init is nearly uniform).
    with torch.no_grad():
        for block in model.blocks:
            block.attn.W_query.weight.mul_(40)
            block.attn.W_key.weight.mul_(40)
    return model


def _shown_png(app) -> bytes:
    (out,) = app.output.outputs
    assert out["output_type"] == "display_data"
    return base64.b64decode(out["data"]["image/png"])


def test_explorer_model_falls_back_to_seeded_random_weights(monkeypatch):
    def not_shipped():
        raise cu.AssetError("not shipped")

    monkeypatch.setattr(att, "load_course_model", not_shipped)
    torch.manual_seed(5)
    expected_next = torch.rand(2)
    torch.manual_seed(5)
    m1, desc = att.explorer_model()
    assert torch.equal(torch.rand(2), expected_next)  # the caller's RNG is untouched
    m2, _ = att.explorer_model()
    assert desc.startswith("random weights: the trained model is not shipped yet")
    assert m1.cfg == cu.GPTConfig(context_length=256, emb_dim=256, n_heads=4, n_layers=4, drop_rate=0.0)
    assert not m1.training
    assert torch.equal(m1.blocks[0].attn.W_query.weight, m2.blocks[0].attn.W_query.weight)  # seeded


def test_explorer_model_prefers_the_course_model(monkeypatch, tiny_cfg):
    trained = cu.GPTModel(tiny_cfg)
    monkeypatch.setattr(att, "load_course_model", lambda: trained)
    model, desc = att.explorer_model()
    assert model is trained and desc.startswith("the trained course model")


def test_attention_weights_are_causal_and_rows_sum_to_one(small_model):
    tokens, attention = att.attention_weights(small_model, "The animal didn't cross the street")
    assert tokens[:2] == ["The", " animal"]
    assert len(attention) == 3
    w = attention[1]
    t = len(tokens)
    assert w.shape == (4, t, t)
    torch.testing.assert_close(w.sum(-1), torch.ones(4, t))
    assert torch.all(w.triu(diagonal=1) == 0)


def test_attention_figure_labels_tokens_on_both_axes(small_model):
    fig = att.attention_figure(small_model, "To be, or not to be", layer=2, head=3)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == [t.get_text() for t in ax.get_yticklabels()]
    assert labels[:3] == ["To", " be", ","]
    assert ax.get_title() == "layer 2, head 3"
    data = ax.images[0].get_array()
    assert data.shape == (len(labels), len(labels))
    plt.close(fig)


def test_attention_figure_rejects_a_layer_or_head_that_does_not_exist(small_model):
    with pytest.raises(ValueError, match="layer must be in 0 .. 2"):
        att.attention_figure(small_model, "Hello", layer=3, head=0)
    with pytest.raises(ValueError, match="head must be in 0 .. 3"):
        att.attention_figure(small_model, "Hello", layer=0, head=4)


def test_explorer_redraws_when_a_slider_moves(small_model):
    import ipywidgets as widgets

    app = att.attention_explorer(small_model, sentences=["The animal didn't cross the street", "To be or not"])
    assert isinstance(app, widgets.VBox)
    assert isinstance(app.layer, widgets.IntSlider) and app.layer.description == "layer"
    assert isinstance(app.head, widgets.IntSlider) and app.head.description == "head"
    assert isinstance(app.sentence, widgets.Dropdown) and app.sentence.description == "sentence"
    assert (app.layer.max, app.head.max) == (2, 3)
    png0, w0 = _shown_png(app), app.weights.clone()
    assert png0.startswith(b"\x89PNG") and png0 == app.png

    app.layer.value = 1
    png1, w1 = _shown_png(app), app.weights.clone()
    assert png1 != png0
    assert not torch.allclose(w1, w0)
    torch.testing.assert_close(w1, att.attention_weights(small_model, app.sentence.value)[1][1][0])

    app.head.value = 2
    assert _shown_png(app) != png1
    assert not torch.allclose(app.weights, w1)

    app.sentence.value = "To be or not"
    assert app.weights.shape == (4, 4)
    assert len(app.output.outputs) == 1  # replaced, not appended
    assert not plt.get_fignums()  # the app closes its figures


def test_explorer_without_a_model_uses_explorer_model(monkeypatch, small_model):
    monkeypatch.setattr(att, "explorer_model", lambda: (small_model, "stand-in"))
    app = att.attention_explorer()
    assert app.model is small_model and app.description == "stand-in"


def test_query_attention_is_one_row_of_every_layer_and_head(small_model):
    text = "the orders given it by human beings except where such orders"
    tokens, attention = att.attention_weights(small_model, text)
    seen, w = att.query_attention(small_model, text, query=-1)
    assert seen == tokens and w.shape == (3, 4, len(tokens))
    for layer in range(3):
        torch.testing.assert_close(w[layer], attention[layer][:, -1, :])
    seen, w = att.query_attention(small_model, text, query=3)  # " it": sees 4 tokens
    assert seen == tokens[:4] and w.shape == (3, 4, 4)
    torch.testing.assert_close(w.sum(-1), torch.ones(3, 4))
    torch.testing.assert_close(w[1], attention[1][:, 3, :4])
    assert not torch.allclose(w[0, 0], w[0, 1])  # heads differ in the sharpened model


def test_query_attention_rejects_a_position_outside_the_text(small_model):
    with pytest.raises(ValueError, match=r"query must be a token position in -2 \.\. 1 \(the text has 2 tokens\), got 2"):
        att.query_attention(small_model, "Hello world", query=2)


def test_plot_query_attention_labels_rows_and_columns(small_model):
    tokens, w = att.query_attention(small_model, "such orders would", query=1)
    ax = att.plot_query_attention(w, tokens, title="where ' orders' looks")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["such (0)", " orders (1)"]
    ylabels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(ylabels) == 12 and ylabels[0] == "layer 0, head 0" and ylabels[-1] == "layer 2, head 3"
    assert ax.images[0].get_array().shape == (12, 2)
    assert len(ax.figure.axes) == 2  # the heatmap and its colorbar
    assert ax.texts[0].get_text() == f"{w[0, 0, 0].item():.2f}"
    with pytest.raises(ValueError, match="got 1 tokens for weights over 2 positions"):
        att.plot_query_attention(w, tokens[:1])
    plt.close(ax.figure)


def test_plot_query_attention_drops_the_numbers_for_a_big_model():
    w = torch.softmax(torch.randn(12, 12, 5), dim=-1)  # GPT-2 small's 144 heads
    ax = att.plot_query_attention(w, ["a", "b", "c", "d", "e"])
    assert ax.images[0].get_array().shape == (144, 5)
    assert not ax.texts  # 720 numbers would be unreadable
    assert ax.figure.get_size_inches()[1] <= 12
    plt.close(ax.figure)
