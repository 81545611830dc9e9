"""Broadcasting (广播) drawn: which shapes combine, and how each operand is stretched.

The rule and its steps are ``course_lib.scratch.broadcasting.broadcast_shapes_explained``;
``plot_broadcast`` draws the stretching; ``broadcasting_explorer`` wires two text boxes to both.
matplotlib and ipywidgets are imported only when a drawing is asked for.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..scratch.broadcasting import Shape, broadcast_shapes_explained, format_shape
from . import clear_figure, one_at_a_time, show_figure

if TYPE_CHECKING:  # imported lazily: drawing needs a plotting library, the explanation does not
    import ipywidgets
    from matplotlib.figure import Figure

__all__ = [
    "parse_shape",
    "plot_broadcast",
    "broadcasting_explorer",
    "EXAMPLES",
]

#: Pairs worth trying in the explorer, with what each teaches.
EXAMPLES: dict[str, tuple[str, str]] = {
    "row vector + column vector": ("3, 1", "4"),
    "matrix + row (bias per column)": ("4, 3", "3"),
    "matrix + column (keepdim=True)": ("4, 3", "4, 1"),
    "the classic bug: (N,) vs (N, 1)": ("5", "5, 1"),
    "does not broadcast: (4, 3) + (4,)": ("4, 3", "4"),
    "batch of images * per-channel scale": ("8, 3, 32, 32", "3, 1, 1"),
    "scalar + anything": ("", "2, 3"),
}


def parse_shape(text: str) -> Shape:
    """Read a shape a learner typed: ``"3, 1"``, ``"(3, 1)"``, ``"[3 1]"``; empty or ``"()"`` is a scalar."""
    cleaned = text.strip().strip("()[]").strip()
    if re.search(r"torch\.Size", text):
        cleaned = re.sub(r"torch\.Size|[()\[\]]", "", text).strip()
    if not cleaned:
        return ()
    parts = [part for part in re.split(r"[,\s]+", cleaned) if part]
    shape = []
    for part in parts:
        if not re.fullmatch(r"\d+", part):
            raise ValueError(
                f"Cannot read {text!r} as a shape: {part!r} is not a whole number 0 or more. "
                "Write sizes separated by commas, e.g. 3, 1 (leave it empty for a scalar)."
            )
        shape.append(int(part))
    return tuple(shape)


# ----------------------------------------------------------------------------- drawing
_MAX_CELLS = 6  # more cells than this per axis are summarised, so big shapes still read at a glance
_ORIGINAL, _STRETCHED, _EMPTY = "#3b75af", "#a9c7e8", "#f2f2f2"


def _grid(shape: Shape) -> tuple[int, int]:
    """The last two sizes, as (rows, cols): a vector is one row, a scalar a single cell."""
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return 1, shape[0]
    return shape[-2], shape[-1]


def _draw_operand(ax, name: str, shape: Shape, aligned: Shape, result: Shape | None) -> None:
    """Draw ``shape``'s last two axes as a grid: stored cells dark, cells broadcasting repeats light.

    ``aligned`` is the shape padded to the result's rank; ``result`` the broadcast shape (None: draw as is).
    """
    from matplotlib.patches import Rectangle

    rows, cols = _grid(shape)
    out_rows, out_cols = _grid(result) if result is not None else (rows, cols)
    show_rows, show_cols = min(out_rows, _MAX_CELLS), min(out_cols, _MAX_CELLS)
    for r in range(show_rows):
        for c in range(show_cols):
            stored = r < rows and c < cols
            colour = _ORIGINAL if stored else _STRETCHED
            ax.add_patch(
                Rectangle(
                    (c, show_rows - 1 - r),
                    0.92,
                    0.92,
                    facecolor=colour,
                    edgecolor="black" if stored else "#6d8fb3",
                    linestyle="-" if stored else "--",
                    linewidth=1,
                )
            )
    ax.set_xlim(-0.2, max(show_cols, 1) + 0.2)
    ax.set_ylim(-0.2, max(show_rows, 1) + 0.2)
    ax.set_aspect("equal")
    ax.axis("off")
    cut = " (first 6 shown)" if out_rows > _MAX_CELLS or out_cols > _MAX_CELLS else ""
    lead = ""
    if result is not None and len(result) > 2:
        lead = f"\nleading axes {format_shape(aligned[:-2])}"
        if aligned[:-2] != result[:-2]:
            lead += f" -> {format_shape(result[:-2])}"
    elif len(shape) > 2:
        lead = f"\nleading axes {format_shape(shape[:-2])}"
    ax.set_title(f"{name} {format_shape(shape)}{lead}{cut}", fontsize=10)


def plot_broadcast(a: Sequence[int] | int, b: Sequence[int] | int) -> Figure:
    """A figure: A and B stretched to the result's last two axes (dark = stored, light = repeated).

    When the shapes do not broadcast, A and B are drawn as they are and the title says why.
    """
    import matplotlib.pyplot as plt

    explained = broadcast_shapes_explained(a, b)
    fig, axes = plt.subplots(1, 3, figsize=(9, 3.2))
    _draw_operand(axes[0], "A", explained.shape_a, explained.aligned_a, explained.result)
    _draw_operand(axes[1], "B", explained.shape_b, explained.aligned_b, explained.result)
    if explained.ok:
        _draw_operand(axes[2], "A + B", explained.result, explained.result, explained.result)
        fig.suptitle(
            f"aligned A {format_shape(explained.aligned_a)}, B {format_shape(explained.aligned_b)} -> result {format_shape(explained.result)}"
            "\ndark: values stored in memory; light, dashed: values broadcasting repeats (no copy is made)",
            fontsize=10,
        )
    else:
        axes[2].axis("off")
        axes[2].text(0.5, 0.5, "does not\nbroadcast", ha="center", va="center", fontsize=14, color="#b22222")
        fig.suptitle(
            f"{format_shape(explained.shape_a)} and {format_shape(explained.shape_b)} do not broadcast: "
            f"aligned {format_shape(explained.aligned_a)} vs {format_shape(explained.aligned_b)}",
            fontsize=10,
            color="#b22222",
        )
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- explorer
def broadcasting_explorer(a: str = "3, 1", b: str = "4") -> ipywidgets.VBox:
    """Two text boxes (and ready-made examples): the steps, the result shape and the drawing update."""
    import ipywidgets as widgets

    example = widgets.Dropdown(
        options=[("choose an example…", None)] + [(name, pair) for name, pair in EXAMPLES.items()],
        value=None,
        description="Examples",
        layout=widgets.Layout(width="420px"),
    )
    box_a = widgets.Text(value=a, description="shape A", continuous_update=False, placeholder="e.g. 3, 1")
    box_b = widgets.Text(value=b, description="shape B", continuous_update=False, placeholder="e.g. 4")
    steps = widgets.HTML()
    drawing = widgets.Output()

    holding = [False]  # True while an example sets both boxes, so the drawing updates once

    @one_at_a_time
    def redraw(*_: object) -> None:
        if holding[0]:
            return
        try:
            shape_a, shape_b = parse_shape(box_a.value), parse_shape(box_b.value)
        except ValueError as error:
            steps.value = f"<b style='color:#b22222'>{html.escape(str(error))}</b>"
            clear_figure(drawing)
            return
        explained = broadcast_shapes_explained(shape_a, shape_b)
        verdict = (
            f"<b style='color:#2e7d32'>broadcasts to {format_shape(explained.result)}</b>"
            if explained.ok
            else "<b style='color:#b22222'>does not broadcast</b>"
        )
        lines = "<br>".join(line.replace(" ", "&nbsp;") for line in explained.steps)
        steps.value = f"{verdict}<div style='font-family:monospace'>{lines}</div>"
        show_figure(drawing, plot_broadcast(shape_a, shape_b))

    @one_at_a_time
    def use_example(change: dict) -> None:
        if change["new"] is not None:
            holding[0] = True
            box_a.value, box_b.value = change["new"]
            holding[0] = False
            redraw()

    box_a.observe(redraw, names="value")
    box_b.observe(redraw, names="value")
    example.observe(use_example, names="value")
    redraw()
    return widgets.VBox([example, widgets.HBox([box_a, box_b]), steps, drawing])
