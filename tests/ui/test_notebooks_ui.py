"""The interactive notebooks, used the way a student uses them: JupyterLab in headless Chromium.

Each test opens a notebook (in a temporary copy of notebooks/), runs all cells from the menu,
checks that no cell shows an error, then moves a widget and checks that the picture or the text
changes. Screenshots of every step: test-output/ui/<test name>/.
"""

from __future__ import annotations

import pytest
from ui_helpers import (
    app_with_slider,
    click_and_wait_for_output,
    code_cell_count,
    nudge_slider,
    open_notebook,
    press_slider,
    run_all,
    shot,
    widget_slider,
)

pytestmark = pytest.mark.ui

GENERATE_TIMEOUT_S = 120  # one press of "Generate" (12 tokens at temperature 2 took ~11 s at load ~9)


def _run_all_without_errors(page, lab, shots, name: str):
    notebook = lab.root / name
    assert notebook.exists(), f"notebooks/{name} is missing"
    panel = open_notebook(page, lab, name)
    shot(page, shots, "01_opened")
    state = run_all(page, panel)
    shot(page, shots, "02_ran_all")
    assert not state["errors"], "cells show errors after Run All:\n" + "\n\n".join(
        f"cell {e['cell'] + 1} (counting markdown cells too):\n{e['text'][-1500:]}" for e in state["errors"]
    )
    expected = code_cell_count(notebook)
    assert state["total"] == expected, f"{state['total']} code cells on the page, {expected} in the file"
    assert state["numbered"] == expected, f"only {state['numbered']} of {expected} code cells ran: {state}"
    return panel


def test_generation_playground(page, lab, shots):
    panel = _run_all_without_errors(page, lab, shots, "08_generating_text.ipynb")
    playground = app_with_slider(panel, "temperature")
    playground.wait_for(state="visible")
    temperature = widget_slider(playground, "temperature")
    generate = playground.locator("button", has_text="Generate")
    shot(page, shots, "03_playground", playground)

    def generate_at(end: str, step: int) -> str:
        """Slide the temperature to one end (Home: lowest, End: highest), press Generate."""
        old, new = press_slider(temperature, end)
        shot(page, shots, f"{step:02d}_temperature_{new}", playground)
        text = click_and_wait_for_output(generate, playground, GENERATE_TIMEOUT_S)
        shot(page, shots, f"{step + 1:02d}_generated_at_{new}", playground)
        assert text, "the playground's output area is empty after Generate"
        assert "Traceback" not in text and not text.startswith("error:"), f"the playground shows an error:\n{text}"
        print(f"temperature {old} -> {new}:\n{text[:300]}")
        return text

    coldest = generate_at("Home", 4)
    hottest = generate_at("End", 6)
    # The slider's value must reach the kernel: the most likely words and a hot sample differ.
    assert coldest != hottest, f"the same text at the lowest and the highest temperature:\n{coldest}"


def test_attention_explorer(page, lab, shots):
    panel = _run_all_without_errors(page, lab, shots, "02_self_attention.ipynb")
    explorer = app_with_slider(panel, "head")
    explorer.wait_for(state="visible")
    heatmap = explorer.locator(".widget-output img").first
    heatmap.wait_for(state="visible")
    shot(page, shots, "03_explorer", explorer)

    for i, name in enumerate(("head", "layer"), start=4):
        src = heatmap.get_attribute("src")
        old, new = nudge_slider(widget_slider(explorer, name))
        page.wait_for_function(
            "([img, src]) => img.isConnected ? img.getAttribute('src') !== src : true",
            arg=[heatmap.element_handle(), src],
            timeout=60_000,
        )
        heatmap.wait_for(state="visible")
        assert heatmap.get_attribute("src") != src, f"the heatmap did not change when {name} went {old} -> {new}"
        shot(page, shots, f"{i:02d}_{name}_{old}_to_{new}", explorer)
