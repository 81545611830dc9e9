"""Matplotlib helpers the chapters share: training curves, live curves, image grids."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch
from torch import nn

from .callbacks import Callback
from .history import History

__all__ = ["LivePlot", "in_notebook", "plot_confusion_matrix", "plot_history", "show_images"]


def in_notebook() -> bool:
    """True inside a Jupyter kernel (where figures can be redrawn in place)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"


def _draw_history(axes: Sequence[plt.Axes], history: History) -> None:
    for ax, kind in zip(axes, ("loss", "accuracy")):
        ax.clear()
        for split in ("train", "val"):
            name = f"{split}_{kind}"
            if name in history:
                values = history[name]
                ax.plot(range(1, len(values) + 1), values, marker="o", label=split)
        ax.set_xlabel("epoch")
        ax.set_ylabel(kind)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend()


def plot_history(history: History, title: str | None = None) -> plt.Figure:
    """Loss (left) and accuracy (right, when recorded) per epoch, train against validation."""
    has_accuracy = "train_accuracy" in history or "val_accuracy" in history
    fig, axes = plt.subplots(1, 2 if has_accuracy else 1, figsize=(10 if has_accuracy else 5, 3.5), squeeze=False)
    _draw_history(axes[0], history)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


class LivePlot(Callback):
    """A callback that redraws the training curves in place after every epoch (in a notebook; silent elsewhere).

    ``fit(..., callbacks=[LivePlot()])``, or its shorthand ``fit(..., live_plot=True)``.
    """

    def __init__(self) -> None:
        self.enabled = in_notebook()
        self.handle = None
        self.fig = None

    def on_train_begin(self, model: nn.Module) -> None:
        self.close()  # a new run, a new figure

    def on_epoch_end(self, epoch: int, model: nn.Module, history: History) -> bool:
        self.update(history)
        return False

    def on_train_end(self, model: nn.Module, history: History) -> None:
        self.close()

    def update(self, history: History) -> None:
        if not self.enabled:
            return
        from IPython.display import display

        if self.fig is None:
            self.fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
            self.axes = axes
            plt.close(self.fig)  # we display it ourselves, so the notebook does not draw it twice
        _draw_history(self.axes, history)
        self.fig.tight_layout()
        if self.handle is None:
            self.handle = display(self.fig, display_id=True)
        else:
            self.handle.update(self.fig)

    def close(self) -> None:
        """Forget the figure, so that the next run draws a new one instead of redrawing this run's."""
        self.fig = None
        self.handle = None


def show_images(
    images: torch.Tensor,
    labels: Sequence[int] | torch.Tensor | None = None,
    predictions: Sequence[int] | torch.Tensor | None = None,
    ncols: int = 8,
    size: float = 1.3,
    cmap: str = "gray",
) -> plt.Figure:
    """A grid of images ``(N, 1, H, W)`` or ``(N, H, W)`` with their labels.

    With ``predictions`` each title reads ``label → prediction``, red where they differ.
    """
    images = images.detach().cpu()
    if images.ndim == 4:
        if images.shape[1] not in (1, 3):
            raise ValueError(
                f"show_images expects (N, 1, H, W) or (N, 3, H, W) images, got shape {tuple(images.shape)}."
            )
        images = images.permute(0, 2, 3, 1)
        if images.shape[-1] == 1:
            images = images[..., 0]
    elif images.ndim != 3:
        raise ValueError(
            f"show_images expects a batch of images (N, H, W) or (N, C, H, W), got shape {tuple(images.shape)}."
        )
    n = len(images)
    if n == 0:
        raise ValueError("show_images got no images to show.")
    ncols = max(1, min(ncols, n))
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size * 1.15), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(images[i].numpy(), cmap=cmap)
        if labels is not None:
            label = int(labels[i])
            if predictions is not None:
                predicted = int(predictions[i])
                ax.set_title(f"{label} → {predicted}", fontsize=9, color="black" if label == predicted else "red")
            else:
                ax.set_title(str(label), fontsize=9)
    fig.tight_layout()
    return fig


def plot_confusion_matrix(
    matrix: torch.Tensor, class_names: Sequence[str] | None = None, normalize: bool = False
) -> plt.Figure:
    """A confusion matrix as a heat map, rows = true class, columns = predicted class.

    ``normalize=True`` divides each row by its sum, so the diagonal reads as each class's
    recall and rare classes are as visible as common ones. Counts are written in the cells.
    """
    counts = torch.as_tensor(matrix).detach().cpu()
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
        raise ValueError(
            f"plot_confusion_matrix expects a square (classes, classes) matrix, got shape {tuple(counts.shape)}."
        )
    n = counts.shape[0]
    names = [str(c) for c in (class_names if class_names is not None else range(n))]
    if len(names) != n:
        raise ValueError(f"class_names has {len(names)} names, but the matrix has {n} classes.")
    values = counts.double()
    if normalize:
        values = values / values.sum(dim=1, keepdim=True).clamp(min=1)
    fig, ax = plt.subplots(figsize=(0.55 * n + 2.5, 0.55 * n + 2))
    image = ax.imshow(values.numpy(), cmap="Blues", vmin=0, vmax=1 if normalize else None)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(n), names)
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title("confusion matrix" + (" (each row sums to 1)" if normalize else ""))
    threshold = float(values.max()) / 2
    for i in range(n):
        for j in range(n):
            v = float(values[i, j])
            text = f"{v:.2f}" if normalize else f"{int(counts[i, j])}"
            if normalize and v == 0:
                text = "0"
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=7 if n > 8 else 9,
                color="white" if v > threshold else "black",
            )
    fig.tight_layout()
    return fig
