"""Classification metrics on torch tensors: accuracy, confusion matrix, precision, recall, F1.

They follow scikit-learn's definitions (the tests compare with it on random labels):
the confusion matrix has one row per true class and one column per predicted class, and a
ratio whose denominator is 0 (a class never predicted, or never present) counts as 0,
which is scikit-learn's ``zero_division=0``.

``y_pred`` may be class indices ``(N,)`` or scores/logits ``(N, num_classes)``; scores are
turned into the highest-scoring class.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

__all__ = ["accuracy", "confusion_matrix", "precision_recall_f1", "PrecisionRecallF1", "AVERAGES"]

AVERAGES = ("macro", "micro", "weighted", None)


class PrecisionRecallF1(NamedTuple):
    """Floats for an average; tensors of one value per class for ``average=None``."""

    precision: float | torch.Tensor
    recall: float | torch.Tensor
    f1: float | torch.Tensor


def _labels(y_true: torch.Tensor, y_pred: torch.Tensor, num_classes: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Check and return both as int64 1-D tensors of class indices (scores are argmax-ed)."""
    y_true, y_pred = torch.as_tensor(y_true), torch.as_tensor(y_pred)
    if y_pred.ndim == 2 and y_true.ndim == 1:
        if num_classes is not None and y_pred.shape[1] != num_classes:
            raise ValueError(f"y_pred holds scores for {y_pred.shape[1]} classes, but num_classes is {num_classes}.")
        y_pred = y_pred.argmax(dim=1)
    for name, labels in (("y_true", y_true), ("y_pred", y_pred)):
        if labels.ndim != 1:
            raise ValueError(
                f"{name} must be a 1-D tensor of class indices (or y_pred scores of shape (N, classes)); "
                f"got shape {tuple(labels.shape)}."
            )
        if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
            raise TypeError(
                f"{name} must hold whole-number class indices (an integer dtype), got {labels.dtype}. "
                "If these are scores or probabilities, pass them as (N, classes) or take .argmax(dim=1) first; "
                "if they are labels stored as floats, use .long()."
            )
    if len(y_true) != len(y_pred):
        raise ValueError(
            f"y_true and y_pred must have the same length (one prediction per example): "
            f"got {len(y_true)} true labels and {len(y_pred)} predictions."
        )
    if len(y_true) == 0:
        raise ValueError("y_true and y_pred are empty: there is nothing to measure.")
    if num_classes is not None:
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive whole number, got {num_classes!r}.")
        for name, labels in (("y_true", y_true), ("y_pred", y_pred)):
            low, high = int(labels.min()), int(labels.max())
            if low < 0 or high >= num_classes:
                bad = low if low < 0 else high
                raise ValueError(
                    f"{name} contains the label {bad}, outside 0..{num_classes - 1} for num_classes={num_classes}."
                )
    return y_true.long().cpu(), y_pred.long().cpu()


def accuracy(y_true: torch.Tensor, y_pred: torch.Tensor) -> float:
    """The fraction of examples whose predicted class is the true one."""
    y_true, y_pred = _labels(y_true, y_pred, None)
    return float((y_true == y_pred).double().mean())


def confusion_matrix(y_true: torch.Tensor, y_pred: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``matrix[i, j]`` = how many examples of true class ``i`` were predicted as ``j`` (int64).

    The diagonal holds the correct predictions; row ``i`` sums to the number of examples of class ``i``.
    """
    y_true, y_pred = _labels(y_true, y_pred, num_classes)
    counts = torch.bincount(y_true * num_classes + y_pred, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def _safe_divide(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    """numerator / denominator, with 0 where the denominator is 0 (scikit-learn's zero_division=0)."""
    numerator, denominator = numerator.double(), denominator.double()
    return torch.where(denominator > 0, numerator / denominator.clamp(min=1), torch.zeros_like(numerator))


def precision_recall_f1(
    y_true: torch.Tensor, y_pred: torch.Tensor, num_classes: int, average: str | None = "macro"
) -> PrecisionRecallF1:
    r"""Precision, recall and F1 per class, or averaged over the classes ``0..num_classes-1``.

    For class :math:`c`: precision :math:`= TP/(TP+FP)`, recall :math:`= TP/(TP+FN)`,
    :math:`F_1 = 2TP/(2TP+FP+FN)` (the harmonic mean of the two); 0 where a denominator is 0.

    - ``"macro"``: the plain mean over all ``num_classes`` classes, absent ones included (each class counts the same).
    - ``"micro"``: pool every class's TP, FP, FN first; for single-label problems all three equal the accuracy.
    - ``"weighted"``: the mean weighted by each class's number of true examples (its support).
    - ``None``: one value per class, as float64 tensors of length ``num_classes``.
    """
    if average not in AVERAGES:
        raise ValueError(f"average must be one of 'macro', 'micro', 'weighted' or None; got {average!r}.")
    matrix = confusion_matrix(y_true, y_pred, num_classes)
    tp = matrix.diagonal()
    fp = matrix.sum(dim=0) - tp  # predicted as c, but not c
    fn = matrix.sum(dim=1) - tp  # truly c, but predicted as something else
    if average == "micro":
        tp, fp, fn = tp.sum(), fp.sum(), fn.sum()
    precision = _safe_divide(tp, tp + fp)
    recall = _safe_divide(tp, tp + fn)
    f1 = _safe_divide(2 * tp, 2 * tp + fp + fn)
    if average is None:
        return PrecisionRecallF1(precision, recall, f1)
    if average == "micro":
        return PrecisionRecallF1(float(precision), float(recall), float(f1))
    if average == "macro":
        weights = torch.full((num_classes,), 1.0 / num_classes, dtype=torch.float64)
    else:  # weighted by support
        support = matrix.sum(dim=1).double()
        weights = support / support.sum()
    return PrecisionRecallF1(*(float((values * weights).sum()) for values in (precision, recall, f1)))
