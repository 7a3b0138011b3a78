"""Widgets for notebook 08: watch generation step by step, and a playground for the sampling knobs.

Plain functions do the work and return plain data (tests call them directly):

* ``step_table(model, text, k=5, steps=1, ...)``: for each step, the text so far, the ``k`` most
  likely next tokens with their probabilities, and the token picked;
* ``format_steps`` / ``plot_steps``: that table as text or as bar charts;
* ``playground_generate(model, prompt, temperature, top_k, top_p, max_new_tokens, seed)``: the
  prompt and its continuation as one string.

The apps are thin ipywidgets layers over them: ``StepperApp`` (a "Next token" button),
``FrameStepperApp`` (a "step" slider with Previous/Next over ``course_utils.lens.generation_frames``:
each step's column rising through the stack) and ``PlaygroundApp`` (prompt, temperature, top-k,
top-p, length, "Generate"). Their widgets are attributes, so a test can set values and call
``button.click()`` without a browser.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import matplotlib.pyplot as plt
import torch

from ..checks import check_sampling
from ..generate import generate, next_token_distribution, sample_next_token
from ..model import eval_mode
from ..tokenizer import ENDOFTEXT_ID, get_tokenizer, text_to_ids

__all__ = [
    "FrameStepperApp",
    "PlaygroundApp",
    "Step",
    "StepperApp",
    "format_steps",
    "generation_stepper",
    "playground_app",
    "playground_generate",
    "plot_steps",
    "step_table",
    "stepper_app",
]


def _show_token(text: str) -> str:
    """A token as a readable label: quoted, so leading spaces and newlines are visible."""
    return repr(text)


@dataclass
class Step:
    """One generation step: what the model saw, its top candidates, and the token it picked."""

    context: str  # the text so far (the model's input)
    candidates: list[tuple[str, float]]  # the k most likely next tokens and their probabilities
    pick: str  # the token chosen this step
    pick_id: int
    pick_prob: float  # its probability under the (filtered) distribution
    candidate_ids: list[int]  # the token ids of the candidates


def _one_step(model, ids, k, temperature, top_k, top_p, generator, tok) -> tuple[Step, torch.Tensor]:
    ctx = model.cfg.context_length
    with eval_mode(model), torch.inference_mode():
        logits = model(ids[:, -ctx:])[:, -1, :]  # (1, V)
        # the table shows the model's own view (temperature 1, no filters) when greedy
        shown = next_token_distribution(logits, temperature or 1.0, top_k, top_p)[0]
        pick = int(sample_next_token(logits, temperature, top_k, top_p, generator)[0])
    probs, idx = torch.topk(shown, min(k, shown.numel()))
    candidates = [(tok.decode([int(i)]), float(p)) for p, i in zip(probs, idx, strict=True)]
    step = Step(
        tok.decode(ids[0].tolist()), candidates, tok.decode([pick]), pick, float(shown[pick]),
        [int(i) for i in idx],
    )
    return step, torch.cat([ids, torch.tensor([[pick]], device=ids.device)], dim=1)


def step_table(
    model,
    text: str,
    k: int = 5,
    *,
    steps: int = 1,
    temperature: float = 0.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int = 123,
) -> list[Step]:
    """Generate ``steps`` tokens after ``text``, recording every step (see ``Step``).

    Greedy by default (the pick is the first candidate); with ``temperature > 0`` the pick is
    sampled (seeded by ``seed``) and the candidates' probabilities are the filtered ones.
    """
    check_sampling(temperature, top_k, top_p)
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a whole number >= 1, got {k!r}")
    tok = get_tokenizer()
    ids = text_to_ids(text, tok).to(next(model.parameters()).device)
    if ids.shape[1] == 0:
        raise ValueError("the text is empty; give the model at least one word to continue")
    generator = torch.Generator(device=ids.device).manual_seed(seed)
    table = []
    for _ in range(steps):
        step, ids = _one_step(model, ids, k, temperature, top_k, top_p, generator, tok)
        table.append(step)
    return table


def format_steps(table: list[Step], width: int = 40) -> str:
    """The steps as a text table: the end of the text so far, the candidates, the pick."""
    lines = []
    for i, s in enumerate(table, 1):
        context = s.context if len(s.context) <= width else "..." + s.context[-(width - 3) :]
        # probabilities to 3 decimals: the 4th differs between CPUs (Intel and AMD EPYC), and nbval compares text
        cands = "  ".join(f"{_show_token(t)} {p:.3f}" for t, p in s.candidates)
        lines.append(f"step {i}: {context!r}\n   top: {cands}\n   pick: {_show_token(s.pick)}")
    return "\n".join(lines)


def plot_steps(table: list[Step], max_context: int = 45):
    """One horizontal bar chart per step: the candidates' probabilities, the pick in orange.
    The panels share their x-axis, so bars of different steps compare by length."""
    n = len(table)
    fig, axes = plt.subplots(1, n, figsize=(3.3 * n, 2.9), squeeze=False, sharex=True)
    right = max(max(max(p for _, p in s.candidates) * 1.25, 0.05) for s in table)
    for ax, s in zip(axes[0], table, strict=True):
        labels = [_show_token(t) for t, _ in s.candidates]
        probs = [p for _, p in s.candidates]
        colors = ["#f4a261" if i == s.pick_id else "#8fb3d9" for i in s.candidate_ids]
        ax.barh(range(len(probs))[::-1], probs, color=colors)
        ax.set_yticks(range(len(probs))[::-1], labels)
        ax.set_xlim(0, right)
        for y, p in zip(range(len(probs))[::-1], probs, strict=True):
            ax.text(p, y, f" {p:.2f}", va="center", fontsize=8)
        ctx = s.context if len(s.context) <= max_context else "..." + s.context[-(max_context - 3) :]
        ax.set_title(f"...{ctx[-22:]!r}\npick: {_show_token(s.pick)}", fontsize=9)
        ax.set_xlabel("probability")
    fig.tight_layout()
    return fig


def playground_generate(
    model,
    prompt: str = "ROMEO.\n",
    temperature: float = 0.8,
    top_k: int | None = 40,
    top_p: float | None = 0.95,
    max_new_tokens: int = 40,
    seed: int = 123,
) -> str:
    """The prompt followed by its continuation (stops early at end-of-text).

    ``top_k=0`` and ``top_p=1`` (the sliders' "off" ends) mean no filtering.
    """
    if not isinstance(prompt, str) or not prompt:
        raise ValueError("the prompt is empty; type a few words for the model to continue")
    top_k = None if top_k == 0 else top_k
    top_p = None if top_p is not None and top_p >= 1.0 else top_p
    tok = get_tokenizer()
    device = next(model.parameters()).device
    ids = text_to_ids(prompt, tok).to(device)
    eos = ENDOFTEXT_ID if ENDOFTEXT_ID < model.cfg.vocab_size else None
    generator = torch.Generator(device=device).manual_seed(seed)
    out = generate(
        model, ids, max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p,
        eos_id=eos, generator=generator,
    )[0].tolist()
    if eos is not None and eos in out[ids.shape[1] :]:
        out = out[: ids.shape[1] + out[ids.shape[1] :].index(eos)]
    return tok.decode(out)


# ---------------------------------------------------------------- the ipywidgets apps


def _figure_png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


class StepperApp:
    """Press "Next token": the model predicts one more token; see its top candidates and the pick.

    ``app.steps`` holds every ``Step`` so far, ``app.table`` (HTML) and ``app.chart`` (a bar chart
    image) show the latest; "Start over" goes back to the prompt.
    """

    def __init__(self, model, text: str = "ROMEO.\n", k: int = 5, temperature: float = 0.0, seed: int = 123):
        import ipywidgets as w

        self.model, self.text, self.k, self.temperature, self.seed = model, text, k, temperature, seed
        self.steps: list[Step] = []
        self.button = w.Button(description="Next token", button_style="primary", icon="forward")
        self.reset_button = w.Button(description="Start over")
        self.context = w.HTML()
        self.table = w.HTML()
        self.chart = w.Image(format="png")
        self.button.on_click(lambda _: self.next_token())
        self.reset_button.on_click(lambda _: self.reset())
        self.widget = w.VBox(
            [w.HBox([self.button, self.reset_button]), self.context, w.HBox([self.chart, self.table])]
        )
        self.reset()

    def reset(self) -> None:
        self.steps = []
        self.ids = text_to_ids(self.text, get_tokenizer()).to(next(self.model.parameters()).device)
        self.generator = torch.Generator(device=self.ids.device).manual_seed(self.seed)
        self.context.value = f"<b>Text so far:</b> <code>{_html(self.text)}</code>"
        self.table.value = "<i>press “Next token”</i>"
        self.chart.value = b""

    def next_token(self) -> Step:
        step, self.ids = _one_step(
            self.model, self.ids, self.k, self.temperature, None, None, self.generator, get_tokenizer()
        )
        self.steps.append(step)
        self.context.value = (
            f"<b>Text so far:</b> <code>{_html(step.context)}</code>"
            f"<b style='color:#e76f51'>{_html(step.pick)}</b>"
        )
        rows = "".join(
            f"<tr><td><code>{_html(_show_token(t))}</code></td><td>{p:.4f}</td>"
            f"<td>{'⬅ pick' if i == step.pick_id else ''}</td></tr>"
            for (t, p), i in zip(step.candidates, step.candidate_ids, strict=True)
        )
        self.table.value = (
            f"<b>Step {len(self.steps)}: top {self.k} candidates</b>"
            f"<table><tr><th>token</th><th>probability</th><th></th></tr>{rows}</table>"
        )
        self.chart.value = _figure_png(plot_steps([step]))
        return step

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


class FrameStepperApp:
    """Generation frame by frame: a "step" slider (and Previous / Next) picks a step of
    ``course_utils.lens.generation_frames``; ``app.image`` shows ``plot_frame`` of it and
    ``app.text`` its ``format_frame`` text. The frames are computed once, when the app is made."""

    def __init__(self, model, prompt: str = "ROMEO.\n", steps: int = 8, k: int = 5):
        import ipywidgets as w

        from ..lens import generation_frames

        if not isinstance(prompt, str) or not prompt:
            raise ValueError("the prompt is empty; type a few words for the model to continue")
        self.frames = generation_frames(model, text_to_ids(prompt, get_tokenizer()), steps, k)
        self.slider = w.IntSlider(value=1, min=1, max=len(self.frames), step=1, description="step")
        self.previous = w.Button(description="Previous", icon="backward")
        self.next = w.Button(description="Next", icon="forward", button_style="primary")
        self.image = w.Image(format="png")
        self.text = w.HTML()
        self.previous.on_click(lambda _: self.show(self.slider.value - 1))
        self.next.on_click(lambda _: self.show(self.slider.value + 1))
        self.slider.observe(lambda change: self._draw(change["new"]), names="value")
        self.widget = w.VBox([w.HBox([self.previous, self.slider, self.next]), self.image, self.text])
        self._draw(1)

    def show(self, step: int) -> None:
        """Go to ``step`` (clamped to 1 .. number of frames)."""
        self.slider.value = min(max(step, 1), len(self.frames))

    def _draw(self, step: int) -> None:
        from ..lens import format_frame, plot_frame

        frame = self.frames[step - 1]
        self.image.value = _figure_png(plot_frame(frame))
        self.text.value = f"<pre>{_escape(format_frame(frame))}</pre>"

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


class PlaygroundApp:
    """Prompt, temperature, top-k, top-p, length and a "Generate" button over ``playground_generate``.

    The generated text goes to ``app.output`` (an ipywidgets Output area) and ``app.text``.
    """

    def __init__(
        self,
        model,
        prompt: str = "ROMEO.\n",
        temperature: float = 0.8,
        top_k: int = 40,
        top_p: float = 0.95,
        max_new_tokens: int = 40,
        seed: int = 123,
    ):
        import ipywidgets as w

        self.model, self.seed = model, seed
        style = {"description_width": "initial"}
        self.prompt = w.Textarea(value=prompt, description="prompt", layout=w.Layout(width="95%"))
        self.temperature = w.FloatSlider(
            value=temperature, min=0.0, max=2.0, step=0.05, description="temperature", style=style
        )
        self.top_k = w.IntSlider(value=top_k, min=0, max=200, step=1, description="top-k (0 = off)", style=style)
        self.top_p = w.FloatSlider(
            value=top_p, min=0.05, max=1.0, step=0.05, description="top-p (1 = off)", style=style
        )
        self.length = w.IntSlider(value=max_new_tokens, min=1, max=200, step=1, description="length", style=style)
        self.button = w.Button(description="Generate", button_style="primary")
        self.output = w.Output(layout=w.Layout(border="1px solid #ccc", padding="4px", min_height="4em"))
        self.text = ""
        self.button.on_click(lambda _: self.run())
        self.widget = w.VBox(
            [self.prompt, w.HBox([self.temperature, self.top_k]), w.HBox([self.top_p, self.length]),
             self.button, self.output]
        )

    def run(self) -> str:
        try:
            self.text = playground_generate(
                self.model, self.prompt.value, self.temperature.value, self.top_k.value,
                self.top_p.value, self.length.value, self.seed,
            )
        except ValueError as e:
            self.text = f"error: {e}"
        # write the text straight into the Output area (works with or without a running kernel)
        self.output.outputs = ()
        self.output.append_stdout(self.text + "\n")
        return self.text

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


def _escape(text: str) -> str:
    import html

    return html.escape(text)


def _html(text: str) -> str:
    import html

    return html.escape(text).replace("\n", "↵<br>")


def stepper_app(model, text: str = "ROMEO.\n", k: int = 5, temperature: float = 0.0, seed: int = 123) -> StepperApp:
    """The step-by-step view as an app: a "Next token" button, the candidates, the pick."""
    return StepperApp(model, text, k, temperature, seed)


def generation_stepper(model, prompt: str = "ROMEO.\n", steps: int = 8, k: int = 5) -> FrameStepperApp:
    """Generation frame by frame as an app: a step slider over ``generation_frames``."""
    return FrameStepperApp(model, prompt, steps, k)


def playground_app(model, **defaults) -> PlaygroundApp:
    """The generation playground as an app (defaults as in ``playground_generate``)."""
    return PlaygroundApp(model, **defaults)
