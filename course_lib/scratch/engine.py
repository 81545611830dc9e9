"""A scalar reverse-mode autograd engine, small enough to read in one sitting.

Chapter 02 builds it and checks it against ``torch.autograd`` and ``tf.GradientTape``
(tests/test_scratch_autograd.py runs hundreds of random expressions through both).

Every arithmetic operation on a :class:`Value` returns a new ``Value`` that remembers

- ``inputs``: the Values it was computed from (the edges of the computational graph), and
- ``_backward``: a function that applies the chain rule for this one operation,
  ``input.grad += (d out / d input) * out.grad``.

``root.backward()`` visits the graph in reverse topological order (every node after all the
nodes that use it) and calls each node's ``_backward``. Gradients are *added* (``+=``),
because a Value used twice (``x * x``) receives one contribution per use.

Like PyTorch, gradients of leaves (Values you created yourself) accumulate over calls
to ``backward()``; set them back to zero before the next step (``MLP.zero_grad()``).
A NaN passes through every operation as it does in PyTorch.

This file is only the engine, like micrograd's ``engine.py``. A tiny network built from Values
is in ``value_network.py`` and the drawing in ``graph_drawing.py``; ``course_lib.scratch.autograd``
gathers all three for chapter 02.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from numbers import Real
from typing import Any

__all__ = ["Value", "topological_order"]


def _as_float(data: Any) -> float:
    """Turn a number (or a one-element tensor/array) into a float, or say clearly why not."""
    if isinstance(data, bool):
        return float(data)
    if isinstance(data, Real):
        return float(data)
    shape = getattr(data, "shape", None)
    if shape is not None and hasattr(data, "item"):
        size = math.prod(shape)
        if size == 1:
            return _as_float(data.item())
        raise ValueError(
            f"Value holds one number, but got a {type(data).__name__} of shape {tuple(shape)}. "
            "This engine is scalar: make one Value per number, e.g. [Value(v) for v in x.tolist()]."
        )
    raise ValueError(
        f"Value holds a real number, got {data!r} of type {type(data).__name__}. "
        "Pass an int or a float, e.g. Value(2.0)"
        + (" (convert text first: Value(float(s)))." if isinstance(data, str) else ".")
    )


class Value:
    """One number in a computational graph: its ``data``, its ``grad``, and how it was made.

    >>> a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    >>> y = a * b + a
    >>> y.backward()
    >>> a.grad, b.grad   # dy/da = b + 1, dy/db = a
    (-2.0, 2.0)
    """

    def __init__(self, data: Any, inputs: Sequence[Value] = (), op: str = "", label: str = "") -> None:
        self.data = _as_float(data)
        self.grad = 0.0  # d(root)/d(self), filled in by root.backward()
        self.inputs = tuple(inputs)  # the Values this one was computed from
        self.op = op  # how: "+", "*", "tanh", ... ("" for a leaf)
        self.label = label  # a name for drawings; optional
        self._backward: Callable[[], None] = lambda: None  # a leaf passes nothing further back

    def __repr__(self) -> str:
        name = f", label={self.label!r}" if self.label else ""
        return f"Value(data={self.data:.6g}, grad={self.grad:.6g}{name})"

    @property
    def is_leaf(self) -> bool:
        """True for a Value you created yourself (an input or a parameter), not one computed by an op."""
        return not self.inputs

    # ------------------------------------------------------------------ the operations
    @staticmethod
    def _lift(other: Any) -> Value:
        """A plain number on either side of an operator becomes a constant leaf."""
        return other if isinstance(other, Value) else Value(other)

    def __add__(self, other: Any) -> Value:
        if not isinstance(other, (Value, Real)):
            return NotImplemented
        other = self._lift(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward() -> None:  # d(a+b)/da = 1, d(a+b)/db = 1
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other: Any) -> Value:
        if not isinstance(other, (Value, Real)):
            return NotImplemented
        other = self._lift(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward() -> None:  # d(ab)/da = b, d(ab)/db = a
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    def __sub__(self, other: Any) -> Value:
        if not isinstance(other, (Value, Real)):
            return NotImplemented
        other = self._lift(other)
        out = Value(self.data - other.data, (self, other), "-")

        def _backward() -> None:  # d(a-b)/da = 1, d(a-b)/db = -1
            self.grad += out.grad
            other.grad -= out.grad

        out._backward = _backward
        return out

    def __truediv__(self, other: Any) -> Value:
        if not isinstance(other, (Value, Real)):
            return NotImplemented
        other = self._lift(other)
        if other.data == 0:
            raise ZeroDivisionError(
                f"division by zero: {self.data:g} / 0. The quotient and its gradient -a/b**2 are infinite; "
                "add a small epsilon to the denominator if it can be zero."
            )
        out = Value(self.data / other.data, (self, other), "/")

        def _backward() -> None:  # d(a/b)/da = 1/b, d(a/b)/db = -a/b**2
            self.grad += out.grad / other.data
            other.grad -= out.grad * self.data / other.data**2

        out._backward = _backward
        return out

    def __pow__(self, exponent: Any) -> Value:
        if isinstance(exponent, Value):
            raise ValueError(
                "Value ** Value is not supported: the exponent must be a plain number, e.g. x ** 2. "
                "For a learnable exponent write (b * x.log()).exp(), which is x ** b for x > 0."
            )
        if not isinstance(exponent, Real):
            return NotImplemented
        k = float(exponent)
        x = self.data
        if x == 0 and k < 0:
            raise ZeroDivisionError(f"0 ** {k:g} is infinite (it divides by zero). Keep the base away from 0.")
        if x < 0 and not k.is_integer():
            raise ValueError(
                f"({x:g}) ** {k:g} is not a real number: a negative base needs a whole-number exponent "
                "(Python would give a complex number). Use abs(x) or keep x positive."
            )
        try:
            result = x**k
        except OverflowError:  # like torch: 1e200 ** 2 is inf, not an exception
            result = math.copysign(math.inf, x) if k % 2 == 1 else math.inf
        out = Value(result, (self,), f"**{k:g}")

        def _backward() -> None:  # d(x**k)/dx = k * x**(k-1)
            if k == 0:
                local = 0.0
            elif x == 0 and k < 1:
                local = math.copysign(math.inf, k)  # e.g. sqrt at 0: the slope is vertical
            else:
                local = k * x ** (k - 1)
            self.grad += local * out.grad

        out._backward = _backward
        return out

    def __neg__(self) -> Value:
        out = Value(-self.data, (self,), "neg")

        def _backward() -> None:
            self.grad -= out.grad

        out._backward = _backward
        return out

    # A plain number on the left: 2 + x, 2 * x, 2 - x, 2 / x. Python calls these "reflected" methods.
    def __radd__(self, other: Any) -> Value:
        return self + other

    def __rmul__(self, other: Any) -> Value:
        return self * other

    def __rsub__(self, other: Any) -> Value:
        if not isinstance(other, Real):
            return NotImplemented
        return Value(other) - self

    def __rtruediv__(self, other: Any) -> Value:
        if not isinstance(other, Real):
            return NotImplemented
        return Value(other) / self

    def __rpow__(self, base: Any) -> Value:
        raise ValueError(
            f"{base!r} ** Value is not supported: only the base may be a Value. "
            "For c ** x write (x * math.log(c)).exp()."
        )

    # ------------------------------------------------------------------ functions
    def exp(self) -> Value:
        try:
            e = math.exp(self.data)
        except OverflowError:  # like torch: exp(1000) is inf, not an exception
            e = math.inf
        out = Value(e, (self,), "exp")

        def _backward() -> None:  # d(e^x)/dx = e^x, the output itself
            self.grad += e * out.grad

        out._backward = _backward
        return out

    def log(self) -> Value:
        if self.data <= 0:
            raise ValueError(
                f"log({self.data:g}) is undefined: the natural log needs a positive number. "
                "Probabilities that can reach 0 need a small epsilon (log(p + 1e-12)), or compute "
                "the log from logits (see cross_entropy)."
            )
        out = Value(math.log(self.data), (self,), "log")

        def _backward() -> None:  # d(log x)/dx = 1/x
            self.grad += out.grad / self.data

        out._backward = _backward
        return out

    def tanh(self) -> Value:
        t = math.tanh(self.data)
        out = Value(t, (self,), "tanh")

        def _backward() -> None:  # d(tanh x)/dx = 1 - tanh(x)**2
            self.grad += (1.0 - t * t) * out.grad

        out._backward = _backward
        return out

    def sigmoid(self) -> Value:
        x = self.data
        # Never exp of a large positive number: pick the form whose exp argument is <= 0.
        s = 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))
        out = Value(s, (self,), "sigmoid")

        def _backward() -> None:  # d(sigmoid x)/dx = s (1 - s)
            self.grad += s * (1.0 - s) * out.grad

        out._backward = _backward
        return out

    def relu(self) -> Value:
        # Tested as "x <= 0", not "x > 0", so that NaN (which fails every comparison) stays NaN, as in PyTorch.
        out = Value(0.0 if self.data <= 0 else self.data, (self,), "relu")

        def _backward() -> None:  # slope 0 where x <= 0 (at exactly 0 too, as in PyTorch), else 1
            self.grad += (0.0 if self.data <= 0 else 1.0) * out.grad

        out._backward = _backward
        return out

    # ------------------------------------------------------------------ backpropagation
    def backward(self) -> None:
        """Fill ``.grad`` of every Value this one depends on with d(self)/d(that Value).

        Computed Values get fresh gradients on every call; leaves *accumulate* (as in PyTorch),
        so zero them between training steps.
        """
        order = topological_order(self)
        for node in order:
            if not node.is_leaf:
                node.grad = 0.0  # intermediate results: recomputed from scratch each call
        self.grad += 1.0  # d(self)/d(self)
        for node in reversed(order):  # from the output back to the inputs
            node._backward()


def topological_order(root: Value) -> list[Value]:
    """Every Value ``root`` depends on, each listed after all of its inputs (root last).

    Reversed, this is the order backpropagation needs: a node's gradient is complete once
    every node that *uses* it has passed its contribution back. Written with an explicit stack
    instead of recursion, so a graph thousands of nodes deep does not hit Python's recursion limit.
    """
    order: list[Value] = []
    visited: set[int] = set()
    stack: list[tuple[Value, bool]] = [(root, False)]
    while stack:
        node, inputs_done = stack.pop()
        if inputs_done:
            order.append(node)  # all its inputs are already in `order`
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))  # come back to it after its inputs
        for parent in node.inputs:
            if id(parent) not in visited:
                stack.append((parent, False))
    return order
