"""Checkers for chapter 06 (the MLP on MNIST): each spots the usual mistake and says how to fix it.

Use in a notebook: ``from course_lib.exercises import ch06_mlp as ex`` then ``ex.check_train_step(train_step)``.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .core import Incorrect, exercise, expect_shape

__all__ = [
    "VAL_LOSSES",
    "check_train_step",
    "check_kaiming_std",
    "check_precision_recall_from_confusion",
    "check_early_stopping",
]


# ----------------------------------------------------------------------------- 1. the training step
def _toy_problem() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
    x = torch.randn(16, 4, generator=gen)
    y = torch.randint(0, 3, (16,), generator=gen)
    return model, x, y


def _reference_steps(steps: int, zero_grad: bool = True) -> list[torch.Tensor]:
    model, x, y = _toy_problem()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(steps):
        if zero_grad:
            optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    return [p.detach().clone() for p in model.parameters()]


def _same_params(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor]) -> bool:
    return all(torch.allclose(p, q, atol=1e-6) for p, q in zip(a, b))


@exercise("One training step")
def check_train_step(train_step: Callable[..., Any]) -> str:
    """``train_step(model, x, y, loss_fn, optimizer) -> float``: forward, loss, zero_grad, backward, step."""
    model, x, y = _toy_problem()
    start = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with torch.no_grad():
        expected_loss = float(F.cross_entropy(model(x), y))
    returned = train_step(model, x, y, F.cross_entropy, optimizer)
    after_one = [p.detach().clone() for p in model.parameters()]
    if _same_params(after_one, start):
        if all(p.grad is None for p in model.parameters()):
            raise Incorrect("the weights did not change and no gradients were computed: call loss.backward() "
                            "to fill each parameter's .grad, then optimizer.step() to use them.")
        raise Incorrect("the gradients were computed but the weights did not change: call optimizer.step() "
                        "after loss.backward().")
    if not _same_params(after_one, _reference_steps(1)):
        raise Incorrect("after one step the weights differ from one step of SGD on loss_fn(model(x), y). "
                        "Compute the loss from the model's outputs and the targets, in that order, and "
                        "call optimizer.step() exactly once.")
    if isinstance(returned, torch.Tensor):
        raise Incorrect("return the loss as a Python number with loss.item(): returning the tensor keeps its "
                        "whole computational graph alive, and summing such tensors over an epoch leaks memory.")
    if not isinstance(returned, (float, int)) or not math.isclose(float(returned), expected_loss, rel_tol=1e-5):
        raise Incorrect(f"the weights are right, but the function returned {returned!r}; it should return the "
                        f"loss of this batch as a float ({expected_loss:.4f} here), e.g. `return loss.item()`.")
    train_step(model, x, y, F.cross_entropy, optimizer)
    after_two = [p.detach().clone() for p in model.parameters()]
    if not _same_params(after_two, _reference_steps(2)):
        if _same_params(after_two, _reference_steps(2, zero_grad=False)):
            raise Incorrect("the first step is right but the second is not: the gradients of step 1 were added "
                            "to those of step 2. PyTorch accumulates .grad; call optimizer.zero_grad() before "
                            "loss.backward() in every step.")
        raise Incorrect("the first step is right but the second is not; each call must do exactly one fresh step.")
    return "forward, loss, zero_grad, backward, step: the five lines every PyTorch training loop is built on."


# ----------------------------------------------------------------------------- 2. initialisation
@exercise("Kaiming initialisation")
def check_kaiming_std(kaiming_std: Callable[[int], float]) -> str:
    """``kaiming_std(fan_in)``: the standard deviation sqrt(2 / fan_in) that keeps ReLU activations' scale."""
    for fan_in in (784, 256, 9, 1):
        got = kaiming_std(fan_in)
        if isinstance(got, torch.Tensor):
            got = float(got)
        if not isinstance(got, (int, float)):
            raise Incorrect(f"kaiming_std({fan_in}) returned a {type(got).__name__}; return a number.")
        want = math.sqrt(2.0 / fan_in)
        if math.isclose(got, want, rel_tol=1e-6):
            continue
        if math.isclose(got, 2.0 / fan_in, rel_tol=1e-6):
            raise Incorrect(f"kaiming_std({fan_in}) = {got:.4g} is the variance 2/fan_in; the standard deviation is "
                            "its square root.")
        if math.isclose(got, math.sqrt(1.0 / fan_in), rel_tol=1e-6):
            raise Incorrect(f"kaiming_std({fan_in}) = {got:.4g} is sqrt(1/fan_in) (LeCun's choice for linear or tanh "
                            "units). ReLU zeroes half of its inputs, which halves the variance, so Kaiming doubles "
                            "it: sqrt(2/fan_in).")
        raise Incorrect(f"kaiming_std({fan_in}) = {got:.4g}, expected {want:.4g}. Var(w) = 2 / fan_in.")
    return "std = sqrt(2 / fan_in): each ReLU layer then passes on activations of about the same scale."


# ----------------------------------------------------------------------------- 3. metrics
_CONFUSION = torch.tensor([[50, 2, 3], [10, 30, 0], [0, 8, 12]])


@exercise("Precision and recall from a confusion matrix")
def check_precision_recall_from_confusion(precision_recall: Callable[[torch.Tensor], Any]) -> str:
    """``precision_recall(matrix) -> (precision, recall)``, one value per class; rows = true class."""
    result = precision_recall(_CONFUSION.clone())
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise Incorrect("return a pair (precision, recall), each a tensor with one value per class.")
    precision, recall = (expect_shape(r, (3,), name) for r, name in zip(result, ("precision", "recall")))
    tp = _CONFUSION.diagonal().double()
    want_p, want_r = tp / _CONFUSION.sum(0).double(), tp / _CONFUSION.sum(1).double()
    precision, recall = precision.double(), recall.double()
    if torch.allclose(precision, want_r) and torch.allclose(recall, want_p):
        raise Incorrect("precision and recall are swapped. Rows are true classes, so a row sum counts the examples "
                        "of a class (recall's denominator, TP + FN); a column sum counts the predictions of a "
                        "class (precision's denominator, TP + FP).")
    if torch.allclose(precision, want_r):
        raise Incorrect("precision divides by the row sums, which makes it recall. Precision asks 'of everything "
                        "predicted as c, how much was c?': divide by the column sums, matrix.sum(dim=0).")
    if torch.allclose(recall, want_p):
        raise Incorrect("recall divides by the column sums, which makes it precision. Recall asks 'of every true c, "
                        "how much was found?': divide by the row sums, matrix.sum(dim=1).")
    if not torch.allclose(precision, want_p, atol=1e-6):
        raise Incorrect(f"precision should be {[round(v, 3) for v in want_p.tolist()]}, got "
                        f"{[round(v, 3) for v in precision.tolist()]}. TP is the diagonal, matrix.diagonal().")
    if not torch.allclose(recall, want_r, atol=1e-6):
        raise Incorrect(f"recall should be {[round(v, 3) for v in want_r.tolist()]}, got "
                        f"{[round(v, 3) for v in recall.tolist()]}. TP is the diagonal, matrix.diagonal().")
    return "precision = diag / column sums, recall = diag / row sums."


# ----------------------------------------------------------------------------- 4. early stopping
#: Validation losses after epochs 1, 2, 3, ... of an overfitting run.
VAL_LOSSES = (0.52, 0.31, 0.24, 0.22, 0.23, 0.21, 0.25, 0.27, 0.30, 0.33)


@exercise("Early stopping by hand")
def check_early_stopping(answer: Any) -> str:
    """``(stop_epoch, best_epoch)`` for EarlyStopping(patience=2) + BestWeights on ``VAL_LOSSES`` (epochs from 1)."""
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        raise Incorrect("answer should be a pair (stop_epoch, best_epoch), e.g. (5, 3).")
    stop, best = answer
    if (stop, best) == (8, 6):
        return ("epoch 6 was the last improvement (0.21); epochs 7 and 8 did not improve, so training stops after "
                "epoch 8 and BestWeights puts back the weights of epoch 6.")
    if best != 6:
        hint = " Epochs are counted from 1, so VAL_LOSSES[i] belongs to epoch i + 1." if best == 5 else ""
        raise Incorrect(f"best_epoch {best} is wrong: BestWeights keeps the epoch with the lowest validation loss "
                        f"in the whole run so far.{hint}")
    if stop == 5:
        raise Incorrect("epoch 5 (0.23) is worse than epoch 4, but epoch 6 improves again before patience runs out: "
                        "patience=2 stops only after 2 epochs in a row without improvement.")
    if stop == 7:
        raise Incorrect("after epoch 7 only one epoch has passed without improvement; patience=2 waits for two.")
    if stop == 9:
        raise Incorrect("that is one epoch too late: epochs 7 and 8 are the two epochs without improvement, so it "
                        "stops after epoch 8.")
    raise Incorrect(f"stop_epoch {stop} is wrong. Walk through the list: note the best loss so far, count the epochs "
                    "since it last improved, and stop when the count reaches 2.")
