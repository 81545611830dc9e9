"""Activation functions and their derivatives, written from the math with plain tensor operations.

Chapter 03 builds these by hand and checks them against ``torch.nn.functional`` and autograd
(tests/test_scratch_activations.py). Every function takes a floating-point tensor and returns
one of the same shape and dtype. ``<name>_grad(x)`` is the elementwise derivative
:math:`f'(x)`, the number autograd multiplies the incoming gradient by.

Two numerical points matter more than the formulas:

- ``sigmoid`` never computes ``exp`` of a large positive number: it uses
  :math:`e^{-|x|}`, which lies in (0, 1], and picks the algebraically equal form for each sign.
- ``softmax`` and ``log_softmax`` subtract the maximum first. The result is unchanged
  (the factor :math:`e^{-m}` cancels) but ``exp`` never sees a number above 0, so logits of
  1000 do not overflow to ``inf``.
"""

from __future__ import annotations

import math

import torch

from ..arguments import check_choice, check_dim, check_float_tensor, check_number

__all__ = [
    "sigmoid",
    "sigmoid_grad",
    "tanh",
    "tanh_grad",
    "relu",
    "relu_grad",
    "leaky_relu",
    "leaky_relu_grad",
    "gelu",
    "gelu_grad",
    "softmax",
    "log_softmax",
    "split_by_sign",
]

_SQRT_2 = math.sqrt(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_TANH_COEFF = 0.044715  # the cubic term of Hendrycks & Gimpel's tanh approximation


def split_by_sign(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` where ``x >= 0`` (else 0) and ``x`` where ``x < 0`` or NaN (else 0).

    Each branch of a ``torch.where(x >= 0, ...)`` then sees only safe inputs, so the branch that is
    not chosen never makes an ``inf`` whose gradient would turn into NaN, and autograd gets the right
    slope at 0 (going through ``x.abs()`` would give slope 0 there). A NaN fails ``x >= 0``, so it
    goes to the negative side *as NaN* and comes out as NaN, as in PyTorch (not as 0.5 or 0).
    """
    zero = torch.zeros_like(x)
    return torch.where(x >= 0, x, zero), torch.where(x >= 0, zero, x)


# ----------------------------------------------------------------------------- sigmoid
def sigmoid(x: torch.Tensor) -> torch.Tensor:
    r"""Logistic sigmoid :math:`\sigma(x) = 1 / (1 + e^{-x})`, stable for any :math:`|x|`.

    For :math:`x \ge 0` it uses :math:`1/(1+e^{-x})`; for :math:`x < 0` the equal
    :math:`e^{x}/(1+e^{x})`. Both only ever exponentiate a number :math:`\le 0`.
    """
    check_float_tensor(x, "x", "sigmoid")
    x_pos, x_neg = split_by_sign(x)
    e_neg = torch.exp(x_neg)  # in (0, 1]: never overflows
    return torch.where(x >= 0, 1.0 / (1.0 + torch.exp(-x_pos)), e_neg / (1.0 + e_neg))


def sigmoid_grad(x: torch.Tensor) -> torch.Tensor:
    r""":math:`\sigma'(x) = \sigma(x)\,(1 - \sigma(x))`; at most 0.25 (at 0), near 0 for large :math:`|x|`."""
    s = sigmoid(x)
    return s * (1.0 - s)


# ----------------------------------------------------------------------------- tanh
def tanh(x: torch.Tensor) -> torch.Tensor:
    r"""Hyperbolic tangent :math:`\tanh x = (e^{x} - e^{-x}) / (e^{x} + e^{-x})`.

    Computed as :math:`(1 - e^{-2x}) / (1 + e^{-2x})` for :math:`x \ge 0` and the mirrored form for :math:`x < 0`,
    with ``expm1`` for the numerator so small :math:`x` keep full precision and large :math:`|x|` never overflow.
    """
    check_float_tensor(x, "x", "tanh")
    x_pos, x_neg = split_by_sign(x)
    positive = -torch.expm1(-2.0 * x_pos) / (1.0 + torch.exp(-2.0 * x_pos))
    negative = torch.expm1(2.0 * x_neg) / (1.0 + torch.exp(2.0 * x_neg))
    return torch.where(x >= 0, positive, negative)


def tanh_grad(x: torch.Tensor) -> torch.Tensor:
    r""":math:`\tanh'(x) = 1 - \tanh^2 x`; 1 at 0, near 0 for large :math:`|x|`."""
    t = tanh(x)
    return 1.0 - t * t


# ----------------------------------------------------------------------------- ReLU
def relu(x: torch.Tensor) -> torch.Tensor:
    r""":math:`\mathrm{ReLU}(x) = \max(x, 0)`. NaN stays NaN, as in PyTorch."""
    check_float_tensor(x, "x", "relu")
    # Written with x <= 0 so that NaN (which fails every comparison) passes through, as in PyTorch.
    return torch.where(x <= 0, torch.zeros_like(x), x)


def relu_grad(x: torch.Tensor) -> torch.Tensor:
    r""":math:`\mathrm{ReLU}'(x)`: 1 for :math:`x > 0`, 0 for :math:`x < 0`.

    ReLU has no derivative at 0; like PyTorch and TensorFlow we use 0 there (any value in
    [0, 1] is a valid subgradient, and exact zeros are rare in float arithmetic). At NaN PyTorch's
    backward passes the gradient on (slope 1), so this does too.
    """
    check_float_tensor(x, "x", "relu_grad")
    return torch.where(x <= 0, torch.zeros_like(x), torch.ones_like(x))


def leaky_relu(x: torch.Tensor, negative_slope: float = 0.01) -> torch.Tensor:
    r""":math:`x` for :math:`x > 0`, ``negative_slope`` :math:`\cdot x` otherwise: negative inputs still pass a gradient."""
    check_float_tensor(x, "x", "leaky_relu")
    check_number("negative_slope", negative_slope, why="It is the slope for x < 0 (typical: 0.01).")
    return torch.where(x > 0, x, x * negative_slope)


def leaky_relu_grad(x: torch.Tensor, negative_slope: float = 0.01) -> torch.Tensor:
    """1 for ``x > 0``, ``negative_slope`` otherwise (also at 0, as PyTorch does)."""
    check_float_tensor(x, "x", "leaky_relu_grad")
    check_number("negative_slope", negative_slope, why="It is the slope for x < 0 (typical: 0.01).")
    return torch.where(x > 0, torch.ones_like(x), torch.full_like(x, negative_slope))


# ----------------------------------------------------------------------------- GELU
def _check_approximate(approximate: str) -> None:
    check_choice(
        "approximate", approximate, ("none", "tanh"), why='"none" is the exact erf form, "tanh" the fast approximation.'
    )


def gelu(x: torch.Tensor, approximate: str = "none") -> torch.Tensor:
    r"""Gaussian error linear unit :math:`x\,\Phi(x)`, with :math:`\Phi` the standard normal CDF.

    ``approximate="none"``: :math:`\tfrac{x}{2}\,(1 + \operatorname{erf}(x/\sqrt 2))`.
    ``approximate="tanh"``: :math:`\tfrac{x}{2}\,(1 + \tanh(\sqrt{2/\pi}\,(x + 0.044715\,x^3)))` (GPT-2, BERT).
    """
    check_float_tensor(x, "x", "gelu")
    _check_approximate(approximate)
    if approximate == "tanh":
        inner = _SQRT_2_OVER_PI * (x + _GELU_TANH_COEFF * x**3)
        return x * sigmoid(2.0 * inner)  # = x/2 (1 + tanh(inner)), without rounding 1 + tanh to 0 in the tail
    return 0.5 * x * (1.0 + torch.erf(x / _SQRT_2))


def gelu_grad(x: torch.Tensor, approximate: str = "none") -> torch.Tensor:
    r"""Derivative of ``gelu``.

    Exact: :math:`\Phi(x) + x\,\varphi(x)` with :math:`\varphi(x) = e^{-x^2/2}/\sqrt{2\pi}`.
    Tanh form, with :math:`u = \sqrt{2/\pi}\,(x + 0.044715\,x^3)` and :math:`t = \tanh u`:
    :math:`\tfrac12(1+t) + \tfrac12 x\,(1-t^2)\,u'(x)`. Computed through :math:`\tfrac12(1 + \tanh u) = \sigma(2u)`
    and :math:`\tfrac12(1 - t^2) = 2\sigma(2u)\sigma(-2u)`, which stay accurate where :math:`t` rounds to :math:`\pm 1`.
    """
    check_float_tensor(x, "x", "gelu_grad")
    _check_approximate(approximate)
    if approximate == "tanh":
        u = _SQRT_2_OVER_PI * (x + _GELU_TANH_COEFF * x**3)
        inner_grad = _SQRT_2_OVER_PI * (1.0 + 3.0 * _GELU_TANH_COEFF * x**2)
        s_pos, s_neg = sigmoid(2.0 * u), sigmoid(-2.0 * u)
        return s_pos + 2.0 * x * s_pos * s_neg * inner_grad
    cdf = 0.5 * (1.0 + torch.erf(x / _SQRT_2))
    pdf = torch.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
    return cdf + x * pdf


# ----------------------------------------------------------------------------- softmax
def softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    r""":math:`\mathrm{softmax}(x)_i = e^{x_i - m} / \sum_j e^{x_j - m}` along ``dim``, with :math:`m = \max_j x_j`.

    Subtracting :math:`m` changes nothing mathematically and keeps every exponent :math:`\le 0`.
    Its Jacobian is :math:`\partial s_i/\partial x_j = s_i(\delta_{ij} - s_j)` (chapter 03).
    """
    check_float_tensor(x, "x", "softmax")
    check_dim(x, dim, "softmax")
    if x.numel() == 0:
        return x.clone()  # nothing to normalise: an empty result of the same shape, as torch.softmax gives
    shifted = x - x.amax(dim=dim, keepdim=True)
    e = torch.exp(shifted)
    return e / e.sum(dim=dim, keepdim=True)


def log_softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    r""":math:`\log \mathrm{softmax}(x)_i = x_i - m - \log \sum_j e^{x_j - m}` (the log-sum-exp trick).

    Never takes the log of a softmax that underflowed to 0, so it stays finite where
    ``softmax(x).log()`` gives ``-inf``.
    """
    check_float_tensor(x, "x", "log_softmax")
    check_dim(x, dim, "log_softmax")
    if x.numel() == 0:
        return x.clone()  # an empty result of the same shape, as torch.log_softmax gives
    shifted = x - x.amax(dim=dim, keepdim=True)
    return shifted - torch.log(torch.exp(shifted).sum(dim=dim, keepdim=True))
