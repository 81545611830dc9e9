"""Draw an optimizer race (优化器竞赛): paths on a surface's contours, and loss curves of a network race.

Chapter 05 uses it twice:

- on a 2-D surface, the trajectories of ``course_lib.experiments.optimizer_race`` drawn on the
  contours next to the loss per step, and an explorer to change the learning rates, the momentum,
  the steps and which optimizers race;
- on MNIST, the training loss per batch of ``course_lib.experiments.network_race.compare_on_network``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..experiments.optimizer_race import (
    OPTIMIZER_NAMES,
    SURFACES,
    Surface,
    Trajectory,
    get_surface,
    race,
    standard_optimizers,
)
from . import one_at_a_time, show_figure

if TYPE_CHECKING:
    import ipywidgets
    from matplotlib.figure import Figure

    from ..experiments.network_race import NetworkRace

__all__ = ["plot_race", "draw_race", "optimizer_race_explorer", "plot_network_race"]

_COLORS = {
    "SGD": "tab:blue",
    "momentum": "tab:orange",
    "Nesterov": "tab:green",
    "RMSprop": "tab:purple",
    "Adam": "tab:red",
    "AdamW": "tab:brown",
}


# ----------------------------------------------------------------------------- drawing
def _visible_part(trajectory: Trajectory, surface: Surface) -> np.ndarray:
    """The points up to the first one outside the plot, that one included (the line runs off the edge there)."""
    points = trajectory.points.numpy()
    left = trajectory.left_plot_at(surface)
    return points if left is None else points[: left + 1]


def _levels(surface: Surface, z: np.ndarray) -> np.ndarray:
    if surface.log_levels:
        gap = z - surface.min_value
        low = max(float(gap.min()), 1e-3)
        return surface.min_value + np.logspace(np.log10(low), np.log10(float(gap.max())), 25)
    return np.linspace(float(z.min()), float(z.max()), 25)


def plot_race(surface: str | Surface, trajectories: Mapping[str, Trajectory], title: str | None = None) -> Figure:
    """Trajectories on the contours (left) and the gap to the minimum per step, log scale (right)."""
    import matplotlib.pyplot as plt

    surface = get_surface(surface)
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.6), gridspec_kw={"width_ratios": [1.25, 1]})
    X, Y, Z = surface.grid()
    left.contour(X, Y, Z, levels=_levels(surface, Z), cmap="viridis", linewidths=0.7, alpha=0.8)
    left.plot(*surface.start, "ko", markersize=6, label="_start", zorder=5)  # markers above the paths
    for x_min, y_min in surface.minima:
        left.plot(x_min, y_min, "*", color="gold", markeredgecolor="black", markersize=14, label="_minimum", zorder=5)
    floor = 1e-12
    for i, (name, trajectory) in enumerate(trajectories.items()):
        color = _COLORS.get(name, f"C{i}")
        label = trajectory.label(surface)
        path = _visible_part(trajectory, surface)
        left.plot(path[:, 0], path[:, 1], ".-", color=color, markersize=3, linewidth=1.2, label=label)
        gaps = np.maximum(trajectory.losses.numpy() - surface.min_value, floor)
        right.semilogy(np.arange(len(gaps)), gaps, color=color, label=label)
        if trajectory.diverged:
            right.plot(len(gaps) - 1, gaps[-1], "x", color=color, markersize=9, label="_diverged")
    left.set_xlim(*surface.x_range)
    left.set_ylim(*surface.y_range)
    left.set_xlabel("x")
    left.set_ylabel("y")
    left.set_title(f"{surface.name}: {surface.formula}", fontsize=10)
    start_gap = float(surface(torch.tensor(surface.start, dtype=torch.float64))) - surface.min_value
    right.set_ylim(floor, max(start_gap, 1.0) * 1e4)  # a diverging run would otherwise squash the others
    right.set_xlabel("step")
    right.set_ylabel(r"$f - f_{min}$ (log scale)")
    right.set_title("distance to the minimum value", fontsize=10)
    right.grid(True, alpha=0.3)
    if trajectories:
        right.legend(fontsize=8, loc="lower left")  # here, not on the contours, where it would hide paths
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def draw_race(
    surface: str = "bowl",
    lr: float | None = None,
    momentum: float | None = None,
    adaptive_lr: float | None = None,
    steps: int | None = None,
    optimizers: Sequence[str] = OPTIMIZER_NAMES,
) -> Figure:
    """Race the chosen standard optimizers on ``surface`` and plot it (what the explorer redraws).

    Settings left at None take the surface's own (``sgd_lr``, ``adaptive_lr``, ``momentum``, ``steps``).
    """
    track = get_surface(surface)
    momentum = track.momentum if momentum is None else momentum
    lr = track.sgd_lr if lr is None else lr
    adaptive_lr = track.adaptive_lr if adaptive_lr is None else adaptive_lr
    chosen = standard_optimizers(lr=lr, momentum=momentum, adaptive_lr=adaptive_lr, names=optimizers)
    trajectories = race(track, chosen, steps) if chosen else {}
    title = f"lr = {lr:.3g} (SGD family), {adaptive_lr:.3g} (RMSprop, Adam); momentum / beta1 = {momentum:g}"
    return plot_race(track, trajectories, title=title)


def optimizer_race_explorer(surface: str = "bowl") -> ipywidgets.VBox:
    """Pick a surface, the learning rates, the momentum, the number of steps and which optimizers race.

    Choosing a surface resets the sliders to learning rates that suit it; then move them to
    find where each optimizer crawls, oscillates or diverges.
    """
    import ipywidgets as widgets

    track = get_surface(surface)
    controls = {
        "surface": widgets.Dropdown(options=list(SURFACES), value=track.name, description="surface"),
        "lr": widgets.FloatLogSlider(
            value=track.sgd_lr, base=10, min=-4, max=0, step=0.05, description="lr (SGD)", readout_format=".2g"
        ),
        "adaptive_lr": widgets.FloatLogSlider(
            value=track.adaptive_lr,
            base=10,
            min=-3,
            max=0,
            step=0.05,
            description="lr (adaptive)",
            readout_format=".2g",
        ),
        "momentum": widgets.FloatSlider(value=track.momentum, min=0.0, max=0.99, step=0.01, description="momentum/β1"),
        "steps": widgets.IntSlider(value=track.steps, min=1, max=1000, step=1, description="steps"),
    }
    checkboxes = {
        name: widgets.Checkbox(value=True, description=name, indent=False, layout={"width": "110px"})
        for name in OPTIMIZER_NAMES
    }
    output = widgets.Output()
    paused = False  # True while a new surface sets four sliders, so they redraw once, not four times

    @one_at_a_time
    def redraw(*_: object) -> None:
        if paused:
            return
        fig = draw_race(
            surface=controls["surface"].value,
            lr=controls["lr"].value,
            momentum=controls["momentum"].value,
            adaptive_lr=controls["adaptive_lr"].value,
            steps=controls["steps"].value,
            optimizers=[name for name, box in checkboxes.items() if box.value],
        )
        show_figure(output, fig, get_surface(controls["surface"].value).note)

    @one_at_a_time
    def new_surface(change: dict) -> None:
        nonlocal paused
        chosen = get_surface(change["new"])
        paused = True
        try:
            controls["lr"].value = chosen.sgd_lr
            controls["adaptive_lr"].value = chosen.adaptive_lr
            controls["momentum"].value = chosen.momentum
            controls["steps"].value = chosen.steps
        finally:
            paused = False
        redraw()

    controls["surface"].observe(new_surface, names="value")
    for name, control in controls.items():
        if name != "surface":
            control.observe(redraw, names="value")
    for box in checkboxes.values():
        box.observe(redraw, names="value")
    redraw()
    layout = widgets.VBox(
        [
            widgets.HBox([controls["surface"], controls["steps"], controls["momentum"]]),
            widgets.HBox([controls["lr"], controls["adaptive_lr"]]),
            widgets.HBox(list(checkboxes.values())),
            output,
        ]
    )
    layout.controls = {**controls, **{f"show_{name}": box for name, box in checkboxes.items()}}  # for tests and scripts
    layout.redraw = redraw
    return layout


def _smooth(values: Sequence[float], window: int) -> np.ndarray:
    """A running mean over ``window`` batches (shorter at the start), so noisy batch losses read as a curve."""
    values = np.asarray(values, dtype=np.float64)
    if window <= 1 or len(values) == 0:
        return values
    cumulative = np.cumsum(np.insert(values, 0, 0.0))
    counts = np.minimum(np.arange(1, len(values) + 1), window)
    return (cumulative[1:] - cumulative[np.arange(1, len(values) + 1) - counts]) / counts


def plot_network_race(result: NetworkRace, smooth: int = 10) -> Figure:
    """Training loss per batch for each optimizer (running mean over ``smooth`` batches), log scale."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for i, (name, losses) in enumerate(result.batch_losses.items()):
        ax.semilogy(
            np.arange(1, len(losses) + 1), _smooth(losses, smooth), color=_COLORS.get(name, f"C{i}"), label=name
        )
    ax.set_xlabel("batch (optimizer step)")
    ax.set_ylabel(f"training loss (mean of {smooth} batches)" if smooth > 1 else "training loss")
    ax.set_title("the same network, the same batches, different optimizers", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
