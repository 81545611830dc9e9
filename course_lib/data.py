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
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .arguments import check_bool, check_number, check_whole_number
from .config import cache_dir, data_dir
from .device import get_device

__all__ = [
    "DataError",
    "MissingDataError",
    "DataFolderError",
    "CorruptDataError",
    "UnreadableDataError",
    "CHECKSUMS",
    "check_data_folder",
    "verify_file",
    "data_status",
    "load_mnist",
    "mnist_torchvision",
    "MNIST_MEAN",
    "MNIST_STD",
    "MNIST_BACKGROUND",
    "normalize_mnist",
    "denormalize_mnist",
    "load_tiny_shakespeare",
    "TensorBatchLoader",
    "MNISTDataset",
    "train_val_indices",
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

#: What a black pixel (0) becomes after ``normalize_mnist``: the fill for shifted or rotated images.
MNIST_BACKGROUND = -MNIST_MEAN / MNIST_STD

#: The folders a data folder holds (each file of CHECKSUMS lives in one of them).
_DATASET_FOLDERS = ("mnist", "tinyshakespeare")

_MNIST_FILES = {
    True: ("mnist/train-images-idx3-ubyte.gz", "mnist/train-labels-idx1-ubyte.gz", 60_000),
    False: ("mnist/t10k-images-idx3-ubyte.gz", "mnist/t10k-labels-idx1-ubyte.gz", 10_000),
}


class DataError(RuntimeError):
    """A shipped data file cannot be used; the message says which one and how to fix it."""


class MissingDataError(DataError, FileNotFoundError):
    """A data file is not where the course looks for it."""


class DataFolderError(MissingDataError):
    """The data folder itself is wrong: missing, a file, or not the folder that holds mnist/ and tinyshakespeare/."""


class CorruptDataError(DataError):
    """A data file is there but its bytes are not the ones the course shipped."""


class UnreadableDataError(DataError, PermissionError):
    """A data file or folder is there but this user may not read it (or the cache may not be written)."""


def _fix_hint(relative: str) -> str:
    return (
        f"To fix it, restore the file from the course repository (in a git checkout: "
        f"`git checkout -- data/{relative}`), or point the environment variable COURSE_DATA_DIR "
        f"at a folder that holds a good copy. The course never downloads data."
    )


def _unreadable(path: Path, error: OSError) -> UnreadableDataError:
    return UnreadableDataError(
        f"{path} cannot be read: {error.strerror or error} (the file, or a folder above it, is not readable by "
        f"this user). Fix the permissions, e.g. `chmod -R u+rX {data_dir()}`, or point COURSE_DATA_DIR at a "
        "readable copy of the data folder."
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_data_folder() -> Path:
    """The data folder (``data_dir()``), after checking that it is one: it exists and holds mnist/ or tinyshakespeare/.

    A wrong folder gets one ``DataFolderError`` that says what is wrong with the folder itself and what it
    should contain, instead of one "file missing" message per file.
    """
    root = data_dir()
    from_variable = bool(os.environ.get("COURSE_DATA_DIR", "").strip())
    named = f"COURSE_DATA_DIR points at {root}, which" if from_variable else f"The course's data folder {root}"
    try:
        if not root.exists():
            problem, hint = "does not exist", ""
        elif not root.is_dir():
            problem, hint = "is a file, not a folder", ""
        elif any((root / folder).is_dir() for folder in _DATASET_FOLDERS):
            return root
        else:
            problem, hint = "holds neither mnist/ nor tinyshakespeare/", ""
            if any((root / Path(relative).name).is_file() for relative in CHECKSUMS):
                hint = f" It looks like one of those folders itself: point at the folder above it, {root.parent}."
            elif (root / "data").is_dir():
                hint = f" It holds a data/ folder: point at {root / 'data'}."
    except PermissionError as error:
        raise _unreadable(root, error) from None
    fix = (
        " Point COURSE_DATA_DIR at the right folder, or unset it to use the course's own data/."
        if from_variable
        else " Restore it from the course repository (in a git checkout: `git checkout -- data`), or set "
        "COURSE_DATA_DIR to a folder with a good copy."
    )
    raise DataFolderError(
        f"{named} {problem}. The data folder should contain mnist/ (the four MNIST .gz files) and "
        f"tinyshakespeare/ (input.txt), like data/ in the course repository.{hint}{fix}"
    )


def verify_file(relative: str) -> Path:
    """Return the path of a shipped file in ``data_dir()`` after checking it exists and its SHA-256 matches."""
    if relative not in CHECKSUMS:
        raise KeyError(f"{relative!r} is not a file the course ships; known files: {', '.join(CHECKSUMS)}.")
    path = check_data_folder() / relative
    try:
        if not path.is_file():
            where = "the folder named by COURSE_DATA_DIR" if os.environ.get("COURSE_DATA_DIR") else "the data folder"
            raise MissingDataError(f"Data file {path} is missing ({where}). " + _fix_hint(relative))
        actual = _sha256(path)
    except PermissionError as error:
        raise _unreadable(path, error) from None
    if actual != CHECKSUMS[relative]:
        size = path.stat().st_size
        raise CorruptDataError(
            f"Data file {path} is corrupt: its SHA-256 checksum is {actual[:12]}… but the course shipped "
            f"{CHECKSUMS[relative][:12]}… ({size:,} bytes on disk; an interrupted copy, a Git LFS pointer or an "
            f"edited file looks like this). Nothing was loaded. " + _fix_hint(relative)
        )
    return path


def data_status() -> dict[str, str]:
    """``{file: 'ok' | 'missing' | 'corrupt' | 'unreadable'}`` for every shipped file, for ``doctor``."""
    status = {}
    for relative in CHECKSUMS:
        try:
            verify_file(relative)
            status[relative] = "ok"
        except MissingDataError:
            status[relative] = "missing"
        except CorruptDataError:
            status[relative] = "corrupt"
        except UnreadableDataError:
            status[relative] = "unreadable"
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


def _mnist_uint8(train: bool) -> tuple[np.ndarray, np.ndarray]:
    # Not cached: keeping the 55 MB of raw bytes alive for the whole session cost more (a Binder kernel
    # has 2 GB) than verifying and decompressing again on the rare second call (about 0.3 s).
    images_rel, labels_rel, count = _MNIST_FILES[train]
    images = _read_idx(verify_file(images_rel), images_rel, (count, 28, 28))
    labels = _read_idx(verify_file(labels_rel), labels_rel, (count,))
    return images, labels


def load_mnist(train: bool = True, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST as whole tensors: images float32 ``(N, 1, 28, 28)`` in [0, 1], labels int64 ``(N,)``.

    ``train=False`` gives the 10,000 test images. ``limit`` keeps the first ``limit``
    examples (fast mode and quick experiments). Files are checksum-verified first.
    """
    check_bool("train", train, why="True gives the 60,000 training images, False the 10,000 test images.")
    if limit is not None:
        limit = check_whole_number("limit", limit, 1, unit="examples", why="Or None for all of them.")
    images, labels = _mnist_uint8(bool(train))
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    x = torch.from_numpy(images.astype(np.float32)).div_(255.0).unsqueeze(1)  # one float32 copy, scaled in place
    y = torch.from_numpy(labels.astype(np.int64))
    return x, y


def normalize_mnist(images: torch.Tensor) -> torch.Tensor:
    r"""``(images - MNIST_MEAN) / MNIST_STD``: pixels in [0, 1] become mean about 0, standard deviation about 1.

    The statistics are the training set's, applied unchanged to validation and test images. Refuses
    images outside [0, 1] (raw 0-255 bytes, or images normalised already), which would silently train
    on the wrong scale. Returns a new tensor; ``torchvision.transforms.Normalize((MNIST_MEAN,), (MNIST_STD,))``
    does the same per image.
    """
    if not isinstance(images, torch.Tensor) or not torch.is_floating_point(images):
        got = images.dtype if isinstance(images, torch.Tensor) else type(images).__name__
        raise TypeError(
            f"normalize_mnist expects a floating-point tensor of pixels in [0, 1] (what load_mnist "
            f"returns), got {got}. Raw bytes 0-255 become that with images.float() / 255."
        )
    if images.numel() and (float(images.min()) < 0.0 or float(images.max()) > 1.0):
        raise ValueError(
            f"normalize_mnist expects pixels in [0, 1] (what load_mnist returns), but these range from "
            f"{float(images.min()):.3g} to {float(images.max()):.3g}. Were they normalised already, or still 0-255?"
        )
    return (images - MNIST_MEAN).div_(MNIST_STD)  # one new tensor, divided in place


def denormalize_mnist(images: torch.Tensor) -> torch.Tensor:
    """The inverse of ``normalize_mnist``: back to pixels in [0, 1], e.g. to show normalised images."""
    return images * MNIST_STD + MNIST_MEAN


#: SHA-256 of each file decompressed from the shipped archive: the torchvision cache is checked against
#: these before every use, so a cached copy that changed on disk (a flipped byte, a half-written file) is
#: rebuilt from the verified archive instead of being read.
_RAW_CHECKSUMS = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",  # 47,040,016 bytes
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",  # 60,008 bytes
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",  # 7,840,016 bytes
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",  # 10,008 bytes
}


def _torchvision_root(train: bool) -> Path:
    """Decompress the verified archives into the cache, where torchvision looks for them.

    torchvision wants all four files present; the two of the split asked for are checked against
    ``_RAW_CHECKSUMS`` on every call and rebuilt if they differ. Each file is written to a temporary
    name and renamed, so an interrupted run never leaves a half-written file that torchvision would read.
    """
    root = cache_dir() / "torchvision"
    raw = root / "MNIST" / "raw"
    try:
        raw.mkdir(parents=True, exist_ok=True)
        for name, checksum in _RAW_CHECKSUMS.items():
            target = raw / name
            read_now = name.startswith("train" if train else "t10k")
            if target.is_file() and (not read_now or _sha256(target) == checksum):
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
    except PermissionError as error:
        raise UnreadableDataError(
            f"Cannot use the cache folder {raw} for torchvision's copy of MNIST: {error.strerror or error}. "
            "Set the environment variable COURSE_CACHE_DIR to a folder you can write to."
        ) from None
    return root


def mnist_torchvision(
    train: bool = True, transform: Callable | None = None, target_transform: Callable | None = None
) -> torch.utils.data.Dataset:
    """MNIST as a ``torchvision.datasets.MNIST``: PIL images, per-item transforms, DataLoader.

    This is the usual tutorial route, taught in the MLP/CNN chapters. It reads the same
    verified files (decompressed once into the cache folder) and never downloads.
    """
    from torchvision.datasets import MNIST

    check_bool("train", train, why="True gives the 60,000 training images, False the 10,000 test images.")
    return MNIST(
        str(_torchvision_root(train)),
        train=train,
        transform=transform,
        target_transform=target_transform,
        download=False,
    )


# ----------------------------------------------------------------------------- text
def load_tiny_shakespeare() -> str:
    """The Tiny Shakespeare corpus (about 1.1 million characters), checksum-verified."""
    return verify_file("tinyshakespeare/input.txt").read_text(encoding="utf-8")


# ----------------------------------------------------------------------------- batching
def _examples(tensors: tuple, where: str) -> int:
    """The common number of examples (first dimension) of ``tensors``, after checking they are tensors that agree."""
    if not tensors:
        raise ValueError(f"{where} needs at least one tensor, e.g. {where}(x, y).")
    for i, t in enumerate(tensors, start=1):
        if not isinstance(t, torch.Tensor):
            raise TypeError(
                f"{where} takes tensors, but argument {i} is a {type(t).__name__}. Convert it first: "
                "torch.tensor(values) for numbers, torch.stack(items) for a list of tensors, torch.from_numpy(array)."
            )
        if t.dim() == 0:
            raise ValueError(f"{where}: argument {i} is a single number (a 0-d tensor); it needs one row per example.")
    sizes = [len(t) for t in tensors]
    if len(set(sizes)) != 1:
        raise ValueError(f"All tensors must have the same number of examples (first dimension); got {sizes}.")
    return sizes[0]


class MNISTDataset(torch.utils.data.Dataset):
    """MNIST as most PyTorch code reads data: a ``Dataset`` that builds one ``(image, label)`` pair per index.

    ``dataset[i]`` turns the i-th stored byte image into a float32 tensor ``(1, 28, 28)``, scaled to [0, 1]
    and, with ``normalize=True``, normalised like ``normalize_mnist`` (what torchvision's ``ToTensor`` and
    ``Normalize`` do per image); the label is a Python int. A ``torch.utils.data.DataLoader`` calls it once
    per example and stacks the results into batches: the standard idiom, and the Python work per image
    that ``TensorBatchLoader`` avoids (chapter 06 measures the difference).

    The class lives in course_lib rather than in a notebook because DataLoader workers (``num_workers > 0``)
    on macOS and Windows start fresh processes that import the dataset's class by name; a class defined in
    a notebook cannot be imported there. Only the bytes are stored (47 MB for the training set).
    """

    def __init__(self, train: bool = True, limit: int | None = None, normalize: bool = True) -> None:
        check_bool("train", train, why="True gives the 60,000 training images, False the 10,000 test images.")
        check_bool(
            "normalize", normalize, why="True subtracts MNIST_MEAN and divides by MNIST_STD, as normalize_mnist does."
        )
        if limit is not None:
            limit = check_whole_number("limit", limit, 1, unit="examples", why="Or None for all of them.")
        images, labels = _mnist_uint8(bool(train))
        self.images, self.labels = images[:limit], labels[:limit]
        self.normalize = bool(normalize)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if isinstance(index, torch.Tensor) and index.dim() == 0 and not index.is_floating_point():
            index = int(index)  # Subset(dataset, indices_tensor) hands over 0-d tensors
        if not isinstance(index, (int, np.integer)) or isinstance(index, bool):
            raise TypeError(
                f"MNISTDataset is indexed by one whole number (an example), got {type(index).__name__}; "
                "a DataLoader asks for one example at a time."
            )
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} is out of range for {len(self)} examples.")
        image = torch.from_numpy(self.images[index].astype(np.float32)).div_(255.0).unsqueeze(0)
        if self.normalize:
            image = image.sub_(MNIST_MEAN).div_(MNIST_STD)
        return image, int(self.labels[index])


class TensorBatchLoader:
    """Batches from whole tensors kept on the device: no workers, no per-item Python work.

    For data that fits in memory (MNIST is 190 MB as float32) this is many times faster
    than a DataLoader that builds each example one by one. ``transform`` runs on a whole
    batch at once (e.g. random shifts for augmentation). Every batch is a fresh copy, as a
    DataLoader's are, so a transform (or your loop) may change it in place without touching
    the stored tensors.

    ``state_dict()`` / ``load_state_dict()`` save and restore where the loader is, so that a
    training run resumed in a new process sees exactly the batches it would have seen (chapter 10):

    - the position is *per epoch*: how many batches of the epoch in progress were handed out
      (0 between epochs); a restored loader's next pass finishes that epoch, in that epoch's
      order, and the passes after it are whole epochs again;
    - the shuffled order of the epoch in progress, and the state of ``generator`` (so later
      epochs draw the same orders). Without a ``generator`` the next epochs' orders come from
      PyTorch's global random state, which a checkpoint then has to save and restore itself
      (``torch.get_rng_state()``). A random ``transform`` keeps its own generator: save that too.

    One pass at a time: starting a new ``for`` loop over the loader before the last one finished
    starts a new epoch (as with a DataLoader).
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
        n = _examples(tensors, "TensorBatchLoader")
        self.batch_size = check_whole_number("batch_size", batch_size, 1, unit="examples")
        check_bool("shuffle", shuffle)
        check_bool("drop_last", drop_last)
        if transform is not None and not callable(transform):
            raise TypeError(f"transform must be a function that takes a batch and returns one, got {transform!r}.")
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(
                f"generator must be a torch.Generator (e.g. torch.Generator().manual_seed(0)) or None, "
                f"got {type(generator).__name__}."
            )
        if drop_last and 0 < n < batch_size:
            raise ValueError(
                f"drop_last=True drops the last incomplete batch, and with {n} examples and batch_size={batch_size} "
                "the only batch is incomplete: the loader would yield nothing. Use a smaller batch_size, or "
                "drop_last=False."
            )
        if device is not None:
            device = get_device(device)  # an unknown or unavailable device is named here, not deep inside torch
        self.tensors = tuple(t.to(device) if device is not None else t for t in tensors)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.transform = transform
        self.generator = generator
        self.epochs_completed = 0
        self._order: torch.Tensor | None = None  # the shuffled order of the epoch in progress (on the CPU)
        self._position = 0  # batches of the epoch in progress handed out so far
        self._resume: tuple[torch.Tensor | None, int] | None = None  # set by load_state_dict

    @property
    def num_examples(self) -> int:
        return len(self.tensors[0])

    def __len__(self) -> int:
        if self.drop_last:
            return self.num_examples // self.batch_size
        return math.ceil(self.num_examples / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        if self._resume is not None:
            order, start = self._resume
            self._resume = None
        else:
            order = torch.randperm(self.num_examples, generator=self.generator) if self.shuffle else None
            start = 0
        self._order, self._position = order, start
        on_device = order.to(self.tensors[0].device) if order is not None else None
        for batch in range(start, len(self)):
            first = batch * self.batch_size
            if on_device is not None:
                index = on_device[first : first + self.batch_size]
                items = [t[index] for t in self.tensors]  # indexing with a tensor copies
            else:
                items = [t[first : first + self.batch_size].clone() for t in self.tensors]  # a slice is a view
            if self.transform is not None:
                items[0] = self.transform(items[0])
            self._position = batch + 1
            yield tuple(items)
        self._order, self._position = None, 0
        self.epochs_completed += 1

    def state_dict(self) -> dict[str, Any]:
        """Where the loader is, as plain Python values and tensors (``torch.save`` with ``weights_only`` loads it)."""
        order, position = self._resume if self._resume is not None else (self._order, self._position)
        return {
            "num_examples": self.num_examples,
            "batch_size": self.batch_size,
            "shuffle": self.shuffle,
            "drop_last": self.drop_last,
            "epochs_completed": self.epochs_completed,
            "position": position,
            "order": None if order is None else order.clone(),
            "generator_state": None if self.generator is None else self.generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state`` (from ``state_dict()``): the next pass yields what the saved loader would have."""
        if not isinstance(state, dict) or "position" not in state or "order" not in state:
            raise ValueError("load_state_dict expects the dict that TensorBatchLoader.state_dict() returned.")
        for key in ("num_examples", "batch_size", "shuffle", "drop_last"):
            if state[key] != getattr(self, key):
                raise ValueError(
                    f"This state was saved from a loader with {key}={state[key]!r}, but this loader has "
                    f"{key}={getattr(self, key)!r}: create the loader with the same data and settings, then load it."
                )
        if (state["generator_state"] is None) != (self.generator is None):
            saved = "with" if state["generator_state"] is not None else "without"
            raise ValueError(
                f"This state was saved from a loader {saved} a generator; create this loader {saved} one too "
                "(generator=torch.Generator()), so that the next epochs' orders can be restored."
            )
        position = state["position"]
        if not isinstance(position, int) or not 0 <= position <= len(self):
            raise ValueError(f"state['position'] must be a batch count from 0 to {len(self)}, got {position!r}.")
        if self.generator is not None:
            self.generator.set_state(state["generator_state"])
        self.epochs_completed = int(state["epochs_completed"])
        order = state["order"]
        if position == 0 and order is None:
            self._resume = None  # between epochs: the next pass draws a new order from the restored generator
        else:
            self._resume = (None if order is None else order.clone(), position)


def train_val_split(
    *tensors: torch.Tensor, val_fraction: float = 0.1, seed: int = 0
) -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
    """Shuffle once with a fixed seed and split into (train tensors, validation tensors).

    The validation split gets ``round(n * val_fraction)`` examples (at least 1) and the
    training split the rest, which must not be empty.
    """
    n = _examples(tensors, "train_val_split")
    train_idx, val_idx = train_val_indices(n, val_fraction, seed, where="train_val_split")
    return tuple(t[train_idx] for t in tensors), tuple(t[val_idx] for t in tensors)


def train_val_indices(
    n: int, val_fraction: float = 0.1, seed: int = 0, where: str = "train_val_indices"
) -> tuple[torch.Tensor, torch.Tensor]:
    """The (training, validation) indices ``train_val_split`` uses for ``n`` examples.

    For a ``Dataset``: ``torch.utils.data.Subset(dataset, train_idx)`` then holds exactly the examples
    ``train_val_split`` puts in the training tensors, so both routes train and validate on the same split.
    """
    n = check_whole_number("n", n, 1, unit="examples")
    check_number(
        "val_fraction", val_fraction, above=0, below=1, why="E.g. 0.1 keeps 10% of the examples for validation."
    )
    seed = check_whole_number("seed", seed, 0)
    n_val = max(1, int(round(n * val_fraction)))
    if n - n_val < 1:
        raise ValueError(
            f"{where} needs at least one example on each side, but {n} example(s) with val_fraction="
            f"{val_fraction} leave {n - n_val} for training. Use more examples or a smaller val_fraction."
        )
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return order[n_val:], order[:n_val]


# ----------------------------------------------------------------------------- synthetic
def make_spirals(
    n_per_class: int = 200, n_classes: int = 3, noise: float = 0.2, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Interleaved 2-D spirals, a classic set that no straight line separates."""
    gen = torch.Generator().manual_seed(seed)
    xs, ys = [], []
    for label in range(n_classes):
        radius = torch.linspace(0.05, 1.0, n_per_class)
        angle = torch.linspace(label * 4.0, (label + 1) * 4.0, n_per_class) + noise * torch.randn(
            n_per_class, generator=gen
        )
        xs.append(torch.stack([radius * torch.sin(angle), radius * torch.cos(angle)], dim=1))
        ys.append(torch.full((n_per_class,), label, dtype=torch.int64))
    return torch.cat(xs), torch.cat(ys)


def make_sine_waves(n_series: int = 256, length: int = 100, noise: float = 0.05, seed: int = 0) -> torch.Tensor:
    """Sine waves with random phase and frequency, shape ``(n_series, length)``, for forecasting."""
    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(length, dtype=torch.float32)
    phase = torch.rand(n_series, 1, generator=gen) * 2 * math.pi
    freq = 0.05 + 0.1 * torch.rand(n_series, 1, generator=gen)
    return torch.sin(freq * t + phase) + noise * torch.randn(n_series, length, generator=gen)
