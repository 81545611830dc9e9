"""What a convolution responds to: a hand-made kernel on an image, and a trained layer's feature maps.

Chapter 07 looks at both through ``widgets.feature_maps``. ``apply_kernel`` pads with the image's
background, so a kernel's response shows the digit's edges and nothing else. A trained network's
``nn.Conv2d`` pads with zeros, as every framework does; on normalised MNIST zero is brighter than
the background (-0.42), so the first layer's ``feature_maps`` show a faint frame at the border: that
frame is what the network really computes, on every image, and it learns to live with it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..scratch.layers import conv2d

__all__ = ["as_kernel", "as_grey_image", "apply_kernel", "conv_layers", "conv_layer", "feature_maps"]


def as_kernel(kernel: torch.Tensor | Sequence[Sequence[float]]) -> torch.Tensor:
    """A kernel as a 2-D float tensor, from a nested list or a tensor."""
    k = torch.as_tensor(kernel, dtype=torch.float32)
    if k.ndim != 2:
        raise ValueError(f"A kernel is a 2-D grid of weights, e.g. 3x3; got shape {tuple(k.shape)}.")
    return k


def as_grey_image(image: torch.Tensor) -> torch.Tensor:
    """One grey image as (H, W), from (H, W), (1, H, W) or (1, 1, H, W)."""
    img = torch.as_tensor(image).detach().float().cpu()
    while img.ndim > 2 and img.shape[0] == 1:
        img = img[0]
    if img.ndim != 2:
        raise ValueError(
            f"Expected one grey image (H, W) or (1, H, W), got shape {tuple(torch.as_tensor(image).shape)}."
        )
    return img


def apply_kernel(
    image: torch.Tensor, kernel: torch.Tensor | Sequence[Sequence[float]], fill: float | None = None
) -> torch.Tensor:
    """The kernel's response on a grey image (H, W): a cross-correlation with 'same' padding.

    The border is padded with ``fill``; None takes the image's smallest value, the background of a
    digit on a plain ground, so the border adds no edge of its own (zero padding would, on normalised
    images). Uses ``course_lib.scratch.layers.conv2d``; odd kernel sizes keep the image size.
    """
    img, k = as_grey_image(image), as_kernel(kernel)
    fill = float(img.min()) if fill is None else float(fill)
    top, left = k.shape[0] // 2, k.shape[1] // 2
    padded = F.pad(img[None, None], (left, k.shape[1] - 1 - left, top, k.shape[0] - 1 - top), value=fill)
    return conv2d(padded, k[None, None])[0, 0]


def conv_layers(model: nn.Module) -> dict[str, nn.Conv2d]:
    """The model's ``nn.Conv2d`` layers by name (``features.0``, ...), first layer first."""
    layers = {name: module for name, module in model.named_modules() if isinstance(module, nn.Conv2d)}
    if not layers:
        raise ValueError("This model has no nn.Conv2d layers, so it has no filters or feature maps to show.")
    return layers


def conv_layer(model: nn.Module, layer: str) -> nn.Conv2d:
    """The convolution named ``layer``, with an error that lists the names."""
    layers = conv_layers(model)
    if layer not in layers:
        raise KeyError(f"No convolution layer named {layer!r}; this model has: {', '.join(layers)}.")
    return layers[layer]


@torch.no_grad()
def feature_maps(model: nn.Module, image: torch.Tensor, layer: str, relu: bool = True) -> torch.Tensor:
    """The output (C_out, H, W) of convolution ``layer`` for one image (C, H, W), in eval mode.

    ``relu=True`` shows what the next layers see after the ReLU (negative responses cut to 0).
    For a convolution followed by batch norm this is the raw convolution output, before the
    normalisation: its pattern is the same, only its scale differs.
    """
    conv = conv_layer(model, layer)
    captured: list[torch.Tensor] = []
    handle = conv.register_forward_hook(lambda module, inputs, output: captured.append(output.detach()))
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        model(torch.as_tensor(image).unsqueeze(0).to(device))
    finally:
        handle.remove()
        model.train(was_training)
    maps = captured[0][0].float().cpu()
    return maps.clamp(min=0) if relu else maps
