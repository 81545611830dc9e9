"""Calling the learner's code, watched: the built-ins an exercise forbids are refused however they are reached
(an alias, a helper, a module built before the call, a swallowed exception), in-place changes to the inputs are
refused, an exception becomes one sentence naming the call and the learner's own line, and loops are found by
counting steps, not by timing them. Everything is restored when the call ends, however it ends."""

from __future__ import annotations

import inspect
import linecache
import sys
import sysconfig
import traceback
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from .verdicts import Incorrect, _first_line

__all__ = [
    "Forbidden",
    "ForbiddenCall",
    "torch_spellings",
    "call_learner",
    "python_steps",
    "expect_no_python_loop",
    "LOOP_ALLOWANCE",
]


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
    """Every spelling of torch operations: ``torch.op``, ``F.op``, ``torch.special.op``, ``x.op()``, ``x.op_()``,
    and the raw ``torch.ops.aten`` operators."""
    places = (
        ("torch", torch),
        ("F", torch.nn.functional),
        ("torch.special", torch.special),
        ("torch._C._nn", torch._C._nn),
    )
    found: dict[str, Any] = {}
    for op in ops:
        for label, namespace in places:
            if hasattr(namespace, op):
                found[f"{label}.{op}"] = getattr(namespace, op)
        for method in (op, op + "_"):
            if hasattr(torch.Tensor, method):
                found[f"x.{method}()"] = getattr(torch.Tensor, method)
        for aten in (op, "_" + op):
            packet = getattr(torch.ops.aten, aten, None)
            if packet is not None:
                found[f"torch.ops.aten.{aten}"] = packet
    return found


def _library_folders() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    folders = {Path(torch.__file__).parent, Path(__file__).resolve().parents[2]}  # torch, course_lib
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
    if inspect.isfunction(thing) and hasattr(thing, "__wrapped__"):
        # A decorated torch function written in Python (clip_grad_norm_ under @_no_grad): torch's dispatch never
        # sees it, and the decorator's wrapper code is shared with others, so watch the function's own body.
        return inspect.unwrap(thing).__code__
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
        for name, thing in forbidden.functions.items() if forbidden else ():
            code = _python_code(thing)
            names = self.torch_names if code is None else self.code_names
            key = thing if code is None else code
            names[key] = f"{names[key]} (also spelled {name})" if key in names else name  # F.conv2d is torch.conv2d

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        self.steps += 1
        try:  # an aten operator may arrive as one overload of a forbidden operator
            name = self.torch_names.get(func) or self.torch_names.get(getattr(func, "overloadpacket", None))
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
            for v, b in zip(value, before)
        )
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
        names = [
            p.name
            for p in inspect.signature(fn).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
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


def _call(
    fn: Callable,
    args: tuple,
    forbidden: Forbidden | None,
    may_change: Collection[int],
    explain: Callable[[Exception], str | None] | None,
    count_steps: bool,
) -> tuple[Any, int]:
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
                instead = (
                    f"compute a new tensor ({name} = {name} - ... makes a new one, while {name} -= ... and "
                    f"{name}.sub_(...) overwrite; torch.where(mask, {name}, 0) replaces entries without "
                    "writing)"
                )
            else:
                instead = f"work on a copy (list({name})), or put back each value you change"
            raise Incorrect(
                f"your function changed its input `{name}` in place: an in-place operation ({name}[...] = "
                f"..., {name} -= ..., {name}.sub_(...)) overwrote the caller's data. Leave the inputs as "
                f"they were: {instead}."
            )
    return result, (watch.steps if watch is not None else 0)


def call_learner(
    fn: Callable,
    *args: Any,
    forbidden: Forbidden | None = None,
    may_change: Collection[int] = (),
    explain: Callable[[Exception], str | None] | None = None,
) -> Any:
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
