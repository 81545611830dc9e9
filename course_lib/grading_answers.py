"""Carry a learner's answers out of their notebook's kernel as data, and rebuild them in a clean checking process.

The kernel runs the learner's code, so nothing it says can be trusted as a verdict: it only ever hands over
*answers*. ``capture`` (run inside the kernel) encodes the values of an exercise's names as plain data that a safe
loader reads back (``torch.load(weights_only=True)``: tensors, numbers, text, lists and dicts, never a pickled
object): a function or class the learner defined travels as its source code, with the global names it uses
(modules by name, library functions by where they are imported from, the learner's helpers by their source,
constants by value). ``rebuild`` (run in the checking process) executes that source afresh in a namespace of its
own, against the real torch and the real checkers. Whatever a notebook does to its kernel (patching a checker or
torch, printing ✅, faking this very data) can at most change the answer that gets graded, never the grading.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import linecache
import os
import textwrap
import types
from pathlib import Path
from typing import Any

__all__ = ["capture", "encode_answers", "rebuild", "RebuildError", "MISSING", "UNCARRIED"]

#: The most numbers one answer may carry (a function's global names included): 32 M, 128 MB in float32.
MAX_ELEMENTS = 32_000_000
MISSING, UNCARRIED = "missing", "uncarried"
#: Where a library callable that is not found under its own module and name is looked for.
_SEARCHED = ("torch", "torch.nn.functional", "torch.linalg", "torch.special", "torch.nn.init", "math", "numpy")


class RebuildError(Exception):
    """An answer that could not be rebuilt in the checking process; the message says why, for the learner."""


class _Encoder:
    """Encode values; the learner's global names that functions and classes use are gathered in ``namespace``."""

    def __init__(self, user_globals: dict[str, Any]) -> None:
        self.user_globals = user_globals
        self.namespace: dict[str, dict] = {}
        self.elements = 0
        self._seen_names: set[str] = set()

    # -- values ------------------------------------------------------------------------------------------------
    def encode(self, value: Any, depth: int = 0) -> dict:
        import torch

        if depth > 20:
            return {"t": UNCARRIED, "why": "it is nested more than 20 levels deep"}
        if value is Ellipsis:
            return {"t": "ellipsis"}
        if value is None or isinstance(value, (bool, int, float, str)):
            return {"t": "py", "v": value if type(value) in (bool, int, float, str) or value is None else _plain(value)}
        if isinstance(value, torch.Tensor):
            return self._tensor(value)
        if isinstance(value, torch.dtype):
            return {"t": "dtype", "v": str(value).removeprefix("torch.")}
        if isinstance(value, torch.device):
            return {"t": "device", "v": str(value)}
        if isinstance(value, torch.Size):
            return {"t": "size", "v": [int(size) for size in value]}
        if type(value) in (list, tuple, set, frozenset):
            kind = type(value).__name__
            return {"t": kind, "v": [self.encode(item, depth + 1) for item in value]}
        if type(value) is dict:
            return {
                "t": "dict",
                "v": [[self.encode(k, depth + 1), self.encode(v, depth + 1)] for k, v in value.items()],
            }
        if isinstance(value, types.ModuleType):
            return {"t": "module", "v": value.__name__}
        numpy_array = _numpy_array(value)
        if numpy_array is not None:
            return {"t": "ndarray", "v": self._tensor(numpy_array)}
        if isinstance(value, types.FunctionType) and value.__module__ == "__main__":
            return self._learner_code(value, "function")
        if isinstance(value, type) and value.__module__ == "__main__":
            return self._learner_code(value, "class")
        if callable(value) or isinstance(value, type):
            place = _import_place(value)
            if place is not None:
                return {"t": "import", "module": place[0], "name": place[1]}
        return {"t": UNCARRIED, "why": f"the grader cannot carry a value of type {type(value).__name__}"}

    def _tensor(self, value: Any) -> dict:
        import torch

        tensor = value.as_subclass(torch.Tensor) if isinstance(value, torch.Tensor) else torch.from_numpy(value)
        self.elements += tensor.numel()
        if self.elements > MAX_ELEMENTS:
            return {"t": UNCARRIED, "why": f"it holds more than {MAX_ELEMENTS:,} numbers"}
        if tensor.layout != torch.strided or tensor.is_quantized:
            return {"t": UNCARRIED, "why": f"the grader carries dense tensors only (this one is {tensor.layout})"}
        plain = tensor.detach().cpu().clone()
        return {
            "t": "tensor",
            "v": plain,
            "grad": bool(tensor.requires_grad),
            "parameter": isinstance(value, torch.nn.Parameter),
        }

    # -- the learner's functions and classes ----------------------------------------------------------------------
    def _learner_code(self, obj: Any, kind: str) -> dict:
        try:
            source = textwrap.dedent(inspect.getsource(obj))
        except (OSError, TypeError):
            return {
                "t": UNCARRIED,
                "why": f"the grader cannot find the source of {obj.__name__} (define it with "
                "def or class in a cell of its own)",
            }
        entry: dict[str, Any] = {"t": kind, "name": obj.__name__, "source": source, "key": id(obj)}
        if kind == "function":
            entry["lambda"] = obj.__name__ == "<lambda>"
            entry["args"] = list(obj.__code__.co_varnames[: obj.__code__.co_argcount])
            free = obj.__code__.co_freevars
            cells = obj.__closure__ or ()
            closure = {}
            for name, cell in zip(free, cells):
                try:
                    closure[name] = self.encode(cell.cell_contents, 1)
                except ValueError:  # an empty cell
                    closure[name] = {"t": MISSING}
            entry["closure"] = closure
        self._gather(source, set(entry.get("closure", {})))
        return entry

    def _gather(self, source: str, local_names: set[str]) -> None:
        """Encode every learner global that ``source`` may use (over-approximated: each name it mentions)."""
        try:
            tree = ast.parse(source)
        except SyntaxError:  # a lambda's line cut mid-expression: look at its words instead
            names = set(_identifiers(source))
        else:
            names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
        for name in sorted(names - local_names):
            if name in self._seen_names or name not in self.user_globals or name.startswith("__"):
                continue
            self._seen_names.add(name)
            self.namespace[name] = self.encode(self.user_globals[name], 1)


def _plain(value: Any) -> Any:
    for kind in (bool, int, float, str):
        if isinstance(value, kind):
            return kind(value)
    return None


def _identifiers(source: str) -> list[str]:
    import re

    return re.findall(r"[A-Za-z_][A-Za-z0-9_]*", source)


def _numpy_array(value: Any) -> Any:
    numpy = __import__("sys").modules.get("numpy")
    if numpy is not None and type(value) is numpy.ndarray and value.dtype.kind in "biuf":
        return value
    return None


def _resolve(module: str, name: str) -> Any:
    target: Any = importlib.import_module(module)
    for part in name.split("."):
        target = getattr(target, part)
    return target


def _import_place(value: Any) -> tuple[str, str] | None:
    """Where a library object can be imported from, checked to be the very same object."""
    candidates = []
    module, qualname, name = (getattr(value, attr, None) for attr in ("__module__", "__qualname__", "__name__"))
    if isinstance(module, str) and module != "__main__":
        candidates += [(module, qualname), (module, name)]
    candidates += [(place, name) for place in _SEARCHED]
    for place, attribute in candidates:
        if not isinstance(attribute, str):
            continue
        try:
            if _resolve(place, attribute) is value:
                return place, attribute
        except Exception:  # noqa: BLE001 (anything can go wrong importing or reading a name: try the next place)
            continue
    return None


def encode_answers(user_globals: dict[str, Any], names: list[str]) -> dict:
    """The answers ``names`` as plain data, with the learner's globals their functions use."""
    encoder = _Encoder(user_globals)
    answers = {name: (encoder.encode(user_globals[name]) if name in user_globals else {"t": MISSING}) for name in names}
    return {"answers": answers, "namespace": encoder.namespace}


def capture(user_globals: dict[str, Any], exercises: dict[str, list[str]], folder: str) -> None:
    """Run in the learner's kernel after an exercise's cell: save each exercise's answers to ``folder/<id>.pt``."""
    import torch

    Path(folder).mkdir(parents=True, exist_ok=True)
    for exercise_id, names in exercises.items():
        torch.save(encode_answers(user_globals, names), os.path.join(folder, f"{exercise_id}.pt"))


# ----------------------------------------------------------------------------------------------- checking side
class _Rebuilder:
    def __init__(self, payload: dict, label: str) -> None:
        self.payload = payload
        self.label = label
        self.namespace: dict[str, Any] = {"__builtins__": builtins, "__name__": "__learner__"}
        self._built: dict[int, Any] = {}
        self.uncarried: list[str] = []

    def build_namespace(self) -> None:
        entries = self.payload.get("namespace", {})
        plain = {name: e for name, e in entries.items() if e.get("t") not in ("function", "class")}
        code = {name: e for name, e in entries.items() if e.get("t") in ("function", "class")}
        for name, entry in plain.items():
            self._bind(name, entry)
        pending = list(code.items())
        for _ in range(len(pending) + 1):  # classes may need other classes first: retry those that failed
            failed = []
            for name, entry in pending:
                try:
                    self.namespace[name] = self.build(entry)
                except NameError:
                    failed.append((name, entry))
            if not failed or len(failed) == len(pending):
                pending = failed
                break
            pending = failed
        for name, entry in pending:
            self._bind(name, entry)
        for name, entry in code.items():  # the names as the notebook left them (a def may have rebound one)
            if entry.get("key") in self._built:
                self.namespace[name] = self._built[entry["key"]]

    def _bind(self, name: str, entry: dict) -> None:
        try:
            self.namespace[name] = self.build(entry)
        except RebuildError as error:
            self.uncarried.append(f"{name} ({error})")

    def build(self, entry: dict) -> Any:
        import torch

        kind = entry.get("t")
        if kind == "ellipsis":
            return Ellipsis
        if kind == "py":
            return entry["v"]
        if kind == "tensor":
            tensor = entry["v"].clone()
            if entry.get("parameter"):
                return torch.nn.Parameter(tensor, requires_grad=entry.get("grad", True))
            return (
                tensor.requires_grad_(bool(entry.get("grad")))
                if tensor.is_floating_point() or tensor.is_complex()
                else tensor
            )
        if kind == "ndarray":
            return self.build(entry["v"]).numpy()
        if kind == "dtype":
            value = getattr(torch, entry["v"], None)
            if not isinstance(value, torch.dtype):
                raise RebuildError(f"unknown dtype {entry['v']!r}")
            return value
        if kind == "device":
            return torch.device(entry["v"])
        if kind == "size":
            return torch.Size(entry["v"])
        if kind in ("list", "tuple", "set", "frozenset"):
            items = [self.build(item) for item in entry["v"]]
            return {"list": list, "tuple": tuple, "set": set, "frozenset": frozenset}[kind](items)
        if kind == "dict":
            return {self.build(k): self.build(v) for k, v in entry["v"]}
        if kind == "module":
            try:
                return importlib.import_module(entry["v"])
            except Exception as error:  # noqa: BLE001
                raise RebuildError(f"module {entry['v']} cannot be imported here ({type(error).__name__})") from None
        if kind == "import":
            try:
                return _resolve(entry["module"], entry["name"])
            except Exception:  # noqa: BLE001
                raise RebuildError(f"{entry['module']}.{entry['name']} cannot be imported here") from None
        if kind in ("function", "class"):
            return self._code(entry)
        if kind == UNCARRIED:
            raise RebuildError(entry.get("why", "the grader could not carry it"))
        raise RebuildError(f"an answer of an unknown kind {kind!r}")

    def _code(self, entry: dict) -> Any:
        key = entry.get("key")
        if key in self._built:
            return self._built[key]
        name, source = str(entry["name"]), str(entry["source"])
        filename = f"<learner {self.label}: {name}>"
        if entry.get("lambda"):
            value = self._lambda(source, entry.get("args", []), filename)
        else:
            closure = entry.get("closure") or {}
            if closure:  # rebuild the enclosing scope, so the function's free names are real closure cells
                values = {var: self.build(item) for var, item in closure.items()}
                factory = (
                    f"def __factory__({', '.join(values)}):\n{textwrap.indent(source, '    ')}\n    return {name}\n"
                )
                scope = self._exec(factory, filename, source_lines=source)
                value = scope["__factory__"](**values)
            else:
                self._exec(source, filename)
                value = self.namespace.get(name)
        if value is None:
            raise RebuildError(f"its source does not define {name}")
        self._built[key] = value
        return value

    def _exec(self, source: str, filename: str, source_lines: str | None = None) -> dict:
        linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
        try:
            code = compile(source, filename, "exec", dont_inherit=True)
        except SyntaxError as error:
            raise RebuildError(f"its source does not compile here ({error.msg})") from None
        exec(code, self.namespace)  # noqa: S102 (the learner's own definitions, in their own namespace)
        return self.namespace

    def _lambda(self, source: str, args: list[str], filename: str) -> Any:
        text = source.strip()
        for attempt in (text, text.rstrip(",)"), "(" + text.rstrip(",") + ")"):
            try:
                tree = ast.parse(attempt)
            except SyntaxError:
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.Lambda) and [a.arg for a in node.args.args] == list(args):
                    body = ast.get_source_segment(attempt, node) or ""
                    linecache.cache[filename] = (len(body), None, [body + "\n"], filename)
                    return eval(compile(body, filename, "eval", dont_inherit=True), self.namespace)  # noqa: S307
        raise RebuildError("the grader could not read this lambda back: write it with def")


def rebuild(payload: dict, label: str) -> tuple[dict[str, Any], list[str]]:
    """The answers of ``payload`` rebuilt here (``name -> value``, MISSING names left out), and the learner's
    globals that could not be carried, as sentences. Raises ``RebuildError`` when an answer itself cannot be."""
    rebuilder = _Rebuilder(payload, label)
    rebuilder.build_namespace()
    answers: dict[str, Any] = {}
    for name, entry in payload.get("answers", {}).items():
        if entry.get("t") == MISSING:
            continue
        answers[name] = rebuilder.build(entry)
    return answers, rebuilder.uncarried
