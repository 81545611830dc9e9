"""Datasets the course ships, read offline and checked byte for byte, and fast batch loaders.

Every file is verified against the SHA-256 recorded here before it is used: a missing,
truncated or corrupt file raises an error that names the file and the fix. Nothing is ever
downloaded, so a classroom with bad Wi-Fi and Binder behave exactly like a laptop.
"""
from __future__ import annotations

import gzip
import hashlib
import math
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from .config import cache_dir, data_dir

__all__ = [
    "DataError",
    "MissingDataError",
    "CorruptDataError",
    "CHECKSUMS",
    "verify_file",
    "data_status",
    "load_mnist",
    "mnist_torchvision",
    "MNIST_MEAN",
    "MNIST_STD",
    "load_tiny_shakespeare",
    "TensorBatchLoader",
    "train_val_split",
    "make_spirals",
    "make_sine_waves",
]

#: Known-good checksums of every shipped file, relative to the data folder. They live in
#: the code, not only beside the data, so a corrupt folder cannot vouch for itself.
CHECKSUMS: dict[str, str] = {
    "mnist/train-images-idx3-ubyte.gz": "0b367032e93c5d0cea0925647cfdb18614af8ee15f83e6f2fc2ad904a6835971",
    "mnist/train-labels-idx1-ubyte.gz": "1787548bbe0bff1ec2ecdc0ef292b02df999e2d1a6002d27500982c652b17203",
    "mnist/t10k-images-idx3-ubyte.gz": "1a1a05eab793c14bb050b398624a11b0ffd1a2953baed553b1b9bd079e2a20be",
    "mnist/t10k-labels-idx1-ubyte.gz": "b91679a0acfe4ba0e50a2437a903084cba1f5f92592b016a25a7dfd00455798b",
    "tinyshakespeare/input.txt": "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
}

#: Mean and standard deviation of MNIST's training pixels in [0, 1] (see data/mnist/SOURCE.md).
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081

_MNIST_FILES = {
    True: ("mnist/train-images-idx3-ubyte.gz", "mnist/train-labels-idx1-ubyte.gz", 60_000),
    False: ("mnist/t10k-images-idx3-ubyte.gz", "mnist/t10k-labels-idx1-ubyte.gz", 10_000),
}


class DataError(RuntimeError):
    """A shipped data file cannot be used; the message says which one and how to fix it."""


class MissingDataError(DataError, FileNotFoundError):
    """A data file is not where the course looks for it."""


class CorruptDataError(DataError):
    """A data file is there but its bytes are not the ones the course shipped."""


def _fix_hint(relative: str) -> str:
    return (
        f"To fix it, restore the file from the course repository (in a git checkout: "
        f"`git checkout -- data/{relative}`), or point the environment variable COURSE_DATA_DIR "
        f"at a folder that holds a good copy. The course never downloads data."
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_file(relative: str, root: Path | None = None) -> Path:
    """Return the path of a shipped file after checking it exists and its SHA-256 matches."""
    if relative not in CHECKSUMS:
        raise KeyError(f"{relative!r} is not a file the course ships; known files: {', '.join(CHECKSUMS)}.")
    root = data_dir() if root is None else Path(root)
    path = root / relative
    if not path.is_file():
        where = "the folder named by COURSE_DATA_DIR" if os.environ.get("COURSE_DATA_DIR") else "the course's data folder"
        raise MissingDataError(f"Data file {path} is missing ({where}). " + _fix_hint(relative))
    actual = _sha256(path)
    if actual != CHECKSUMS[relative]:
        size = path.stat().st_size
        raise CorruptDataError(
            f"Data file {path} is corrupt: its SHA-256 checksum is {actual[:12]}… but the course shipped "
            f"{CHECKSUMS[relative][:12]}… ({size:,} bytes on disk; an interrupted copy, a Git LFS pointer or an "
            f"edited file looks like this). Nothing was loaded. " + _fix_hint(relative)
        )
    return path


def data_status(root: Path | None = None) -> dict[str, str]:
    """``{file: 'ok' | 'missing' | 'corrupt'}`` for every shipped file, for ``doctor``."""
    status = {}
    for relative in CHECKSUMS:
        try:
            verify_file(relative, root)
            status[relative] = "ok"
        except MissingDataError:
            status[relative] = "missing"
        except CorruptDataError:
            status[relative] = "corrupt"
    return status


# ----------------------------------------------------------------------------- MNIST
def _read_idx(path: Path, relative: str, expected_dims: tuple[int, ...]) -> np.ndarray:
    """Parse an IDX file (the MNIST format): a magic number, the sizes, then raw uint8 data."""
    raw = gzip.decompress(path.read_bytes())
    ndim = len(expected_dims)
    header = 4 + 4 * ndim
    magic = int.from_bytes(raw[:4], "big")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if magic != 0x0800 + ndim or dims != expected_dims or len(raw) != header + math.prod(dims):
        raise CorruptDataError(
            f"Data file {path} does not hold the expected IDX data (dimensions {dims}, expected {expected_dims})."
            " " + _fix_hint(relative)
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(expected_dims)


def _mnist_uint8(train: bool, root: str) -> tuple[np.ndarray, np.ndarray]:
    # Not cached: keeping the 55 MB of raw bytes alive for the whole session cost more (a Binder kernel
    # has 2 GB) than verifying and decompressing again on the rare second call (about 0.3 s).
    images_rel, labels_rel, count = _MNIST_FILES[train]
    base = Path(root)
    images = _read_idx(verify_file(images_rel, base), images_rel, (count, 28, 28))
    labels = _read_idx(verify_file(labels_rel, base), labels_rel, (count,))
    return images, labels


def load_mnist(train: bool = True, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST as whole tensors: images float32 ``(N, 1, 28, 28)`` in [0, 1], labels int64 ``(N,)``.

    ``train=False`` gives the 10,000 test images. ``limit`` keeps the first ``limit``
    examples (fast mode and quick experiments). Files are checksum-verified first.
    """
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive whole number of examples or None, got {limit!r}.")
    images, labels = _mnist_uint8(bool(train), str(data_dir()))
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    x = torch.from_numpy(images.astype(np.float32)).div_(255.0).unsqueeze(1)  # one float32 copy, scaled in place
    y = torch.from_numpy(labels.astype(np.int64))
    return x, y


_RAW_SIZES = {  # bytes of each decompressed file, as torchvision expects them
    "train-images-idx3-ubyte": 47_040_016,
    "train-labels-idx1-ubyte": 60_008,
    "t10k-images-idx3-ubyte": 7_840_016,
    "t10k-labels-idx1-ubyte": 10_008,
}


def _torchvision_root() -> Path:
    """Decompress the verified archives once into the cache, where torchvision looks for them.

    Each file is written to a temporary name and renamed, so an interrupted run never
    leaves a half-written file that torchvision would read.
    """
    root = cache_dir() / "torchvision"
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name, size in _RAW_SIZES.items():
        target = raw / name
        if target.is_file() and target.stat().st_size == size:
            continue
        source = verify_file(f"mnist/{name}.gz")
        handle, tmp = tempfile.mkstemp(dir=raw, prefix=f".{name}.")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(gzip.decompress(source.read_bytes()))
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return root


def mnist_torchvision(
    train: bool = True, transform: Callable | None = None, target_transform: Callable | None = None
) -> "torch.utils.data.Dataset":
    """MNIST as a ``torchvision.datasets.MNIST``: PIL images, per-item transforms, DataLoader.

    This is the usual tutorial route, taught in the MLP/CNN chapters. It reads the same
    verified files (decompressed once into the cache folder) and never downloads.
    """
    from torchvision.datasets import MNIST

    return MNIST(
        str(_torchvision_root()), train=train, transform=transform, target_transform=target_transform, download=False
    )


# ----------------------------------------------------------------------------- text
def load_tiny_shakespeare() -> str:
    """The Tiny Shakespeare corpus (about 1.1 million characters), checksum-verified."""
    return verify_file("tinyshakespeare/input.txt").read_text(encoding="utf-8")


# ----------------------------------------------------------------------------- batching
class TensorBatchLoader:
    """Batches from whole tensors kept on the device: no workers, no per-item Python work.

    For data that fits in memory (MNIST is 190 MB as float32) this is many times faster
    than a DataLoader that builds each example one by one. ``transform`` runs on a whole
    batch at once (e.g. random shifts for augmentation).
    """

    def __init__(
        self,
        *tensors: torch.Tensor,
        batch_size: int = 128,
        shuffle: bool = False,
        drop_last: bool = False,
        device: torch.device | str | None = None,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        if not tensors:
            raise ValueError("TensorBatchLoader needs at least one tensor, e.g. TensorBatchLoader(x, y).")
        sizes = {len(t) for t in tensors}
        if len(sizes) != 1:
            raise ValueError(
                f"All tensors must have the same number of examples (first dimension); got {[len(t) for t in tensors]}."
            )
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive whole number, got {batch_size!r}.")
        self.tensors = tuple(t.to(device) if device is not None else t for t in tensors)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.transform = transform
        self.generator = generator

    @property
    def num_examples(self) -> int:
        return len(self.tensors[0])

    def __len__(self) -> int:
        if self.drop_last:
            return self.num_examples // self.batch_size
        return math.ceil(self.num_examples / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        n, device = self.num_examples, self.tensors[0].device
        if self.shuffle:
            order = torch.randperm(n, generator=self.generator).to(device)
        for batch in range(len(self)):
            start = batch * self.batch_size
            if self.shuffle:
                index = order[start : start + self.batch_size]
                items = [t[index] for t in self.tensors]
            else:
                items = [t[start : start + self.batch_size] for t in self.tensors]
            if self.transform is not None:
                items[0] = self.transform(items[0])
            yield tuple(items)


def train_val_split(
    *tensors: torch.Tensor, val_fraction: float = 0.1, seed: int = 0
) -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
    """Shuffle once with a fixed seed and split into (train tensors, validation tensors)."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be between 0 and 1 (e.g. 0.1 for 10%), got {val_fraction!r}.")
    n = len(tensors[0])
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_val = max(1, int(round(n * val_fraction)))
    val_idx, train_idx = order[:n_val], order[n_val:]
    return tuple(t[train_idx] for t in tensors), tuple(t[val_idx] for t in tensors)


# ----------------------------------------------------------------------------- synthetic
def make_spirals(
    n_per_class: int = 200, n_classes: int = 3, noise: float = 0.2, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Interleaved 2-D spirals, a classic set that no straight line separates."""
    gen = torch.Generator().manual_seed(seed)
    xs, ys = [], []
    for label in range(n_classes):
        radius = torch.linspace(0.05, 1.0, n_per_class)
        angle = (
            torch.linspace(label * 4.0, (label + 1) * 4.0, n_per_class)
            + noise * torch.randn(n_per_class, generator=gen)
        )
        xs.append(torch.stack([radius * torch.sin(angle), radius * torch.cos(angle)], dim=1))
        ys.append(torch.full((n_per_class,), label, dtype=torch.int64))
    return torch.cat(xs), torch.cat(ys)


def make_sine_waves(
    n_series: int = 256, length: int = 100, noise: float = 0.05, seed: int = 0
) -> torch.Tensor:
    """Sine waves with random phase and frequency, shape ``(n_series, length)``, for forecasting."""
    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(length, dtype=torch.float32)
    phase = torch.rand(n_series, 1, generator=gen) * 2 * math.pi
    freq = 0.05 + 0.1 * torch.rand(n_series, 1, generator=gen)
    return torch.sin(freq * t + phase) + noise * torch.randn(n_series, length, generator=gen)
