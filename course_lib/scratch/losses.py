"""Loss functions written from the math, with ``torch.nn.functional``'s semantics.

Chapter 04 builds these by hand; tests/test_scratch_losses.py checks each against
``torch.nn.functional`` (and the main ones against TensorFlow/Keras). Every loss takes a
``reduction``: ``"mean"`` (the default, as in PyTorch), ``"sum"`` or ``"none"`` (one loss per
element, or per example for ``cross_entropy`` and ``kl_divergence``).

Mistakes a beginner makes (float class labels, shapes that silently broadcast, probabilities
passed where logits are expected) raise an error that says what was expected and what came,
instead of broadcasting or producing a quiet NaN.
"""

from __future__ import annotations

import torch

from ..arguments import check_choice, check_dim, check_float_tensor, check_number
from .activations import log_softmax, split_by_sign

__all__ = [
    "mse",
    "mae",
    "huber",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "entropy",
    "kl_divergence",
]

_REDUCTIONS = ("mean", "sum", "none")


# ----------------------------------------------------------------------------- checks
def _check_reduction(reduction: str) -> None:
    check_choice("reduction", reduction, _REDUCTIONS)


def _check_pair(pred: torch.Tensor, target: torch.Tensor, loss: str, pred_name: str = "pred") -> None:
    """Both float, same shape: a (N, 1) prediction against a (N,) target would broadcast to (N, N)."""
    check_float_tensor(pred, pred_name, loss)
    check_float_tensor(target, "target", loss)
    if pred.shape != target.shape:
        hint = ""
        if pred.dim() == target.dim() + 1 and pred.shape[-1] == 1:
            hint = f" Squeeze the last axis of {pred_name}: {pred_name}.squeeze(-1)."
        elif target.dim() == pred.dim() + 1 and target.shape[-1] == 1:
            hint = " Squeeze the last axis of target: target.squeeze(-1)."
        raise ValueError(
            f"{loss}: {pred_name} and target must have the same shape, got {pred_name} "
            f"{tuple(pred.shape)} and target {tuple(target.shape)}.{hint}"
        )


def _reduce(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


# ----------------------------------------------------------------------------- regression
def mse(pred: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    r"""Mean squared error :math:`\frac1n\sum_i (\hat y_i - y_i)^2` (like ``F.mse_loss``)."""
    _check_reduction(reduction)
    _check_pair(pred, target, "mse")
    return _reduce((pred - target) ** 2, reduction)


def mae(pred: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    r"""Mean absolute error :math:`\frac1n\sum_i |\hat y_i - y_i|` (like ``F.l1_loss``)."""
    _check_reduction(reduction)
    _check_pair(pred, target, "mae")
    return _reduce((pred - target).abs(), reduction)


def huber(pred: torch.Tensor, target: torch.Tensor, delta: float = 1.0, reduction: str = "mean") -> torch.Tensor:
    r"""Huber loss (like ``F.huber_loss``): quadratic near the target, linear far from it.

    .. math:: \ell(r) = \begin{cases} \tfrac12 r^2 & |r| \le \delta \\ \delta\,(|r| - \tfrac12\delta) & |r| > \delta \end{cases}

    with :math:`r = \hat y - y`. Its gradient is :math:`r` clipped to :math:`[-\delta, \delta]`, so an
    outlier pulls no harder than :math:`\delta`. (``F.smooth_l1_loss`` is this divided by :math:`\delta`.)
    """
    _check_reduction(reduction)
    _check_pair(pred, target, "huber")
    check_number(
        "huber: delta", delta, above=0, why="It is where the loss turns from quadratic to linear (typical: 1.0)."
    )
    r = (pred - target).abs()
    loss = torch.where(r <= delta, 0.5 * r * r, delta * (r - 0.5 * delta))
    return _reduce(loss, reduction)


# ----------------------------------------------------------------------------- binary classification
def binary_cross_entropy(prob: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    r"""Binary cross-entropy of probabilities (like ``F.binary_cross_entropy``).

    .. math:: \ell = -\left[y \log p + (1 - y)\log(1 - p)\right]

    Each log is clamped at -100 as PyTorch does, so :math:`p = 0` or :math:`1` gives a loss of at
    most 100 instead of ``inf``. Prefer ``binary_cross_entropy_with_logits``: it never forms
    :math:`p`, so it loses no precision when :math:`p` rounds to 0 or 1.
    """
    _check_reduction(reduction)
    _check_pair(prob, target, "binary_cross_entropy", pred_name="prob")
    outside = (prob < 0) | (prob > 1) | prob.isnan()
    if outside.any():
        bad = float(prob[outside][0])
        raise ValueError(
            f"binary_cross_entropy expects probabilities in [0, 1], got {bad:g}. If these are raw "
            "model outputs (logits), use binary_cross_entropy_with_logits, or apply sigmoid first."
        )
    outside = (target < 0) | (target > 1) | target.isnan()
    if outside.any():  # torch refuses these too: y log p + (1 - y) log(1 - p) is no cross-entropy for y outside [0, 1]
        bad = float(target[outside][0])
        raise ValueError(
            f"binary_cross_entropy expects targets in [0, 1] (a label 0 or 1, or a probability), "
            f"got {bad:g}. Labels such as -1/+1 or 1/2 must be mapped to 0/1 first."
        )
    log_p = torch.log(prob).clamp(min=-100.0)
    log_1mp = torch.log1p(-prob).clamp(min=-100.0)
    return _reduce(-(target * log_p + (1.0 - target) * log_1mp), reduction)


def binary_cross_entropy_with_logits(
    logits: torch.Tensor, target: torch.Tensor, reduction: str = "mean"
) -> torch.Tensor:
    r"""Binary cross-entropy from a logit :math:`z` (:math:`p = \sigma(z)`), like ``F.binary_cross_entropy_with_logits``.

    Substituting :math:`\log\sigma(z) = -\log(1 + e^{-z})` and :math:`\log(1 - \sigma(z)) = -z - \log(1 + e^{-z})`:

    .. math:: \ell = \max(z, 0) - z\,y + \log\left(1 + e^{-|z|}\right)

    which is exact and never exponentiates a positive number (finite for :math:`z = \pm 200` and beyond).
    Its gradient is simply :math:`\sigma(z) - y`.
    """
    _check_reduction(reduction)
    _check_pair(logits, target, "binary_cross_entropy_with_logits", pred_name="logits")
    # max(z, 0) + log(1 + e^{-|z|}) is softplus(z) = log(1 + e^z); written per sign so that autograd
    # also gets the right slope (1/2) at z = 0, where |z| has no derivative.
    z_pos, z_neg = split_by_sign(logits)
    softplus = torch.where(logits >= 0, z_pos + torch.log1p(torch.exp(-z_pos)), torch.log1p(torch.exp(z_neg)))
    loss = softplus - logits * target
    return _reduce(loss, reduction)


# ----------------------------------------------------------------------------- multi-class
def _check_class_targets(logits: torch.Tensor, target: torch.Tensor) -> None:
    check_float_tensor(logits, "logits", "cross_entropy")
    if not isinstance(target, torch.Tensor):
        raise TypeError(
            f"cross_entropy: target should be a torch.Tensor of class indices, got a {type(target).__name__}."
        )
    if torch.is_floating_point(target) or target.dtype == torch.bool:
        raise TypeError(
            f"cross_entropy expects integer class indices (torch.int64) as target, got {target.dtype}. "
            "Convert labels with target.long(); if you have one-hot rows, take target.argmax(dim=1)."
        )
    if logits.dim() == 0:
        raise ValueError("cross_entropy: logits must have a class axis, got a scalar.")
    if logits.dim() == 1:  # one example: logits (C,), target ()
        expected = ()
    else:
        expected = (logits.shape[0], *logits.shape[2:])
    if tuple(target.shape) != expected:
        layout = (
            "(C,) with a scalar target"
            if logits.dim() == 1
            else "(N, C) with target (N,), or (N, C, d1, ...) with target (N, d1, ...)"
        )
        hint = ""
        if target.dim() == logits.dim() and tuple(target.shape) == tuple(logits.shape):
            hint = " target has the logits' shape: is it one-hot? Use target.argmax(dim=1)."
        elif logits.dim() == 2 and target.dim() == 2 and target.shape[1] == 1:
            hint = " Squeeze the target: target.squeeze(1)."
        elif logits.dim() >= 2 and target.dim() >= 1 and target.shape[0] != logits.shape[0]:
            hint = f" The batch sizes differ: {logits.shape[0]} rows of logits, {target.shape[0]} targets."
        raise ValueError(
            f"cross_entropy: expected target of shape {expected} for logits of shape {tuple(logits.shape)} "
            f"({layout}), got {tuple(target.shape)}.{hint}"
        )
    classes = logits.shape[0] if logits.dim() == 1 else logits.shape[1]
    if target.numel() and (int(target.min()) < 0 or int(target.max()) >= classes):
        bad = int(target.min()) if int(target.min()) < 0 else int(target.max())
        raise ValueError(
            f"cross_entropy: class indices must be in [0, {classes - 1}] for {classes} classes, got {bad}."
        )


def cross_entropy(
    logits: torch.Tensor, target: torch.Tensor, label_smoothing: float = 0.0, reduction: str = "mean"
) -> torch.Tensor:
    r"""Cross-entropy from logits and integer class targets (like ``F.cross_entropy``).

    For one example with logits :math:`z \in \mathbb{R}^C` and class :math:`y`:

    .. math:: \ell = -\log \mathrm{softmax}(z)_y = -z_y + \log\sum_j e^{z_j}

    computed with ``log_softmax`` (log-sum-exp), never with ``softmax(...).log()``. With label
    smoothing :math:`\varepsilon` the target distribution is :math:`(1-\varepsilon)\,\text{one-hot}(y) + \varepsilon/C`, so

    .. math:: \ell = (1 - \varepsilon)\,(-\log s_y) + \frac{\varepsilon}{C}\sum_j (-\log s_j).

    Shapes as in PyTorch: logits ``(N, C)`` with target ``(N,)``; ``(N, C, d1, ...)`` with
    ``(N, d1, ...)``; or a single ``(C,)`` with a scalar target. ``"none"`` returns the target's shape.
    """
    _check_reduction(reduction)
    check_number(
        "cross_entropy: label_smoothing",
        label_smoothing,
        at_least=0,
        at_most=1,
        why="It is the share of the target spread evenly over all classes (typical: 0.1).",
    )
    _check_class_targets(logits, target)
    class_dim = 0 if logits.dim() == 1 else 1
    log_probs = log_softmax(logits, dim=class_dim)
    nll = -log_probs.gather(class_dim, target.long().unsqueeze(class_dim)).squeeze(class_dim)
    if label_smoothing > 0:
        uniform = -log_probs.mean(dim=class_dim)  # (1/C) * sum_j -log s_j
        loss = (1.0 - label_smoothing) * nll + label_smoothing * uniform
    else:
        loss = nll
    return _reduce(loss, reduction)


# ----------------------------------------------------------------------------- distributions
def _check_log_probs(log_p: torch.Tensor, what: str, loss: str) -> None:
    check_float_tensor(log_p, what, loss)
    if (log_p > 1e-4).any():
        raise ValueError(
            f"{loss}: {what} should hold log-probabilities (all <= 0), got a value of "
            f"{float(log_p.max()):g}. Pass torch.log(p) or log_softmax(logits), not p or the logits."
        )


def entropy(log_p: torch.Tensor, dim: int = -1, reduction: str = "none") -> torch.Tensor:
    r"""Entropy :math:`H(p) = -\sum_i p_i \log p_i` of categorical distributions given as log-probabilities.

    Terms with :math:`p_i = 0` count as 0 (the limit of :math:`p \log p`). ``reduction="none"``
    (the default here) returns one entropy per distribution.
    """
    _check_reduction(reduction)
    _check_log_probs(log_p, "log_p", "entropy")
    check_dim(log_p, dim, "entropy")
    p = torch.exp(log_p)
    terms = torch.where(p == 0, torch.zeros_like(p), -p * log_p)  # p == 0, not p > 0: a NaN must stay NaN
    return _reduce(terms.sum(dim=dim), reduction)


def kl_divergence(log_p: torch.Tensor, log_q: torch.Tensor, dim: int = -1, reduction: str = "mean") -> torch.Tensor:
    r"""Kullback-Leibler divergence :math:`\mathrm{KL}(p\,\|\,q) = \sum_i p_i (\log p_i - \log q_i)`.

    ``log_p`` and ``log_q`` are log-probabilities along ``dim`` (e.g. ``log_softmax`` outputs).
    ``"none"`` returns one divergence per distribution, ``"mean"`` their average, ``"sum"`` their sum.
    Terms with :math:`p_i = 0` count as 0.

    Not symmetric: :math:`\mathrm{KL}(p\|q) \ne \mathrm{KL}(q\|p)`. And
    :math:`\mathrm{KL}(p\|q) = H(p, q) - H(p)`: with a fixed target :math:`p`, minimising KL and
    minimising cross-entropy move the model :math:`q` the same way.

    PyTorch's ``F.kl_div(input, target)`` puts the arguments the other way round: ``input`` is the
    model's :math:`\log q`, ``target`` is :math:`p`. So this function equals
    ``F.kl_div(log_q, log_p, log_target=True, reduction="batchmean")`` for 2-D inputs; note that
    ``F.kl_div``'s ``reduction="mean"`` averages over *every element*, not over distributions.
    """
    _check_reduction(reduction)
    _check_log_probs(log_p, "log_p", "kl_divergence")
    _check_log_probs(log_q, "log_q", "kl_divergence")
    if log_p.shape != log_q.shape:
        raise ValueError(
            f"kl_divergence: log_p and log_q must have the same shape, got {tuple(log_p.shape)} "
            f"and {tuple(log_q.shape)}."
        )
    check_dim(log_p, dim, "kl_divergence")
    p = torch.exp(log_p)
    terms = torch.where(p == 0, torch.zeros_like(p), p * (log_p - log_q))  # p == 0, not p > 0: NaN stays NaN
    return _reduce(terms.sum(dim=dim), reduction)
