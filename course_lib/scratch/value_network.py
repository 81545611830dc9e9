"""A tiny neural network built from scalar Values: ``Neuron``, ``Layer``, ``MLP`` and a stable ``cross_entropy``.

Chapter 02 trains it on a toy problem with the engine in ``engine.py`` (like micrograd's ``nn.py``):
every weight is one ``Value``, so a forward pass builds a graph that ``loss.backward()`` walks.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from numbers import Integral

from ..arguments import check_choice, check_whole_number
from .engine import Value

__all__ = ["Neuron", "Layer", "MLP", "cross_entropy"]


class Neuron:
    """``activation(w . x + b)``: weights drawn like ``torch.nn.Linear``, uniform in ±1/sqrt(n_inputs)."""

    def __init__(self, n_inputs: int, activation: str | None = "tanh", rng: random.Random | None = None) -> None:
        check_choice("activation", activation, ("tanh", "relu", None), why="None means linear (no activation).")
        check_whole_number("n_inputs", n_inputs, 1)
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

    def __init__(
        self, n_inputs: int, n_outputs: int, activation: str | None = "tanh", rng: random.Random | None = None
    ) -> None:
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
        if isinstance(layer_sizes, (int, str)) or not layer_sizes:
            raise ValueError(
                f"layer_sizes must be a list with the size of every layer, the output layer last "
                f"(e.g. [8, 8, 3]); got {layer_sizes!r}."
            )
        for size in layer_sizes:
            check_whole_number("every layer size", size, 1)
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
    if not isinstance(target, Integral) or isinstance(target, bool) or not 0 <= target < len(logits):
        raise ValueError(f"target must be a class index from 0 to {len(logits) - 1}, got {target!r}.")
    biggest = max(z.data for z in logits)
    shifted = [z - biggest for z in logits]
    log_sum_exp = sum(z.exp() for z in shifted).log()
    return log_sum_exp - shifted[target]
