"""Pick the device to compute on, describe the machine, and respect a container's CPU cap.

The course runs on laptops (CPU, NVIDIA CUDA, Apple MPS) and on Binder (one shared CPU).
Code asks ``get_device()`` once and moves models and batches there; nothing else in the
course decides where tensors live.
"""

from __future__ import annotations

import math
import os
import platform
import sys
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = [
    "DeviceNotAvailableError",
    "MixedPrecision",
    "apply_cpu_limit",
    "autocast_for",
    "available_devices",
    "cpu_limit",
    "device_info",
    "get_device",
    "mixed_precision_for",
    "model_device",
    "to_device",
]

KNOWN_KINDS = ("cuda", "mps", "cpu")


class DeviceNotAvailableError(RuntimeError):
    """The device a learner named does not exist or is not usable on this machine."""


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def available_devices() -> list[str]:
    """Names of the devices usable here, best first, e.g. ``['cuda:0', 'cpu']``."""
    names = [f"cuda:{i}" for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    if _mps_available():
        names.append("mps")
    names.append("cpu")
    return names


def get_device(name: str | torch.device | None = None) -> torch.device:
    """The best device (cuda > mps > cpu), or the one named, checked to be usable.

    An unknown or unavailable name raises ``DeviceNotAvailableError`` that names it and
    lists what this machine has, instead of failing later deep inside a training loop.
    """
    if name is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")

    available = ", ".join(available_devices())
    text = str(name).strip().lower()
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise DeviceNotAvailableError(
            f"Unknown device name {str(name)!r}. Devices are named 'cuda', 'cuda:1', 'mps' or 'cpu'. "
            f"Available on this machine: {available}. Call get_device() with no argument to pick the best one."
        ) from None
    if device.type not in KNOWN_KINDS:
        raise DeviceNotAvailableError(
            f"The course does not support device {str(name)!r}. Available on this machine: {available}. "
            "Call get_device() with no argument to pick the best one."
        )
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceNotAvailableError(
                f"Device {str(name)!r} was asked for, but PyTorch finds no CUDA GPU here "
                f"(a CPU-only PyTorch build, no NVIDIA driver, or no GPU). Available on this machine: {available}. "
                "Use get_device() to fall back automatically, or see 'Running on a GPU' in the README."
            )
        index = 0 if device.index is None else device.index
        if index >= torch.cuda.device_count():
            raise DeviceNotAvailableError(
                f"Device {str(name)!r} was asked for, but this machine has {torch.cuda.device_count()} CUDA GPU(s), "
                f"numbered from 0. Available on this machine: {available}."
            )
    if device.type == "mps" and not _mps_available():
        raise DeviceNotAvailableError(
            f"Device {str(name)!r} (Apple Metal) was asked for, but it is not available here: it needs a Mac with "
            f"Apple silicon and macOS 12.3 or newer. Available on this machine: {available}."
        )
    return device


def to_device(batch: Any, device: torch.device | str, non_blocking: bool = False) -> Any:
    """Move a tensor, or a tuple/list/dict of tensors, to ``device``; other values pass through."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=non_blocking)
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(item, device, non_blocking) for item in batch)
    if isinstance(batch, dict):
        return {key: to_device(value, device, non_blocking) for key, value in batch.items()}
    return batch


def model_device(model: nn.Module) -> torch.device:
    """The device a model's weights are on (its first parameter or buffer); the CPU for a model without any.

    The one answer to "where is this model?": evaluate, predict and the explorers run there, so a
    model that was never moved is not fed batches that sit on a GPU.
    """
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


@dataclass(frozen=True)
class MixedPrecision:
    """How a device computes under mixed precision: the autocast dtype, and whether gradients need scaling.

    ``dtype`` None means float32 throughout (autocast off). float16 has so few exponent bits that
    small gradients underflow to zero, so it needs a gradient scaler; bfloat16 keeps float32's
    range and does not.
    """

    device_type: str
    dtype: torch.dtype | None

    @property
    def enabled(self) -> bool:
        return self.dtype is not None

    @property
    def scales_gradients(self) -> bool:
        return self.dtype == torch.float16

    def autocast(self) -> AbstractContextManager:
        """The context to run the forward pass and the loss in (a no-op when mixed precision is off)."""
        if self.dtype is None:
            return nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=self.dtype)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """A gradient scaler, switched on only for float16 (disabled, its step() is just optimizer.step())."""
        return torch.amp.GradScaler(self.device_type, enabled=self.scales_gradients)


def mixed_precision_for(device: torch.device | str, enabled: bool = True) -> MixedPrecision:
    """Mixed precision where it pays: bfloat16 on CUDA GPUs that have it, float16 (scaled) on older ones.

    On a CPU and on Apple's MPS autocast mostly slows the course's small models down, so they keep
    float32 even when ``enabled``. ``fit`` and ``autocast_for`` both ask this function, so the
    dtype the forward pass runs in and the gradient scaler always agree.
    """
    device = torch.device(device)
    if not enabled or device.type != "cuda":
        return MixedPrecision(device.type, None)
    return MixedPrecision("cuda", torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)


def autocast_for(device: torch.device | str, enabled: bool = True) -> AbstractContextManager:
    """The autocast context ``fit`` uses on ``device``: bfloat16/float16 on CUDA, nothing elsewhere."""
    return mixed_precision_for(device, enabled).autocast()


# ----------------------------------------------------------------------------- CPU cap
def cpu_limit(cgroup_root: str | Path = "/sys/fs/cgroup") -> int | None:
    """The number of CPUs a container may use (cgroup ``cpu.max`` or v1 CFS quota), or None.

    Binder gives one CPU while ``os.cpu_count()`` reports the whole host (dozens); PyTorch
    then starts dozens of threads that fight over one CPU and training slows many times.
    """
    root = Path(cgroup_root)
    try:
        fields = (root / "cpu.max").read_text().split()
        if fields and fields[0] != "max":
            quota, period = int(fields[0]), int(fields[1]) if len(fields) > 1 else 100_000
            return max(1, math.ceil(quota / period))
        if fields:
            return None
    except (OSError, ValueError, IndexError):
        pass
    try:  # cgroup v1
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        if quota > 0 and period > 0:
            return max(1, math.ceil(quota / period))
    except (OSError, ValueError):
        pass
    return None


def usable_cpus(cgroup_root: str | Path = "/sys/fs/cgroup") -> int:
    """CPUs this process may really use: the smallest of affinity, cgroup cap and cpu_count."""
    counts = [os.cpu_count() or 1]
    if hasattr(os, "sched_getaffinity"):
        counts.append(len(os.sched_getaffinity(0)))
    cap = cpu_limit(cgroup_root)
    if cap is not None:
        counts.append(cap)
    return max(1, min(counts))


def apply_cpu_limit(cgroup_root: str | Path = "/sys/fs/cgroup") -> int:
    """Lower torch's intra-op thread count to the CPUs really usable; returns the count used.

    Only ever lowers it, so a learner who set ``torch.set_num_threads`` lower keeps theirs.
    """
    usable = usable_cpus(cgroup_root)
    if torch.get_num_threads() > usable:
        torch.set_num_threads(usable)
    return torch.get_num_threads()


# ----------------------------------------------------------------------------- description
def _memory_limit_bytes(cgroup_root: str | Path = "/sys/fs/cgroup") -> int | None:
    root = Path(cgroup_root)
    for path in (root / "memory.max", root / "memory" / "memory.limit_in_bytes"):
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 1 << 60:
            return int(text)
    return None


def _total_memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def device_info() -> dict[str, Any]:
    """What the start-here chapter and ``doctor`` show: versions, devices, CPUs, memory."""
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
        "torch": torch.__version__,
        "best_device": str(get_device()),
        "available_devices": available_devices(),
        "cuda_available": torch.cuda.is_available(),
        "cuda_version": torch.version.cuda,
        "mps_available": _mps_available(),
        "cpu_count": os.cpu_count(),
        "cpu_limit": cpu_limit(),
        "torch_threads": torch.get_num_threads(),
        "memory_total_gb": None,
        "memory_limit_gb": None,
        "tensorflow_loaded": "tensorflow" in sys.modules,
    }
    total, limit = _total_memory_bytes(), _memory_limit_bytes()
    if total:
        info["memory_total_gb"] = round(total / 2**30, 1)
    if limit:
        info["memory_limit_gb"] = round(limit / 2**30, 1)
    if torch.cuda.is_available():
        info["gpus"] = [
            {
                "name": torch.cuda.get_device_name(i),
                "memory_gb": round(torch.cuda.get_device_properties(i).total_memory / 2**30, 1),
            }
            for i in range(torch.cuda.device_count())
        ]
    return info
