"""Checkers for chapter 03 (activations): each spots the usual mistake and says how to fix it.

Use in a notebook: ``from course_lib.exercises import ch03_activations as ex`` then
``ex.check_softmax(my_softmax)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..scratch import activations as scratch_activations
from .core import (
    Exercise,
    Forbidden,
    Incorrect,
    call_learner,
    close_tensors,
    exercise,
    expect_close,
    expect_finite,
    expect_shape,
    require_tensor,
    torch_spellings,
)

__all__ = [
    "EXERCISES",
    "check_softmax",
    "check_sigmoid_grad",
    "linear_stack",
    "check_collapsed_stack",
    "check_dead_units",
]

TensorFn = Callable[[torch.Tensor], torch.Tensor]

#: What the softmax exercise asks the learner to write instead of calling.
BUILT_IN_SOFTMAX = Forbidden(
    {
        **torch_spellings("softmax", "log_softmax", "logsumexp"),
        "nn.Softmax": nn.Softmax,
        "nn.LogSoftmax": nn.LogSoftmax,
        "nn.Softmax2d": nn.Softmax2d,
        "course_lib.scratch.activations.softmax": scratch_activations.softmax,
        "course_lib.scratch.activations.log_softmax": scratch_activations.log_softmax,
    },
    "your softmax calls {name}, which does the whole job (max trick included). The exercise is to write it "
    "yourself from exp, amax (or max), sum and arithmetic.",
)


def _explain_keepdim_error(error: Exception) -> str | None:
    if "must match the size" in str(error):
        return (
            "A reduction along dim=-1 has shape (N,), which broadcasting lines up with the LAST axis. Keep the "
            "axis: x.amax(dim=-1, keepdim=True), .sum(dim=-1, keepdim=True)."
        )
    return None


def _call(fn: TensorFn, x: torch.Tensor, forbidden: Forbidden | None = None) -> Any:
    """Run the learner's function; a missing keepdim's broadcasting error gets its hint."""
    return call_learner(fn, x, forbidden=forbidden, explain=_explain_keepdim_error)


# ----------------------------------------------------------------------------- 1. softmax
@exercise("A softmax that does not overflow")
def check_softmax(fn: TensorFn) -> str:
    """``fn(x)`` is the softmax of ``x`` along its last axis, finite for logits of +-1000."""
    gen = torch.Generator().manual_seed(0)
    ordinary = torch.randn(4, 5, generator=gen)
    square = torch.randn(3, 3, generator=gen) * 2
    out = require_tensor(_call(fn, ordinary, BUILT_IN_SOFTMAX), "your softmax's result")
    expect_shape(out, (4, 5), "your softmax's result")
    expected = torch.softmax(ordinary, dim=-1)
    if close_tensors(out, torch.softmax(ordinary, dim=0)):
        raise Incorrect(
            "your rows do not sum to 1, your columns do: you normalised along dim=0. Logits of one "
            "example sit in a row, so sum along the last axis: dim=-1."
        )
    if close_tensors(out, torch.exp(ordinary)):
        raise Incorrect("you returned exp(x) without dividing by the sum: the rows must add up to 1.")
    if close_tensors(out, torch.exp(ordinary) / torch.exp(ordinary).sum()):
        raise Incorrect(
            "you divided by the sum over the whole tensor, so all the numbers together sum to 1. "
            "Each row must: .sum(dim=-1, keepdim=True)."
        )
    expect_close(out, expected, "your softmax's result", hint="softmax(x)_i = exp(x_i) / sum_j exp(x_j), per row.")
    square_out = require_tensor(_call(fn, square, BUILT_IN_SOFTMAX), "your softmax's result")
    expect_close(
        square_out,
        torch.softmax(square, dim=-1),
        "your softmax's result on a (3, 3) input",
        hint="Did you use keepdim=True for the row maximum and the row sum?",
    )
    # Row 0 overflows without the max subtraction; row 1 underflows if the max of the whole tensor is subtracted.
    for huge in (
        torch.tensor([[1000.0, 999.0, 0.0], [1.0, 2.0, 3.0]]),
        torch.tensor([[1000.0, 999.0], [-1000.0, -999.0]]),
    ):
        out = require_tensor(_call(fn, huge, BUILT_IN_SOFTMAX), "your softmax's result")
        expect_shape(out, tuple(huge.shape), "your softmax's result")
        if not torch.isfinite(out[0]).all():
            raise Incorrect(
                "your softmax overflows at 1000: exp(1000) is inf in float32, and inf / inf is nan. "
                "Did you subtract the max? softmax(x) = softmax(x - max(x)), and then exp never sees a "
                "number above 0."
            )
        if not torch.isfinite(out).all():
            raise Incorrect(
                f"on rows {huge[0].tolist()} and {huge[1].tolist()} you get nan in the second row: you "
                "subtracted the maximum of the whole tensor (1000), so the second row's exponentials "
                "underflow to 0 and you divide 0 by 0. Subtract each row's own max: "
                "x.amax(dim=-1, keepdim=True)."
            )
        expect_close(out, torch.softmax(huge, dim=-1), "your softmax's result for logits of 1000")
    return "subtracting each row's max keeps exp in (0, 1]; this is what torch.softmax does inside."


# ----------------------------------------------------------------------------- 2. sigmoid derivative
@exercise("The derivative of the sigmoid")
def check_sigmoid_grad(fn: TensorFn) -> str:
    """``fn(x)`` is sigma'(x) elementwise."""
    x = torch.linspace(-8, 8, 33, dtype=torch.float64)
    out = require_tensor(_call(fn, x), "your function's result")
    expect_shape(out, tuple(x.shape), "your function's result")
    s = torch.sigmoid(x)
    expected = s * (1 - s)
    if close_tensors(out, s):
        raise Incorrect("you returned sigmoid(x) itself. The derivative is sigma(x) * (1 - sigma(x)).")
    if close_tensors(out, x * (1 - x)):
        raise Incorrect(
            "you computed x * (1 - x): the formula sigma * (1 - sigma) needs sigma(x), not x. "
            "Compute s = torch.sigmoid(x) first."
        )
    if close_tensors(out, s * (1 + s)) or close_tensors(out, -s * (1 - s)):
        raise Incorrect(
            "check the sign: sigma'(x) = sigma(x) * (1 - sigma(x)) is positive everywhere, largest (0.25) at x = 0."
        )
    if close_tensors(out, torch.exp(-x) / (1 + torch.exp(-x))):
        raise Incorrect(
            "you have e^-x / (1 + e^-x), which is 1 - sigma(x). The quotient rule gives "
            "e^-x / (1 + e^-x)^2: square the denominator."
        )
    expect_close(
        out,
        expected,
        "your function's result",
        rtol=1e-6,
        atol=1e-9,
        hint="sigma'(x) = sigma(x) * (1 - sigma(x)); its largest value is 0.25 at x = 0.",
    )
    if float(out[16]) != 0.25:
        raise Incorrect(f"at x = 0 you return {float(out[16])}, expected exactly 0.25.")
    far = torch.tensor([-1000.0, -100.0, -30.0, 30.0, 100.0, 1000.0])  # float32, where exp(89) already overflows
    out = require_tensor(_call(fn, far), "your function's result")
    expect_shape(out, tuple(far.shape), "your function's result for x = ±1000")
    not_finite = ~torch.isfinite(out)
    if not_finite.any():
        i = int(torch.nonzero(not_finite)[0])
        raise Incorrect(
            f"at x = {far[i].item():g} your derivative is {out[i].item()}: e^-x overflows to inf in "
            "float32 for x below about -88, and inf / inf is nan. Write it as sigma(x) * (1 - sigma(x)) "
            "with torch.sigmoid, which never overflows."
        )
    s = torch.sigmoid(far.double())
    expect_close(out, s * (1 - s), "your function's result for x = ±1000", rtol=1e-4, atol=1e-9)
    return "sigma' is at most 0.25: ten sigmoid layers multiply a gradient by at most 0.25^10 ≈ 1e-6."


# ----------------------------------------------------------------------------- 3. a linear stack collapses
def linear_stack() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Three weight matrices of a 3 -> 4 -> 5 -> 2 network without activations: (W1, W2, W3)."""
    gen = torch.Generator().manual_seed(3)
    return (
        torch.randn(4, 3, generator=gen, dtype=torch.float64),
        torch.randn(5, 4, generator=gen, dtype=torch.float64),
        torch.randn(2, 5, generator=gen, dtype=torch.float64),
    )


@exercise("Three linear layers are one")
def check_collapsed_stack(answer: Any) -> str:
    """The single matrix W with W x = W3 (W2 (W1 x)) for every x."""
    w1, w2, w3 = linear_stack()
    expected = w3 @ w2 @ w1
    tensor = require_tensor(answer, "W")
    if tuple(tensor.shape) == (3, 2) and close_tensors(tensor, expected.T):
        raise Incorrect(
            "W has shape (3, 2): that is the transpose (W1ᵀ W2ᵀ W3ᵀ). W maps 3 inputs to 2 outputs, so "
            "it has shape (2, 3): W = W3 @ W2 @ W1."
        )
    expect_shape(
        tensor,
        (2, 3),
        "W",
    )
    expect_close(
        tensor,
        expected,
        "W",
        rtol=1e-6,
        atol=1e-9,
        hint="x goes through W1 first, so W1 stands on the right: W = W3 @ W2 @ W1.",
    )
    return "a stack of linear layers is one linear layer; only a non-linearity between them adds power."


# ----------------------------------------------------------------------------- 4. dead ReLU units
def _dead_units_cases() -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(4)
    z = torch.randn(32, 6, generator=gen)
    z[:, 0] += 1.0  # positive on average, negative for a few examples: alive
    z[:, 1] = -z[:, 1].abs() - 0.1  # never positive: dead
    z[:, 4] = -z[:, 4].abs() - 2.0
    z[0, 4] = 0.5  # negative on average but alive for one example
    z[:, 5] = 0.0  # exactly 0 everywhere: ReLU'(0) = 0, so it is dead too
    other = torch.randn(10, 3, generator=gen) + 1.0
    other[:, 0] = -1.0
    return [z, other]


@exercise("Find the dead ReLU units")
def check_dead_units(fn: TensorFn) -> str:
    """``fn(z)`` takes pre-activations ``z`` of shape (batch, units) and returns a bool mask (units,): True
    where the unit's ReLU output is 0 for every example (so it gets no gradient)."""
    for z in _dead_units_cases():
        out = require_tensor(_call(fn, z), "your mask")
        expected = (z <= 0).all(dim=0)
        if tuple(out.shape) == tuple(z.shape):
            raise Incorrect(
                f"your mask has shape {tuple(z.shape)}, one entry per example and unit. A unit is dead "
                "when it is inactive for *all* examples: reduce over the batch axis, .all(dim=0)."
            )
        if tuple(out.shape) == (z.shape[0],):
            raise Incorrect(
                f"your mask has shape ({z.shape[0]},), one per example: you reduced over the units. "
                "Reduce over the batch axis instead (dim=0)."
            )
        expect_shape(out, (z.shape[1],), "your mask")
        expect_finite(out, torch.zeros(z.shape[1]), "your mask")
        mask = out.bool()
        if torch.equal(mask, expected):
            continue
        if torch.equal(mask, (z <= 0).any(dim=0)):
            raise Incorrect(
                "you marked a unit dead when it is inactive for *any* example; it is dead only when "
                "inactive for *all* of them: .all(dim=0), not .any(dim=0)."
            )
        if torch.equal(mask, z.mean(dim=0) <= 0) or torch.equal(mask, z.mean(dim=0) < 0):
            raise Incorrect(
                "you looked at the mean pre-activation. Unit 4 is negative on average but positive for "
                "one example, so it still learns from that example. Test every example: (z <= 0).all(dim=0)."
            )
        if torch.equal(mask, (z < 0).all(dim=0)):
            raise Incorrect(
                "unit 5 is exactly 0 everywhere and you called it alive. ReLU'(0) = 0 (PyTorch's "
                "convention), so z = 0 passes no gradient either: use z <= 0."
            )
        wrong = int(torch.nonzero(mask != expected)[0])
        raise Incorrect(
            f"unit {wrong} is {'dead' if bool(expected[wrong]) else 'alive'} but your mask says "
            f"{bool(mask[wrong])}. Dead means z <= 0 for every example in the batch."
        )
    return "(z <= 0).all(dim=0): a dead unit gets zero gradient from every example, so it never recovers."


#: This chapter's exercises in notebook order, for a grader: the checker and the notebook variables it reads.
EXERCISES = [
    Exercise(id="collapsed_stack", checker=check_collapsed_stack, names=("W",)),
    Exercise(id="sigmoid_grad", checker=check_sigmoid_grad, names=("sigmoid_grad",)),
    Exercise(id="dead_units", checker=check_dead_units, names=("dead_units",)),
    Exercise(id="softmax", checker=check_softmax, names=("softmax",)),
]
