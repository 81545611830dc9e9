"""Move a prediction and see each loss and its gradient; see why cross-entropy beats MSE for classification.

Chapter 04 uses three pictures from here:

- regression: MSE, MAE and Huber as a function of the prediction, with their gradients
  (MSE's gradient grows with the error, so one outlier dominates; MAE's and Huber's are capped);
- classification: binary cross-entropy and MSE applied to a sigmoid, as a function of the logit,
  with their gradients (MSE-on-sigmoid's gradient vanishes exactly when the model is confidently wrong);
- a tiny training race: logistic regression started confidently wrong, trained with each loss
  (the race itself is ``course_lib.experiments.ce_vs_mse``; ``plot_ce_vs_mse`` draws it).

Losses and gradients come from ``course_lib.scratch.losses`` through autograd.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

from ..experiments.ce_vs_mse import CLASSIFICATION_LOSSES, RaceHistory
from ..scratch import activations as act
from ..scratch import losses as L
from . import one_at_a_time, show_figure

if TYPE_CHECKING:
    import ipywidgets
    from matplotlib.figure import Figure

__all__ = [
    "loss_and_gradient",
    "REGRESSION_LOSSES",
    "CLASSIFICATION_LOSSES",
    "plot_regression_losses",
    "plot_classification_losses",
    "regression_loss_explorer",
    "classification_loss_explorer",
    "plot_ce_vs_mse",
]

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _huber(pred: torch.Tensor, target: torch.Tensor, reduction: str = "mean", delta: float = 1.0) -> torch.Tensor:
    return L.huber(pred, target, delta=delta, reduction=reduction)


#: name -> loss(pred, target, reduction) for the regression picture. The classification picture draws
#: ``experiments.ce_vs_mse.CLASSIFICATION_LOSSES``, the two runners of the race.
REGRESSION_LOSSES: dict[str, LossFn] = {"MSE": L.mse, "MAE": L.mae, "Huber": _huber}


def loss_and_gradient(
    loss: Callable[..., torch.Tensor], predictions: torch.Tensor, target: float, **kwargs: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each prediction's loss against ``target`` and its derivative d loss / d prediction (by autograd)."""
    pred = predictions.detach().to(torch.float64).clone().requires_grad_(True)
    targets = torch.full_like(pred, float(target))
    values = loss(pred, targets, reduction="none", **kwargs)
    values.sum().backward()  # the elements are independent, so the gradient of the sum is each one's derivative
    return values.detach(), pred.grad.detach()


def _two_panels(figsize=(11, 3.8)):
    import matplotlib.pyplot as plt

    return plt.subplots(1, 2, figsize=figsize)


def plot_regression_losses(
    prediction: float = 2.0, target: float = 0.0, delta: float = 1.0, span: float = 5.0
) -> Figure:
    """MSE, MAE and Huber(delta) against the prediction (left) and their gradients (right), with a marker at ``prediction``."""
    fig, (left, right) = _two_panels()
    grid = torch.linspace(target - span, target + span, 401, dtype=torch.float64)
    here = torch.tensor([prediction], dtype=torch.float64)
    for (name, loss), color in zip(REGRESSION_LOSSES.items(), ("tab:blue", "tab:orange", "tab:green")):
        kwargs = {"delta": delta} if name == "Huber" else {}
        label = f"Huber (δ={delta:g})" if name == "Huber" else name
        values, grads = loss_and_gradient(loss, grid, target, **kwargs)
        value_here, grad_here = loss_and_gradient(loss, here, target, **kwargs)
        left.plot(grid.numpy(), values.numpy(), color=color, label=label)
        right.plot(grid.numpy(), grads.numpy(), color=color, label=label)
        left.plot([prediction], value_here.numpy(), "o", color=color)
        right.plot([prediction], grad_here.numpy(), "o", color=color)
        right.annotate(
            f"{float(grad_here):+.2f}",
            (prediction, float(grad_here)),
            textcoords="offset points",
            xytext=(6, 0),
            fontsize=8,
            color=color,
        )
    for ax, title in ((left, "loss"), (right, "d loss / d prediction")):
        ax.axvline(target, color="gray", linewidth=0.5)
        ax.axhline(0, color="gray", linewidth=0.5)
        ax.set_xlabel(f"prediction (target = {target:g})")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)
    left.set_ylim(-0.2, max(span, 0.5 * span * span) * 0.6)
    fig.tight_layout()
    return fig


def plot_classification_losses(logit: float = -3.0, label: int = 1, span: float = 8.0) -> Figure:
    """BCE-with-logits and MSE-on-sigmoid against the logit (left) and their gradients (right)."""
    if label not in (0, 1):
        raise ValueError(f"label must be 0 or 1, got {label!r}.")
    fig, (left, right) = _two_panels()
    grid = torch.linspace(-span, span, 401, dtype=torch.float64)
    here = torch.tensor([logit], dtype=torch.float64)
    for (name, loss), color in zip(CLASSIFICATION_LOSSES.items(), ("tab:blue", "tab:red")):
        values, grads = loss_and_gradient(loss, grid, label)
        value_here, grad_here = loss_and_gradient(loss, here, label)
        left.plot(grid.numpy(), values.numpy(), color=color, label=name)
        right.plot(grid.numpy(), grads.numpy(), color=color, label=name)
        left.plot([logit], value_here.numpy(), "o", color=color)
        right.plot([logit], grad_here.numpy(), "o", color=color)
        right.annotate(
            f"{float(grad_here):+.3f}",
            (logit, float(grad_here)),
            textcoords="offset points",
            xytext=(6, 0),
            fontsize=8,
            color=color,
        )
    probability = float(act.sigmoid(here))
    for ax, title in ((left, "loss"), (right, "d loss / d logit")):
        ax.axvline(0, color="gray", linewidth=0.5)
        ax.axhline(0, color="gray", linewidth=0.5)
        ax.set_xlabel(f"logit z (label y = {label})")
        ax.set_title(f"{title}; p = σ({logit:g}) = {probability:.3f}", fontsize=10)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _explorer(draw: Callable[..., Figure], controls: dict) -> ipywidgets.VBox:
    import ipywidgets as widgets

    output = widgets.Output()

    @one_at_a_time
    def redraw(*_: object) -> None:
        show_figure(output, draw(**{name: control.value for name, control in controls.items()}))

    for control in controls.values():
        control.observe(redraw, names="value")
    redraw()
    box = widgets.VBox([widgets.HBox(list(controls.values())), output])
    box.controls = controls  # for tests and scripts
    box.redraw = redraw
    return box


def regression_loss_explorer() -> ipywidgets.VBox:
    """Sliders for the prediction, the target and Huber's delta."""
    import ipywidgets as widgets

    return _explorer(
        plot_regression_losses,
        {
            "prediction": widgets.FloatSlider(value=2.0, min=-5.0, max=5.0, step=0.1, description="prediction"),
            "target": widgets.FloatSlider(value=0.0, min=-2.0, max=2.0, step=0.1, description="target"),
            "delta": widgets.FloatSlider(value=1.0, min=0.1, max=3.0, step=0.1, description="Huber δ"),
        },
    )


def classification_loss_explorer() -> ipywidgets.VBox:
    """A slider for the logit and a toggle for the true label."""
    import ipywidgets as widgets

    return _explorer(
        plot_classification_losses,
        {
            "logit": widgets.FloatSlider(value=-3.0, min=-8.0, max=8.0, step=0.1, description="logit z"),
            "label": widgets.ToggleButtons(options=[0, 1], value=1, description="label y"),
        },
    )


# ----------------------------------------------------------------------------- the training race
def plot_ce_vs_mse(history: RaceHistory) -> Figure:
    """Accuracy and gradient norm per step for each loss of the race (``experiments.ce_vs_mse``)."""
    fig, (left, right) = _two_panels()
    for (name, accuracy), color in zip(history.accuracy.items(), ("tab:blue", "tab:red")):
        left.plot(range(1, len(accuracy) + 1), accuracy, label=name, color=color)
        right.semilogy(range(1, len(accuracy) + 1), history.grad_norm[name], label=name, color=color)
    left.set_xlabel("step")
    left.set_ylabel("training accuracy")
    left.set_ylim(-0.02, 1.02)
    right.set_xlabel("step")
    right.set_ylabel("gradient norm (log scale)")
    for ax in (left, right):
        ax.legend(fontsize=8)
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig
