"""Pick a test digit, move it a few pixels, and watch a classifier's class probabilities change.

Chapter 06 uses it to show two things: what a softmax output looks like for easy and hard
digits, and that an MLP, which sees 784 unrelated numbers, is thrown by a shift of two or three
pixels that a person does not even notice (the motivation for convolutions in chapter 07). The
shift is ``course_lib.augment.shift_image``, the border filled with the digit's own background.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from ..augment import shift_image
from . import one_at_a_time, show_figure

if TYPE_CHECKING:
    import ipywidgets
    from matplotlib.figure import Figure

__all__ = ["class_probabilities", "plot_digit_probabilities", "digit_explorer"]


@torch.no_grad()
def class_probabilities(model: nn.Module, image: torch.Tensor) -> torch.Tensor:
    """Softmax of the model's logits for one image (C, H, W), computed in eval mode: shape (classes,)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        logits = model(image.unsqueeze(0).to(device))
    finally:
        model.train(was_training)
    return torch.softmax(logits.float(), dim=1)[0].cpu()


def plot_digit_probabilities(
    model: nn.Module,
    image: torch.Tensor,
    label: int | None = None,
    dx: int = 0,
    dy: int = 0,
    fill: float | None = None,
) -> Figure:
    """The (shifted) digit on the left, the model's probability for each class on the right.

    The uncovered border is ``fill``; None takes the image's smallest value, the background of a
    digit on a plain ground (0 for raw MNIST, about -0.42 once normalised), so no band appears.
    """
    import matplotlib.pyplot as plt

    moved = shift_image(image, dx, dy, fill=float(image.min()) if fill is None else fill)
    probs = class_probabilities(model, moved)
    predicted = int(probs.argmax())
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3), gridspec_kw={"width_ratios": [1, 2]})
    left.imshow(moved[0].cpu().numpy(), cmap="gray")
    left.axis("off")
    title = f"shifted by ({dx}, {dy})" if dx or dy else "original"
    left.set_title(title if label is None else f"label {label}, {title}", fontsize=10)
    colors = ["tab:green" if c == label else "tab:red" if c == predicted else "tab:gray" for c in range(len(probs))]
    right.bar(range(len(probs)), probs.numpy(), color=colors)
    right.set_xticks(range(len(probs)))
    right.set_ylim(0, 1)
    right.set_xlabel("class")
    right.set_ylabel("probability")
    verdict = "" if label is None else (" ✓" if predicted == label else " ✗")
    right.set_title(f"prediction {predicted} with p = {float(probs[predicted]):.2f}{verdict}", fontsize=10)
    fig.tight_layout()
    return fig


def digit_explorer(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor | None = None, max_shift: int = 6
) -> ipywidgets.VBox:
    """Sliders for which test image and how far to shift it; redraws the probabilities on each change."""
    import ipywidgets as widgets

    index = widgets.IntSlider(value=0, min=0, max=len(images) - 1, description="image")
    dx = widgets.IntSlider(value=0, min=-max_shift, max=max_shift, description="shift right")
    dy = widgets.IntSlider(value=0, min=-max_shift, max=max_shift, description="shift down")
    output = widgets.Output()

    @one_at_a_time
    def redraw(*_: object) -> None:
        label = None if labels is None else int(labels[index.value])
        show_figure(output, plot_digit_probabilities(model, images[index.value], label, dx.value, dy.value))

    for slider in (index, dx, dy):
        slider.observe(redraw, names="value")
    redraw()
    box = widgets.VBox([widgets.HBox([index, dx, dy]), output])
    box.sliders = {"image": index, "dx": dx, "dy": dy}  # for tests and for scripting the explorer
    box.redraw = redraw
    return box
