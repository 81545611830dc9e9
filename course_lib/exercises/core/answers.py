"""Reading a learner's answer: the type first (a number, numbers, a tensor of a shape, the things a function
returns), then the values, with a sentence that names what is wrong (None, text, NaN, a shape, an index)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Real
from typing import Any

import numpy as np
import torch

from .verdicts import Incorrect

__all__ = [
    "reject_none",
    "expect_number",
    "expect_whole_number",
    "expect_numbers",
    "expect_results",
    "expect_equal",
    "close_numbers",
    "close_tensors",
    "require_tensor",
    "expect_shape",
    "expect_finite",
    "expect_close",
]


def reject_none(value: Any, what: str, hint: str = "Did you forget a `return`?") -> None:
    """The one message for a missing answer: ``what is None`` and how that usually happens."""
    if value is None:
        raise Incorrect(f"{what} is None. {hint}")


def _describe_type(value: Any) -> str:
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, (torch.Tensor, np.ndarray)):
        return f"{'a tensor' if isinstance(value, torch.Tensor) else 'an array'} of shape {tuple(value.shape)}"
    return f"a {type(value).__name__}"


def expect_number(value: Any, what: str = "your answer") -> float:
    """A real number from an int, a float, a NumPy scalar or a one-element tensor or array; else a clear message."""
    reject_none(value, what)
    if isinstance(value, str):
        raise Incorrect(f"{what} is the text {value!r}, not a number: write the number without quotes.")
    if isinstance(value, (torch.Tensor, np.ndarray)):
        if (value.numel() if isinstance(value, torch.Tensor) else value.size) != 1:
            raise Incorrect(f"{what} should be a number, got {_describe_type(value)}.")
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
        raise Incorrect(f"{what} should be a number, got {_describe_type(value)}.")
    if math.isnan(value):
        raise Incorrect(
            f"{what} is NaN (not a number): something computed 0/0, inf - inf or the square root of a negative number."
        )
    return float(value)


def expect_whole_number(value: Any, what: str = "your answer") -> int:
    """A whole number (``4640``, ``4640.0``, a NumPy integer, a one-element tensor); else a clear message."""
    number = expect_number(value, what)
    if not math.isfinite(number) or number != int(number):
        raise Incorrect(f"{what} is {number:g}; it should be a whole number.")
    return int(number)


def expect_numbers(value: Any, names: Sequence[str], what: str = "your answer", whole: bool = False) -> tuple:
    """``len(names)`` numbers from a tuple, list, array or tensor, e.g. ``names=("x", "y")`` for a point."""
    wanted = f"{len(names)} numbers ({', '.join(names)})"
    reject_none(value, what, "Replace the `...` with your answer (and check the cell assigns it).")
    if isinstance(value, str):
        raise Incorrect(f"{what} is the text {value!r}; it should be {wanted}, without quotes.")
    if isinstance(value, torch.Tensor) or hasattr(value, "tolist") and not isinstance(value, (list, tuple)):
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        raise Incorrect(f"{what} should be {wanted}, got {_describe_type(value)} ({value!r}).")
    if len(value) != len(names):
        raise Incorrect(f"{what} should be {wanted}, got {len(value)}: {value!r}.")
    read = expect_whole_number if whole else expect_number
    return tuple(read(item, name) for item, name in zip(value, names))


def expect_results(value: Any, names: Sequence[str], what: str = "your function") -> tuple:
    """The ``len(names)`` things a function must return together, e.g. ``(new_theta, new_velocity)``."""
    wanted = f"({', '.join(names)})"
    reject_none(value, f"{what}'s result")
    if not isinstance(value, (tuple, list)):
        raise Incorrect(f"{what} should return {len(names)} things, {wanted}; it returned {_describe_type(value)}.")
    if len(value) != len(names):
        raise Incorrect(f"{what} should return {len(names)} things, {wanted}; it returned {len(value)}.")
    return tuple(value)


def expect_equal(value: Any, expected: Any, what: str = "your answer", hint: str = "") -> None:
    """Fail unless ``value == expected`` (plain Python values: numbers, strings, tuples)."""
    reject_none(value, what)
    if value != expected:
        raise Incorrect(f"{what} is {value!r}, which is not right. {hint}".strip())


def close_numbers(a: float, b: float, tol: float = 1e-6) -> bool:
    """True when ``|a - b| <= tol * max(1, |a|, |b|)``: relative for large numbers, absolute near 0; NaN is close
    to nothing."""
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)


def close_tensors(a: torch.Tensor, b: torch.Tensor, rtol: float = 1e-5, atol: float = 1e-6) -> bool:
    """True when two tensors have the same shape and agree entry by entry (compared in float64)."""
    if tuple(a.shape) != tuple(b.shape):
        return False
    return torch.allclose(a.detach().double().cpu(), b.detach().double().cpu(), rtol=rtol, atol=atol)


# ----------------------------------------------------------------------------- tensors
def _as_tensor(value: Any, what: str) -> torch.Tensor:
    reject_none(value, what, "Did you forget a `return`, or is the body still `...`?")
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, str):
        raise Incorrect(f"{what} should be a tensor (or numbers), got the text {value!r}.")
    try:
        return torch.as_tensor(value)
    except Exception:
        raise Incorrect(f"{what} should be a tensor (or numbers), got a {type(value).__name__}.") from None


def require_tensor(value: Any, what: str, hint: str = "Build it with torch operations.") -> torch.Tensor:
    """``value`` itself if it is a tensor; otherwise the feedback a learner needs (a missing return, a list)."""
    reject_none(value, what)
    if not isinstance(value, torch.Tensor):
        raise Incorrect(f"{what} is a {type(value).__name__}, not a torch.Tensor. {hint}")
    return value


def expect_shape(value: Any, shape: tuple[int, ...], what: str = "your answer") -> torch.Tensor:
    """Fail with a clear message unless ``value`` is a tensor of ``shape``."""
    tensor = _as_tensor(value, what)
    if tuple(tensor.shape) != tuple(shape):
        raise Incorrect(f"{what} has shape {tuple(tensor.shape)}, expected {tuple(shape)}.")
    return tensor


def _positions(mask: torch.Tensor) -> str:
    """Where ``mask`` is True, in words: "index (2, 0)", "indices (0,), (3,) and 5 more", "every entry"."""
    if mask.dim() == 0:
        return ""
    where = [tuple(int(i) for i in row) for row in torch.nonzero(mask)]
    if len(where) == mask.numel() and len(where) > 1:
        return f" in every entry (all {len(where)})"
    if len(where) == 1:
        return f" at index {where[0]}"
    shown = ", ".join(str(w) for w in where[:3])
    more = f" and {len(where) - 3} more" if len(where) > 3 else ""
    return f" at indices {shown}{more}"


def expect_finite(tensor: torch.Tensor, expected: torch.Tensor, what: str) -> None:
    """Name the NaN or inf in ``tensor`` that ``expected`` does not have, before any comparison of values."""
    got, want = tensor.detach().double().cpu(), expected.detach().double().cpu()
    nan = got.isnan() & ~want.isnan()
    if nan.any():
        raise Incorrect(
            f"{what} contains NaN{_positions(nan)}. NaN comes from 0/0, inf - inf, 0 * inf or the log of a "
            "negative number: look for one of those in your formula."
        )
    inf = got.isinf() & (got != want)
    if inf.any():
        raise Incorrect(
            f"{what} contains inf{_positions(inf)}, where the right answer is finite: something overflowed "
            "(exp of a large number?) or was divided by 0."
        )


def expect_close(
    value: Any, expected: Any, what: str = "your answer", rtol: float = 1e-4, atol: float = 1e-6, hint: str = ""
) -> None:
    """Fail unless ``value`` matches ``expected`` in shape and (to a tolerance) in every entry."""
    expected_t = torch.as_tensor(expected)
    tensor = expect_shape(value, tuple(expected_t.shape), what)
    if tensor.is_complex():
        raise Incorrect(f"{what} holds complex numbers; it should hold real numbers.")
    got, want = tensor.detach().double().cpu(), expected_t.detach().double().cpu()
    expect_finite(got, want, what)
    if torch.allclose(got, want, rtol=rtol, atol=atol, equal_nan=True):
        return
    diff = (got - want).abs().nan_to_num(0.0, posinf=0.0)
    detail = f" The largest difference is {float(diff.max()):.3g}"
    if diff.dim() > 0:
        detail += f" at index {tuple(int(i) for i in torch.nonzero(diff == diff.max())[0])}."
    else:
        detail += "."
    raise Incorrect(f"{what} has the right shape but wrong values.{detail} {hint}".strip())
