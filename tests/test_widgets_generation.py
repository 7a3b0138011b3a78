"""The notebook-08 widgets: the plain functions, and the apps driven without a browser."""

import matplotlib

matplotlib.use("Agg")  # tests draw off-screen

import matplotlib.pyplot as plt
import pytest
import torch

import course_utils as cu
from course_utils.generate import generate
from course_utils.lens import generation_frames
from course_utils.widgets.generation import (
    FrameStepperApp,
    PlaygroundApp,
    StepperApp,
    format_steps,
    generation_stepper,
    playground_app,
    playground_generate,
    plot_steps,
    step_table,
    stepper_app,
)


@pytest.fixture
def model(tiny_cfg):
    torch.manual_seed(0)
    return cu.GPTModel(tiny_cfg).eval()


def test_step_table_greedy(model):
    table = step_table(model, "To be, or not", k=5, steps=3)
    assert len(table) == 3
    ids = cu.text_to_ids("To be, or not")
    expected = generate(model, ids, 3)[0, ids.shape[1] :].tolist()
    assert [s.pick_id for s in table] == expected  # the same tokens generate() picks
    for i, s in enumerate(table):
        probs = [p for _, p in s.candidates]
        assert len(s.candidates) == 5 == len(s.candidate_ids)
        assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0001
        assert s.candidate_ids[0] == s.pick_id and s.pick_prob == probs[0]  # greedy: the top one
        if i:
            assert s.context == table[i - 1].context + table[i - 1].pick
    assert table[0].context == "To be, or not"


def test_step_table_sampling_is_seeded(model):
    a = step_table(model, "Hello", k=3, steps=4, temperature=1.5, seed=1)
    b = step_table(model, "Hello", k=3, steps=4, temperature=1.5, seed=1)
    assert [s.pick_id for s in a] == [s.pick_id for s in b]
    with pytest.raises(ValueError, match="temperature"):
        step_table(model, "Hello", temperature=-1)
    with pytest.raises(ValueError, match="k must"):
        step_table(model, "Hello", k=0)


def test_format_and_plot_steps(model):
    table = step_table(model, "Hello there", k=4, steps=2)
    text = format_steps(table)
    assert text.count("pick:") == 2 and "step 2" in text
    fig = plot_steps(table)
    assert len(fig.axes) == 2
    assert fig.axes[0].get_xlim() == fig.axes[1].get_xlim()  # one x-axis: bars compare across steps
    assert fig.axes[0].get_shared_x_axes().joined(fig.axes[0], fig.axes[1])
    plt.close(fig)


def test_playground_generate(model):
    a = playground_generate(model, "ROMEO:", temperature=0.8, top_k=40, top_p=0.95, max_new_tokens=10, seed=1)
    b = playground_generate(model, "ROMEO:", temperature=0.8, top_k=40, top_p=0.95, max_new_tokens=10, seed=1)
    assert a == b and a.startswith("ROMEO:") and len(a) > len("ROMEO:")
    greedy = playground_generate(model, "ROMEO:", temperature=0.0, max_new_tokens=10)
    ids = cu.text_to_ids("ROMEO:")
    assert greedy == cu.ids_to_text(generate(model, ids, 10)[0])
    hot = playground_generate(model, "ROMEO:", temperature=2.0, top_k=0, top_p=1.0, max_new_tokens=10, seed=1)
    assert hot != greedy  # the "off" ends of the sliders mean no filtering
    with pytest.raises(ValueError, match="empty"):
        playground_generate(model, "")


def test_playground_app_generates_into_its_output(model):
    app = playground_app(model, max_new_tokens=8)
    assert isinstance(app, PlaygroundApp)
    assert app.temperature.description == "temperature"
    assert app.button.description == "Generate"
    assert app.output.outputs == ()
    app.prompt.value = "JULIET:"
    app.temperature.value = 0.0
    app.button.click()
    first = app.text
    assert first.startswith("JULIET:")
    assert "".join(o["text"] for o in app.output.outputs) == first + "\n"
    app.temperature.value = 1.9
    app.top_k.value = 0
    app.button.click()
    assert app.text != first and app.text.startswith("JULIET:")
    assert len(app.output.outputs) == 1 and app.output.outputs[0]["text"] == app.text + "\n"


def test_playground_app_shows_errors_instead_of_raising(model):
    app = PlaygroundApp(model)
    app.prompt.value = ""
    app.button.click()
    assert app.text.startswith("error:") and "empty" in app.text


def test_stepper_app_advances_one_token_per_click(model):
    app = stepper_app(model, "To be, or not", k=5)
    assert isinstance(app, StepperApp) and app.button.description == "Next token"
    assert app.steps == [] and app.chart.value == b""
    for _ in range(3):
        app.button.click()
    expected = step_table(model, "To be, or not", k=5, steps=3)
    assert [s.pick_id for s in app.steps] == [s.pick_id for s in expected]
    assert app.chart.value[:4] == b"\x89PNG"
    assert "Step 3" in app.table.value and "pick" in app.table.value
    app.reset_button.click()
    assert app.steps == [] and app.chart.value == b""
    app.button.click()
    assert app.steps[0].pick_id == expected[0].pick_id


def test_generation_stepper_shows_one_frame_per_step(model):
    app = generation_stepper(model, "To be, or not", steps=4)
    assert isinstance(app, FrameStepperApp)
    assert (app.slider.description, app.slider.min, app.slider.max, app.slider.value) == ("step", 1, 4, 1)
    expected = generation_frames(model, cu.text_to_ids("To be, or not"), 4)
    assert [f.pick_id for f in app.frames] == [f.pick_id for f in expected]
    first_image, first_text = app.image.value, app.text.value
    assert first_image[:4] == b"\x89PNG" and "step 1:" in first_text
    app.next.click()
    assert app.slider.value == 2 and "step 2:" in app.text.value and app.image.value != first_image
    app.slider.value = 4
    app.next.click()  # already at the last step: stays there
    assert app.slider.value == 4 and "step 4:" in app.text.value
    app.previous.click()
    assert app.slider.value == 3 and "step 3:" in app.text.value
    for _ in range(5):
        app.previous.click()
    assert app.slider.value == 1 and app.text.value == first_text
    with pytest.raises(ValueError, match="empty"):
        FrameStepperApp(model, "")


def test_apps_display_as_widgets(model):
    for app in (PlaygroundApp(model), StepperApp(model), FrameStepperApp(model, steps=2)):
        bundle = app._repr_mimebundle_()
        assert "application/vnd.jupyter.widget-view+json" in bundle
