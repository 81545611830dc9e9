"""Argument checks shared by the library: each refuses a bad argument with an error a beginner can act on.

One home for the checks every module needs (a whole number, a number in a range, a learning
rate, a flag, one of a few names, a floating-point tensor), so that the same mistake gets the
same message everywhere. Each check says what the argument must be and what it got; ``why``
adds what the argument means (``"It is the fraction of the velocity kept each step."``).

Numbers: ``int``, ``float`` and NumPy numbers count; ``True``/``False`` do not (``lr=True`` is a
mistake, not 1.0), and neither do NaN or infinity.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np
import torch

__all__ = [
    "is_number",
    "check_number",
    "check_whole_number",
    "check_learning_rate",
    "check_bool",
    "check_choice",
    "check_int_pair",
    "check_float_tensor",
    "check_dim",
]


def _sentence(why: str) -> str:
    return f" {why}" if why else ""


def is_number(value: Any) -> bool:
    """True for a finite real number (int, float, NumPy number), False for bools, NaN, inf and anything else."""
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


def _range_text(at_least: float | None, above: float | None, below: float | None, at_most: float | None) -> str:
    low = f"[{at_least:g}" if at_least is not None else f"({above:g}" if above is not None else None
    high = f"{below:g})" if below is not None else f"{at_most:g}]" if at_most is not None else None
    if low and high:
        return f" in {low}, {high}"
    if at_least is not None:
        return f" {at_least:g} or more"
    if above is not None:
        return f" above {above:g}"
    if below is not None:
        return f" below {below:g}"
    if at_most is not None:
        return f" {at_most:g} or less"
    return ""


def check_number(
    name: str,
    value: Any,
    *,
    at_least: float | None = None,
    above: float | None = None,
    below: float | None = None,
    at_most: float | None = None,
    why: str = "",
) -> None:
    """A finite number within the bounds given, e.g. ``check_number("momentum", m, at_least=0, below=1)``.

    Raises ``ValueError("momentum must be a number in [0, 1); got 9. <why>")`` otherwise.
    """
    ok = is_number(value) and not (
        (at_least is not None and value < at_least)
        or (above is not None and value <= above)
        or (below is not None and value >= below)
        or (at_most is not None and value > at_most)
    )
    if not ok:
        rule = _range_text(at_least, above, below, at_most)
        raise ValueError(f"{name} must be a number{rule}; got {value!r}.{_sentence(why)}")


def check_whole_number(name: str, value: Any, minimum: int = 0, *, unit: str = "", why: str = "") -> int:
    """A whole number (int or NumPy integer, not a bool or 2.0) of at least ``minimum``; returned as an ``int``.

    ``unit`` names what is counted: ``check_whole_number("batch_size", b, 1, unit="examples")`` says
    "batch_size must be a whole number of examples, 1 or more; got 0."
    """
    if not isinstance(value, Integral) or isinstance(value, bool) or value < minimum:
        of_unit = f" of {unit}" if unit else ""
        raise ValueError(f"{name} must be a whole number{of_unit}, {minimum} or more; got {value!r}.{_sentence(why)}")
    return int(value)


def check_learning_rate(value: Any, name: str = "lr") -> None:
    """A learning rate: a finite number 0 or more."""
    if not is_number(value) or value < 0:
        raise ValueError(
            f"{name} must be a learning rate, a number 0 or more (typical: 0.1 for SGD, 1e-3 for Adam); got {value!r}. "
            "A negative learning rate would climb the loss instead of descending it."
        )


def check_bool(name: str, value: Any, why: str = "") -> None:
    """``True`` or ``False`` (or a NumPy bool), not a string such as ``"False"`` nor a number such as 3."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}.{_sentence(why)}")


def _either(choices: Sequence[Any]) -> str:
    shown = [f'"{c}"' if isinstance(c, str) else repr(c) for c in choices]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]


def check_choice(name: str, value: Any, choices: Sequence[Any], why: str = "") -> None:
    """One of a few allowed values: ``reduction must be "mean", "sum" or "none", got 'average'.``"""
    if not any(value is c or (isinstance(value, str) and value == c) for c in choices):
        raise ValueError(f"{name} must be {_either(choices)}, got {value!r}.{_sentence(why)}")


def check_int_pair(name: str, value: Any, minimum: int) -> tuple[int, int]:
    """``3 -> (3, 3)``; a pair ``(height, width)`` of whole numbers stays; each at least ``minimum``."""
    if isinstance(value, Integral) and not isinstance(value, bool):
        pair: tuple[Any, ...] = (value, value)
    elif isinstance(value, (tuple, list)):
        pair = tuple(value)
    else:
        pair = ()
    if len(pair) != 2 or not all(isinstance(v, Integral) and not isinstance(v, bool) for v in pair):
        raise TypeError(f"{name} must be an int or a pair of ints (height, width), got {value!r}.")
    if any(v < minimum for v in pair):
        raise ValueError(f"{name} must be at least {minimum}, got {value!r}.")
    return int(pair[0]), int(pair[1])


def check_float_tensor(value: Any, what: str, where: str) -> None:
    """A ``torch.Tensor`` of a floating-point dtype; ``where`` names the function, ``what`` the argument."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(
            f"{where}: {what} should be a torch.Tensor, got a {type(value).__name__}. "
            "Wrap it: torch.tensor(..., dtype=torch.float32)."
        )
    if not torch.is_floating_point(value):
        raise TypeError(
            f"{where}: {what} should be a floating-point tensor (float32 or float64), got {value.dtype}. "
            f"Convert it with {what}.float()."
        )


def check_dim(x: torch.Tensor, dim: Any, where: str) -> None:
    """``dim`` names an axis of ``x``: an int from ``-x.dim()`` to ``x.dim() - 1`` (a 0-d tensor accepts 0 and -1)."""
    axes = max(x.dim(), 1)
    if not isinstance(dim, Integral) or isinstance(dim, bool) or not -axes <= dim < axes:
        raise ValueError(
            f"{where}: dim must be an axis of the input, a whole number from {-axes} to {axes - 1} for a tensor "
            f"of shape {tuple(x.shape)} (-1 is the last axis); got {dim!r}."
        )
