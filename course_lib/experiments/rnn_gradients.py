"""Back-propagation through time in numbers: how much the last output's gradient reaches each earlier input.

Chapter 08 unrolls a recurrent layer over ``length`` steps of random inputs, takes the sum of the
last step's output as the "loss", and measures the gradient norm with respect to the input of every
step. In a plain tanh RNN that gradient is multiplied by ``W_hh^T diag(tanh')`` once per step back,
so it shrinks geometrically when ``W_hh``'s spectral radius is below 1 (vanishing) and can grow when
it is above 1 (exploding). An LSTM's cell state is updated by addition, ``c' = f * c + i * g``, so
the gradient along it is multiplied by the forget gate ``f`` only: it survives as long as ``f``
stays near 1. A fresh torch LSTM has forget-gate biases near 0, so ``f`` is about 0.5 and the
gradient still fades; a forget bias of 1 to 3 (Gers et al. 2000; Jozefowicz et al. 2015; Keras'
``unit_forget_bias``) keeps it, and training learns such values where memory pays.
"""

from __future__ import annotations

import torch
from torch import nn

from ..arguments import check_choice, check_number, check_whole_number

__all__ = ["input_gradient_norms", "spectral_radius"]

_LAYERS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def spectral_radius(matrix: torch.Tensor) -> float:
    """The largest absolute eigenvalue of a square matrix: the factor a linear recurrence grows by per step."""
    return float(torch.linalg.eigvals(matrix.detach().double()).abs().max())


def input_gradient_norms(
    kind: str = "rnn",
    length: int = 100,
    hidden: int = 64,
    inputs: int = 8,
    batch: int = 16,
    *,
    radius: float | None = None,
    forget_bias: float | None = None,
    seed: int = 0,
) -> torch.Tensor:
    """``||d(sum of the last output) / d x_t||`` for every step ``t``, shape ``(length,)`` (float64).

    ``kind`` is ``"rnn"`` (tanh), ``"lstm"`` or ``"gru"``, built with torch's default initialisation
    from ``seed``. ``radius`` rescales ``W_hh`` (the RNN's; for the others all gate blocks together) to
    that spectral radius; ``forget_bias`` sets an LSTM's forget-gate bias (``b_ih``; ``b_hh``'s is zeroed).
    Runs in float64 so that gradients of 1e-30 are still measured, not rounded to 0.
    """
    check_choice("kind", kind, tuple(_LAYERS))
    for name, value in (("length", length), ("hidden", hidden), ("inputs", inputs), ("batch", batch)):
        check_whole_number(name, value, 1)
    if radius is not None:
        check_number("radius", radius, above=0, why="It is the spectral radius W_hh is scaled to.")
    if forget_bias is not None:
        if kind != "lstm":
            raise ValueError(f"forget_bias is the LSTM's forget-gate bias; a {kind} has no forget gate.")
        check_number("forget_bias", forget_bias)
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layer = _LAYERS[kind](inputs, hidden, batch_first=True).double()
    with torch.no_grad():
        if radius is not None:
            layer.weight_hh_l0 *= radius / spectral_radius(
                layer.weight_hh_l0[:hidden] if kind == "rnn" else layer.weight_hh_l0.view(-1, hidden, hidden).sum(0)
            )
        if forget_bias is not None:
            layer.bias_ih_l0[hidden : 2 * hidden] = forget_bias  # torch's gate order i, f, g, o
            layer.bias_hh_l0[hidden : 2 * hidden] = 0.0
    x = torch.randn(batch, length, inputs, generator=generator, dtype=torch.float64, requires_grad=True)
    output, _ = layer(x)
    output[:, -1].sum().backward()
    return x.grad.norm(dim=(0, 2))
