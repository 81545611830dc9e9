"""How a checker talks to a learner: ✅ correct, ❌ what is wrong and a hint, ⏳ not tried yet.

A checker never raises at a learner for a wrong answer: it prints feedback and returns
False, so a notebook still runs top to bottom. The tests set ``COURSE_STRICT_EXERCISES=1``;
then a wrong answer raises ``ExerciseFailed`` and a broken solution cell fails CI.
``run_checker`` gives the same verdict as data (a ``Result``), for a grader: it never prints.

A checker calls the learner's function through ``call_learner``, which watches the call: it
refuses the built-ins the exercise forbids however they are reached, refuses in-place changes to
the inputs, and turns an exception into one sentence that names the call and the learner's line.
Each chapter module lists its exercises in ``EXERCISES`` (see ``Exercise``).
"""
from __future__ import annotations

import ast
import functools
import inspect
import linecache
import math
import sys
import sysconfig
import textwrap
import traceback
from dataclasses import dataclass
from numbers import Real
from pathlib import Path
from typing import Any, Callable, Collection, Mapping, Sequence

import numpy as np
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from ..config import strict_exercises

__all__ = [
    "Incorrect", "ExerciseFailed", "Result", "Exercise", "exercise", "run_checker",
    "PASSED", "FAILED", "NOT_ATTEMPTED",
    "Forbidden", "torch_spellings", "call_learner", "python_steps", "expect_no_python_loop",
    "expect_close", "expect_equal", "expect_finite", "expect_shape", "require_tensor", "reject_none",
    "expect_number", "expect_whole_number", "expect_numbers", "expect_results",
    "close_numbers", "close_tensors",
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


# ----------------------------------------------------------------------------- the checker wrapper
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


def _evaluate(fn: Callable[..., str | None], args: tuple, kwargs: dict) -> tuple[Result, BaseException | None]:
    """Run a checker body; the verdict, and the exception behind a failure (for strict mode's traceback)."""
    if any(_is_stub(value) for value in (*args, *kwargs.values())):
        return Result(NOT_ATTEMPTED, "not attempted yet. Replace the `...` with your answer and run the cell again."), None
    try:
        message = fn(*args, **kwargs)
    except Incorrect as wrong:
        return Result(FAILED, str(wrong)), wrong.__cause__
    except Exception as error:  # an answer of a kind the checker did not foresee (or a checker bug: strict mode shows it)
        return Result(FAILED, f"the checker could not use your answer ({type(error).__name__}: {_first_line(error)}). "
                              "Check that it is the kind of value the exercise asks for."), error
    return Result(PASSED, message or "correct!"), None


def exercise(title: str) -> Callable[[Callable[..., str | None]], Callable[..., bool]]:
    """Turn ``fn(answer) -> success message`` (raising ``Incorrect``) into a learner-facing checker."""

    def wrap(fn: Callable[..., str | None]) -> Callable[..., bool]:
        @functools.wraps(fn)
        def check(*args: Any, **kwargs: Any) -> bool:
            result, cause = _evaluate(fn, args, kwargs)
            print(f"{_MARKS[result.status]} {title}: {result.message}")
            if result.status == FAILED and strict_exercises():
                raise ExerciseFailed(f"{title}: {result.message}") from cause
            return result.passed

        check.title = title  # type: ignore[attr-defined]
        return check

    return wrap


def run_checker(checker: Callable[..., bool], *args: Any, **kwargs: Any) -> Result:
    """``checker``'s verdict on an answer, as a ``Result``: prints nothing and never raises for a wrong answer."""
    body = getattr(checker, "__wrapped__", None)
    if body is None or not hasattr(checker, "title"):
        raise TypeError(f"{checker!r} is not a checker made with @exercise.")
    return _evaluate(body, args, kwargs)[0]


# ----------------------------------------------------------------------------- plain values
def _first_line(error: BaseException, limit: int = 200) -> str:
    lines = str(error).strip().splitlines()
    text = lines[0] if lines else ""
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
        raise Incorrect(f"{what} is NaN (not a number): something computed 0/0, inf - inf or the square root of a "
                        "negative number.")
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


def close_numbers(a: float, b: float, rel: float = 1e-6, abs: float = 1e-6) -> bool:  # noqa: A002
    """True when two numbers agree to ``rel`` (relative) or ``abs`` (absolute); NaN is close to nothing."""
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs)


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
        raise Incorrect(f"{what} contains NaN{_positions(nan)}. NaN comes from 0/0, inf - inf, 0 * inf or the log of a "
                        "negative number: look for one of those in your formula.")
    inf = got.isinf() & (got != want)
    if inf.any():
        raise Incorrect(f"{what} contains inf{_positions(inf)}, where the right answer is finite: something overflowed "
                        "(exp of a large number?) or was divided by 0.")


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


# ----------------------------------------------------------------------------- calling the learner's code
class ForbiddenCall(Exception):
    """Raised inside the learner's code when it calls an operation the exercise forbids."""


@dataclass(frozen=True)
class Forbidden:
    """Operations an exercise asks the learner not to call, and what to say if they do.

    ``functions`` maps a name a learner recognises (``"F.softmax"``) to the torch function, Tensor
    method, Python function or class (an ``nn.Module``: its ``forward``; another class: its
    ``__init__``). ``message`` is the feedback, with ``{name}`` where the name goes.
    """

    functions: Mapping[str, Any]
    message: str


def torch_spellings(*ops: str) -> dict[str, Any]:
    """Every spelling of torch operations: ``torch.op``, ``F.op``, ``torch.special.op``, ``x.op()``, ``x.op_()``."""
    places = (("torch", torch), ("F", torch.nn.functional), ("torch.special", torch.special), ("torch._C._nn", torch._C._nn))
    found: dict[str, Any] = {}
    for op in ops:
        for label, namespace in places:
            if hasattr(namespace, op):
                found[f"{label}.{op}"] = getattr(namespace, op)
        for method in (op, op + "_"):
            if hasattr(torch.Tensor, method):
                found[f"x.{method}()"] = getattr(torch.Tensor, method)
    return found


def _library_folders() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    folders = {Path(torch.__file__).parent, Path(__file__).resolve().parent.parent}
    folders |= {Path(paths[key]) for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in paths}
    return tuple(sorted({str(p) for folder in folders for p in (folder, folder.resolve())}))


_LIBRARY_FOLDERS = _library_folders()


def _is_learner_code(filename: str) -> bool:
    """True for code a learner wrote (a notebook cell, a test, an ``exec``), False for Python, torch, course_lib."""
    return not (filename.startswith(_LIBRARY_FOLDERS) or filename.startswith("<frozen"))


def _python_code(thing: Any) -> Any:
    """The code object to watch for ``thing``, or None when torch's own dispatch sees it (a torch function)."""
    if isinstance(thing, type):
        method = thing.forward if issubclass(thing, nn.Module) else thing.__init__
        return getattr(method, "__code__", None)
    if inspect.ismethod(thing):
        thing = thing.__func__
    if inspect.isfunction(thing) and not thing.__module__.startswith("torch"):
        return thing.__code__
    return None


class _Watch(TorchFunctionMode):
    """While active: records forbidden calls (and raises at torch ones), and counts the steps the code takes."""

    def __init__(self, forbidden: Forbidden | None, count_steps: bool) -> None:
        super().__init__()
        self.used: list[str] = []
        self.steps = 0  # torch calls plus lines run in the learner's own code
        self.count_steps = count_steps
        self.torch_names: dict[Any, str] = {}
        self.code_names: dict[Any, str] = {}
        for name, thing in (forbidden.functions.items() if forbidden else ()):
            code = _python_code(thing)
            names = self.torch_names if code is None else self.code_names
            key = thing if code is None else code
            names[key] = f"{names[key]} (also spelled {name})" if key in names else name  # F.conv2d is torch.conv2d

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        self.steps += 1
        try:
            name = self.torch_names.get(func)
        except TypeError:  # an unhashable callable: never one we forbid
            name = None
        if name is not None:
            self.used.append(name)
            raise ForbiddenCall(name)
        return func(*args, **(kwargs or {}))

    def trace(self, frame: Any, event: str, arg: Any) -> Any:
        if event == "call":
            name = self.code_names.get(frame.f_code)
            if name is not None:
                self.used.append(name)
            if self.count_steps and _is_learner_code(frame.f_code.co_filename):
                return self._count_line
        return None

    def _count_line(self, frame: Any, event: str, arg: Any) -> Any:
        if event == "line":
            self.steps += 1
        return self._count_line


class _watching:
    """Context manager: a ``_Watch`` active in torch's dispatch and in ``sys.settrace``, always restored."""

    def __init__(self, forbidden: Forbidden | None, count_steps: bool) -> None:
        self.watch = _Watch(forbidden, count_steps)
        self.tracing = bool(self.watch.code_names) or count_steps

    def __enter__(self) -> _Watch:
        self.previous = sys.gettrace()
        self.watch.__enter__()
        if self.tracing:
            sys.settrace(self.watch.trace)
        return self.watch

    def __exit__(self, *exc: Any) -> None:
        if self.tracing:
            sys.settrace(self.previous)
        self.watch.__exit__(*exc)


def _snapshot(value: Any) -> Any:
    """A copy of an input to compare with afterwards (tensors, lists and tuples of them, numbers); else None."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, (list, tuple)):
        return type(value)(_snapshot(item) if isinstance(item, (torch.Tensor, list, tuple)) else item for item in value)
    return None


def _unchanged(value: Any, before: Any) -> bool:
    if isinstance(before, torch.Tensor):
        if not isinstance(value, torch.Tensor) or value.shape != before.shape or value.dtype != before.dtype:
            return False
        now = value.detach()
        same = now == before
        if now.is_floating_point():
            same |= now.isnan() & before.isnan()
        return bool(same.all())
    if isinstance(before, (list, tuple)):
        return len(value) == len(before) and all(
            _unchanged(v, b) if isinstance(b, (torch.Tensor, list, tuple)) else (v == b or v != v and b != b)
            for v, b in zip(value, before))
    return True


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"{tuple(value.shape)} {str(value.dtype).replace('torch.', '')} tensor"
    if isinstance(value, (list, tuple)):
        text = repr(value)
        return text if len(text) <= 40 else text[:37] + "..."
    if isinstance(value, (int, float)):
        return f"{value:g}"
    if callable(value) and hasattr(value, "__name__"):
        return value.__name__
    text = repr(value)
    return text if len(text) <= 40 and not text.startswith("<") else type(value).__name__


def _parameter_names(fn: Callable, count: int) -> list[str]:
    try:
        names = [p.name for p in inspect.signature(fn).parameters.values()
                 if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        names = []
    return (names + [f"argument {i + 1}" for i in range(len(names), count)])[:count]


def _function_name(fn: Callable) -> str:
    name = getattr(fn, "__name__", "")
    return "your function" if not name or name == "<lambda>" else name


def _learner_line(error: BaseException) -> str:
    """The last line of the learner's own code in the error's traceback, or ""."""
    found = ""
    for frame, lineno in traceback.walk_tb(error.__traceback__):
        if _is_learner_code(frame.f_code.co_filename):
            found = linecache.getline(frame.f_code.co_filename, lineno, frame.f_globals).strip()
    return found


def _call(fn: Callable, args: tuple, forbidden: Forbidden | None, may_change: Collection[int],
          explain: Callable[[Exception], str | None] | None, count_steps: bool) -> tuple[Any, int]:
    names = _parameter_names(fn, len(args))
    before = [_snapshot(arg) for arg in args]
    call = f"{_function_name(fn)}({', '.join(f'{n}: {_describe(a)}' for n, a in zip(names, args))})"
    watched = forbidden is not None or count_steps
    watch = None
    try:
        if watched:
            with _watching(forbidden, count_steps) as watch:
                result = fn(*args)
        else:
            result = fn(*args)
    except Exception as error:
        if watch is not None and watch.used:
            raise Incorrect(forbidden.message.format(name=watch.used[0])) from None  # type: ignore[union-attr]
        line = _learner_line(error)
        message = f"{call} raised {type(error).__name__}: {_first_line(error)}"
        message += f" (in your line `{line}`)." if line else "."
        hint = explain(error) if explain is not None else None
        raise Incorrect(f"{message} {hint}" if hint else message) from error
    if watch is not None and watch.used:
        raise Incorrect(forbidden.message.format(name=watch.used[0]))  # type: ignore[union-attr]
    for position, (name, arg, snapshot) in enumerate(zip(names, args, before)):
        if snapshot is not None and position not in may_change and not _unchanged(arg, snapshot):
            if isinstance(snapshot, torch.Tensor):
                instead = (f"compute a new tensor ({name} = {name} - ... makes a new one, while {name} -= ... and "
                           f"{name}.sub_(...) overwrite; torch.where(mask, {name}, 0) replaces entries without writing)")
            else:
                instead = f"work on a copy (list({name})), or put back each value you change"
            raise Incorrect(f"your function changed its input `{name}` in place: an in-place operation ({name}[...] = "
                            f"..., {name} -= ..., {name}.sub_(...)) overwrote the caller's data. Leave the inputs as "
                            f"they were: {instead}.")
    return result, (watch.steps if watch is not None else 0)


def call_learner(fn: Callable, *args: Any, forbidden: Forbidden | None = None, may_change: Collection[int] = (),
                 explain: Callable[[Exception], str | None] | None = None) -> Any:
    """``fn(*args)``, watched: a forbidden operation, an in-place change to an input (except the arguments at
    the positions in ``may_change``) or an exception becomes ``Incorrect`` with a sentence for the learner.
    ``explain(error)`` may add a hint for an error the exercise expects (a missing keepdim, say)."""
    return _call(fn, args, forbidden, may_change, explain, count_steps=False)[0]


def python_steps(fn: Callable, *args: Any, forbidden: Forbidden | None = None) -> int:
    """How many steps ``fn(*args)`` takes in Python: torch calls plus lines run in the learner's own code.

    A vectorised function takes the same number of steps for any input size; a loop over rows
    (``for``, a comprehension, ``map``, a helper called per row) takes more on a larger input.
    Counting is exact, so the verdict does not depend on how busy the machine is.
    """
    return _call(fn, args, forbidden, (), None, count_steps=True)[1]


#: How many more Python steps a larger input may take before the code counts as looping over it.
LOOP_ALLOWANCE = 10


def expect_no_python_loop(fn: Callable, small: tuple, large: tuple, message: str) -> None:
    """Refuse ``fn`` if it takes more Python steps on the ``large`` arguments than on the ``small`` ones."""
    if python_steps(fn, *large) > python_steps(fn, *small) + LOOP_ALLOWANCE:
        raise Incorrect(message)

