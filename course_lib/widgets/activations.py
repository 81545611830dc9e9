"""Pick an activation, see f and f' over a range you choose, and watch gradients flow through a deep stack.

Chapter 03 uses it to make vanishing gradients (梯度消失) visible. The experiment itself, a deep
stack of ``h = f(h W^T)`` with random weights, lives in ``course_lib.experiments.vanishing_gradients``;
this module draws it: the size of each layer's weight gradient and of its signal on one log axis,
titled with what they say.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

from ..experiments.vanishing_gradients import ACTIVATIONS, activation_pair, gradient_flow
from . import one_at_a_time, show_figure

if TYPE_CHECKING:
    import ipywidgets
    from matplotlib.figure import Figure

__all__ = [
    "ACTIVATIONS",
    "INITS",
    "plot_activation",
    "plot_gradient_flow",
    "plot_activation_panel",
    "activation_explorer",
]

#: The explorer's initialisations: (menu label, ``models.init_std`` scheme).
INITS = (
    ("small: normal-0.01", "normal-0.01"),
    ("xavier", "xavier"),
    ("kaiming", "kaiming"),
    ("large: normal-1", "normal-1"),
)

#: The log axis spans at least this many powers of ten, so that a factor of 2 does not look like a cliff.
MIN_DECADES = 4


def plot_activation(name: str, x_min: float = -5.0, x_max: float = 5.0, ax=None) -> Figure:
    """f and f' of activation ``name`` on ``[x_min, x_max]``."""
    import matplotlib.pyplot as plt

    if not x_min < x_max:
        raise ValueError(f"x_min must be below x_max, got {x_min} and {x_max}.")
    f, df = activation_pair(name)
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 3.5))
    else:
        fig = ax.figure
    x = torch.linspace(x_min, x_max, 401, dtype=torch.float64)
    ax.plot(x.numpy(), f(x).numpy(), label=f"{name}(x)", color="tab:blue")
    ax.plot(x.numpy(), df(x).numpy(), label=f"{name}'(x)", color="tab:orange", linestyle="--")
    ax.axhline(0, color="gray", linewidth=0.5)
    ax.axvline(0, color="gray", linewidth=0.5)
    ax.set_xlabel("x")
    ax.set_title(f"{name} and its derivative", fontsize=10)
    ax.legend(loc="upper left", fontsize=9)
    return fig


def _at_least_decades(ax, decades: int) -> None:
    """Widen a log y axis that spans fewer than ``decades`` powers of ten, around its middle."""
    low, high = ax.get_ylim()
    span = math.log10(high / low)
    if span < decades:
        middle = (math.log10(high) + math.log10(low)) / 2
        ax.set_ylim(10 ** (middle - decades / 2), 10 ** (middle + decades / 2))


def plot_gradient_flow(name: str, depth: int = 10, init: str = "xavier", width: int = 64, ax=None) -> Figure:
    """Per layer, on one log axis: the weight gradient's size and the signal's (std of the layer's output).

    The title gives the reading: whether the signal fades or explodes, and the gradient's first/last
    ratio. Put two panels side by side with ``sharey=True`` to compare them on the same scale.
    """
    import matplotlib.pyplot as plt

    flow = gradient_flow(name, depth=depth, width=width, init=init)
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 3.8))
    else:
        fig = ax.figure
    layers = range(1, depth + 1)
    ax.semilogy(
        layers,
        flow.weight_grad_norms.clamp(min=1e-300).numpy(),
        marker="o",
        color="tab:red",
        label="gradient ||dL/dW||",
    )
    ax.semilogy(
        layers,
        flow.activation_stds.clamp(min=1e-300).numpy(),
        marker="s",
        markersize=4,
        color="tab:blue",
        label="signal: std of the output",
    )
    ax.axhline(1.0, color="gray", linewidth=0.6, linestyle=":")
    ax.set_xlabel("layer (1 = next to the input)")
    ax.set_ylabel("size (log scale)")
    _at_least_decades(ax, MIN_DECADES)
    reading = flow.reading().replace(". ", ".\n", 1)
    ax.set_title(f"{depth} layers of {name}, {init} init\n{reading}", fontsize=9)
    ax.legend(fontsize=8, loc="best")
    ax.grid(True, which="major", alpha=0.3)
    return fig


def plot_activation_panel(
    name: str, x_range: tuple[float, float] = (-5.0, 5.0), depth: int = 10, init: str = "xavier"
) -> Figure:
    """The explorer's picture: f and f' on the left, gradient size per layer on the right."""
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11.5, 4.2))
    plot_activation(name, *x_range, ax=left)
    plot_gradient_flow(name, depth=depth, init=init, ax=right)
    fig.tight_layout()
    return fig


def activation_explorer(depth: int = 10, max_depth: int = 30) -> ipywidgets.VBox:
    """Widgets: activation, x range, depth and initialisation; redraws f, f' and the gradient flow."""
    import ipywidgets as widgets

    name = widgets.Dropdown(options=list(ACTIVATIONS), value="sigmoid", description="activation")
    x_range = widgets.FloatRangeSlider(value=(-5.0, 5.0), min=-12.0, max=12.0, step=0.5, description="x range")
    layers = widgets.IntSlider(value=depth, min=1, max=max_depth, description="layers")
    init = widgets.Dropdown(options=list(INITS), value="xavier", description="init")
    output = widgets.Output()

    @one_at_a_time
    def redraw(*_: object) -> None:
        low, high = x_range.value
        if high <= low:
            high = low + 0.5
        show_figure(output, plot_activation_panel(name.value, (low, high), layers.value, init.value))

    for control in (name, x_range, layers, init):
        control.observe(redraw, names="value")
    redraw()
    box = widgets.VBox([widgets.HBox([name, init]), widgets.HBox([x_range, layers]), output])
    box.controls = {"activation": name, "x_range": x_range, "depth": layers, "init": init}  # for tests and scripts
    box.redraw = redraw
    return box
