"""Checkers for chapter 02 (autograd): each spots the usual mistake and says how to fix it.

Use in a notebook: ``from course_lib.exercises import ch02_autograd as ex`` then
``ex.check_hand_gradient(answer)``.
"""
from __future__ import annotations

import math
from numbers import Real
from typing import Any, Callable, Sequence

import torch

from ..scratch.autograd import Value, topological_order
from .core import Incorrect, exercise

__all__ = ["HAND_POINT", "check_hand_gradient", "check_sigmoid_op", "check_numerical_gradient",
           "check_torch_gradient"]

#: Exercise 1 asks for the gradient of f(x, y) = (x*y + y)**2 at this point.
HAND_POINT = {"x": 2.0, "y": -1.0}


def _close(a: float, b: float, tol: float = 1e-6) -> bool:
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)


def _pair(answer: Any) -> tuple[float, float]:
    if isinstance(answer, torch.Tensor):
        answer = answer.tolist()
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        raise Incorrect(f"answer should be a pair (df_dx, df_dy), e.g. (1.0, 2.0); got {answer!r}.")
    if not all(isinstance(v, Real) for v in answer):
        raise Incorrect(f"both entries should be numbers; got {answer!r}.")
    return float(answer[0]), float(answer[1])


# ----------------------------------------------------------------------------- 1. by hand
@exercise("Gradient by hand")
def check_hand_gradient(answer: Any) -> str:
    """``(df/dx, df/dy)`` of ``f(x, y) = (x*y + y)**2`` at ``x = 2, y = -1``."""
    x, y = HAND_POINT["x"], HAND_POINT["y"]
    u = x * y + y  # the inner node, -3
    expected = (2 * u * y, 2 * u * (x + 1))  # (6, -18)
    dx, dy = _pair(answer)
    if _close(dx, expected[0]) and _close(dy, expected[1]):
        return "df/dx = 2u·y = 6 and df/dy = 2u·(x + 1) = -18, with u = xy + y = -3."
    if _close(dx, expected[1]) and _close(dy, expected[0]):
        raise Incorrect("the two numbers are swapped: give (df/dx, df/dy) in that order.")
    if _close(dx, -expected[0]) and _close(dy, -expected[1]):
        raise Incorrect("both signs are flipped. Check the value of the inner node u = x·y + y at x = 2, y = -1.")
    if _close(dx, y) and _close(dy, x + 1):
        raise Incorrect("these are du/dx and du/dy of the inner node u = x·y + y only. The chain rule multiplies "
                        "them by the outer derivative d(u²)/du = 2u.")
    if _close(dx, expected[0] / 2) and _close(dy, expected[1] / 2):
        raise Incorrect("both are half the right size: the derivative of u² is 2u, not u.")
    if _close(dy, 2 * u * x):
        raise Incorrect("df/dy is missing a term: y appears twice in u = x·y + y, so du/dy = x + 1, not x. "
                        "Every path from y to f contributes.")
    if _close(dx, expected[0]):
        raise Incorrect(f"df/dx = {dx:g} is right, but df/dy = {dy:g} is not. Write u = x·y + y, then "
                        "df/dy = (df/du)·(du/dy).")
    if _close(dy, expected[1]):
        raise Incorrect(f"df/dy = {dy:g} is right, but df/dx = {dx:g} is not. df/dx = (df/du)·(du/dx) with du/dx = y.")
    raise Incorrect(f"({dx:g}, {dy:g}) is not right. Compute u = x·y + y first, then df/du = 2u, du/dx = y, "
                    "du/dy = x + 1, and multiply along each path.")


# ----------------------------------------------------------------------------- 2. a new operation
def _sigmoid(v: float) -> float:
    return 1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v))


@exercise("Sigmoid as a new operation")
def check_sigmoid_op(fn: Callable[[Value], Value]) -> str:
    """``fn(x)`` returns a new Value ``sigmoid(x)`` whose ``_backward`` adds ``s(1 - s) * out.grad`` to ``x.grad``."""
    for v in [-3.0, -0.5, 0.0, 0.8, 4.0]:
        x = Value(v)
        out = fn(x)
        s = _sigmoid(v)
        if not isinstance(out, Value):
            raise Incorrect(f"your function returned a {type(out).__name__}; return the new Value (out), "
                            "so that the result stays in the graph.")
        if _close(out.data, _sigmoid(-v)) and not _close(out.data, s):
            raise Incorrect(f"at x = {v:g} you computed {out.data:.4f} = 1/(1 + e^x); sigmoid is 1/(1 + e^(-x)) "
                            "(note the minus sign).")
        if not _close(out.data, s):
            raise Incorrect(f"the forward value at x = {v:g} is {out.data:.6f}, expected sigmoid(x) = {s:.6f}.")
        if not any(node is x for node in topological_order(out)):
            raise Incorrect("the new Value does not list x among its inputs, so backward() never visits x's side "
                            "of the graph. Create it with Value(s, inputs=(x,), op='sigmoid').")
        y = 3 * out  # an upstream gradient of 3, not 1
        y.backward()
        slope = s * (1 - s)
        if x.grad == 0.0 and slope != 0.0:
            raise Incorrect("x.grad stayed 0: the new Value's backward step did nothing. Define a function "
                            "_backward() that does x.grad += ..., and attach it: out._backward = _backward.")
        if _close(x.grad, slope) and not _close(x.grad, 3 * slope):
            raise Incorrect("x.grad is s(1 - s), but the result was then multiplied by 3: multiply the local "
                            "derivative by out.grad (the chain rule), x.grad += s * (1 - s) * out.grad.")
        if _close(x.grad, 3 * v * (1 - v)) and not _close(x.grad, 3 * slope):
            raise Incorrect("you used x.data in the derivative: it is s(1 - s) where s = sigmoid(x) is the "
                            "output (out.data), not the input.")
        if not _close(x.grad, 3 * slope):
            raise Incorrect(f"at x = {v:g} with out.grad = 3, x.grad is {x.grad:.6f}; expected "
                            f"3·s(1 - s) = {3 * slope:.6f}.")
    v = 0.7
    x = Value(v)
    y = fn(x) * x  # x reaches y along two paths
    y.backward()
    s = _sigmoid(v)
    expected = s * (1 - s) * v + s
    if _close(x.grad, s * (1 - s) * v):
        raise Incorrect("with y = sigmoid(x) * x, x.grad lost the contribution of the second path: use "
                        "x.grad += ..., not x.grad = ... (a Value used twice collects both contributions).")
    if not _close(x.grad, expected):
        raise Incorrect(f"for y = sigmoid(x) * x at x = 0.7, x.grad is {x.grad:.6f}; expected {expected:.6f}.")
    w = Value(1.5)
    y = fn(w * 2.0)  # the input is itself computed: backward must flow through it
    y.backward()
    s = _sigmoid(3.0)
    if not _close(w.grad, 2 * s * (1 - s)):
        raise Incorrect(f"for sigmoid(2w) at w = 1.5, w.grad is {w.grad:.6f}; expected 2·s(1 - s) = "
                        f"{2 * s * (1 - s):.6f}. Is x listed in inputs=(x,)?")
    return "the sigmoid node passes s(1 - s)·out.grad back and accumulates with +=."


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


@exercise("Numerical gradient check")
def check_numerical_gradient(fn: Callable[..., Sequence[float]]) -> str:
    """``fn(f, xs, h)`` returns the central differences ``(f(x + h e_i) - f(x - h e_i)) / 2h`` for every i."""
    xs = [1.5, -0.5, 0.3]
    original = list(xs)
    h = 1e-3  # large on purpose: one-sided differences are then visibly less accurate
    result = fn(_test_function, xs, h)
    if result is None:
        raise Incorrect("your function returned None. Did you forget `return grads`?")
    if list(xs) != original:
        raise Incorrect(f"your function changed xs to {xs}: restore xs[i] after each nudge, or nudge a copy "
                        "(moved = list(xs)). Otherwise every later derivative is measured at the wrong point.")
    try:
        values = [float(v) for v in result]
    except (TypeError, ValueError):
        raise Incorrect(f"return one number per input (a list of floats); got {result!r}.") from None
    if len(values) != len(xs):
        raise Incorrect(f"you returned {len(values)} numbers for {len(xs)} inputs: one partial derivative per input.")
    exact = _test_gradient(xs)
    if all(_close(v, e, 1e-5) for v, e in zip(values, exact)):
        return "central differences agree with the exact gradient to about h² — a trustworthy check."
    if all(_close(v, 2 * e, 1e-5) for v, e in zip(values, exact)):
        raise Incorrect("your numbers are twice the derivative: the two points x - h and x + h are 2h apart, "
                        "so divide by 2 * h.")
    for sign, name in [(1.0, "forward (f(x + h) - f(x)) / h"), (-1.0, "backward (f(x) - f(x - h)) / h")]:
        if all(_close(v, e, 1e-7) for v, e in zip(values, _one_sided(_test_function, xs, h, sign))):
            raise Incorrect(f"you used the {name} difference. Its error shrinks only like h; the central "
                            "difference (f(x + h) - f(x - h)) / (2h) cancels that error term, leaving h².")
    worst = max(range(len(xs)), key=lambda i: abs(values[i] - exact[i]))
    raise Incorrect(f"the derivative for input {worst} is {values[worst]:.6f}, expected about {exact[worst]:.6f}. "
                    "Nudge only xs[i], by +h and by -h, and divide the difference by 2h.")


# ----------------------------------------------------------------------------- 4. torch.autograd
@exercise("Gradient with torch.autograd")
def check_torch_gradient(fn: Callable[[Callable, torch.Tensor], torch.Tensor]) -> str:
    """``fn(f, x)`` returns df/dx for a scalar-valued ``f`` at ``x`` and leaves ``x`` untouched."""
    cases = [
        ("f(x) = (x**2).sum()", lambda t: (t ** 2).sum(), torch.tensor([1.0, -2.0, 3.0]), lambda t: 2 * t),
        ("f(x) = sin(x).prod()", lambda t: torch.sin(t).prod(), torch.tensor([0.5, 1.0]),
         lambda t: torch.stack([torch.cos(t[0]) * torch.sin(t[1]), torch.sin(t[0]) * torch.cos(t[1])])),
        ("f(x) = (x @ x.T).trace()", lambda t: (t @ t.T).trace(), torch.arange(6.0).reshape(2, 3), lambda t: 2 * t),
    ]
    for description, f, x, gradient in cases:
        before = x.clone()
        first = fn(f, x)
        if first is None:
            raise Incorrect(f"for {description} your function returned None. Return the gradient: x.grad of the "
                            "leaf you called backward() for (or the result of torch.autograd.grad).")
        if not isinstance(first, torch.Tensor):
            raise Incorrect(f"return a tensor shaped like x, got a {type(first).__name__}.")
        if x.requires_grad or x.grad is not None:
            raise Incorrect("your function changed the caller's tensor (it now requires grad or holds a .grad). "
                            "Work on a copy: x = x.detach().clone().requires_grad_(True).")
        if not torch.equal(x, before):
            raise Incorrect("your function changed the values of x; compute on a copy.")
        if tuple(first.shape) != tuple(x.shape):
            raise Incorrect(f"for {description} the gradient has shape {tuple(first.shape)}; it must have x's "
                            f"shape {tuple(x.shape)} (one partial derivative per entry).")
        expected = gradient(x)
        if not torch.allclose(first.detach(), expected, atol=1e-5):
            raise Incorrect(f"for {description} at x = {x.tolist()} you returned {first.tolist()}, expected "
                            f"{expected.tolist()}.")
        if first.requires_grad:
            raise Incorrect("the gradient you return still requires grad (it is part of a graph). Return it "
                            "detached, e.g. x.grad or grad.detach().")
        second = fn(f, x)
        if not torch.allclose(second.detach(), expected, atol=1e-5):
            raise Incorrect(f"called a second time on the same x, your function returned {second.tolist()}: "
                            "gradients accumulated across calls. Make a fresh leaf each call (or zero .grad).")
    return "a fresh leaf, backward() (or torch.autograd.grad), and the caller's tensor stays untouched."
