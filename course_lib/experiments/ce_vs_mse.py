"""Why cross-entropy and not MSE trains a classifier: a race from a confidently wrong start.

Logistic regression ``p = sigmoid(w . x + b)`` on two Gaussian blobs, started with weights that point
the wrong way, trained by the same full-batch gradient descent once with binary cross-entropy and
once with MSE on the sigmoid. MSE's gradient carries the factor sigma'(z), which vanishes exactly
when the model is confidently wrong, so it barely moves; cross-entropy's does not. Chapter 04 writes
the race out; ``widgets.losses`` draws it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from ..scratch import activations as act
from ..scratch import losses as L

__all__ = ["mse_on_sigmoid", "CLASSIFICATION_LOSSES", "make_two_blobs", "RaceHistory", "train_ce_vs_mse"]

LossFn = Callable[..., torch.Tensor]


def mse_on_sigmoid(logits: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Squared error between sigmoid(logit) and the 0/1 label: the loss *not* to use for classification."""
    return L.mse(act.sigmoid(logits), target, reduction=reduction)


#: name -> loss(logit, label, reduction) for binary classification, the two runners of the race.
CLASSIFICATION_LOSSES: dict[str, LossFn] = {
    "cross-entropy (BCE with logits)": L.binary_cross_entropy_with_logits,
    "MSE on sigmoid": mse_on_sigmoid,
}


def make_two_blobs(n: int = 200, seed: int = 0, separation: float = 2.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two Gaussian blobs in 2-D: class 0 around (-s, -s)/2, class 1 around (s, s)/2. Labels are float 0/1."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n is the number of points, at least 2 (one per class); got {n!r}.")
    gen = torch.Generator().manual_seed(seed)
    labels = (torch.arange(n) % 2).float()
    centres = (labels * 2 - 1).unsqueeze(1) * (separation / 2)
    points = centres + torch.randn(n, 2, generator=gen)
    return points, labels


@dataclass
class RaceHistory:
    """Per step, for each loss: the training accuracy and the gradient norm the optimiser saw."""

    accuracy: dict[str, list[float]] = field(default_factory=dict)
    grad_norm: dict[str, list[float]] = field(default_factory=dict)

    def record(self, name: str, logits: torch.Tensor, labels: torch.Tensor, grad: torch.Tensor) -> None:
        """Add one step of run ``name``: the accuracy of ``logits`` (before the step) and the gradient's norm."""
        correct = ((logits.detach() > 0).float() == labels).float().mean()
        self.accuracy.setdefault(name, []).append(float(correct))
        self.grad_norm.setdefault(name, []).append(float(grad.norm()))


def train_ce_vs_mse(
    steps: int = 200,
    lr: float = 0.5,
    n: int = 200,
    seed: int = 0,
    start: tuple[float, float, float] = (-4.0, -4.0, 0.0),
) -> RaceHistory:
    """Logistic regression ``p = sigmoid(w . x + b)`` trained by full-batch gradient descent, once per loss.

    Both runs start from the same, confidently wrong weights ``start = (w1, w2, b)`` (pointing the
    wrong way), so the first steps show how hard each loss pushes back.
    """
    points, labels = make_two_blobs(n=n, seed=seed)
    history = RaceHistory()
    for name, loss_fn in CLASSIFICATION_LOSSES.items():
        params = torch.tensor(start, dtype=torch.float32, requires_grad=True)
        for _ in range(steps):
            logits = points @ params[:2] + params[2]
            (grad,) = torch.autograd.grad(loss_fn(logits, labels), params)
            with torch.no_grad():
                params -= lr * grad
            history.record(name, logits, labels, grad)
    return history
