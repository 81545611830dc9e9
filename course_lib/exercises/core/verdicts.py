"""Verdicts: how a checker talks to a learner (✅ correct, ❌ what is wrong and a hint, ⏳ not tried yet),
and the same verdict as data for a grader (``run_checker``, ``Result``, each chapter's ``Exercise`` list)."""

from __future__ import annotations

import ast
import functools
import inspect
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...config import strict_exercises

__all__ = [
    "Incorrect",
    "ExerciseFailed",
    "Result",
    "Verdict",
    "Exercise",
    "exercise",
    "run_checker",
    "PASSED",
    "FAILED",
    "NOT_ATTEMPTED",
]

PASSED, FAILED, NOT_ATTEMPTED = "passed", "failed", "not attempted"
_MARKS = {PASSED: "✅", FAILED: "❌", NOT_ATTEMPTED: "⏳"}


class Incorrect(Exception):
    """Raised inside a checker with the feedback a learner should read."""


class ExerciseFailed(AssertionError):
    """A wrong answer in strict mode (tests): the solution cell did not pass its own checker."""


@dataclass(frozen=True)
class Result:
    """A checker's verdict as data: ``status`` is PASSED, FAILED or NOT_ATTEMPTED; ``message`` what it says."""

    status: str
    message: str

    @property
    def passed(self) -> bool:
        return self.status == PASSED


class Verdict:
    """What a checker returns: true when the answer passed. It shows nothing in a notebook, because the checker
    has already printed its ✅/❌/⏳ line: a bare ``True`` or ``False`` under that line only adds noise."""

    __slots__ = ("passed",)

    def __init__(self, passed: bool) -> None:
        self.passed = bool(passed)

    def __bool__(self) -> bool:
        return self.passed

    def __eq__(self, other: object) -> bool:
        return self.passed == other if isinstance(other, bool) else NotImplemented

    def __hash__(self) -> int:
        return hash(self.passed)

    def __repr__(self) -> str:
        return f"Verdict(passed={self.passed})"

    def _ipython_display_(self) -> None:  # the last line of a notebook cell: the printed line says it all
        pass


@dataclass(frozen=True)
class Exercise:
    """One exercise of a chapter, for a grader: its ``id``, its ``checker``, and the notebook variables
    (``names``) that the checker call in the notebook passes to it, in order."""

    id: str
    checker: Callable[..., bool]
    names: tuple[str, ...]

    @property
    def title(self) -> str:
        return self.checker.title  # type: ignore[attr-defined]


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
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(getattr(body[0], "value", None), ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        body = body[1:]  # a docstring does not count as an attempt
    return all(
        isinstance(stmt, ast.Pass)
        or (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and stmt.value.value is Ellipsis)
        for stmt in body
    )


def _evaluate(fn: Callable[..., str | None], args: tuple, kwargs: dict) -> tuple[Result, BaseException | None]:
    """Run a checker body; the verdict, and the exception behind a failure (for strict mode's traceback)."""
    if any(_is_stub(value) for value in (*args, *kwargs.values())):
        return Result(
            NOT_ATTEMPTED, "not attempted yet. Replace the `...` with your answer and run the cell again."
        ), None
    try:
        message = fn(*args, **kwargs)
    except Incorrect as wrong:
        return Result(FAILED, str(wrong)), wrong.__cause__
    except Exception as error:  # an answer the checker did not foresee (or a checker bug: strict mode shows it)
        return Result(
            FAILED,
            f"the checker could not use your answer ({type(error).__name__}: {_first_line(error)}). "
            "Check that it is the kind of value the exercise asks for.",
        ), error
    return Result(PASSED, message or "correct!"), None


def exercise(title: str) -> Callable[[Callable[..., str | None]], Callable[..., Verdict]]:
    """Turn ``fn(answer) -> success message`` (raising ``Incorrect``) into a learner-facing checker."""

    def wrap(fn: Callable[..., str | None]) -> Callable[..., Verdict]:
        @functools.wraps(fn)
        def check(*args: Any, **kwargs: Any) -> Verdict:
            result, cause = _evaluate(fn, args, kwargs)
            print(f"{_MARKS[result.status]} {title}: {result.message}")
            if result.status == FAILED and strict_exercises():
                raise ExerciseFailed(f"{title}: {result.message}") from cause
            return Verdict(result.passed)

        check.title = title  # type: ignore[attr-defined]
        return check

    return wrap


def run_checker(checker: Callable[..., bool], *args: Any, **kwargs: Any) -> Result:
    """``checker``'s verdict on an answer, as a ``Result``: prints nothing and never raises for a wrong answer."""
    body = getattr(checker, "__wrapped__", None)
    if body is None or not hasattr(checker, "title"):
        raise TypeError(f"{checker!r} is not a checker made with @exercise.")
    return _evaluate(body, args, kwargs)[0]


def _first_line(error: BaseException, limit: int = 200) -> str:
    lines = str(error).strip().splitlines()
    text = lines[0] if lines else ""
    return text if len(text) <= limit else text[: limit - 3] + "..."
