"""Vanishing and exploding gradients (梯度消失, 梯度爆炸), measured: a deep stack of one activation.

Stack ``depth`` layers ``h = f(h W^T)`` with random weights drawn by an initialisation scheme, send a
random gradient back from the top, and record per layer the size of the weight gradient and of the
signal (the std of the layer's output). Sigmoid with Xavier initialisation loses a factor of about
four per layer; ReLU with Kaiming initialisation keeps both sizes about constant. Chapter 03 writes
the loop out once, then calls ``gradient_flow``; ``widgets.activations`` draws it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..models import init_std
from ..scratch import activations as act

__all__ = ["ACTIVATIONS", "GradientFlow", "gradient_flow", "activation_pair"]

Fn = Callable[[torch.Tensor], torch.Tensor]

#: name -> (f, f'), all from course_lib.scratch.activations.
ACTIVATIONS: dict[str, tuple[Fn, Fn]] = {
    "sigmoid": (act.sigmoid, act.sigmoid_grad),
    "tanh": (act.tanh, act.tanh_grad),
    "relu": (act.relu, act.relu_grad),
    "leaky_relu": (act.leaky_relu, act.leaky_relu_grad),
    "gelu": (act.gelu, act.gelu_grad),
    "identity": (lambda x: x, torch.ones_like),
}

#: Below this size the signal has faded, above ``1 / FADED`` it has exploded (the input's std is 1).
FADED = 1e-2
#: A first/last gradient ratio below this vanishes toward the input, above ``1 / VANISHED`` it explodes.
VANISHED = 1e-2


def activation_pair(name: str) -> tuple[Fn, Fn]:
    """``(f, f')`` of activation ``name``, with an error that lists the names."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}.")
    return ACTIVATIONS[name]


@dataclass
class GradientFlow:
    """Per layer, from the input side (layer 1) to the output side (layer ``depth``)."""

    weight_grad_norms: torch.Tensor  #: ||dL/dW_l||, the size of the update the optimiser would make
    activation_stds: torch.Tensor  #: std of each layer's output h_l: 0 means dead, +-1 flat means saturated

    @property
    def first_over_last(self) -> float:
        """Layer 1's gradient size over the top layer's: far below 1 vanishes, far above 1 explodes."""
        last = float(self.weight_grad_norms[-1])
        return float(self.weight_grad_norms[0]) / last if last else math.inf

    def reading(self) -> str:
        """What the numbers say, in two sentences: the signal's size at the top, then the gradient's ratio.

        Both are needed: ReLU with a tiny initialisation keeps the ratio near 1 while every gradient
        and every activation is 1e-22; tanh with a large one keeps the signal at +-1 while the
        gradient grows a million-fold toward the input.
        """
        depth, signal, ratio = len(self.activation_stds), float(self.activation_stds[-1]), self.first_over_last
        first, last = float(self.weight_grad_norms[0]), float(self.weight_grad_norms[-1])
        if signal < FADED:
            said = f"The signal fades: layer {depth}'s outputs have std {signal:.1g} (the input's is 1)."
        elif signal > 1 / FADED:
            said = f"The signal explodes: layer {depth}'s outputs have std {signal:.1g} (the input's is 1)."
        else:
            said = f"The signal keeps its size: std {signal:.2g} at layer {depth}."
        sizes = f"{last:.2g} at layer {depth}, {first:.2g} at layer 1"
        if ratio < VANISHED:
            said += f" The gradient vanishes toward the input: {sizes}."
        elif ratio > 1 / VANISHED:
            said += f" The gradient explodes toward the input: {sizes}."
        else:
            said += f" Layer 1's gradient is {ratio:.2g} times layer {depth}'s: {sizes}."
        return said


def gradient_flow(
    activation: str, depth: int = 10, width: int = 64, init: str = "xavier", batch: int = 256, seed: int = 0
) -> GradientFlow:
    """Forward a random batch through ``depth`` layers ``h = f(h W^T)`` and backprop a random gradient.

    ``init`` is a scheme of ``models.init_std`` (``"kaiming"``, ``"xavier"``, ``"normal-0.01"``, ...).
    The upstream gradient at the top is a fixed random tensor, so the numbers show only what the
    layers do to a gradient on its way down, not what some particular loss happens to be.
    """
    if depth < 1 or width < 1:
        raise ValueError(f"depth and width must be at least 1, got depth={depth}, width={width}.")
    f, _ = activation_pair(activation)
    std = init_std(init, width)
    gen = torch.Generator().manual_seed(seed)
    weights = [
        (torch.randn(width, width, generator=gen, dtype=torch.float64) * std).requires_grad_(True) for _ in range(depth)
    ]
    h = torch.randn(batch, width, generator=gen, dtype=torch.float64)
    stds = []
    for w in weights:
        h = f(h @ w.T)
        stds.append(float(h.detach().std()))
    upstream = torch.randn(batch, width, generator=gen, dtype=torch.float64) / math.sqrt(batch)
    h.backward(upstream)
    norms = torch.tensor([float(w.grad.norm()) for w in weights])
    return GradientFlow(weight_grad_norms=norms, activation_stds=torch.tensor(stds))
