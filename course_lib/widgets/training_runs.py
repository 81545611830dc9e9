"""Explorer for chapter 10: pick TensorBoard runs and a curve, and see them side by side.

It draws what ``course_lib.tensorboard_logs`` reads from the event files (the same files the
TensorBoard server shows); it computes nothing itself.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..tensorboard_logs import list_runs, plot_runs, read_scalars
from . import clear_figure, one_at_a_time, show_figure

if TYPE_CHECKING:
    import ipywidgets

__all__ = ["runs_explorer", "run_tags"]


def run_tags(runs: dict[str, Path]) -> list[str]:
    """The scalar tags every run has (the curves they can be compared on), epoch curves first."""
    tags = None
    for folder in runs.values():
        found = set(read_scalars(folder))
        tags = found if tags is None else tags & found
    return sorted(tags or (), key=lambda tag: (not tag.startswith("epoch/"), tag))


def runs_explorer(root: str | os.PathLike) -> ipywidgets.VBox:
    """Choose runs under ``root`` and a curve; the plot redraws with each choice."""
    import ipywidgets as widgets

    root = Path(root)
    found = list_runs(root) if root.is_dir() else []
    runs = {str(path.relative_to(root)): path for path in found}
    output = widgets.Output()
    if not runs:
        message = widgets.HTML(f"No TensorBoard runs under {root} yet: run the training cells above first.")
        return widgets.VBox([message, output])
    tags = run_tags(runs)
    chosen = widgets.SelectMultiple(options=list(runs), value=tuple(runs), description="runs", rows=min(6, len(runs)))
    tag = widgets.Dropdown(options=tags, value=tags[0] if tags else None, description="curve")
    x_axis = widgets.ToggleButtons(options=["epoch", "step"], value="epoch", description="x axis")

    @one_at_a_time
    def redraw(*_: object) -> None:
        if not chosen.value or tag.value is None:
            clear_figure(output)
            return
        x = "step" if tag.value.startswith("batch/") else x_axis.value
        fig = plot_runs({name: runs[name] for name in chosen.value}, tags=(tag.value,), x=x)
        show_figure(output, fig)

    for control in (chosen, tag, x_axis):
        control.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox([chosen, widgets.VBox([tag, x_axis])]), output])
