"""Checkers for chapter 06 (the MLP on MNIST): each spots the usual mistake and says how to fix it.

Use in a notebook: ``from course_lib.exercises import ch06_mlp as ex`` then ``ex.check_train_step(train_step)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .core import (
    Exercise,
    Forbidden,
    Incorrect,
    call_learner,
    close_tensors,
    exercise,
    expect_finite,
    expect_number,
    expect_numbers,
    expect_results,
    expect_shape,
    reject_none,
)

__all__ = [
    "EXERCISES",
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


def _squared_error_to_one_hot(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """A loss other than cross-entropy: mean squared distance from the one-hot targets."""
    return ((outputs - F.one_hot(targets, outputs.shape[1]).float()) ** 2).mean()


@dataclass(frozen=True)
class _Setting:
    """One way the checker calls train_step: which optimizer, which loss, how many steps."""

    name: str
    make_optimizer: Callable[[Any], torch.optim.Optimizer]
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    steps: int = 2


_SETTINGS = (
    _Setting("SGD(lr=0.1) with F.cross_entropy", lambda params: torch.optim.SGD(params, lr=0.1), F.cross_entropy),
    _Setting(
        "SGD(lr=0.05, momentum=0.9) with a squared-error loss",
        lambda params: torch.optim.SGD(params, lr=0.05, momentum=0.9),
        _squared_error_to_one_hot,
        steps=3,
    ),
    _Setting(
        "Adam(lr=0.01) with F.cross_entropy", lambda params: torch.optim.Adam(params, lr=0.01), F.cross_entropy, steps=3
    ),
)


def _reference_steps(setting: _Setting, steps: int, zero_grad: bool = True) -> list[torch.Tensor]:
    model, x, y = _toy_problem()
    optimizer = setting.make_optimizer(model.parameters())
    for _ in range(steps):
        if zero_grad:
            optimizer.zero_grad()
        setting.loss_fn(model(x), y).backward()
        optimizer.step()
    return [p.detach().clone() for p in model.parameters()]


def _same_params(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor]) -> bool:
    return all(close_tensors(p, q, rtol=1e-5, atol=1e-6) for p, q in zip(a, b))


class _StepRecord:
    """What happened during one call of the learner's train_step, seen through hooks on our own objects."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: Callable) -> None:
        self.forward_modes: list[bool] = []  # model.training at each forward
        self.backward_reached = False  # a gradient reached the parameters
        self.steps = 0  # optimizer.step() calls
        self.grads_at_step: list[bool] = []  # whether any gradient was there when step() ran
        self.losses: list[float] = []  # each value loss_fn returned
        model.register_forward_pre_hook(lambda module, inputs: self.forward_modes.append(module.training))
        for p in model.parameters():
            p.register_post_accumulate_grad_hook(self._backward_seen)
        optimizer.register_step_pre_hook(self._step_seen)
        self.params = list(model.parameters())

        def recording_loss(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
            loss = loss_fn(outputs, targets)
            self.losses.append(float(loss.detach()))
            return loss

        self.loss_fn = recording_loss

    def _backward_seen(self, parameter: torch.Tensor) -> None:
        self.backward_reached = True

    def _step_seen(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        self.steps += 1
        self.grads_at_step.append(any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in self.params))


_OWN_OPTIMIZER = Forbidden(
    {"a new optimizer": torch.optim.Optimizer},
    "train_step builds {name} instead of using the `optimizer` it is given. Use that one: the caller built it for "
    "this model with the learning rate it wants, and it keeps its state (momentum, Adam's averages) from one "
    "step to the next.",
)


def _run_step(
    train_step: Callable[..., Any],
    setting: _Setting,
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    optimizer: torch.optim.Optimizer,
) -> tuple[Any, _StepRecord]:
    record = _StepRecord(model, optimizer, setting.loss_fn)
    model.train()
    returned = call_learner(
        train_step, model, x, y, record.loss_fn, optimizer, forbidden=_OWN_OPTIMIZER, may_change={0, 4}
    )
    return returned, record


def _explain_step(record: _StepRecord, setting: _Setting, start: list[torch.Tensor], after: list[torch.Tensor]) -> None:
    """The first thing wrong in one call, judged from what the hooks saw."""
    if not record.forward_modes:
        raise Incorrect(
            "train_step never ran the model. Start with the forward pass and the loss: "
            "loss = loss_fn(model(x), y); then zero_grad, backward and step."
        )
    if not record.losses:
        raise Incorrect(
            f"with {setting.name}, train_step never called the loss_fn it was given: it computes a loss of "
            "its own choosing. Use the argument: loss = loss_fn(model(x), y)."
        )
    if record.forward_modes and not all(record.forward_modes):
        raise Incorrect(
            "the model ran in evaluation mode during the step (model.eval()). Evaluation mode switches off "
            "dropout and freezes batch norm's statistics, which training needs: leave the model in "
            "training mode in train_step."
        )
    if _same_params(after, start):
        if not record.backward_reached:
            raise Incorrect(
                "the weights did not change and no gradients were computed: call loss.backward() "
                "to fill each parameter's .grad, then optimizer.step() to use them."
            )
        if record.steps == 0:
            raise Incorrect(
                "the gradients were computed but the weights did not change: call optimizer.step() "
                "after loss.backward()."
            )
        if not any(record.grads_at_step):
            raise Incorrect(
                "loss.backward() ran, but when optimizer.step() ran the gradients were gone: you called "
                "optimizer.zero_grad() after loss.backward(), which wiped them. The order is zero_grad, "
                "backward, step (zero_grad first clears the previous step's gradients)."
            )
        raise Incorrect("the weights did not change: call optimizer.step() after loss.backward().")
    if record.steps == 0:
        raise Incorrect(
            f"with {setting.name} the weights changed, but optimizer.step() was never called: you updated "
            "them by hand (p -= lr * p.grad?). Call optimizer.step(): it applies the optimizer's own rule "
            "(momentum, Adam) with the caller's learning rate."
        )
    if record.steps > 1:
        raise Incorrect(
            f"one call of train_step ran optimizer.step() {record.steps} times; it should take exactly one step."
        )


@exercise("One training step")
def check_train_step(train_step: Callable[..., Any]) -> str:
    """``train_step(model, x, y, loss_fn, optimizer) -> float``: forward, loss, zero_grad, backward, step, with
    whatever optimizer and loss it is given, leaving the model in training mode."""
    for setting in _SETTINGS:
        model, x, y = _toy_problem()
        optimizer = setting.make_optimizer(model.parameters())
        with torch.no_grad():
            expected_loss = float(setting.loss_fn(model(x), y))
        start = [p.detach().clone() for p in model.parameters()]
        returned, record = _run_step(train_step, setting, model, x, y, optimizer)
        after = [p.detach().clone() for p in model.parameters()]
        _explain_step(record, setting, start, after)
        if not _same_params(after, _reference_steps(setting, 1)):
            raise Incorrect(
                f"with {setting.name}, after one step the weights differ from one step of the optimizer "
                "on loss_fn(model(x), y). Compute the loss from the model's outputs and the targets, in "
                "that order, with the loss_fn and the optimizer you are given, and call "
                "optimizer.step() exactly once."
            )
        if not model.training:
            raise Incorrect(
                "train_step left the model in evaluation mode (model.eval()). The next training step "
                "would then run without dropout and with frozen batch norm: leave it in training mode."
            )
        reject_none(returned, "train_step's result", "Did you forget `return loss.item()`?")
        if isinstance(returned, torch.Tensor):
            raise Incorrect(
                "return the loss as a Python number with loss.item(): returning the tensor keeps its "
                "whole computational graph alive, and summing such tensors over an epoch leaks memory."
            )
        got = expect_number(returned, "train_step's result")
        if not math.isclose(got, expected_loss, rel_tol=1e-5):
            raise Incorrect(
                f"the weights are right, but the function returned {returned!r}; it should return the "
                f"loss of this batch as a float ({expected_loss:.4f} here), e.g. `return loss.item()`."
            )
        for step in range(2, setting.steps + 1):
            before = [p.detach().clone() for p in model.parameters()]
            _, record = _run_step(train_step, setting, model, x, y, optimizer)
            after = [p.detach().clone() for p in model.parameters()]
            _explain_step(record, setting, before, after)
            if not _same_params(after, _reference_steps(setting, step)):
                if _same_params(after, _reference_steps(setting, step, zero_grad=False)):
                    raise Incorrect(
                        f"the first step is right but step {step} is not: the gradients of the earlier "
                        "steps were added to this one's. PyTorch accumulates .grad; call "
                        "optimizer.zero_grad() before loss.backward() in every step."
                    )
                raise Incorrect(
                    f"with {setting.name} the first step is right but step {step} is not; each call must "
                    "do exactly one fresh step with the optimizer it is given."
                )
    return (
        "forward, loss, zero_grad, backward, step: the five lines every PyTorch training loop is built on, "
        "whatever the optimizer and the loss."
    )


# ----------------------------------------------------------------------------- 2. initialisation
@exercise("Kaiming initialisation")
def check_kaiming_std(kaiming_std: Callable[[int], float]) -> str:
    """``kaiming_std(fan_in)``: the standard deviation sqrt(2 / fan_in) that keeps ReLU activations' scale."""
    for fan_in in (784, 256, 9, 1):
        got = expect_number(call_learner(kaiming_std, fan_in), f"kaiming_std({fan_in})")
        want = math.sqrt(2.0 / fan_in)
        if math.isclose(got, want, rel_tol=1e-6):
            continue
        if math.isclose(got, 2.0 / fan_in, rel_tol=1e-6):
            raise Incorrect(
                f"kaiming_std({fan_in}) = {got:.4g} is the variance 2/fan_in; the standard deviation is "
                "its square root."
            )
        if math.isclose(got, math.sqrt(1.0 / fan_in), rel_tol=1e-6):
            raise Incorrect(
                f"kaiming_std({fan_in}) = {got:.4g} is sqrt(1/fan_in) (LeCun's choice for linear or tanh "
                "units). ReLU zeroes half of its inputs, which halves the variance, so Kaiming doubles "
                "it: sqrt(2/fan_in)."
            )
        raise Incorrect(f"kaiming_std({fan_in}) = {got:.4g}, expected {want:.4g}. Var(w) = 2 / fan_in.")
    return "std = sqrt(2 / fan_in): each ReLU layer then passes on activations of about the same scale."


# ----------------------------------------------------------------------------- 3. metrics
_CONFUSION = torch.tensor([[50, 2, 3], [10, 30, 0], [0, 8, 12]])


@exercise("Precision and recall from a confusion matrix")
def check_precision_recall_from_confusion(precision_recall: Callable[[torch.Tensor], Any]) -> str:
    """``precision_recall(matrix) -> (precision, recall)``, one value per class; rows = true class."""
    result = expect_results(
        call_learner(precision_recall, _CONFUSION.clone()), ("precision", "recall"), "precision_recall"
    )
    precision, recall = (expect_shape(r, (3,), name) for r, name in zip(result, ("precision", "recall")))
    tp = _CONFUSION.diagonal().double()
    want_p, want_r = tp / _CONFUSION.sum(0).double(), tp / _CONFUSION.sum(1).double()
    for name, value, want in (("precision", precision, want_p), ("recall", recall, want_r)):
        shown = [round(v, 3) for v in value.double().tolist()]
        if not value.is_floating_point():
            raise Incorrect(
                f"{name} holds whole numbers ({value.dtype}): {shown}. Integer division (//, or "
                "torch.div(..., rounding_mode='floor')) rounds each fraction down, here to 0. Divide with "
                "/, which in torch always gives a float."
            )
        if torch.equal(value.double(), want.floor()):
            raise Incorrect(
                f"{name} is {shown}: every fraction was rounded down to a whole number. // is floor "
                "division, even on floats; divide with /."
            )
        expect_finite(value, want, name)
    precision, recall = precision.double(), recall.double()
    if torch.allclose(precision, want_r) and torch.allclose(recall, want_p):
        raise Incorrect(
            "precision and recall are swapped. Rows are true classes, so a row sum counts the examples "
            "of a class (recall's denominator, TP + FN); a column sum counts the predictions of a "
            "class (precision's denominator, TP + FP)."
        )
    if torch.allclose(precision, want_r):
        raise Incorrect(
            "precision divides by the row sums, which makes it recall. Precision asks 'of everything "
            "predicted as c, how much was c?': divide by the column sums, matrix.sum(dim=0)."
        )
    if torch.allclose(recall, want_p):
        raise Incorrect(
            "recall divides by the column sums, which makes it precision. Recall asks 'of every true c, "
            "how much was found?': divide by the row sums, matrix.sum(dim=1)."
        )
    for name, value, want, sums in (
        ("precision", precision, want_p, "column sums, matrix.sum(dim=0)"),
        ("recall", recall, want_r, "row sums, matrix.sum(dim=1)"),
    ):
        if not torch.allclose(value, want, atol=1e-6):
            raise Incorrect(
                f"{name} should be {[round(v, 3) for v in want.tolist()]}, got "
                f"{[round(v, 3) for v in value.tolist()]}. Divide the true positives, the diagonal "
                f"matrix.diagonal(), by the {sums}."
            )
    return "precision = diag / column sums, recall = diag / row sums."


# ----------------------------------------------------------------------------- 4. early stopping
#: Validation losses after epochs 1, 2, 3, ... of an overfitting run.
VAL_LOSSES = (0.52, 0.31, 0.24, 0.22, 0.23, 0.21, 0.25, 0.27, 0.30, 0.33)


@exercise("Early stopping by hand")
def check_early_stopping(answer: Any) -> str:
    """``(stop_epoch, best_epoch)`` for EarlyStopping(patience=2) + BestWeights on ``VAL_LOSSES`` (epochs from 1)."""
    stop, best = expect_numbers(answer, ("stop_epoch", "best_epoch"), "answer", whole=True)
    if (stop, best) == (8, 6):
        return (
            "epoch 6 was the last improvement (0.21); epochs 7 and 8 did not improve, so training stops after "
            "epoch 8 and BestWeights puts back the weights of epoch 6."
        )
    if best != 6:
        hint = " Epochs are counted from 1, so VAL_LOSSES[i] belongs to epoch i + 1." if best == 5 else ""
        raise Incorrect(
            f"best_epoch {best} is wrong: BestWeights keeps the epoch with the lowest validation loss "
            f"in the whole run so far.{hint}"
        )
    if stop == 5:
        raise Incorrect(
            "epoch 5 (0.23) is worse than epoch 4, but epoch 6 improves again before patience runs out: "
            "patience=2 stops only after 2 epochs in a row without improvement."
        )
    if stop == 7:
        raise Incorrect("after epoch 7 only one epoch has passed without improvement; patience=2 waits for two.")
    if stop == 9:
        raise Incorrect(
            "that is one epoch too late: epochs 7 and 8 are the two epochs without improvement, so it "
            "stops after epoch 8."
        )
    raise Incorrect(
        f"stop_epoch {stop} is wrong. Walk through the list: note the best loss so far, count the epochs "
        "since it last improved, and stop when the count reaches 2."
    )


#: This chapter's exercises in notebook order, for a grader: the checker and the notebook variables it reads.
EXERCISES = [
    Exercise(id="train_step", checker=check_train_step, names=("train_step",)),
    Exercise(id="kaiming_std", checker=check_kaiming_std, names=("kaiming_std",)),
    Exercise(id="precision_recall", checker=check_precision_recall_from_confusion, names=("precision_recall",)),
    Exercise(id="early_stopping", checker=check_early_stopping, names=("answer",)),
]
