"""Save and resume training safely: atomic, verified checkpoints that never run code when loaded.

Two kinds of file:

- A **checkpoint** (检查点) from ``save_checkpoint``: everything needed to continue training
  as if it had never stopped (model, optimizer, scheduler, gradient scaler, the random states
  of Python, NumPy and PyTorch, any object with ``state_dict``, and your own plain values such
  as the epoch). ``load_checkpoint`` puts it all back into the objects you pass.
- **Weights** from ``save_weights``: the model's tensors only, in the safetensors format, which
  other tools read too. ``load_weights`` also reads files written by
  ``safetensors.torch.save_file``; ``load_shipped_weights`` loads the weights the course ships.

Every save writes a temporary file in the same folder, flushes it to the disk and renames it
over the target, so a crash or a full disk mid-save leaves the previous file as it was. Every
load checks a SHA-256 digest recorded at save time, so a truncated or altered file raises
``CorruptCheckpointError`` instead of loading wrong numbers. Loading never unpickles Python
objects: checkpoints hold only tensors and plain values (numbers, strings, lists, dicts) and are
read with ``torch.load(..., weights_only=True)``; weights are read by safetensors.

A checkpoint file is a first line ``course_lib checkpoint``, a second line of JSON with the
payload's size and SHA-256, then the payload: the bytes ``torch.save`` writes.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import pickle
import random
import re
import secrets
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from .config import data_dir
from .data import CorruptDataError, MissingDataError, _fix_hint
from .device import get_device

__all__ = [
    "CheckpointError",
    "CheckpointWriteError",
    "MissingCheckpointError",
    "NotACheckpointError",
    "CorruptCheckpointError",
    "CheckpointMismatchError",
    "save_checkpoint",
    "load_checkpoint",
    "inspect_checkpoint",
    "save_weights",
    "load_weights",
    "ShippedWeights",
    "SHIPPED_WEIGHTS",
    "load_shipped_weights",
    "load_shipped_tensors",
    "shipped_weights_status",
]

PathLike = str | os.PathLike

MAGIC = b"course_lib checkpoint\n"
FORMAT_VERSION = 1
_HEADER_KEYS = ("format", "payload_bytes", "sha256")
_CONTENT_KEYS = {"model", "optimizer", "scheduler", "scaler", "classes", "stateful", "stateful_classes", "rng", "extra"}
_MAX_HEADER = 256  # bytes; the real header line is about 110
_WRITE_BLOCK = 1 << 20
_WEIGHTS_FORMAT_KEY = "course_lib.format"
_WEIGHTS_DIGEST_KEY = "course_lib.sha256"
_WEIGHTS_FORMAT = "weights 1"


# ----------------------------------------------------------------------------- errors
class CheckpointError(RuntimeError):
    """A checkpoint or weights file cannot be saved or loaded; the message says why and what to do."""


class CheckpointWriteError(CheckpointError, OSError):
    """Saving failed (no such folder, a folder in the way, a full disk); the previous file is untouched."""


class MissingCheckpointError(CheckpointError, FileNotFoundError):
    """There is no file at the path given to a load function."""


class NotACheckpointError(CheckpointError, ValueError):
    """The path holds something else: a folder, a text file, a plain ``torch.save`` file, the other format."""


class CorruptCheckpointError(CheckpointError):
    """The file is a checkpoint or weights file, but truncated or altered since it was saved."""


class CheckpointMismatchError(CheckpointError, ValueError):
    """The file is fine but does not fit what you passed (another model shape, another optimizer).

    Raised before anything is restored: the objects you passed are unchanged.
    """


# ----------------------------------------------------------------------------- writing
def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable. Windows cannot open a folder, and needs no such step."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_atomically(target: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``target``, fsync it, then rename it over ``target``.

    A failure at any point removes the temporary file and leaves ``target`` as it was. (A hard
    crash, such as a killed process, can leave a hidden ``.NAME.*.partial`` file: safe to delete.)
    """
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.partial")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(temporary, flags, 0o666)  # 0o666 less the umask, like any new file
    try:
        try:
            remaining = memoryview(data)
            while remaining:
                written = os.write(fd, remaining[:_WRITE_BLOCK])
                remaining = remaining[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _fsync_folder(target.parent)


def _check_save_path(path: PathLike, what: str) -> Path:
    target = Path(path).expanduser()
    if target.is_dir():
        raise CheckpointWriteError(
            f"Cannot save the {what} to {target}: that is a folder. Give a file name inside it, "
            f"e.g. {target / ('model.safetensors' if what == 'weights' else 'last.ckpt')}."
        )
    if not target.parent.is_dir():
        raise CheckpointWriteError(
            f"Cannot save the {what} to {target}: the folder {target.parent} does not exist. "
            f"Create it first, e.g. Path({str(target.parent)!r}).mkdir(parents=True, exist_ok=True)."
        )
    return target


def _save_bytes(target: Path, data: bytes, what: str) -> None:
    try:
        _write_atomically(target, data)
    except OSError as error:
        full = error.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))  # no EDQUOT on Windows
        reason = (
            "the disk is full"
            if full
            else {
                errno.EACCES: "permission denied",
                errno.EROFS: "the disk is read-only",
            }.get(error.errno, str(error))
        )
        kept = f"The previous {target.name} is untouched." if target.exists() else "Nothing was written."
        fix = "Free some space" if full else "Fix that"
        raise CheckpointWriteError(
            f"Could not save the {what} to {target}: {reason}. {kept} {fix} or choose another folder, then save again."
        ) from error


# ----------------------------------------------------------------------------- plain values
_SCALARS = (type(None), bool, int, float, str, torch.dtype, torch.device)


def _plain(value: Any, where: str) -> Any:
    """``value`` made of tensors and plain values only (what ``weights_only`` loading accepts).

    NumPy numbers become Python numbers, NumPy arrays tensors, subclasses of str, int and float
    their base type; anything else (a History, a lambda, a model) is refused now, at save time,
    with its location, rather than written into a file that could not be loaded safely.
    """
    if isinstance(value, torch.Tensor):
        return value.detach()
    if type(value) in _SCALARS:
        return value
    if isinstance(value, np.generic):
        return value.item()
    for base in (str, int, float):  # a subclass (an IntEnum, torch.__version__) would unpickle as code
        if isinstance(value, base):
            return base(value)
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value.copy())
    if type(value) in (list, tuple, torch.Size):
        return type(value)(_plain(item, f"{where}[{i}]") for i, item in enumerate(value))
    if isinstance(value, dict):  # any dict comes back as a plain dict
        out = {}
        for key, item in value.items():
            if type(key) not in (str, int, float, bool) and key is not None:
                raise TypeError(
                    f"{where} has a key of type {type(key).__name__} ({key!r}); keys must be strings or numbers."
                )
            out[key] = _plain(item, f"{where}[{key!r}]")
        return out
    hint = ""
    if hasattr(value, "metrics"):
        hint = f" For a training History pass its numbers: {where.split('[')[0]}=history.metrics."
    elif hasattr(value, "state_dict"):
        hint = " For an object with state_dict(), pass it in stateful={'name': obj} instead."
    raise TypeError(
        f"{where} is a {type(value).__name__}, which a checkpoint cannot hold. Checkpoints store only tensors, "
        "numbers, strings, booleans, None and lists, tuples and dicts of them, so that loading one never runs "
        f"code.{hint}"
    )


# ----------------------------------------------------------------------------- random states
def _rng_states() -> dict[str, Any]:
    numpy_state = np.random.get_state(legacy=False)
    states: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "key": numpy_state["state"]["key"].tolist(),
            "pos": int(numpy_state["state"]["pos"]),
            "has_gauss": int(numpy_state["has_gauss"]),
            "gauss": float(numpy_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    if torch.backends.mps.is_available():
        states["mps"] = torch.mps.get_rng_state()
    return states


def _restore_rng_states(states: Mapping[str, Any]) -> None:
    version, internal, gauss_next = states["python"]
    random.setstate((version, tuple(internal), gauss_next))
    numpy_state = states["numpy"]
    np.random.set_state(
        {
            "bit_generator": "MT19937",
            "state": {"key": np.array(numpy_state["key"], dtype=np.uint32), "pos": numpy_state["pos"]},
            "has_gauss": numpy_state["has_gauss"],
            "gauss": numpy_state["gauss"],
        }
    )
    torch.set_rng_state(states["torch"])
    # The CUDA and MPS states only matter where those devices train; a GPU checkpoint resumed on a
    # CPU-only machine has no GPU generator to restore (and its numbers differ from the GPU's anyway).
    saved_cuda = states.get("cuda", [])
    if saved_cuda and torch.cuda.is_available():
        if len(saved_cuda) != torch.cuda.device_count():
            warnings.warn(
                f"The checkpoint holds the random state of {len(saved_cuda)} CUDA device(s) and this machine has "
                f"{torch.cuda.device_count()}; restored the first {min(len(saved_cuda), torch.cuda.device_count())}.",
                stacklevel=3,
            )
        for index, state in enumerate(saved_cuda[: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(state, index)
    if "mps" in states and torch.backends.mps.is_available():
        torch.mps.set_rng_state(states["mps"])


# ----------------------------------------------------------------------------- stateful objects
def _state_of(obj: Any, name: str) -> Any:
    if isinstance(obj, torch.Generator):
        return obj.get_state()
    if not callable(getattr(obj, "state_dict", None)) or not callable(getattr(obj, "load_state_dict", None)):
        raise TypeError(
            f"stateful[{name!r}] is a {type(obj).__name__}, which has no state_dict()/load_state_dict() "
            "(nor is it a torch.Generator), so a checkpoint cannot save and restore it."
        )
    return _plain(obj.state_dict(), f"stateful[{name!r}]")


def _load_state_into(obj: Any, state: Any) -> None:
    if isinstance(obj, torch.Generator):
        obj.set_state(state)
    else:
        obj.load_state_dict(state)


def _check_stateful(stateful: Mapping[str, Any] | None) -> dict[str, Any]:
    if stateful is None:
        return {}
    if not isinstance(stateful, Mapping):
        raise TypeError(
            f"stateful must be a dict of names to objects, e.g. stateful={{'train_loader': loader}}, got "
            f"{type(stateful).__name__}."
        )
    for name in stateful:
        if not isinstance(name, str):
            raise TypeError(f"stateful's names must be strings, got {name!r}.")
    return dict(stateful)


# ----------------------------------------------------------------------------- saving
def _check_model(model: Any, function: str) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"{function} needs a torch.nn.Module as model, got {type(model).__name__}. "
            f"Pass the model object itself, e.g. {function}(path, model)."
        )


def _model_tensors(model: nn.Module, where: str) -> dict[str, torch.Tensor]:
    state = model.state_dict()
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"{where}: the model's state_dict entry {key!r} is a {type(value).__name__}, not a tensor.")
    return state


def save_checkpoint(
    path: PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    scaler: Any = None,
    *,
    stateful: Mapping[str, Any] | None = None,
    **extra: Any,
) -> Path:
    """Save everything needed to resume training exactly, atomically; return the file's path.

    ``scheduler`` is any learning-rate scheduler, ``scaler`` a ``torch.amp.GradScaler``.
    ``stateful`` names other objects with ``state_dict()``/``load_state_dict()`` (or
    ``torch.Generator``\\s), e.g. ``stateful={"train_loader": loader}`` for the data order.
    ``extra`` holds your own plain values (``epoch=3, history=history.metrics``);
    ``load_checkpoint`` returns them. The random states of Python, NumPy and PyTorch are
    always saved.

    >>> save_checkpoint("runs/last.ckpt", model, optimizer, scheduler, epoch=epoch)
    """
    _check_model(model, "save_checkpoint")
    if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(
            f"optimizer must be a torch.optim optimizer (e.g. torch.optim.AdamW), got {type(optimizer).__name__}."
        )
    objects = _check_stateful(stateful)
    target = _check_save_path(path, "checkpoint")
    parts = {"optimizer": optimizer, "scheduler": scheduler, "scaler": scaler}
    for name, obj in parts.items():
        if obj is not None and not callable(getattr(obj, "state_dict", None)):
            raise TypeError(f"{name} is a {type(obj).__name__}, which has no state_dict() to save.")
    contents = {
        "course_lib_checkpoint": FORMAT_VERSION,
        "torch_version": str(torch.__version__),  # a str subclass otherwise
        "model_class": type(model).__name__,
        "model": _model_tensors(model, "save_checkpoint"),
        **{name: None if obj is None else _plain(obj.state_dict(), name) for name, obj in parts.items()},
        "classes": {name: type(obj).__name__ for name, obj in parts.items() if obj is not None},
        "stateful": {name: _state_of(obj, name) for name, obj in objects.items()},
        "stateful_classes": {name: type(obj).__name__ for name, obj in objects.items()},
        "rng": _rng_states(),
        "extra": {key: _plain(value, key) for key, value in extra.items()},
    }
    buffer = io.BytesIO()
    torch.save(contents, buffer)
    payload = buffer.getvalue()
    header = {"format": FORMAT_VERSION, "payload_bytes": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}
    _save_bytes(target, MAGIC + _header_line(header) + payload, "checkpoint")
    return target


def _header_line(header: Mapping[str, Any]) -> bytes:
    return json.dumps(dict(header), sort_keys=True, separators=(",", ":")).encode("ascii") + b"\n"


# ----------------------------------------------------------------------------- reading
def _files_in(folder: Path, lead: str) -> str:
    names = sorted(p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    return f" {lead}: {', '.join(names[:10])}{' …' if len(names) > 10 else ''}." if names else ""


def _read_file(path: PathLike, what: str, loader: str) -> tuple[Path, bytes]:
    source = Path(path).expanduser()
    if source.is_dir():
        listing = _files_in(source, "Files in it") or " It is empty."
        raise NotACheckpointError(f"{source} is a folder, not a {what} file. Give {loader} the file's path.{listing}")
    if not source.exists():
        if not source.parent.is_dir():
            raise MissingCheckpointError(
                f"There is no {what} file at {source}: the folder {source.parent} does not exist. Check the path "
                f"(the current folder is {Path.cwd()})."
            )
        listing = _files_in(source.parent, "Files there")
        raise MissingCheckpointError(f"There is no {what} file at {source}.{listing} Check the name.")
    return source, source.read_bytes()


def _kind(raw: bytes) -> str:
    """A short description of what a file that is not the expected kind seems to be."""
    if raw.startswith(MAGIC):
        return "a course_lib checkpoint"
    if _looks_like_safetensors(raw):
        return "a safetensors weights file"
    if raw.startswith(b"PK\x03\x04"):
        try:
            names = zipfile.ZipFile(io.BytesIO(raw)).namelist()
        except zipfile.BadZipFile:
            return "a zip archive"
        if any(name.endswith("data.pkl") for name in names):
            return "a plain torch.save file"
        if "config.json" in names and any(name.endswith(".weights.h5") for name in names):
            return "a Keras .keras file"
        return "a zip archive"
    if raw.startswith(b"\x89HDF\r\n\x1a\n"):
        return "an HDF5 file (for example Keras .h5 weights)"
    if raw.startswith(b"\x93NUMPY"):
        return "a NumPy .npy file"
    if raw[:1] == b"\x80":
        return "a Python pickle (for example an old-style torch.save file)"
    text = raw[:64].decode("utf-8", errors="replace")[:-1]  # the last character may be cut in half
    if "\ufffd" in text or "\x00" in text:
        return "a file of an unknown format"
    first_line = text.strip().splitlines()[0] if text.strip() else ""
    return f"a text file (it starts {first_line[:40]!r})"


def _looks_like_safetensors(raw: bytes) -> bool:
    """An 8-byte little-endian header length that fits the file, then the JSON header's ``{``."""
    return len(raw) >= 9 and raw[8:9] == b"{" and int.from_bytes(raw[:8], "little") <= len(raw) - 8


def _cut_short_safetensors(raw: bytes) -> bool:
    """The start of a safetensors file whose end is missing (or an empty file)."""
    if len(raw) >= 9:
        return raw[8:9] == b"{"  # the header says it is longer than the file
    if not raw:
        return True
    binary = b"\x00" in raw[1:] or not raw.isascii()  # a text file has neither
    return binary and raw[2:] == bytes(len(raw[2:]))  # a small header length: high bytes zero


def _load_hint(kind: str) -> str:
    if kind == "a safetensors weights file":
        return "It holds model weights only: load it with load_weights(path, model)."
    if kind == "a course_lib checkpoint":
        return "Load it with load_checkpoint(path, model) (it restores the weights, and more if you pass more)."
    if kind == "a plain torch.save file":
        return (
            "Load it with state = torch.load(path, weights_only=True) and model.load_state_dict(state); "
            "save with save_checkpoint or save_weights next time."
        )
    return "Check the path: it should name a file written by save_checkpoint (or save_weights for load_weights)."


def _nearly_magic(raw: bytes) -> bool:
    """True for an empty file, a cut-off first line, or one with a byte or two changed."""
    head = raw[: len(MAGIC)]
    if MAGIC.startswith(head):
        return True
    return len(head) == len(MAGIC) and sum(a != b for a, b in zip(head, MAGIC)) <= 2


def _corrupt(source: Path, problem: str) -> CorruptCheckpointError:
    return CorruptCheckpointError(
        f"The checkpoint {source} is damaged: {problem}. Nothing was loaded. This happens when a copy or download "
        "was cut short or the file was edited. Use another copy (an earlier checkpoint, or save it again from the "
        "training run)."
    )


def _read_checkpoint(path: PathLike) -> tuple[Path, dict[str, Any]]:
    """Read, verify and safely unpack a checkpoint file into its dict of tensors and plain values."""
    source, raw = _read_file(path, "checkpoint", "load_checkpoint")
    if not raw.startswith(MAGIC):
        if _nearly_magic(raw):
            problem = "the file is empty" if not raw else "its first line is cut off or altered"
            raise _corrupt(source, problem)
        kind = _kind(raw)
        raise NotACheckpointError(
            f"{source} is not a checkpoint written by save_checkpoint: it is {kind}. " + _load_hint(kind)
        )
    end = raw.find(b"\n", len(MAGIC), len(MAGIC) + _MAX_HEADER)
    if end < 0:
        raise _corrupt(source, "its header line is cut off or altered")
    header_line = raw[len(MAGIC) : end + 1]
    try:
        header = json.loads(header_line)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _corrupt(source, "its header line is altered") from None
    if (
        not isinstance(header, dict)
        or tuple(sorted(header)) != _HEADER_KEYS
        or _header_line(header) != header_line  # any change to the header, even one that still parses
        or not all(type(header[key]) is int for key in ("format", "payload_bytes"))
        or not re.fullmatch(r"[0-9a-f]{64}", str(header["sha256"]))
    ):
        raise _corrupt(source, "its header line is altered")
    if header["format"] != FORMAT_VERSION:
        if header["format"] < FORMAT_VERSION:
            raise _corrupt(source, "its header line is altered")
        raise NotACheckpointError(
            f"{source} is a checkpoint of a newer format ({header['format']}) than this course_lib reads "
            f"({FORMAT_VERSION}). "
            "Update the course (git pull) and try again."
        )
    payload = raw[end + 1 :]
    if len(payload) != header["payload_bytes"]:
        cut = "shorter" if len(payload) < header["payload_bytes"] else "longer"
        raise _corrupt(
            source, f"it is {cut} than saved ({len(payload):,} bytes of data, expected {header['payload_bytes']:,})"
        )
    if hashlib.sha256(payload).hexdigest() != header["sha256"]:
        raise _corrupt(source, "its SHA-256 digest does not match the one recorded when it was saved")
    try:
        contents = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        named = re.search(r"GLOBAL ([\w.]+)", str(error))
        asks = f" (it asks for {named.group(1)})" if named else ""
        raise CorruptCheckpointError(
            f"Refused to load {source}: it holds Python objects that only unpickling, that is running code, could "
            f"rebuild{asks}, and save_checkpoint never writes such objects. Nothing was loaded. Only load it some "
            "other way if you trust whoever made it."
        ) from None
    except Exception as error:  # noqa: BLE001 - the digest matched, so the bytes are as saved, yet torch cannot read them
        raise _corrupt(source, f"PyTorch cannot read its data ({type(error).__name__})") from None
    if (
        not isinstance(contents, dict)
        or contents.get("course_lib_checkpoint") != FORMAT_VERSION
        or not _CONTENT_KEYS <= contents.keys()
    ):
        raise _corrupt(source, "its data is not laid out as save_checkpoint writes it")
    return source, contents


# ----------------------------------------------------------------------------- matching
def _shape(tensor: torch.Tensor) -> str:
    return str(tuple(tensor.shape))


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _listing(items: list[str], limit: int = 8) -> str:
    shown = "; ".join(items[:limit])
    return shown + (f" … and {len(items) - limit} more" if len(items) > limit else "")


def _strips_to(keys: list[str], prefix: str, others: list[str]) -> bool:
    stripped = [k[len(prefix) :] for k in keys if k.startswith(prefix)]
    return bool(keys) and len(stripped) == len(keys) and sorted(stripped) == sorted(others)


def _prefix_hint(file_keys: list[str], model_keys: list[str]) -> str:
    """Name the usual cause when the names differ only by a wrapper's prefix."""
    for prefix, wrapper in (("_orig_mod.", "torch.compile"), ("module.", "DataParallel/DistributedDataParallel")):
        inner = prefix.rstrip(".")
        if _strips_to(file_keys, prefix, model_keys):
            return (
                f" Every name in the file starts with {prefix!r}: it was saved from a model wrapped by "
                f"{wrapper}. Save the inner model (model.{inner}) next time."
            )
        if _strips_to(model_keys, prefix, file_keys):
            return (
                f" Every name in your model starts with {prefix!r}: it is wrapped by {wrapper}. "
                f"Load into the inner model (model.{inner})."
            )
    return ""


def _check_model_fits(
    model: nn.Module, state: Mapping[str, torch.Tensor], source: Path, saved_class: str | None
) -> None:
    own = model.state_dict()
    missing = [f"{k} {_shape(v)}" for k, v in own.items() if k not in state]
    unexpected = [f"{k} {_shape(v)}" for k, v in state.items() if k not in own]
    mismatched = [
        f"{k}: file {_shape(state[k])}, model {_shape(v)}"
        for k, v in own.items()
        if k in state and isinstance(v, torch.Tensor) and state[k].shape != v.shape
    ]
    if not (missing or unexpected or mismatched):
        return
    other_class = saved_class and saved_class != type(model).__name__
    saved = f" (saved from a model of class {saved_class})" if other_class else ""
    lines = [f"The weights in {source}{saved} do not fit your {type(model).__name__}; nothing was loaded."]
    if missing:
        lines.append(f"  missing from the file (your model has them): {_listing(missing)}")
    if unexpected:
        lines.append(f"  unexpected in the file (your model lacks them): {_listing(unexpected)}")
    if mismatched:
        lines.append(f"  different shapes: {_listing(mismatched)}")
    lines.append(
        "Build the model with the same class and settings (layer sizes, number of classes) as the one "
        "that was saved, then load again." + _prefix_hint(list(state), list(own))
    )
    raise CheckpointMismatchError("\n".join(lines))


def _check_optimizer_fits(optimizer: torch.optim.Optimizer, state: Mapping[str, Any], source: Path) -> None:
    saved_sizes = [len(group["params"]) for group in state["param_groups"]]
    own_sizes = [len(group["params"]) for group in optimizer.param_groups]
    if saved_sizes != own_sizes:
        raise CheckpointMismatchError(
            f"The optimizer state in {source} is for parameter groups of sizes {saved_sizes}; your optimizer has "
            f"{own_sizes}. Nothing was loaded. Build the model first, then the optimizer over model.parameters() "
            "the same way as when the checkpoint was saved."
        )


def _check_scaler_fits(scaler: Any, state: Mapping[str, Any], source: Path) -> None:
    # A disabled GradScaler (no float16 mixed precision, e.g. on a CPU) saves an empty state, which an enabled one
    # cannot take. The other way round is fine: a disabled scaler ignores the state (a GPU run resumed on a CPU).
    if not state and callable(getattr(scaler, "is_enabled", None)) and scaler.is_enabled():
        raise CheckpointMismatchError(
            f"The gradient scaler in {source} was disabled when saved (training without float16 mixed precision), "
            "but yours is enabled. Nothing was loaded. Create it with enabled=False, as when saving."
        )


def _check_parts(
    contents: Mapping[str, Any], given: Mapping[str, Any], objects: Mapping[str, Any], source: Path
) -> list[str]:
    """Refuse what cannot be restored; return the names of saved parts nobody asked for."""
    ignored = []
    for name, obj in given.items():
        saved_class = contents["classes"].get(name)
        if obj is None:
            if contents[name] is not None:
                ignored.append(f"the {name} ({saved_class})")
            continue
        if contents[name] is None:
            raise CheckpointMismatchError(
                f"You passed {name}= but {source} holds no {name} state (it was saved without {name}=). "
                f"Nothing was loaded. Load without {name}=, or save the checkpoint with it."
            )
        if saved_class != type(obj).__name__:
            raise CheckpointMismatchError(
                f"The {name} state in {source} was saved from {saved_class}; you passed {type(obj).__name__}. "
                f"Nothing was loaded. Create the same kind of {name} as when saving."
            )
    saved_objects = contents["stateful_classes"]
    for name, obj in objects.items():
        if name not in saved_objects:
            known = ", ".join(map(repr, saved_objects)) or "none"
            raise CheckpointMismatchError(
                f"{source} holds no state named {name!r} (it has: {known}). Nothing was loaded. Use the names given "
                "to save_checkpoint(stateful=...)."
            )
        if saved_objects[name] != type(obj).__name__:
            raise CheckpointMismatchError(
                f"The state {name!r} in {source} was saved from {saved_objects[name]}; "
                f"you passed {type(obj).__name__}. "
                "Nothing was loaded."
            )
    ignored += [f"stateful {name!r} ({cls})" for name, cls in saved_objects.items() if name not in objects]
    return ignored


# ----------------------------------------------------------------------------- loading
def load_checkpoint(
    path: PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    scaler: Any = None,
    device: torch.device | str | None = None,
    *,
    stateful: Mapping[str, Any] | None = None,
    restore_rng: bool = True,
) -> dict[str, Any]:
    """Restore a ``save_checkpoint`` file into the objects given; return its extra values.

    The file is verified first (its SHA-256) and read without unpickling any code. Tensors are
    read onto the CPU, so a checkpoint saved on a GPU loads on any machine; ``device`` moves the
    model there first (``None`` leaves it where it is; the optimizer's state follows its
    parameters). Build the optimizer and scheduler the same way as before saving, then load.

    Parts the file holds that you do not pass (say the optimizer, when you only want the
    weights to evaluate) are left out, with a warning that names them. A part you pass that
    the file lacks, or of another kind (AdamW saved, SGD given), raises
    ``CheckpointMismatchError`` before anything is changed. ``restore_rng=False`` leaves the
    random generators alone.

    >>> extra = load_checkpoint("runs/last.ckpt", model, optimizer, scheduler)
    >>> start_epoch = extra["epoch"] + 1
    """
    _check_model(model, "load_checkpoint")
    objects = _check_stateful(stateful)
    source, contents = _read_checkpoint(path)
    given = {"optimizer": optimizer, "scheduler": scheduler, "scaler": scaler}
    _check_model_fits(model, contents["model"], source, contents.get("model_class"))
    ignored = _check_parts(contents, given, objects, source)
    if optimizer is not None:
        _check_optimizer_fits(optimizer, contents["optimizer"], source)
    if scaler is not None:
        _check_scaler_fits(scaler, contents["scaler"], source)
    device = None if device is None else get_device(device)  # an unknown name: a clear error, nothing changed

    if device is not None:
        model.to(device)
    model.load_state_dict(contents["model"])
    for name, obj in given.items():
        if obj is not None:
            obj.load_state_dict(contents[name])
    for name, obj in objects.items():
        _load_state_into(obj, contents["stateful"][name])
    if restore_rng:
        _restore_rng_states(contents["rng"])
    if ignored:
        warnings.warn(
            f"{source.name} also holds {_and(ignored)}, not restored because you did not pass "
            f"{'it' if len(ignored) == 1 else 'them'}. That is right for evaluating the model; to resume training, "
            "pass the same objects as to save_checkpoint.",
            stacklevel=2,
        )
    extra = contents["extra"]
    return {key: _to_device(value, device) for key, value in extra.items()} if device is not None else extra


def _to_device(value: Any, device: torch.device | str) -> Any:
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, (list, tuple)):
        return type(value)(_to_device(item, device) for item in value)
    if isinstance(value, dict):
        return {key: _to_device(item, device) for key, item in value.items()}
    return value


def inspect_checkpoint(path: PathLike) -> dict[str, Any]:
    """What a checkpoint holds, without restoring anything: for a look before loading.

    Returns the model class, each weight's shape, which parts were saved (and their
    classes), the stateful names and the extra values. The file is verified as on load.
    """
    _, contents = _read_checkpoint(path)
    return {
        "model_class": contents["model_class"],
        "weights": {name: tuple(tensor.shape) for name, tensor in contents["model"].items()},
        "parts": dict(contents["classes"]),
        "stateful": dict(contents["stateful_classes"]),
        "extra": contents["extra"],
        "torch_version": contents["torch_version"],
    }


# ----------------------------------------------------------------------------- weights (safetensors)
def _tensors_digest(tensors: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 over each tensor's name, dtype, shape and bytes, in name order (independent of layout)."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].detach().to("cpu").contiguous()
        digest.update(f"{name}\0{tensor.dtype}\0{tuple(tensor.shape)}\0".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def save_weights(path: PathLike, model: nn.Module, metadata: Mapping[str, str] | None = None) -> Path:
    """Save the model's weights (its ``state_dict``) as a safetensors file, atomically; return the path.

    ``metadata`` adds your own strings to the file's header (e.g. ``{"trained_epochs": "10"}``).
    The file also records a SHA-256 digest of the weights, which ``load_weights`` checks.
    """
    from safetensors.torch import save as safetensors_bytes

    _check_model(model, "save_weights")
    target = _check_save_path(path, "weights")
    extra = dict(metadata or {})
    for key, value in extra.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"metadata must map strings to strings (safetensors stores text), got {key!r}: {value!r}.")
        if key.startswith("course_lib."):
            raise ValueError(f"metadata names starting with 'course_lib.' are reserved, got {key!r}.")
    # Copies: safetensors refuses tensors that share memory (tied weights) or are not contiguous.
    tensors = {
        name: tensor.detach().to("cpu", copy=True).contiguous()
        for name, tensor in _model_tensors(model, "save_weights").items()
    }
    extra.update({_WEIGHTS_FORMAT_KEY: _WEIGHTS_FORMAT, _WEIGHTS_DIGEST_KEY: _tensors_digest(tensors)})
    _save_bytes(target, safetensors_bytes(tensors, metadata=extra), "weights")
    return target


def _corrupt_weights(source: Path, problem: str) -> CorruptCheckpointError:
    return CorruptCheckpointError(
        f"The weights file {source} is damaged: {problem}. Nothing was loaded. This happens when a copy or "
        "download was cut short or the file was edited. Use another copy, or save the weights again."
    )


def _read_weights(source: Path, raw: bytes) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Unpack safetensors bytes, checking the embedded digest when save_weights wrote one."""
    from safetensors import SafetensorError
    from safetensors.torch import load as safetensors_load

    if not _looks_like_safetensors(raw):
        if _cut_short_safetensors(raw):
            raise _corrupt_weights(source, "the file is empty" if not raw else "it is cut short")
        if b'"dtype":' in raw[8:4096]:  # the header's first bytes are altered
            raise _corrupt_weights(source, "its header is altered")
        kind = _kind(raw)
        raise NotACheckpointError(f"{source} is not a safetensors weights file: it is {kind}. " + _load_hint(kind))
    try:
        tensors = safetensors_load(raw)
        header_length = int.from_bytes(raw[:8], "little")
        metadata = json.loads(raw[8 : 8 + header_length]).get("__metadata__") or {}
    except (SafetensorError, ValueError, UnicodeDecodeError, AttributeError) as error:
        raise _corrupt_weights(source, f"safetensors cannot read it ({str(error).splitlines()[0][:120]})") from None
    if not isinstance(metadata, dict):
        raise _corrupt_weights(source, "its header is altered")
    # A plain safetensors file has neither of our two entries; save_weights writes both.
    if _WEIGHTS_FORMAT_KEY in metadata or _WEIGHTS_DIGEST_KEY in metadata:
        if metadata.get(_WEIGHTS_FORMAT_KEY) != _WEIGHTS_FORMAT or _WEIGHTS_DIGEST_KEY not in metadata:
            raise _corrupt_weights(source, "its header is altered")
        if metadata[_WEIGHTS_DIGEST_KEY] != _tensors_digest(tensors):
            raise _corrupt_weights(source, "the weights' SHA-256 digest does not match the one recorded at saving")
    return tensors, {k: v for k, v in metadata.items() if not k.startswith("course_lib.")}


def load_weights(path: PathLike, model: nn.Module, expected_sha256: str | None = None) -> dict[str, str]:
    """Load a safetensors file into ``model``; return the file's own metadata (a dict of strings).

    Reads files from ``save_weights`` (whose recorded digest is checked) and plain ones from
    ``safetensors.torch.save_file``. ``expected_sha256`` is the digest of the whole file (as
    ``sha256sum`` prints it); a file that differs raises ``CorruptCheckpointError``. The
    tensors are copied into the model's parameters wherever those live (CPU or GPU).
    """
    _check_model(model, "load_weights")
    source, raw = _read_file(path, "weights", "load_weights")
    if expected_sha256 is not None:
        actual = hashlib.sha256(raw).hexdigest()
        if actual != expected_sha256.lower():
            raise _corrupt_weights(
                source, f"its SHA-256 is {actual[:12]}…, expected {expected_sha256[:12]}… ({len(raw):,} bytes)"
            )
    return _restore_weights(source, raw, model)


def _restore_weights(source: Path, raw: bytes, model: nn.Module) -> dict[str, str]:
    tensors, metadata = _read_weights(source, raw)
    _check_model_fits(model, tensors, source, None)
    model.load_state_dict(tensors)
    return metadata


# ----------------------------------------------------------------------------- shipped weights
class ShippedWeights(NamedTuple):
    """A weights file the course ships in ``data/``: its SHA-256 and the script that made it."""

    file: str  # relative to the data folder, e.g. "weights/ch08_char_rnn.safetensors"
    sha256: str
    made_by: str  # how to rebuild it, e.g. "python scripts/train_ch08.py"


#: The weights files the course ships, by name. The digests live in the code, like the data's
#: (``course_lib.data.CHECKSUMS``), so a damaged file cannot vouch for itself. Chapters add theirs.
SHIPPED_WEIGHTS: dict[str, ShippedWeights] = {
    "ch08_char_lstm": ShippedWeights(
        "weights/ch08_char_lstm.safetensors",
        "d856435567a95a8e28c9ccc02718b6f5d83c1626d4920f01be7bf79dd4d5113a",
        "python tools/train_charlm.py",
    ),
    "ch09_conv_vae": ShippedWeights(
        "weights/ch09_conv_vae.safetensors",
        "6807e2479a17080c5b91b7f02c4d9e3b507012161000c5141965cb63f68ca0ba",
        "python tools/train_vae.py --only ch09_conv_vae",
    ),
    "ch09_vae_2d": ShippedWeights(
        "weights/ch09_vae_2d.safetensors",
        "cb2df19f0ea050a3b597fa5bfef6bb55fbc70a7490080fdeaba0f44ac4017e13",
        "python tools/train_vae.py --only ch09_vae_2d",
    ),
    "ch09_beta_sweep": ShippedWeights(
        "weights/ch09_beta_sweep.safetensors",
        "5634a17dcbb3763260151d3143583c15a002b0c1fe8314641278b088f0ae7a6d",
        "python tools/train_vae.py --only ch09_beta_sweep",
    ),
}


def _shipped(name: str) -> ShippedWeights:
    if name not in SHIPPED_WEIGHTS:
        known = ", ".join(SHIPPED_WEIGHTS) or "none yet"
        raise KeyError(f"{name!r} is not a weights file the course ships; known: {known}.")
    return SHIPPED_WEIGHTS[name]


def _verified_shipped_bytes(name: str) -> tuple[Path, bytes]:
    entry = _shipped(name)
    path = data_dir() / entry.file
    rebuild = f" You can also rebuild it with `{entry.made_by}`."
    if not path.is_file():
        where = "the folder named by COURSE_DATA_DIR" if os.environ.get("COURSE_DATA_DIR") else "the data folder"
        raise MissingDataError(f"Weights file {path} is missing ({where}). " + _fix_hint(entry.file) + rebuild)
    raw = path.read_bytes()
    actual = hashlib.sha256(raw).hexdigest()
    if actual != entry.sha256:
        raise CorruptDataError(
            f"Weights file {path} is corrupt: its SHA-256 checksum is {actual[:12]}… but the course shipped "
            f"{entry.sha256[:12]}… ({len(raw):,} bytes on disk; an interrupted copy, a Git LFS pointer or an edited "
            "file looks like this). Nothing was loaded. " + _fix_hint(entry.file) + rebuild
        )
    return path, raw


def load_shipped_weights(name: str, model: nn.Module) -> dict[str, str]:
    """Load weights the course ships (``SHIPPED_WEIGHTS[name]``) into ``model``, after checking them.

    A missing or damaged file raises ``course_lib.data.MissingDataError`` or
    ``CorruptDataError``, the same errors as a data file, naming the file and the fix.
    """
    _check_model(model, "load_shipped_weights")
    path, raw = _verified_shipped_bytes(name)
    return _restore_weights(path, raw, model)


def load_shipped_tensors(name: str) -> dict[str, torch.Tensor]:
    """The tensors of a shipped file by name, after checking them, for files that are not one model's weights.

    Chapter 09 ships precomputed results this way (its beta sweep: images and KL numbers), with
    the same SHA-256 check and the same errors as ``load_shipped_weights``.
    """
    from safetensors.torch import load as safetensors_load

    path, raw = _verified_shipped_bytes(name)
    try:
        return safetensors_load(raw)
    except Exception as error:  # a file with the right digest cannot fail here, unless the registry is wrong
        raise CorruptDataError(
            f"{path} could not be read as safetensors ({error}); rebuild it with `{SHIPPED_WEIGHTS[name].made_by}`."
        ) from None


def shipped_weights_status() -> dict[str, str]:
    """``{name: 'ok' | 'missing' | 'corrupt'}`` for every shipped weights file, for ``doctor``."""
    status = {}
    for name in SHIPPED_WEIGHTS:
        try:
            _verified_shipped_bytes(name)
            status[name] = "ok"
        except MissingDataError:
            status[name] = "missing"
        except CorruptDataError:
            status[name] = "corrupt"
    return status
