"""Type a prompt, move the temperature and top-k sliders, and watch a character model's text and odds change.

Chapter 08 uses it on the shipped Tiny Shakespeare model. Everything it shows is computed by
``course_lib.charlm`` (``CharLM.generate`` and ``CharLM.next_char_probabilities``, the same code
the chapter's sampling cells use); this module only draws: the generated text, and a bar chart of
the distribution the next character is drawn from (the most likely characters, largest first).
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import torch

from . import clear_figure, one_at_a_time, show_figure

if TYPE_CHECKING:
    import ipywidgets
    from matplotlib.figure import Figure

    from ..charlm import CharLM

__all__ = ["char_label", "plot_next_char_distribution", "char_sampling_explorer"]

_NAMED = {"\n": "\\n", " ": "␣", "\t": "\\t"}


def char_label(char: str) -> str:
    """How a character reads on an axis: a newline as ``\\n``, a space as ``␣``."""
    return _NAMED.get(char, char)


def plot_next_char_distribution(probs: torch.Tensor, chars: str, top: int = 20, title: str | None = None) -> Figure:
    """Bars for the ``top`` likeliest next characters (probabilities ``probs`` over ``chars``), largest first."""
    import matplotlib.pyplot as plt

    if not isinstance(probs, torch.Tensor) or probs.ndim != 1 or len(probs) != len(chars):
        raise ValueError(f"probs must be a 1-D tensor with one probability per character ({len(chars)}).")
    shown = min(top, len(chars))
    values, ids = probs.detach().float().cpu().topk(shown)
    fig, ax = plt.subplots(figsize=(9, 2.8))
    ax.bar(range(shown), values.numpy(), color=["tab:orange" if i == 0 else "tab:blue" for i in range(shown)])
    ax.set_xticks(range(shown), [char_label(chars[int(i)]) for i in ids], fontsize=11)
    ax.set_ylim(0, 1)
    ax.set_ylabel("probability")
    kept = int((probs > 0).sum())
    ax.set_title(title or f"next character: the {shown} likeliest of {len(chars)} ({kept} can be drawn)", fontsize=10)
    fig.tight_layout()
    return fig


def char_sampling_explorer(
    model: CharLM, prompt: str = "ROMEO:", length: int = 200, seed: int = 0, max_temperature: float = 2.0
) -> ipywidgets.VBox:
    """A prompt box and sliders for temperature (0 = greedy) and top-k (0 = every character); redraws on each change.

    The text is drawn with a generator seeded with ``seed`` each time, so moving a slider and moving it
    back gives the same text again. A prompt the model cannot read shows the model's one-sentence error.
    """
    import ipywidgets as widgets

    vocab_size = model.vocab.size
    prompt_box = widgets.Text(value=prompt, description="prompt", continuous_update=False)
    temperature = widgets.FloatSlider(
        value=0.8, min=0.0, max=max_temperature, step=0.05, description="temperature", continuous_update=False
    )
    top_k = widgets.IntSlider(value=0, min=0, max=vocab_size, description="top-k (0=all)", continuous_update=False)
    text = widgets.HTML()
    output = widgets.Output()

    @one_at_a_time
    def redraw(*_: object) -> None:
        k = top_k.value or None
        try:
            probs = model.next_char_probabilities(prompt_box.value, temperature.value, k)
            sample = model.generate(
                prompt_box.value, length, temperature.value, k, generator=torch.Generator().manual_seed(seed)
            )
        except (ValueError, TypeError) as error:  # an empty prompt, a character outside the vocabulary
            text.value = f"<p style='color:#b00'>{html.escape(str(error))}</p>"
            clear_figure(output)
            return
        text.value = (
            f"<pre style='white-space:pre-wrap'><b>{html.escape(prompt_box.value)}</b>{html.escape(sample)}</pre>"
        )
        setting = "greedy" if temperature.value == 0 else f"temperature {temperature.value:.2f}"
        setting += f", top-k {k}" if k else ""
        show_figure(
            output,
            plot_next_char_distribution(
                probs, model.vocab.chars, title=f"the next character after the prompt ({setting})"
            ),
        )

    for control in (prompt_box, temperature, top_k):
        control.observe(redraw, names="value")
    redraw()
    box = widgets.VBox([prompt_box, widgets.HBox([temperature, top_k]), text, output])
    box.controls = {"prompt": prompt_box, "temperature": temperature, "top_k": top_k}  # for tests and scripting
    box.text, box.output, box.redraw = text, output, redraw
    return box
