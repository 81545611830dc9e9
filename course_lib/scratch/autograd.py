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

The module also holds a tiny ``Neuron`` / ``Layer`` / ``MLP`` built from Values, a
numerically stable ``cross_entropy`` and ``draw_graph`` (matplotlib only, no graphviz).
"""
from __future__ import annotations

import math
import random
from numbers import Real
from typing import TYPE_CHECKING, Any, Callable, Sequence

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "Value",
    "topological_order",
    "Neuron",
    "Layer",
    "MLP",
    "cross_entropy",
    "draw_graph",
    "MAX_DRAWN_NODES",
]


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
        "Pass an int or a float, e.g. Value(2.0)" + (" (convert text first: Value(float(s)))." if isinstance(data, str) else ".")
    )


class Value:
    """One number in a computational graph: its ``data``, its ``grad``, and how it was made.

    >>> a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    >>> y = a * b + a
    >>> y.backward()
    >>> a.grad, b.grad   # dy/da = b + 1, dy/db = a
    (-2.0, 2.0)
    """

    def __init__(self, data: Any, inputs: Sequence["Value"] = (), op: str = "", label: str = "") -> None:
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
    def _lift(other: Any) -> "Value":
        """A plain number on either side of an operator becomes a constant leaf."""
        return other if isinstance(other, Value) else Value(other)

    def __add__(self, other: Any) -> "Value":
        if not isinstance(other, (Value, Real)):
            return NotImplemented
        other = self._lift(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward() -> None:  # d(a+b)/da = 1, d(a+b)/db = 1
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other: Any) -> "Value":
        if not isinstance(other, (Value, Real)):
            return NotImplemented
        other = self._lift(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward() -> None:  # d(ab)/da = b, d(ab)/db = a
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    def __sub__(self, other: Any) -> "Value":
        if not isinstance(other, (Value, Real)):
            return NotImplemented
        other = self._lift(other)
        out = Value(self.data - other.data, (self, other), "-")

        def _backward() -> None:  # d(a-b)/da = 1, d(a-b)/db = -1
            self.grad += out.grad
            other.grad -= out.grad

        out._backward = _backward
        return out

    def __truediv__(self, other: Any) -> "Value":
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

    def __pow__(self, exponent: Any) -> "Value":
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

    def __neg__(self) -> "Value":
        out = Value(-self.data, (self,), "neg")

        def _backward() -> None:
            self.grad -= out.grad

        out._backward = _backward
        return out

    # A plain number on the left: 2 + x, 2 * x, 2 - x, 2 / x. Python calls these "reflected" methods.
    def __radd__(self, other: Any) -> "Value":
        return self + other

    def __rmul__(self, other: Any) -> "Value":
        return self * other

    def __rsub__(self, other: Any) -> "Value":
        if not isinstance(other, Real):
            return NotImplemented
        return Value(other) - self

    def __rtruediv__(self, other: Any) -> "Value":
        if not isinstance(other, Real):
            return NotImplemented
        return Value(other) / self

    def __rpow__(self, base: Any) -> "Value":
        raise ValueError(
            f"{base!r} ** Value is not supported: only the base may be a Value. "
            "For c ** x write (x * math.log(c)).exp()."
        )

    # ------------------------------------------------------------------ functions
    def exp(self) -> "Value":
        try:
            e = math.exp(self.data)
        except OverflowError:  # like torch: exp(1000) is inf, not an exception
            e = math.inf
        out = Value(e, (self,), "exp")

        def _backward() -> None:  # d(e^x)/dx = e^x, the output itself
            self.grad += e * out.grad

        out._backward = _backward
        return out

    def log(self) -> "Value":
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

    def tanh(self) -> "Value":
        t = math.tanh(self.data)
        out = Value(t, (self,), "tanh")

        def _backward() -> None:  # d(tanh x)/dx = 1 - tanh(x)**2
            self.grad += (1.0 - t * t) * out.grad

        out._backward = _backward
        return out

    def sigmoid(self) -> "Value":
        x = self.data
        # Never exp of a large positive number: pick the form whose exp argument is <= 0.
        s = 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))
        out = Value(s, (self,), "sigmoid")

        def _backward() -> None:  # d(sigmoid x)/dx = s (1 - s)
            self.grad += s * (1.0 - s) * out.grad

        out._backward = _backward
        return out

    def relu(self) -> "Value":
        out = Value(self.data if self.data > 0 else 0.0, (self,), "relu")

        def _backward() -> None:  # slope 1 where x > 0, else 0 (at exactly 0 too, as in PyTorch)
            self.grad += (1.0 if self.data > 0 else 0.0) * out.grad

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


# ---------------------------------------------------------------------------- a tiny network
class Neuron:
    """``activation(w . x + b)``: weights drawn like ``torch.nn.Linear``, uniform in ±1/sqrt(n_inputs)."""

    def __init__(self, n_inputs: int, activation: str | None = "tanh", rng: random.Random | None = None) -> None:
        if activation not in ("tanh", "relu", None):
            raise ValueError(f"activation must be 'tanh', 'relu' or None (linear), got {activation!r}.")
        rng = rng or random.Random(0)
        bound = 1.0 / math.sqrt(n_inputs)
        self.weights = [Value(rng.uniform(-bound, bound), label="w") for _ in range(n_inputs)]
        self.bias = Value(rng.uniform(-bound, bound), label="b")
        self.activation = activation

    def __call__(self, x: Sequence[Value | float]) -> Value:
        if len(x) != len(self.weights):
            raise ValueError(f"this neuron takes {len(self.weights)} inputs, got {len(x)}.")
        total = sum((w * xi for w, xi in zip(self.weights, x)), self.bias)
        if self.activation == "tanh":
            return total.tanh()
        if self.activation == "relu":
            return total.relu()
        return total

    def parameters(self) -> list[Value]:
        return [*self.weights, self.bias]


class Layer:
    """``n_outputs`` neurons that all read the same inputs."""

    def __init__(self, n_inputs: int, n_outputs: int, activation: str | None = "tanh",
                 rng: random.Random | None = None) -> None:
        rng = rng or random.Random(0)
        self.neurons = [Neuron(n_inputs, activation, rng) for _ in range(n_outputs)]

    def __call__(self, x: Sequence[Value | float]) -> list[Value]:
        return [neuron(x) for neuron in self.neurons]

    def parameters(self) -> list[Value]:
        return [p for neuron in self.neurons for p in neuron.parameters()]


class MLP:
    """A multilayer perceptron of Values: hidden layers use ``activation``, the last layer is linear.

    >>> net = MLP(2, [8, 8, 3], seed=0)     # 2 inputs, two hidden layers of 8, 3 outputs (logits)
    >>> logits = net([0.5, -1.0])
    """

    def __init__(self, n_inputs: int, layer_sizes: Sequence[int], activation: str = "tanh", seed: int = 0) -> None:
        rng = random.Random(seed)
        sizes = [n_inputs, *layer_sizes]
        self.layers = [
            Layer(sizes[i], sizes[i + 1], activation if i < len(layer_sizes) - 1 else None, rng)
            for i in range(len(layer_sizes))
        ]

    def __call__(self, x: Sequence[Value | float]) -> list[Value]:
        for layer in self.layers:
            x = layer(x)
        return x

    def parameters(self) -> list[Value]:
        """Layer by layer, neuron by neuron: the neuron's weights, then its bias."""
        return [p for layer in self.layers for p in layer.parameters()]

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = 0.0


def cross_entropy(logits: Sequence[Value], target: int) -> Value:
    """``-log softmax(logits)[target]``, computed as ``logsumexp(logits) - logits[target]``.

    The maximum logit is subtracted first (a plain number, so no gradient flows through it):
    the result is unchanged, but ``exp`` never overflows.
    """
    if not 0 <= target < len(logits):
        raise ValueError(f"target must be a class index from 0 to {len(logits) - 1}, got {target}.")
    biggest = max(z.data for z in logits)
    shifted = [z - biggest for z in logits]
    log_sum_exp = sum(z.exp() for z in shifted).log()
    return log_sum_exp - shifted[target]


# ---------------------------------------------------------------------------- drawing
#: Above this many Values a drawing is unreadable; draw_graph refuses and says so.
MAX_DRAWN_NODES = 60


def _layout(root: Value) -> tuple[list[Value], dict[int, int], dict[int, float]]:
    """Columns by distance from the root (root rightmost), rows in the order a depth-first walk meets them."""
    order = topological_order(root)
    distance = {id(root): 0}
    for node in reversed(order):  # every user of a node comes before it here
        for parent in node.inputs:
            distance[id(parent)] = max(distance.get(id(parent), 0), distance[id(node)] + 1)
    # Rows: a depth-first walk from the root, inputs top to bottom, gives tree-like drawings.
    seen: list[Value] = []
    marked: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in marked:
            continue
        marked.add(id(node))
        seen.append(node)
        stack.extend(reversed(node.inputs))
    rank = {id(node): i for i, node in enumerate(seen)}
    columns: dict[int, list[Value]] = {}
    for node in order:
        columns.setdefault(distance[id(node)], []).append(node)
    row: dict[int, float] = {}
    for nodes in columns.values():
        nodes.sort(key=lambda n: rank[id(n)])
        for i, node in enumerate(nodes):
            row[id(node)] = -(i - (len(nodes) - 1) / 2)
    return order, distance, row


def draw_graph(root: Value, title: str | None = None, show_grad: bool = True) -> "Figure":
    """Draw the computational graph behind ``root``: boxes for Values, circles for operations.

    Each box shows a Value's label (if any), its ``data`` and (``show_grad``) its ``grad``;
    arrows run from inputs to the operation that uses them to its result. Leaves are blue,
    the root green. Uses matplotlib only. Returns the Figure (close it with ``plt.close(fig)``).
    """
    import matplotlib.pyplot as plt

    if not isinstance(root, Value):
        raise ValueError(f"draw_graph expects a Value (the result of an expression), got {type(root).__name__}.")
    order, distance, row = _layout(root)
    if len(order) > MAX_DRAWN_NODES:
        raise ValueError(
            f"this graph has {len(order)} Values, too many to draw readably (the limit is {MAX_DRAWN_NODES}). "
            "Draw a smaller expression, e.g. one neuron instead of a whole network's loss."
        )
    depth = max(distance.values())
    n_rows = max(sum(1 for n in order if distance[id(n)] == d) for d in range(depth + 1))
    fig, ax = plt.subplots(figsize=(max(4.0, 2.6 * depth + 2.2), max(2.2, 1.25 * n_rows + 0.8)))

    def box_xy(node: Value) -> tuple[float, float]:
        return (depth - distance[id(node)]) * 2.0, row[id(node)]

    arrow = dict(arrowstyle="-|>", color="#555555", lw=1.0, shrinkA=22, shrinkB=22)
    for node in order:
        x, y = box_xy(node)
        if node is root:
            face = "#d6f5d6"
        elif node.is_leaf:
            face = "#dbe9f9"
        else:
            face = "#f2f2f2"
        lines = [node.label] if node.label else []
        lines.append(f"data {node.data:.4g}")
        if show_grad:
            lines.append(f"grad {node.grad:.4g}")
        ax.text(x, y, "\n".join(lines), ha="center", va="center", fontsize=9, family="monospace",
                bbox=dict(boxstyle="round,pad=0.35", fc=face, ec="#333333"), zorder=3)
        if node.inputs:  # the operation: a circle just left of its result
            ox = x - 1.0
            ax.text(ox, y, node.op, ha="center", va="center", fontsize=9, zorder=3,
                    bbox=dict(boxstyle="circle,pad=0.3", fc="#fff4d6", ec="#b8860b"))
            ax.annotate("", xy=(x, y), xytext=(ox, y),
                        arrowprops=dict(arrow, shrinkA=12, shrinkB=30), zorder=2)
            for i, parent in enumerate(node.inputs):
                px, py = box_xy(parent)
                repeats = node.inputs[:i].count(parent)  # x * x: two arrows from the same box
                skips = px < x - 2.0 and abs(py - y) < 0.5  # a straight arrow would run through other boxes
                bend = 0.0 if not (repeats or skips or parent in node.inputs[i + 1:]) else (0.35 if i % 2 else -0.35)
                ax.annotate("", xy=(ox, y), xytext=(px, py), zorder=2,
                            arrowprops=dict(arrow, shrinkA=30, shrinkB=12, connectionstyle=f"arc3,rad={bend}"))
    ys = [row[id(n)] for n in order]
    ax.set_xlim(-1.0, depth * 2.0 + 1.0)
    ax.set_ylim(min(ys) - 0.7, max(ys) + 0.7)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig

