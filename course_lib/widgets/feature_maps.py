"""What a convolution finds: hand-made kernels on a digit, and a trained CNN's filters and feature maps.

Two explorers for chapter 07:

- ``kernel_explorer``: set a 3x3 kernel with sliders (or pick a preset: Sobel, blur, sharpen,
  ...) and see its response on an MNIST digit. A learner sees that a filter is a pattern
  detector: large positive output where the image looks like the kernel.
- ``feature_map_explorer``: pick a digit, a convolution layer and a channel of a (trained) CNN
  and see that channel's filter and the feature map it produces.

The responses and feature maps come from ``course_lib.experiments.conv_responses``; the drawing
lives in plain functions (``plot_kernel_response``, ``plot_feature_map``, ``plot_feature_maps``)
that tests and scripts call without a widget front end.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import nn

from ..experiments.conv_responses import apply_kernel, as_grey_image, as_kernel, conv_layer, conv_layers, feature_maps
from . import one_at_a_time, show_figure

if TYPE_CHECKING:
    import ipywidgets
    from matplotlib.figure import Figure

__all__ = [
    "KERNELS",
    "plot_kernel_response",
    "kernel_explorer",
    "plot_feature_map",
    "plot_feature_maps",
    "feature_map_explorer",
]

#: Classic 3x3 image-processing kernels (rows top to bottom). They are applied as a
#: cross-correlation, like every deep-learning framework does, so "Sobel x" responds
#: positively where the image gets brighter from left to right.
KERNELS: dict[str, list[list[float]]] = {
    "identity": [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
    "Sobel x (vertical edges)": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
    "Sobel y (horizontal edges)": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
    "box blur": [[1 / 9] * 3] * 3,
    "Gaussian blur": [[1 / 16, 2 / 16, 1 / 16], [2 / 16, 4 / 16, 2 / 16], [1 / 16, 2 / 16, 1 / 16]],
    "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
    "Laplacian (outline)": [[0, 1, 0], [1, -4, 1], [0, 1, 0]],
    "diagonal (/)": [[-1, -1, 2], [-1, 2, -1], [2, -1, -1]],
}


def _symmetric_limits(values: torch.Tensor) -> tuple[float, float]:
    """Colour limits centred on 0 so that negative and positive responses look equally strong."""
    top = float(values.abs().max())
    top = top if top > 0 else 1.0
    return -top, top


def plot_kernel_response(
    image: torch.Tensor,
    kernel: torch.Tensor | Sequence[Sequence[float]],
    title: str | None = None,
    fill: float | None = None,
) -> Figure:
    """Three panels: the image, the kernel (weights written in the cells), and its response.

    The border is padded with ``fill``, by default the image's background (see ``apply_kernel``).
    """
    import matplotlib.pyplot as plt

    img, k = as_grey_image(image), as_kernel(kernel)
    response = apply_kernel(img, k, fill)
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(10, 3.3), gridspec_kw={"width_ratios": [1, 0.8, 1.25]})
    left.imshow(img.numpy(), cmap="gray")
    left.set_title("input" if title is None else title, fontsize=10)
    low, high = _symmetric_limits(k)
    middle.imshow(k.numpy(), cmap="RdBu_r", vmin=low, vmax=high)
    for (i, j), value in zip(((i, j) for i in range(k.shape[0]) for j in range(k.shape[1])), k.flatten().tolist()):
        middle.text(j, i, f"{value:.2g}", ha="center", va="center", fontsize=9)
    middle.set_title("kernel (blue < 0 < red)", fontsize=10)
    low, high = _symmetric_limits(response)
    shown = right.imshow(response.numpy(), cmap="RdBu_r", vmin=low, vmax=high)
    fig.colorbar(shown, ax=right, fraction=0.046, pad=0.04)
    right.set_title(f"response, range [{float(response.min()):.2f}, {float(response.max()):.2f}]", fontsize=10)
    for ax in (left, middle, right):
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def kernel_explorer(
    images: torch.Tensor, labels: torch.Tensor | None = None, preset: str = "Sobel x (vertical edges)"
) -> ipywidgets.VBox:
    """Nine sliders (a 3x3 kernel), a preset menu and an image slider; redraws the response on each change."""
    import ipywidgets as widgets

    if preset not in KERNELS:
        raise ValueError(f"Unknown preset {preset!r}; choose one of: {', '.join(KERNELS)}.")
    index = widgets.IntSlider(value=0, min=0, max=len(images) - 1, description="image")
    presets = widgets.Dropdown(options=list(KERNELS), value=preset, description="preset")
    cells = [
        widgets.FloatSlider(
            value=0.0,
            min=-5.0,
            max=5.0,
            step=0.125,
            readout_format=".3g",
            layout=widgets.Layout(width="220px"),
            description=f"w[{i},{j}]",
        )
        for i in range(3)
        for j in range(3)
    ]
    grid = widgets.GridBox(cells, layout=widgets.Layout(grid_template_columns="repeat(3, 230px)"))
    output = widgets.Output()
    loading = {"preset": False}  # while a preset fills the sliders, draw once at the end

    def kernel() -> list[list[float]]:
        return [[cells[3 * i + j].value for j in range(3)] for i in range(3)]

    @one_at_a_time
    def redraw(*_: object) -> None:
        if loading["preset"]:
            return
        title = "input" if labels is None else f"digit {int(labels[index.value])}"
        show_figure(output, plot_kernel_response(images[index.value], kernel(), title))

    @one_at_a_time
    def load_preset(*_: object) -> None:
        loading["preset"] = True
        for cell, value in zip(cells, (v for row in KERNELS[presets.value] for v in row)):
            cell.value = value
        loading["preset"] = False
        redraw()

    presets.observe(load_preset, names="value")
    for control in (index, *cells):
        control.observe(redraw, names="value")
    load_preset()
    box = widgets.VBox([widgets.HBox([index, presets]), grid, output])
    box.controls = {"image": index, "preset": presets, "cells": cells}  # for tests and scripting
    box.kernel = kernel
    box.redraw = redraw
    return box


# ----------------------------------------------------------------------------- a trained CNN
def _tile(maps: torch.Tensor, ncols: int) -> torch.Tensor:
    """Arrange (K, h, w) small images into one mosaic with a one-pixel NaN gap (drawn blank)."""
    k, h, w = maps.shape
    ncols = max(1, min(ncols, k))
    nrows = -(-k // ncols)
    mosaic = torch.full((nrows * (h + 1) - 1, ncols * (w + 1) - 1), float("nan"))
    for index in range(k):
        r, c = divmod(index, ncols)
        mosaic[r * (h + 1) : r * (h + 1) + h, c * (w + 1) : c * (w + 1) + w] = maps[index]
    return mosaic


def plot_feature_map(
    model: nn.Module, image: torch.Tensor, layer: str, channel: int, label: int | None = None, relu: bool = True
) -> Figure:
    """Input digit, the filter of ``channel`` (one tile per input channel) and its feature map."""
    import matplotlib.pyplot as plt

    conv = conv_layer(model, layer)
    if not 0 <= channel < conv.out_channels:
        raise ValueError(
            f"Layer {layer!r} has {conv.out_channels} channels (0..{conv.out_channels - 1}), got {channel}."
        )
    maps = feature_maps(model, image, layer, relu)
    weights = conv.weight[channel].detach().float().cpu()  # (C_in, kH, kW)
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(10, 3.3), gridspec_kw={"width_ratios": [1, 1, 1.25]})
    left.imshow(as_grey_image(image).numpy(), cmap="gray")
    left.set_title("input" if label is None else f"digit {label}", fontsize=10)
    low, high = _symmetric_limits(weights)
    middle.imshow(_tile(weights, ncols=8).numpy(), cmap="RdBu_r", vmin=low, vmax=high)
    kh, kw = weights.shape[1:]
    seen = f"{weights.shape[0]} input channels" if weights.shape[0] > 1 else "1 input channel"
    middle.set_title(f"filter {channel}: {kh}x{kw}, {seen}", fontsize=10)
    shown = right.imshow(maps[channel].numpy(), cmap="magma")
    fig.colorbar(shown, ax=right, fraction=0.046, pad=0.04)
    h, w = maps.shape[1:]
    right.set_title(f"{layer}, channel {channel}{' after ReLU' if relu else ''} ({h}x{w})", fontsize=10)
    for ax in (left, middle, right):
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def plot_feature_maps(
    model: nn.Module, image: torch.Tensor, layer: str, max_channels: int = 32, ncols: int = 8, relu: bool = True
) -> Figure:
    """Every channel's feature map of ``layer`` for one image, in a grid (the first ``max_channels``)."""
    import matplotlib.pyplot as plt

    maps = feature_maps(model, image, layer, relu)[:max_channels]
    ncols = max(1, min(ncols, len(maps)))
    nrows = -(-len(maps) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.3 * ncols, 1.4 * nrows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(maps):
            ax.imshow(maps[i].numpy(), cmap="magma")
            ax.set_title(str(i), fontsize=8)
    fig.suptitle(f"feature maps of {layer}{' after ReLU' if relu else ''}", fontsize=10)
    fig.tight_layout()
    return fig


def feature_map_explorer(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor | None = None, relu: bool = True
) -> ipywidgets.VBox:
    """Sliders for the digit and the channel, a menu for the layer; redraws filter and feature map."""
    import ipywidgets as widgets

    layers = conv_layers(model)
    first = next(iter(layers))
    index = widgets.IntSlider(value=0, min=0, max=len(images) - 1, description="image")
    layer = widgets.Dropdown(options=list(layers), value=first, description="layer")
    channel = widgets.IntSlider(value=0, min=0, max=layers[first].out_channels - 1, description="channel")
    output = widgets.Output()

    @one_at_a_time
    def redraw(*_: object) -> None:
        label = None if labels is None else int(labels[index.value])
        show_figure(output, plot_feature_map(model, images[index.value], layer.value, channel.value, label, relu))

    @one_at_a_time
    def change_layer(*_: object) -> None:
        channel.unobserve(redraw, names="value")
        channel.max = layers[layer.value].out_channels - 1  # also clamps the value into range
        channel.observe(redraw, names="value")
        redraw()

    layer.observe(change_layer, names="value")
    for slider in (index, channel):
        slider.observe(redraw, names="value")
    redraw()
    box = widgets.VBox([widgets.HBox([index, layer, channel]), output])
    box.controls = {"image": index, "layer": layer, "channel": channel}  # for tests and scripting
    box.redraw = redraw
    return box
