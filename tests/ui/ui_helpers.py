"""What a person does in JupyterLab, as Playwright steps: open a notebook, run it all, check for
errors, find an ipywidgets control by its description, move a slider, read an Output widget."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat

if TYPE_CHECKING:  # collecting these tests must not need playwright: the fixtures skip without it
    from playwright.sync_api import Locator, Page

RUN_ALL_TIMEOUT_S = 180  # notebook 02 took ~50 s on the 2-core machine at load average ~9
KERNEL_READY_TIMEOUT_S = 90

NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden)"
ERROR_TEXT = re.compile(r"Traceback \(most recent call last\)|^\s*\w*(Error|Exception)\b", re.MULTILINE)


def shot(page: Page, folder: Path, name: str, element: Locator | None = None) -> Path:
    """Save a screenshot of the page (or of one element, scrolled into view) as folder/name.png."""
    path = folder / f"{name}.png"
    print(f"{time.strftime('%H:%M:%S')} {name}")
    if element is None:
        page.screenshot(path=str(path))
    else:
        element.scroll_into_view_if_needed()
        element.screenshot(path=str(path))
    return path


def open_notebook(page: Page, lab, name: str) -> Locator:
    """Open notebooks/<name> in JupyterLab and wait until its kernel has started and is idle."""
    # A workspace of its own: the tabs of an earlier test are not restored (nor their kernels).
    workspace = re.sub(r"\W", "-", Path(name).stem)
    page.goto(lab.url(f"lab/workspaces/{workspace}/tree/{name}"), wait_until="domcontentloaded")
    panel = page.locator(NOTEBOOK)
    panel.locator(".jp-Notebook .jp-Cell").first.wait_for(state="visible", timeout=90_000)
    deadline = time.monotonic() + KERNEL_READY_TIMEOUT_S
    while not any(
        s["path"].endswith(name) and s["kernel"] and s["kernel"]["execution_state"] == "idle"
        for s in lab.api("sessions")
    ):
        if time.monotonic() > deadline:
            raise AssertionError(f"no idle kernel for {name} after {KERNEL_READY_TIMEOUT_S} s: {lab.api('sessions')}")
        page.wait_for_timeout(500)
    # ... and the page knows it: toolbar shows the kernel's name, the execution indicator is idle.
    page.wait_for_function(
        """(panel) => {
            const kernel = panel.querySelector('.jp-Toolbar-kernelName');
            const status = panel.querySelector('.jp-Notebook-ExecutionIndicator');
            return kernel && !/No Kernel/.test(kernel.textContent)
                && status && status.dataset.status === 'idle';
        }""",
        arg=panel.element_handle(),
        timeout=KERNEL_READY_TIMEOUT_S * 1000,
    )
    return panel


def menu_command(page: Page, menu: str, command: str) -> None:
    """Click a top menu ("Run", "Edit", ...) and then the item that runs ``command``."""
    page.locator(".lm-MenuBar-item", has_text=re.compile(rf"^{menu}$")).click()
    page.locator(f".lm-Menu-item[data-command='{command}']").click()


def code_cell_count(path: Path) -> int:
    return sum(cell.cell_type == "code" for cell in nbformat.read(path, as_version=4).cells)


_RUN_STATE_JS = """(panel) => {
    const prompts = [...panel.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')].map(p => p.textContent.trim());
    const errors = [];
    panel.querySelectorAll('.jp-Notebook .jp-Cell').forEach((cell, i) => {
        cell.querySelectorAll(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
            .forEach(out => errors.push({cell: i, text: out.textContent}));
    });
    return {
        running: prompts.filter(p => p.includes('*')).length,
        numbered: prompts.filter(p => /^\\[\\d+\\]:?$/.test(p)).length,
        total: prompts.length,
        stderr: errors,
    };
}"""


def run_state(panel: Locator) -> dict:
    """Prompts of the code cells (queued/running '[*]', numbered '[n]') and the stderr outputs."""
    state = panel.evaluate(_RUN_STATE_JS)
    state["errors"] = [e for e in state["stderr"] if ERROR_TEXT.search(e["text"])]
    return state


def run_all(page: Page, panel: Locator, timeout_s: float = RUN_ALL_TIMEOUT_S) -> dict:
    """Edit > Clear All Outputs, then Run > Run All Cells; wait until every cell ran (or one failed).

    Returns the final :func:`run_state`. Clearing first makes "every prompt shows a number" mean
    "ran in this kernel", not "was stored in the file".
    """
    menu_command(page, "Edit", "editmenu:clear-all")
    page.wait_for_function(
        "(panel) => [...panel.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]"
        ".every(p => !/\\d/.test(p.textContent))",
        arg=panel.element_handle(),
        timeout=30_000,
    )
    menu_command(page, "Run", "runmenu:run-all")
    deadline = time.monotonic() + timeout_s
    while True:
        state = run_state(panel)
        if state["running"] == 0 and (state["numbered"] == state["total"] or state["errors"]):
            return state
        if time.monotonic() > deadline:
            raise AssertionError(f"Run All did not finish in {timeout_s:.0f} s: {state}")
        page.wait_for_timeout(500)


def _label(page: Page, description: str) -> Locator:
    return page.locator(".widget-label", has_text=re.compile(rf"^\s*{re.escape(description)}\s*$"))


def widget_slider(scope: Locator, description: str) -> Locator:
    """The ipywidgets slider under ``scope`` whose description is exactly ``description``."""
    return scope.locator(".widget-slider").filter(has=_label(scope.page, description)).first


def app_with_slider(panel: Locator, description: str) -> Locator:
    """The output of a notebook cell (a widget app) that holds the slider named ``description``."""
    slider = panel.page.locator(".widget-slider").filter(has=_label(panel.page, description))
    return panel.locator(".jp-Cell-outputArea > .jp-OutputArea-child").filter(has=slider).first


def slider_value(slider: Locator) -> str:
    return slider.locator(".widget-readout").inner_text().strip()


def press_slider(slider: Locator, key: str, times: int = 1) -> tuple[str, str]:
    """Focus a slider's handle and press ``key`` (ArrowRight/ArrowLeft: one step; Home/End: to
    the lowest/highest value), as a person can; wait until the readout shows the new value.
    Returns the (old, new) readout."""
    handle = slider.locator(".noUi-handle").first
    old = slider_value(slider)
    now = handle.get_attribute("aria-valuenow")
    if (key == "Home" and now == handle.get_attribute("aria-valuemin")) or (
        key == "End" and now == handle.get_attribute("aria-valuemax")
    ):
        return old, old  # already there
    handle.scroll_into_view_if_needed()
    handle.focus()
    for _ in range(times):
        handle.press(key)
    readout = slider.locator(".widget-readout")
    readout.page.wait_for_function(
        "([el, old]) => el.textContent.trim() !== old", arg=[readout.element_handle(), old], timeout=10_000
    )
    return old, slider_value(slider)


def nudge_slider(slider: Locator, steps: int = 1) -> tuple[str, str]:
    """Move a slider ``steps`` steps, towards the end that has room. Returns the (old, new) readout."""
    handle = slider.locator(".noUi-handle").first
    now = float(handle.get_attribute("aria-valuenow"))
    top = float(handle.get_attribute("aria-valuemax"))
    return press_slider(slider, "ArrowRight" if now < top else "ArrowLeft", steps)


def click_and_wait_for_output(button: Locator, app: Locator, timeout_s: float) -> str:
    """Click ``button`` and wait until an Output widget of ``app`` is redrawn and holds text.

    Waits for a redraw, not for different words: the same text twice is still a fresh answer.
    Returns the text of the app's Output widgets."""
    app.evaluate(
        """(box) => {
            box.uiRedrawn = false;
            const watch = new MutationObserver(() => { box.uiRedrawn = true; });
            box.querySelectorAll('.widget-output').forEach(
                (o) => watch.observe(o, {childList: true, subtree: true, characterData: true}));
        }"""
    )
    button.click()
    button.page.wait_for_function(
        """(box) => box.uiRedrawn && [...box.querySelectorAll('.widget-output')]
            .some((o) => o.innerText.trim().length > 0)""",
        arg=app.element_handle(),
        timeout=timeout_s * 1000,
    )
    button.page.wait_for_timeout(300)  # the last message of the redraw, before anyone looks
    return "\n".join(app.locator(".widget-output").all_inner_texts()).strip()
