"""How a checker talks to a learner: ✅ correct, ❌ what is wrong and a hint, ⏳ not tried yet.

A checker never raises at a learner for a wrong answer: it prints feedback and returns
False, so a notebook still runs top to bottom. The tests set ``COURSE_STRICT_EXERCISES=1``;
then a wrong answer raises ``ExerciseFailed`` and a broken solution cell fails CI.
"""
from __future__ import annotations

import ast
import functools
import inspect
import textwrap
from typing import Any, Callable

import torch

from ..config import strict_exercises

__all__ = ["Incorrect", "ExerciseFailed", "exercise", "expect_close", "expect_equal", "expect_shape",
           "require_tensor"]


class Incorrect(Exception):
    """Raised inside a checker with the feedback a learner should read."""


class ExerciseFailed(AssertionError):
    """A wrong answer in strict mode (tests): the solution cell did not pass its own checker."""


def _is_stub(value: Any) -> bool:
    """``...`` itself, or a function the learner has not written yet (its body is only ``...``/``pass``)."""
    if value is Ellipsis:
        return True
    if not inspect.isfunction(value):
        return False
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(value)))
    except (OSError, TypeError, SyntaxError):  # no source (built in a string, a lambda in an expression)
        return False
    func = tree.body[0] if tree.body else None
    if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return False
    body = list(func.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]  # a docstring does not count as an attempt
    return all(
        isinstance(stmt, ast.Pass)
        or (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and stmt.value.value is Ellipsis)
        for stmt in body
    )


def exercise(title: str) -> Callable[[Callable[..., str | None]], Callable[..., bool]]:
    """Turn ``fn(answer) -> success message`` (raising ``Incorrect``) into a learner-facing checker."""

    def wrap(fn: Callable[..., str | None]) -> Callable[..., bool]:
        @functools.wraps(fn)
        def check(*args: Any, **kwargs: Any) -> bool:
            if any(_is_stub(value) for value in (*args, *kwargs.values())):
                print(f"⏳ {title}: not attempted yet. Replace the `...` with your answer and run the cell again.")
                return False
            try:
                message = fn(*args, **kwargs)
            except Incorrect as wrong:
                print(f"❌ {title}: {wrong}")
                if strict_exercises():
                    raise ExerciseFailed(f"{title}: {wrong}") from None
                return False
            except Exception as error:  # the learner's own function raised while being checked
                print(f"❌ {title}: your code raised {type(error).__name__}: {error}")
                if strict_exercises():
                    raise
                return False
            print(f"✅ {title}: {message or 'correct!'}")
            return True

        check.title = title  # type: ignore[attr-defined]
        return check

    return wrap


def _as_tensor(value: Any, what: str) -> torch.Tensor:
    if value is None:
        raise Incorrect(f"{what} is None. Did you forget a `return`, or is the body still `...`?")
    if isinstance(value, torch.Tensor):
        return value
    try:
        return torch.as_tensor(value)
    except Exception:
        raise Incorrect(f"{what} should be a tensor (or numbers), got a {type(value).__name__}.") from None


def require_tensor(value: Any, what: str, hint: str = "Build it with torch operations.") -> torch.Tensor:
    """``value`` itself if it is a tensor; otherwise the feedback a learner needs (a missing return, a list)."""
    if value is None:
        raise Incorrect(f"{what} is None. Did you forget a `return`?")
    if not isinstance(value, torch.Tensor):
        raise Incorrect(f"{what} is a {type(value).__name__}, not a torch.Tensor. {hint}")
    return value


def expect_shape(value: Any, shape: tuple[int, ...], what: str = "your answer") -> torch.Tensor:
    """Fail with a clear message unless ``value`` is a tensor of ``shape``."""
    tensor = _as_tensor(value, what)
    if tuple(tensor.shape) != tuple(shape):
        raise Incorrect(f"{what} has shape {tuple(tensor.shape)}, expected {tuple(shape)}.")
    return tensor


def expect_close(
    value: Any, expected: Any, what: str = "your answer", rtol: float = 1e-4, atol: float = 1e-6, hint: str = ""
) -> None:
    """Fail unless ``value`` matches ``expected`` in shape and (to a tolerance) in every entry."""
    expected_t = torch.as_tensor(expected)
    tensor = expect_shape(value, tuple(expected_t.shape), what)
    if not torch.is_floating_point(tensor):
        tensor = tensor.double()
    if not torch.allclose(tensor.double().cpu(), expected_t.double().cpu(), rtol=rtol, atol=atol, equal_nan=True):
        diff = (tensor.double().cpu() - expected_t.double().cpu()).abs()
        where = tuple(int(i) for i in torch.nonzero(diff == diff.nan_to_num(0).max())[0]) if diff.numel() > 1 else ()
        detail = f" The largest difference is {float(diff.nan_to_num(float('inf')).max()):.3g}"
        detail += f" at index {where}." if where else "."
        raise Incorrect(f"{what} has the right shape but wrong values.{detail} {hint}".strip())


def expect_equal(value: Any, expected: Any, what: str = "your answer", hint: str = "") -> None:
    """Fail unless ``value == expected`` (plain Python values: numbers, strings, tuples)."""
    if value is None:
        raise Incorrect(f"{what} is None. Did you forget a `return`, or is the body still `...`?")
    if value != expected:
        raise Incorrect(f"{what} is {value!r}, which is not right. {hint}".strip())
