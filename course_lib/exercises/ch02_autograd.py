"""Checkers for chapter 02 (autograd): each spots the usual mistake and says how to fix it.

Use in a notebook: ``from course_lib.exercises import ch02_autograd as ex`` then
``ex.check_hand_gradient(answer)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from ..scratch.autograd import Value, topological_order
from .core import (
    Exercise,
    Forbidden,
    Incorrect,
    call_learner,
    close_numbers,
    close_tensors,
    exercise,
    expect_finite,
    expect_number,
    expect_numbers,
    reject_none,
)

__all__ = [
    "EXERCISES",
    "HAND_POINT",
    "check_hand_gradient",
    "check_sigmoid_op",
    "check_numerical_gradient",
    "check_torch_gradient",
]

#: Exercise 1 asks for the gradient of f(x, y) = (x*y + y)**2 at this point.
HAND_POINT = {"x": 2.0, "y": -1.0}


# ----------------------------------------------------------------------------- 1. by hand
@exercise("Gradient by hand")
def check_hand_gradient(answer: Any) -> str:
    """``(df/dx, df/dy)`` of ``f(x, y) = (x*y + y)**2`` at ``x = 2, y = -1``."""
    x, y = HAND_POINT["x"], HAND_POINT["y"]
    u = x * y + y  # the inner node, -3
    expected = (2 * u * y, 2 * u * (x + 1))  # (6, -18)
    dx, dy = expect_numbers(answer, ("df_dx", "df_dy"), "answer")
    if close_numbers(dx, expected[0]) and close_numbers(dy, expected[1]):
        return "df/dx = 2u·y = 6 and df/dy = 2u·(x + 1) = -18, with u = xy + y = -3."
    if close_numbers(dx, expected[1]) and close_numbers(dy, expected[0]):
        raise Incorrect("the two numbers are swapped: give (df/dx, df/dy) in that order.")
    if close_numbers(dx, -expected[0]) and close_numbers(dy, -expected[1]):
        raise Incorrect("both signs are flipped. Check the value of the inner node u = x·y + y at x = 2, y = -1.")
    if close_numbers(dx, y) and close_numbers(dy, x + 1):
        raise Incorrect(
            "these are du/dx and du/dy of the inner node u = x·y + y only. The chain rule multiplies "
            "them by the outer derivative d(u²)/du = 2u."
        )
    if close_numbers(dx, expected[0] / 2) and close_numbers(dy, expected[1] / 2):
        raise Incorrect("both are half the right size: the derivative of u² is 2u, not u.")
    if close_numbers(dy, 2 * u * x):
        raise Incorrect(
            "df/dy is missing a term: y appears twice in u = x·y + y, so du/dy = x + 1, not x. "
            "Every path from y to f contributes."
        )
    if close_numbers(dx, expected[0]):
        raise Incorrect(
            f"df/dx = {dx:g} is right, but df/dy = {dy:g} is not. Write u = x·y + y, then df/dy = (df/du)·(du/dy)."
        )
    if close_numbers(dy, expected[1]):
        raise Incorrect(f"df/dy = {dy:g} is right, but df/dx = {dx:g} is not. df/dx = (df/du)·(du/dx) with du/dx = y.")
    raise Incorrect(
        f"({dx:g}, {dy:g}) is not right. Compute u = x·y + y first, then df/du = 2u, du/dx = y, "
        "du/dy = x + 1, and multiply along each path."
    )


# ----------------------------------------------------------------------------- 2. a new operation
def _sigmoid(v: float) -> float:
    return 1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v))


_ENGINE_SIGMOID = Forbidden(
    {"Value.sigmoid (x.sigmoid())": Value.sigmoid},
    "your function calls {name}, the engine's own sigmoid. The exercise is to build that node yourself: compute s, "
    "create Value(s, inputs=(x,), op='sigmoid') and give it its own _backward.",
)


def _explain_overflow(error: Exception) -> str | None:
    if isinstance(error, OverflowError):
        return (
            "math.exp(1000) is too large for a float, so 1 / (1 + math.exp(-x)) fails at x = -1000. For x < 0 "
            "use the same value written as e^x / (1 + e^x): then exp only ever sees a number <= 0."
        )
    return None


def _sigmoid_node(fn: Callable[[Value], Value], x: Value) -> Value:
    """``fn(x)``, checked: a Value, x left alone, the engine's sigmoid not used."""
    before = x.data
    out = call_learner(fn, x, forbidden=_ENGINE_SIGMOID, explain=_explain_overflow)
    if not isinstance(out, Value):
        reject_none(out, "your function's result", "Return the new Value (out).")
        raise Incorrect(
            f"your function returned a {type(out).__name__}; return the new Value (out), "
            "so that the result stays in the graph."
        )
    if out is x:
        raise Incorrect(
            "your function returned x itself. Return a NEW Value holding sigmoid(x): "
            "out = Value(s, inputs=(x,), op='sigmoid')."
        )
    if x.data != before:
        raise Incorrect(
            f"your function changed x.data from {before:g} to {x.data:g}. Leave the input alone and put "
            "the result in the new Value."
        )
    return out


def _backward_through(y: Value) -> None:
    call_learner(y.backward)


@exercise("Sigmoid as a new operation")
def check_sigmoid_op(fn: Callable[[Value], Value]) -> str:
    """``fn(x)`` returns one new Value ``sigmoid(x)``, whose only input is x and whose own ``_backward`` adds
    ``s(1 - s) * out.grad`` to ``x.grad``; it must hold at x = +-1000 too."""
    for v in [-3.0, -0.5, 0.0, 0.8, 4.0, 1000.0, -1000.0]:
        x = Value(v)
        out = _sigmoid_node(fn, x)
        s = _sigmoid(v)
        if close_numbers(out.data, _sigmoid(-v)) and not close_numbers(out.data, s):
            raise Incorrect(
                f"at x = {v:g} you computed {out.data:.4f} = 1/(1 + e^x); sigmoid is 1/(1 + e^(-x)) "
                "(note the minus sign)."
            )
        if not close_numbers(out.data, s):
            raise Incorrect(f"the forward value at x = {v:g} is {out.data:.6f}, expected sigmoid(x) = {s:.6f}.")
        graph = topological_order(out)
        if not any(node is x for node in graph):
            raise Incorrect(
                "the new Value does not list x among its inputs, so backward() never visits x's side "
                "of the graph. Create it with Value(s, inputs=(x,), op='sigmoid')."
            )
        between = [node for node in graph if not node.is_leaf and node is not out]
        if between:
            raise Incorrect(
                f"your sigmoid is a chain of {len(between) + 1} of the engine's operations between x and "
                "the result. The exercise asks for ONE new node whose only input is x, with its own "
                "_backward: out = Value(s, inputs=(x,), op='sigmoid')."
            )
        if len(out.inputs) != 1 or out.inputs[0] is not x:
            raise Incorrect(
                f"the new Value lists {len(out.inputs)} inputs; its only input should be x: "
                "Value(s, inputs=(x,), op='sigmoid')."
            )
        y = 3 * out  # an upstream gradient of 3, not 1
        _backward_through(y)
        slope = s * (1 - s)
        if x.grad == 0.0 and slope != 0.0:
            raise Incorrect(
                "x.grad stayed 0: the new Value's backward step did nothing. Define a function "
                "_backward() that does x.grad += ..., and attach it: out._backward = _backward."
            )
        if close_numbers(x.grad, slope) and not close_numbers(x.grad, 3 * slope):
            raise Incorrect(
                "x.grad is s(1 - s), but the result was then multiplied by 3: multiply the local "
                "derivative by out.grad (the chain rule), x.grad += s * (1 - s) * out.grad."
            )
        if close_numbers(x.grad, 3 * v * (1 - v)) and not close_numbers(x.grad, 3 * slope):
            raise Incorrect(
                "you used x.data in the derivative: it is s(1 - s) where s = sigmoid(x) is the "
                "output (out.data), not the input."
            )
        if not close_numbers(x.grad, 3 * slope):
            raise Incorrect(
                f"at x = {v:g} with out.grad = 3, x.grad is {x.grad:.6f}; expected 3·s(1 - s) = {3 * slope:.6f}."
            )
    v = 0.7
    x = Value(v)
    y = _sigmoid_node(fn, x) * x  # x reaches y along two paths
    _backward_through(y)
    s = _sigmoid(v)
    expected = s * (1 - s) * v + s
    if close_numbers(x.grad, s * (1 - s) * v):
        raise Incorrect(
            "with y = sigmoid(x) * x, x.grad lost the contribution of the second path: use "
            "x.grad += ..., not x.grad = ... (a Value used twice collects both contributions)."
        )
    if not close_numbers(x.grad, expected):
        raise Incorrect(f"for y = sigmoid(x) * x at x = 0.7, x.grad is {x.grad:.6f}; expected {expected:.6f}.")
    w = Value(1.5)
    y = _sigmoid_node(fn, w * 2.0)  # the input is itself computed: backward must flow through it
    _backward_through(y)
    s = _sigmoid(3.0)
    if not close_numbers(w.grad, 2 * s * (1 - s)):
        raise Incorrect(
            f"for sigmoid(2w) at w = 1.5, w.grad is {w.grad:.6f}; expected 2·s(1 - s) = "
            f"{2 * s * (1 - s):.6f}. Is x listed in inputs=(x,)?"
        )
    return "the sigmoid node passes s(1 - s)·out.grad back, accumulates with +=, and stays finite at x = ±1000."


# ----------------------------------------------------------------------------- 3. finite differences
def _test_function(xs: Sequence[float]) -> float:
    a, b, c = xs
    return a * a * b + math.exp(0.5 * b) - math.sin(3 * c) + a * c


def _test_gradient(xs: Sequence[float]) -> list[float]:
    a, b, c = xs
    return [2 * a * b + c, a * a + 0.5 * math.exp(0.5 * b), -3 * math.cos(3 * c) + a]


def _one_sided(f: Callable, xs: list[float], h: float, sign: float) -> list[float]:
    out = []
    for i in range(len(xs)):
        moved = list(xs)
        moved[i] += sign * h
        out.append(sign * (f(moved) - f(xs)) / h)
    return out


def _central(f: Callable, xs: list[float], h: float) -> list[float]:
    out = []
    for i in range(len(xs)):
        up, down = list(xs), list(xs)
        up[i] += h
        down[i] -= h
        out.append((f(up) - f(down)) / (2 * h))
    return out


def _derivatives(result: Any, count: int) -> list[float]:
    """The learner's list of partial derivatives as floats, or a message saying what was expected."""
    reject_none(result, "your function's result", "Did you forget `return grads`?")
    if isinstance(result, (torch.Tensor, np.ndarray)):
        result = result.tolist()
    if not isinstance(result, (list, tuple)):
        raise Incorrect(f"return one number per input (a list of floats); got {result!r}.")
    if len(result) != count:
        raise Incorrect(f"you returned {len(result)} numbers for {count} inputs: one partial derivative per input.")
    return [expect_number(v, f"the derivative for input {i}") for i, v in enumerate(result)]


def _expect_restored(xs: list[float], original: list[float]) -> None:
    if xs == original:
        return
    if len(xs) == len(original) and all(close_numbers(a, b, 1e-9) for a, b in zip(xs, original)):
        i = next(i for i, (a, b) in enumerate(zip(xs, original)) if a != b)
        raise Incorrect(
            f"you put xs back by adding and subtracting h, but floating-point rounding does not undo "
            f"exactly: xs[{i}] came back as {xs[i]!r} instead of {original[i]!r}. Save the old value and "
            "put it back (old = xs[i]; ...; xs[i] = old), or nudge a copy (moved = list(xs))."
        )
    raise Incorrect(
        f"your function changed xs to {xs}: restore xs[i] after each nudge, or nudge a copy "
        "(moved = list(xs)). Otherwise every later derivative is measured at the wrong point."
    )


@exercise("Numerical gradient check")
def check_numerical_gradient(fn: Callable[..., Sequence[float]]) -> str:
    """``fn(f, xs, h)`` returns the central differences ``(f(x + h e_i) - f(x - h e_i)) / 2h`` for every i,
    with the ``h`` it is given."""
    point = [1.5, -0.5, 0.3]
    xs = list(point)
    h = 1e-3  # large on purpose: one-sided differences are then visibly less accurate
    result = call_learner(fn, _test_function, xs, h, may_change={1})
    _expect_restored(xs, point)
    values = _derivatives(result, len(point))
    exact = _test_gradient(point)
    if not all(close_numbers(v, e, 1e-5) for v, e in zip(values, exact)):
        if all(close_numbers(v, 2 * e, 1e-5) for v, e in zip(values, exact)):
            raise Incorrect(
                "your numbers are twice the derivative: the two points x - h and x + h are 2h apart, "
                "so divide by 2 * h."
            )
        for sign, name in [(1.0, "forward (f(x + h) - f(x)) / h"), (-1.0, "backward (f(x) - f(x - h)) / h")]:
            if all(close_numbers(v, e, 1e-7) for v, e in zip(values, _one_sided(_test_function, point, h, sign))):
                raise Incorrect(
                    f"you used the {name} difference. Its error shrinks only like h; the central "
                    "difference (f(x + h) - f(x - h)) / (2h) cancels that error term, leaving h²."
                )
        worst = max(range(len(point)), key=lambda i: abs(values[i] - exact[i]))
        raise Incorrect(
            f"the derivative for input {worst} is {values[worst]:.6f}, expected about {exact[worst]:.6f}. "
            "Nudge only xs[i], by +h and by -h, and divide the difference by 2h."
        )
    big_h = 0.5  # so large that the central difference is visibly not the exact derivative
    xs = list(point)
    values = _derivatives(call_learner(fn, _test_function, xs, big_h, may_change={1}), len(point))
    _expect_restored(xs, point)
    wanted = _central(_test_function, point, big_h)
    if all(close_numbers(v, w, 1e-6) for v, w in zip(values, wanted)):  # 1e-6: a float32 tensor of the numbers is fine
        return "central differences agree with the exact gradient to about h² — a trustworthy check."
    for sign, name in [(1.0, "forward (f(x + h) - f(x)) / h"), (-1.0, "backward (f(x) - f(x - h)) / h")]:
        if all(close_numbers(v, w, 1e-6) for v, w in zip(values, _one_sided(_test_function, point, big_h, sign))):
            raise Incorrect(
                f"with h = {big_h} you used the {name} difference; use the central difference "
                "(f(x + h) - f(x - h)) / (2h)."
            )
    if all(close_numbers(v, e, 1e-4) for v, e in zip(values, exact)):
        raise Incorrect(
            f"with h = {big_h} your function still returns the exact derivatives, so it does not use the "
            "h it is given (a step size fixed inside the function, or a one-sided difference with its "
            f"own tiny step?). With h = {big_h} the central difference for input 2 is {wanted[2]:.4f}, "
            f"not {exact[2]:.4f}: nudge by the h passed in, (f(x + h) - f(x - h)) / (2h)."
        )
    worst = max(range(len(point)), key=lambda i: abs(values[i] - wanted[i]))
    raise Incorrect(
        f"with h = {big_h} the derivative for input {worst} is {values[worst]:.6f}; the central "
        f"difference gives {wanted[worst]:.6f}. Use exactly (f(x + h e_i) - f(x - h e_i)) / (2h)."
    )


# ----------------------------------------------------------------------------- 4. torch.autograd
@exercise("Gradient with torch.autograd")
def check_torch_gradient(fn: Callable[[Callable, torch.Tensor], torch.Tensor]) -> str:
    """``fn(f, x)`` returns df/dx for a scalar-valued ``f`` at ``x`` and leaves ``x`` untouched."""
    cases = [
        ("f(x) = (x**2).sum()", lambda t: (t**2).sum(), torch.tensor([1.0, -2.0, 3.0]), lambda t: 2 * t),
        (
            "f(x) = sin(x).prod()",
            lambda t: torch.sin(t).prod(),
            torch.tensor([0.5, 1.0]),
            lambda t: torch.stack([torch.cos(t[0]) * torch.sin(t[1]), torch.sin(t[0]) * torch.cos(t[1])]),
        ),
        ("f(x) = (x @ x.T).trace()", lambda t: (t @ t.T).trace(), torch.arange(6.0).reshape(2, 3), lambda t: 2 * t),
    ]
    for description, f, x, gradient in cases:
        expected = gradient(x)
        first = call_learner(fn, f, x)
        reject_none(
            first,
            f"for {description} your function's result",
            "Return the gradient: x.grad of the leaf you called backward() for (or the result of torch.autograd.grad).",
        )
        if not isinstance(first, torch.Tensor):
            raise Incorrect(f"return a tensor shaped like x, got a {type(first).__name__}.")
        if x.requires_grad or x.grad is not None:
            raise Incorrect(
                "your function changed the caller's tensor (it now requires grad or holds a .grad). "
                "Work on a copy: x = x.detach().clone().requires_grad_(True)."
            )
        if tuple(first.shape) != tuple(x.shape):
            raise Incorrect(
                f"for {description} the gradient has shape {tuple(first.shape)}; it must have x's "
                f"shape {tuple(x.shape)} (one partial derivative per entry)."
            )
        expect_finite(first, expected, f"for {description} your gradient")
        if not close_tensors(first, expected, atol=1e-5):
            raise Incorrect(
                f"for {description} at x = {x.tolist()} you returned {first.tolist()}, expected {expected.tolist()}."
            )
        if first.requires_grad:
            raise Incorrect(
                "the gradient you return still requires grad (it is part of a graph). Return it "
                "detached, e.g. x.grad or grad.detach()."
            )
        second = call_learner(fn, f, x)
        if not isinstance(second, torch.Tensor) or not close_tensors(second, expected, atol=1e-5):
            shown = second.tolist() if isinstance(second, torch.Tensor) else repr(second)
            raise Incorrect(
                f"called a second time on the same x, your function returned {shown}: "
                "gradients accumulated across calls. Make a fresh leaf each call (or zero .grad)."
            )
    return "a fresh leaf, backward() (or torch.autograd.grad), and the caller's tensor stays untouched."


#: This chapter's exercises in notebook order, for a grader: the checker and the notebook variables it reads.
EXERCISES = [
    Exercise(id="hand_gradient", checker=check_hand_gradient, names=("answer",)),
    Exercise(id="sigmoid_op", checker=check_sigmoid_op, names=("sigmoid",)),
    Exercise(id="numerical_gradient", checker=check_numerical_gradient, names=("numerical_gradient",)),
    Exercise(id="torch_gradient", checker=check_torch_gradient, names=("torch_gradient",)),
]
