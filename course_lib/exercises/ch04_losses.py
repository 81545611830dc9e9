"""Checkers for chapter 04 (losses): each spots the usual mistake and says how to fix it.

Use in a notebook: ``from course_lib.exercises import ch04_losses as ex`` then
``ex.check_bce_with_logits(my_bce)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..scratch import losses as scratch_losses
from .core import (
    Exercise,
    Forbidden,
    Incorrect,
    call_learner,
    close_numbers,
    exercise,
    expect_close,
    expect_finite,
    expect_shape,
    require_tensor,
    torch_spellings,
)

__all__ = ["EXERCISES", "check_bce_with_logits", "check_cross_entropy", "check_smoothed_targets", "check_kl_divergence"]

#: What the BCE exercise asks the learner to write instead of calling.
BUILT_IN_BCE = Forbidden(
    {
        **torch_spellings("binary_cross_entropy_with_logits", "binary_cross_entropy"),
        "nn.BCEWithLogitsLoss": nn.BCEWithLogitsLoss,
        "nn.BCELoss": nn.BCELoss,
        "course_lib.scratch.losses.binary_cross_entropy_with_logits": scratch_losses.binary_cross_entropy_with_logits,
        "course_lib.scratch.losses.binary_cross_entropy": scratch_losses.binary_cross_entropy,
    },
    "your loss calls {name}. The exercise is to write binary cross-entropy from logits yourself, without "
    "F.binary_cross_entropy*, from the formula above.",
)

#: What the cross-entropy exercise asks the learner to write instead of calling.
BUILT_IN_CROSS_ENTROPY = Forbidden(
    {
        **torch_spellings("cross_entropy", "cross_entropy_loss", "nll_loss"),
        "nn.CrossEntropyLoss": nn.CrossEntropyLoss,
        "nn.NLLLoss": nn.NLLLoss,
        "course_lib.scratch.losses.cross_entropy": scratch_losses.cross_entropy,
    },
    "your loss calls {name}, which does the whole job. The exercise is to write it yourself: log-probabilities "
    "with torch.logsumexp (or the max trick), then the mean of -log p at the true classes.",
)


def _scalar(value: Any, what: str, per_element_shape: tuple[int, ...]) -> float:
    tensor = require_tensor(value, what)
    if tuple(tensor.shape) == tuple(per_element_shape):
        raise Incorrect(
            f"{what} has shape {tuple(tensor.shape)}: one loss per element. The task asks for the mean "
            "over the batch, a single number: finish with .mean()."
        )
    if tensor.numel() != 1:
        raise Incorrect(f"{what} should be a single number (the mean loss), got shape {tuple(tensor.shape)}.")
    if tensor.is_complex() or tensor.dtype == torch.bool:
        raise Incorrect(f"{what} should be a real number, got a {tensor.dtype} tensor.")
    return float(tensor)


def _expect_finite_loss(got: float, where: str) -> None:
    if not math.isfinite(got):
        raise Incorrect(
            f"{where} your loss is {got}. nan comes from 0/0, inf - inf or 0 * inf; inf from exp of a "
            "large number or the log of 0. Look for one of those in your formula."
        )


# ----------------------------------------------------------------------------- 1. BCE with logits
@exercise("Binary cross-entropy from logits, stably")
def check_bce_with_logits(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> str:
    """``fn(logits, targets)`` is the mean binary cross-entropy of sigmoid(logits), finite for logits of +-200."""
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(12, generator=gen) * 2
    targets = (torch.rand(12, generator=gen) > 0.5).float()
    expected = float(F.binary_cross_entropy_with_logits(logits, targets))
    got = _scalar(call_learner(fn, logits, targets, forbidden=BUILT_IN_BCE), "your loss", (12,))
    _expect_finite_loss(got, "on ordinary logits")
    if close_numbers(got, -expected, 1e-4):
        raise Incorrect(
            f"your loss is {got:.4f}, the negative of the right value: cross-entropy is "
            "-[y log p + (1 - y) log(1 - p)], with the minus sign in front; a loss is never negative."
        )
    if close_numbers(got, float(F.binary_cross_entropy_with_logits(logits, targets, reduction="sum")), 1e-4):
        raise Incorrect("you summed over the batch; the task asks for the mean (.mean()), as PyTorch's default does.")
    if close_numbers(got, float(F.binary_cross_entropy_with_logits(logits, 1 - targets)), 1e-4):
        raise Incorrect(
            "you swapped y and 1 - y: a target of 1 should be scored by log p, a target of 0 by log(1 - p)."
        )
    if close_numbers(got, float(F.binary_cross_entropy(logits.sigmoid().sigmoid(), targets)), 1e-4):
        raise Incorrect(
            "you applied the sigmoid twice. fn receives logits; the formula turns them into probabilities once."
        )
    if not close_numbers(got, expected, 1e-4):
        raise Incorrect(
            f"on ordinary logits your loss is {got:.4f}, expected {expected:.4f}. "
            "Loss per element: max(z, 0) - z * y + log(1 + exp(-|z|)); then .mean()."
        )
    extreme = torch.tensor([200.0, -200.0, 200.0, -200.0, 0.0])
    labels = torch.tensor([0.0, 1.0, 1.0, 0.0, 1.0])
    expected = float(F.binary_cross_entropy_with_logits(extreme, labels))
    got = _scalar(call_learner(fn, extreme, labels, forbidden=BUILT_IN_BCE), "your loss", (5,))
    if got != got or abs(got) == float("inf"):
        raise Incorrect(
            f"at logits of +-200 your loss is {got}: sigmoid(-200) rounds to 0 in float32 and log(0) is "
            "-inf (or exp(200) overflows). Rewrite it without forming p: "
            "max(z, 0) - z * y + log1p(exp(-|z|)) only ever exponentiates a negative number."
        )
    if close_numbers(got, float(F.binary_cross_entropy(torch.sigmoid(extreme), labels)), 1e-3):
        raise Incorrect(
            f"at logits of +-200 your loss is {got:.2f}, expected {expected:.2f}: clamping log(p) at -100 "
            "(as F.binary_cross_entropy does) stops the inf but caps the loss of a confident mistake at 100. "
            "Use the log-sum-exp form: max(z, 0) - z * y + log1p(exp(-|z|))."
        )
    if not close_numbers(got, expected, 1e-4):
        raise Incorrect(
            f"at logits of +-200 your loss is {got:.4f}, expected {expected:.4f}. "
            "Use max(z, 0) - z * y + log1p(exp(-|z|))."
        )
    return (
        "this is exactly what F.binary_cross_entropy_with_logits and tf.nn.sigmoid_cross_entropy_with_logits compute."
    )


# ----------------------------------------------------------------------------- 2. multi-class cross-entropy
@exercise("Cross-entropy from logits")
def check_cross_entropy(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> str:
    """``fn(logits, targets)``: logits (N, C), integer targets (N,); the mean of -log softmax(logits)[n, targets[n]]."""
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(8, 5, generator=gen) * 2
    targets = torch.randint(0, 5, (8,), generator=gen)
    expected = float(F.cross_entropy(logits, targets))
    got = _scalar(call_learner(fn, logits, targets, forbidden=BUILT_IN_CROSS_ENTROPY), "your loss", (8,))
    _expect_finite_loss(got, "on ordinary logits")
    if close_numbers(got, -expected, 1e-4):
        raise Incorrect(
            f"your loss is {got:.4f}, the negative of the right value: the loss is -log p of the true "
            "class. Put a minus sign in front."
        )
    if close_numbers(got, float(F.cross_entropy(torch.softmax(logits, 1), targets)), 1e-4):
        raise Incorrect(
            "you applied softmax and then a cross-entropy that applies (log-)softmax again. F.cross_entropy "
            "and your formula both expect raw logits: a model for classification ends in a Linear layer, "
            "no softmax."
        )
    log_probs = torch.log_softmax(logits, dim=1)
    if close_numbers(got, float(-log_probs.mean()), 1e-4):
        raise Incorrect(
            "you averaged -log p over every class. Only the true class counts: pick it with "
            "log_probs[torch.arange(N), targets] (or .gather(1, targets[:, None]))."
        )
    if close_numbers(got, float(-log_probs.sum(dim=1).mean()), 1e-4):
        raise Incorrect(
            "you summed -log p over all classes of each row. Only the true class counts: "
            "log_probs[torch.arange(N), targets]."
        )
    if close_numbers(got, float(F.cross_entropy(logits, targets, reduction="sum")), 1e-4):
        raise Incorrect("you summed over the batch; the task asks for the mean (.mean()).")
    if close_numbers(got, float(-torch.log_softmax(logits, dim=0)[torch.arange(8), targets].mean()), 1e-4):
        raise Incorrect(
            "you normalised along dim=0 (over the batch). The classes of one example sit in a row: "
            "log_softmax(logits, dim=1)."
        )
    if not close_numbers(got, expected, 1e-4):
        raise Incorrect(
            f"your loss is {got:.4f}, expected {expected:.4f}. Compute log_probs = logits - logsumexp over "
            "dim=1 (keepdim), then the mean of -log_probs at the true classes."
        )
    # Row 0 overflows exp; row 1 underflows if the max of the whole tensor is subtracted; in row 2 the true class
    # is the smallest logit, so softmax rounds its probability to 0 and softmax(...).log() gives -inf.
    big = torch.tensor([[1000.0, 0.0, -1000.0], [-1000.0, -999.0, -998.0], [1000.0, 0.0, -1000.0]])
    big_targets = torch.tensor([0, 2, 2])
    expected = float(F.cross_entropy(big, big_targets))
    got = _scalar(call_learner(fn, big, big_targets, forbidden=BUILT_IN_CROSS_ENTROPY), "your loss", (3,))
    if not math.isfinite(got):
        _explain_big_logits(fn, big, big_targets, got)
    if not close_numbers(got, expected, 1e-4):
        raise Incorrect(
            f"for logits of 1000 your loss is {got:.4f}, expected {expected:.4f}. Did you subtract each "
            "row's own max (keepdim=True)?"
        )
    return "-log_softmax(logits)[range(N), targets].mean() is F.cross_entropy; nn.CrossEntropyLoss wants logits."


def _explain_big_logits(fn: Callable, big: torch.Tensor, targets: torch.Tensor, got: float) -> None:
    """Which row of the large-logit case breaks the learner's loss, tried one row at a time, and why."""
    alone = [
        _scalar(
            call_learner(fn, big[i : i + 1], targets[i : i + 1], forbidden=BUILT_IN_CROSS_ENTROPY), "your loss", (1,)
        )
        for i in range(len(big))
    ]
    if not math.isfinite(alone[0]):
        raise Incorrect(
            f"for logits [1000, 0, -1000] with the true class 0 your loss is {alone[0]}: exp(1000) "
            "overflows to inf in float32. Subtract each row's max before exp, or use torch.logsumexp."
        )
    if not math.isfinite(alone[2]):
        raise Incorrect(
            f"for logits [1000, 0, -1000] with the true class 2, the smallest logit, your loss is "
            f"{alone[2]}: that class's softmax probability rounds to 0 in float32, and log(0) = -inf. "
            "Never take the log of a softmax: compute log-probabilities directly, "
            "z - torch.logsumexp(z, dim=1, keepdim=True) (or z - m - log(sum(exp(z - m))), m the row max)."
        )
    if all(math.isfinite(v) for v in alone):
        raise Incorrect(
            f"each row alone gives a finite loss, but the batch gives {got}: you subtracted the max of the "
            "whole tensor (1000), so the row [-1000, -999, -998] underflows to exp(-1998) = 0. Subtract "
            "each row's own max: logits.amax(dim=1, keepdim=True)."
        )
    raise Incorrect(
        f"for logits of size 1000 your loss is {got}: something overflowed or took log(0). Compute "
        "log-probabilities with the log-sum-exp trick, z - torch.logsumexp(z, dim=1, keepdim=True)."
    )


# ----------------------------------------------------------------------------- 3. label smoothing
@exercise("Smoothed target distributions")
def check_smoothed_targets(fn: Callable[[torch.Tensor, int, float], torch.Tensor]) -> str:
    """``fn(targets, num_classes, eps)`` returns the (N, C) target distribution of label smoothing."""
    targets = torch.tensor([0, 2, 1, 2])
    for classes, eps in ((3, 0.1), (5, 0.3)):
        out = require_tensor(call_learner(fn, targets, classes, eps), "your distributions")
        expected = F.one_hot(targets, classes).double() * (1 - eps) + eps / classes
        expect_shape(out, (4, classes), "your distributions")
        expect_finite(out, expected, "your result")
        values = out.double()
        one_hot = F.one_hot(targets, classes).double()
        if torch.allclose(values, one_hot):
            raise Incorrect(
                "you returned plain one-hot rows: no smoothing. Mix in the uniform distribution: "
                "(1 - eps) * one_hot + eps / C."
            )
        if torch.allclose(values, one_hot * (1 - eps) + (1 - one_hot) * eps / (classes - 1)):
            raise Incorrect(
                "you spread eps over the C - 1 wrong classes. That is a valid convention, but PyTorch, "
                "Keras and the paper that introduced it spread eps over all C classes: the true class "
                "gets 1 - eps + eps / C, the others eps / C."
            )
        if torch.allclose(values, one_hot * (1 - eps) + (1 - one_hot) * eps / classes):
            raise Incorrect(
                "the rows do not sum to 1: the true class also gets its share eps / C of the uniform part. "
                "Write (1 - eps) * one_hot + eps / C."
            )
        if torch.allclose(values, one_hot * (1 - eps) + eps):
            raise Incorrect("you added eps to every class; the uniform distribution gives each class eps / C.")
        if not torch.allclose(values.sum(dim=1), torch.ones(4, dtype=torch.float64), atol=1e-6):
            raise Incorrect(
                f"each row must sum to 1 (a probability distribution); yours sum to "
                f"{[round(v, 4) for v in values.sum(dim=1).tolist()]}."
            )
        expect_close(
            values,
            expected,
            "your distributions",
            atol=1e-6,
            hint="The true class gets 1 - eps + eps / C, every other class eps / C.",
        )
    return "cross-entropy against these rows is exactly F.cross_entropy(logits, targets, label_smoothing=eps)."


# ----------------------------------------------------------------------------- 4. KL divergence
@exercise("KL divergence between categorical distributions")
def check_kl_divergence(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> str:
    """``fn(p, q)`` takes probabilities (N, C) and returns KL(p || q) per row, shape (N,)."""
    p = torch.tensor([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8], [0.25, 0.25, 0.5]], dtype=torch.float64)
    q = torch.tensor([[0.4, 0.4, 0.2], [0.3, 0.3, 0.4], [0.6, 0.2, 0.2]], dtype=torch.float64)
    expected = (p * (p / q).log()).sum(dim=1)
    out = require_tensor(call_learner(fn, p, q), "your KL")
    if out.numel() == 1:
        raise Incorrect(
            "you returned one number; the task asks for one divergence per row, shape (N,): "
            "sum over the classes only (dim=1)."
        )
    if tuple(out.shape) == tuple(p.shape):
        raise Incorrect("your result has one entry per class; sum p * log(p / q) over the classes: .sum(dim=1).")
    expect_shape(out, (3,), "your KL")
    expect_finite(out, expected, "your KL")
    values = out.double()
    if torch.allclose(values, (q * (q / p).log()).sum(dim=1)):
        raise Incorrect(
            "you computed KL(q || p): the arguments are swapped. KL(p || q) = sum p log(p / q), "
            "weighted by p, the first argument. KL is not symmetric."
        )
    if torch.allclose(values, -expected):
        raise Incorrect("your values are the negative of KL(p || q): log(p / q), not log(q / p). KL is never negative.")
    if torch.allclose(values, -(p * q.log()).sum(dim=1)):
        raise Incorrect(
            "you computed the cross-entropy H(p, q) = -sum p log q. KL subtracts the entropy of p: "
            "sum p log p - sum p log q."
        )
    expect_close(
        values, expected, "your KL", rtol=1e-6, atol=1e-9, hint="KL(p || q) = sum_i p_i log(p_i / q_i), per row."
    )
    zero_p = torch.tensor([[0.5, 0.5, 0.0]], dtype=torch.float64)
    zero_q = torch.tensor([[0.2, 0.3, 0.5]], dtype=torch.float64)
    out = require_tensor(call_learner(fn, zero_p, zero_q), "your KL")
    expected = (zero_p[:, :2] * (zero_p[:, :2] / zero_q[:, :2]).log()).sum(dim=1)
    if torch.isnan(out).any():
        raise Incorrect(
            "with p = [0.5, 0.5, 0] you return nan: 0 * log 0 gives 0 * -inf = nan. By convention (and "
            "as the limit p log p -> 0) those terms count as 0: use torch.xlogy(p, p) - torch.xlogy(p, q) "
            "or torch.where(p > 0, ..., 0)."
        )
    expect_close(out.double(), expected, "your KL for p = [0.5, 0.5, 0]", rtol=1e-6, atol=1e-9)
    return (
        "KL(p || q) = H(p, q) - H(p): with p fixed, minimising KL and minimising cross-entropy are the same. "
        "In PyTorch: F.kl_div(q.log(), p, reduction='batchmean') (note the order)."
    )


#: This chapter's exercises in notebook order, for a grader: the checker and the notebook variables it reads.
EXERCISES = [
    Exercise(id="bce_with_logits", checker=check_bce_with_logits, names=("bce_with_logits",)),
    Exercise(id="cross_entropy", checker=check_cross_entropy, names=("cross_entropy",)),
    Exercise(id="smoothed_targets", checker=check_smoothed_targets, names=("smoothed_targets",)),
    Exercise(id="kl_divergence", checker=check_kl_divergence, names=("kl",)),
]
