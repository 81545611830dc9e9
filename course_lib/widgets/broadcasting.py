"""Broadcasting (广播) explained step by step: which shapes combine, why, and how each operand is stretched.

``broadcast_shapes_explained`` applies the rule PyTorch, NumPy and TensorFlow share and writes
down every step; ``plot_broadcast`` draws the stretching; ``broadcasting_explorer`` wires two
text boxes to both. matplotlib and ipywidgets are imported only when a drawing is asked for.
"""
from __future__ import annotations

import html
import operator
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

from . import clear_figure, show_figure

if TYPE_CHECKING:  # imported lazily: the exercises use the explanation without a plotting library
    import ipywidgets
    from matplotlib.figure import Figure

__all__ = [
    "BroadcastExplanation",
    "broadcast_shapes_explained",
    "parse_shape",
    "plot_broadcast",
    "broadcasting_explorer",
    "EXAMPLES",
]

Shape = tuple[int, ...]

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


@dataclass
class BroadcastExplanation:
    """The outcome of broadcasting two shapes, and every step that led to it."""

    shape_a: Shape
    shape_b: Shape
    aligned_a: Shape  # padded on the left with 1s to the same rank
    aligned_b: Shape
    result: Shape | None  # None when the shapes do not broadcast
    steps: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.result is not None

    def __str__(self) -> str:
        return "\n".join(self.steps)


def _fmt(shape: Sequence[int]) -> str:
    """``(3,)`` and ``()`` written the way Python writes tuples, so learners see familiar text."""
    return str(tuple(int(d) for d in shape))


def _as_shape(value: Sequence[int] | int, name: str) -> Shape:
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value,)
    try:
        shape = tuple(value)
    except TypeError:
        raise TypeError(f"{name} must be a shape such as (3, 1) or torch.Size([3, 1]); got {value!r}.") from None
    sizes = []
    for dim in shape:
        try:
            if isinstance(dim, bool):
                raise TypeError
            size = operator.index(dim)  # int, numpy integer, 0-d integer tensor; not 2.0 or "3"
        except TypeError:
            raise TypeError(f"{name} = {value!r}: every size must be a whole number, got {dim!r}.") from None
        if size < 0:
            raise ValueError(f"{name} = {value!r}: sizes cannot be negative ({size}).")
        sizes.append(size)
    return tuple(sizes)


def broadcast_shapes_explained(a: Sequence[int] | int, b: Sequence[int] | int) -> BroadcastExplanation:
    """Broadcast shape ``a`` with shape ``b`` and explain each step; never raises for a mismatch.

    The rule: line the shapes up on the right, pad the shorter one on the left with 1s, then
    compare each position. Equal sizes stay; a size 1 is stretched (repeated, without copying)
    to the other size; any other pair is an error. ``result`` agrees with
    ``torch.broadcast_shapes(a, b)``; when that would raise, ``result`` is None and ``error``
    says which dimension clashed and how to fix the usual causes.
    """
    shape_a, shape_b = _as_shape(a, "a"), _as_shape(b, "b")
    rank = max(len(shape_a), len(shape_b))
    aligned_a = (1,) * (rank - len(shape_a)) + shape_a
    aligned_b = (1,) * (rank - len(shape_b)) + shape_b
    steps = [f"1. Shapes: A {_fmt(shape_a)} (rank {len(shape_a)}), B {_fmt(shape_b)} (rank {len(shape_b)})."]
    if len(shape_a) == len(shape_b):
        steps.append("2. Same rank: nothing to pad.")
    else:
        shorter, padded = ("A", aligned_a) if len(shape_a) < len(shape_b) else ("B", aligned_b)
        steps.append(
            f"2. Align on the right; pad {shorter} on the left with 1s: {shorter} -> {_fmt(padded)}. "
            f"Aligned: A {_fmt(aligned_a)}, B {_fmt(aligned_b)}."
        )
    steps.append("3. Compare sizes position by position, from the right:")
    result: list[int] = []
    clashes: list[str] = []
    for position in range(rank - 1, -1, -1):
        size_a, size_b = aligned_a[position], aligned_b[position]
        label = f"   dim {position - rank} (axis {position} of the result): {size_a} vs {size_b}"
        if size_a == size_b:
            result.append(size_a)
            steps.append(f"{label} -> equal, keep {size_a}")
        elif size_a == 1 or size_b == 1:
            stretched, size = ("A", size_b) if size_a == 1 else ("B", size_a)
            result.append(size)
            if size == 0:
                steps.append(f"{label} -> {stretched}'s size 1 broadcasts to 0: the result is empty along this axis")
            else:
                steps.append(f"{label} -> {stretched} is stretched from 1 to {size}")
        else:
            clashes.append(f"dim {position - rank}: {size_a} vs {size_b}")
            steps.append(f"{label} -> ERROR: the sizes differ and neither is 1")
    result.reverse()
    if not clashes:
        steps.append(f"4. Result shape: {_fmt(result)}.")
        return BroadcastExplanation(shape_a, shape_b, aligned_a, aligned_b, tuple(result), steps)

    error = (
        f"Shapes {_fmt(shape_a)} and {_fmt(shape_b)} do not broadcast: after aligning on the right "
        f"({_fmt(aligned_a)} vs {_fmt(aligned_b)}) the sizes clash at {'; '.join(clashes)}, and only a size of 1 "
        "can be stretched. If you meant to line up a different axis, add a size-1 axis where it belongs, "
        "e.g. x[:, None] or x.unsqueeze(-1) turns (N,) into (N, 1); a reduction with keepdim=True keeps that axis."
    )
    steps.append(f"4. No result: {error}")
    return BroadcastExplanation(shape_a, shape_b, aligned_a, aligned_b, None, steps, error)


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
                    (c, show_rows - 1 - r), 0.92, 0.92, facecolor=colour,
                    edgecolor="black" if stored else "#6d8fb3", linestyle="-" if stored else "--", linewidth=1,
                )
            )
    ax.set_xlim(-0.2, max(show_cols, 1) + 0.2)
    ax.set_ylim(-0.2, max(show_rows, 1) + 0.2)
    ax.set_aspect("equal")
    ax.axis("off")
    cut = " (first 6 shown)" if out_rows > _MAX_CELLS or out_cols > _MAX_CELLS else ""
    lead = ""
    if result is not None and len(result) > 2:
        lead = f"\nleading axes {_fmt(aligned[:-2])}"
        if aligned[:-2] != result[:-2]:
            lead += f" -> {_fmt(result[:-2])}"
    elif len(shape) > 2:
        lead = f"\nleading axes {_fmt(shape[:-2])}"
    ax.set_title(f"{name} {_fmt(shape)}{lead}{cut}", fontsize=10)


def plot_broadcast(a: Sequence[int] | int, b: Sequence[int] | int) -> "Figure":
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
            f"aligned A {_fmt(explained.aligned_a)}, B {_fmt(explained.aligned_b)} -> result {_fmt(explained.result)}"
            "\ndark: values stored in memory; light, dashed: values broadcasting repeats (no copy is made)",
            fontsize=10,
        )
    else:
        axes[2].axis("off")
        axes[2].text(0.5, 0.5, "does not\nbroadcast", ha="center", va="center", fontsize=14, color="#b22222")
        fig.suptitle(
            f"{_fmt(explained.shape_a)} and {_fmt(explained.shape_b)} do not broadcast: "
            f"aligned {_fmt(explained.aligned_a)} vs {_fmt(explained.aligned_b)}",
            fontsize=10, color="#b22222",
        )
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- explorer
def broadcasting_explorer(a: str = "3, 1", b: str = "4") -> "ipywidgets.VBox":
    """Two text boxes (and ready-made examples): the steps, the result shape and the drawing update."""
    import ipywidgets as widgets

    example = widgets.Dropdown(
        options=[("choose an example…", None)] + [(name, pair) for name, pair in EXAMPLES.items()],
        value=None, description="Examples", layout=widgets.Layout(width="420px"),
    )
    box_a = widgets.Text(value=a, description="shape A", continuous_update=False, placeholder="e.g. 3, 1")
    box_b = widgets.Text(value=b, description="shape B", continuous_update=False, placeholder="e.g. 4")
    steps = widgets.HTML()
    drawing = widgets.Output()

    holding = [False]  # True while an example sets both boxes, so the drawing updates once

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
            f"<b style='color:#2e7d32'>broadcasts to {_fmt(explained.result)}</b>"
            if explained.ok else "<b style='color:#b22222'>does not broadcast</b>"
        )
        lines = "<br>".join(line.replace(" ", "&nbsp;") for line in explained.steps)
        steps.value = f"{verdict}<div style='font-family:monospace'>{lines}</div>"
        show_figure(drawing, plot_broadcast(shape_a, shape_b))

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
