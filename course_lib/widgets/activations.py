"""Pick an activation, see f and f' over a range you choose, and watch gradients flow through a deep stack.

Chapter 03 uses it to make vanishing gradients (梯度消失) visible: stack ``depth`` layers of
``h = f(h W^T)`` with random weights, send a random gradient back from the top, and plot the
size of each layer's weight gradient. Sigmoid with a standard initialisation loses a factor of
about four per layer; ReLU with Kaiming initialisation keeps the size roughly constant.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import torch

from ..scratch import activations as act
from . import show_figure

if TYPE_CHECKING:
    import ipywidgets
    from matplotlib.figure import Figure

__all__ = ["ACTIVATIONS", "INITS", "GradientFlow", "init_std", "gradient_flow", "plot_activation",
           "plot_gradient_flow", "plot_activation_panel", "activation_explorer"]

Fn = Callable[[torch.Tensor], torch.Tensor]

#: name -> (f, f'), all from course_lib.scratch.activations.
ACTIVATIONS: dict[str, tuple[Fn, Fn]] = {
    "sigmoid": (act.sigmoid, act.sigmoid_grad),
    "tanh": (act.tanh, act.tanh_grad),
    "relu": (act.relu, act.relu_grad),
    "leaky_relu": (act.leaky_relu, act.leaky_relu_grad),
    "gelu": (act.gelu, act.gelu_grad),
    "identity": (lambda x: x, torch.ones_like),
}

#: Weight initialisations for a square ``width x width`` layer: name -> what the std depends on.
INITS = ("small (std 0.01)", "xavier", "kaiming", "large (std 1)")


def init_std(init: str, fan_in: int) -> float:
    """The weight standard deviation of ``init`` for a layer with ``fan_in`` inputs (square layers).

    Xavier/Glorot: :math:`\\sqrt{2/(n_{in}+n_{out})} = \\sqrt{1/n}`, which keeps the variance for
    tanh-like activations near 0. Kaiming/He: :math:`\\sqrt{2/n}`, which makes up for ReLU zeroing half its inputs.
    """
    if fan_in < 1:
        raise ValueError(f"fan_in must be at least 1, got {fan_in}.")
    stds = {"small (std 0.01)": 0.01, "xavier": math.sqrt(1.0 / fan_in), "kaiming": math.sqrt(2.0 / fan_in),
            "large (std 1)": 1.0}
    if init not in stds:
        raise ValueError(f"init must be one of {', '.join(map(repr, INITS))}; got {init!r}.")
    return stds[init]


def _lookup(name: str) -> tuple[Fn, Fn]:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}.")
    return ACTIVATIONS[name]


@dataclass
class GradientFlow:
    """Per layer, from the input side (layer 1) to the output side (layer ``depth``)."""

    weight_grad_norms: torch.Tensor  #: ||dL/dW_l||, the size of the update the optimiser would make
    activation_stds: torch.Tensor  #: std of each layer's output h_l: 0 means dead, +-1 flat means saturated


def gradient_flow(activation: str, depth: int = 10, width: int = 64, init: str = "xavier",
                  batch: int = 256, seed: int = 0) -> GradientFlow:
    """Forward a random batch through ``depth`` layers ``h = f(h W^T)`` and backprop a random gradient.

    The upstream gradient at the top is a fixed random tensor, so the numbers show only what the
    layers do to a gradient on its way down, not what some particular loss happens to be.
    """
    if depth < 1 or width < 1:
        raise ValueError(f"depth and width must be at least 1, got depth={depth}, width={width}.")
    f, _ = _lookup(activation)
    std = init_std(init, width)
    gen = torch.Generator().manual_seed(seed)
    weights = [(torch.randn(width, width, generator=gen, dtype=torch.float64) * std).requires_grad_(True)
               for _ in range(depth)]
    h = torch.randn(batch, width, generator=gen, dtype=torch.float64)
    stds = []
    for w in weights:
        h = f(h @ w.T)
        stds.append(float(h.detach().std()))
    upstream = torch.randn(batch, width, generator=gen, dtype=torch.float64) / math.sqrt(batch)
    h.backward(upstream)
    norms = torch.tensor([float(w.grad.norm()) for w in weights])
    return GradientFlow(weight_grad_norms=norms, activation_stds=torch.tensor(stds))


def plot_activation(name: str, x_min: float = -5.0, x_max: float = 5.0, ax=None) -> "Figure":
    """f and f' of activation ``name`` on ``[x_min, x_max]``."""
    import matplotlib.pyplot as plt

    if not x_min < x_max:
        raise ValueError(f"x_min must be below x_max, got {x_min} and {x_max}.")
    f, df = _lookup(name)
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


def plot_gradient_flow(name: str, depth: int = 10, init: str = "xavier", width: int = 64, ax=None) -> "Figure":
    """Weight-gradient size per layer (log scale) for a deep stack of ``name``."""
    import matplotlib.pyplot as plt

    flow = gradient_flow(name, depth=depth, width=width, init=init)
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 3.5))
    else:
        fig = ax.figure
    layers = range(1, depth + 1)
    norms = flow.weight_grad_norms.clamp(min=1e-300).numpy()
    ax.semilogy(layers, norms, marker="o", color="tab:red")
    ax.set_xlabel("layer (1 = next to the input)")
    ax.set_ylabel("||dL/dW|| (log scale)")
    ratio = float(flow.weight_grad_norms[0] / flow.weight_grad_norms[-1]) if float(flow.weight_grad_norms[-1]) else float("inf")
    ax.set_title(f"{depth} layers of {name}, {init} init: first/last = {ratio:.2g}", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    return fig


def plot_activation_panel(name: str, x_range: tuple[float, float] = (-5.0, 5.0), depth: int = 10,
                          init: str = "xavier") -> "Figure":
    """The explorer's picture: f and f' on the left, gradient size per layer on the right."""
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    plot_activation(name, *x_range, ax=left)
    plot_gradient_flow(name, depth=depth, init=init, ax=right)
    fig.tight_layout()
    return fig


def activation_explorer(depth: int = 10, max_depth: int = 30) -> "ipywidgets.VBox":
    """Widgets: activation, x range, depth and initialisation; redraws f, f' and the gradient flow."""
    import ipywidgets as widgets

    name = widgets.Dropdown(options=list(ACTIVATIONS), value="sigmoid", description="activation")
    x_range = widgets.FloatRangeSlider(value=(-5.0, 5.0), min=-12.0, max=12.0, step=0.5, description="x range")
    layers = widgets.IntSlider(value=depth, min=1, max=max_depth, description="layers")
    init = widgets.Dropdown(options=list(INITS), value="xavier", description="init")
    output = widgets.Output()

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
