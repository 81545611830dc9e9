"""Text as numbers for a character-level language model: a vocabulary, nanoGPT's split, and batch loaders.

- ``CharVocabulary`` maps each character to an id and back (Tiny Shakespeare has 65 characters).
- ``split_text`` cuts a text where nanoGPT's ``shakespeare_char`` does (the first 90% trains, the
  last 10% validates), so our validation losses compare with its published ones.
- ``StreamLoader`` feeds truncated back-propagation through time (时间反向传播): the text is cut into
  ``batch_size`` contiguous streams and read ``window`` characters at a time, in order, so the
  hidden state at the end of one window is the right start for the next.
- ``CharWindows`` with ``random_window_loader`` is what most tutorials do instead: independent
  windows in random order through a DataLoader, each starting from a blank state.

Ids are int64 tensors (what ``nn.Embedding`` and ``cross_entropy`` take); the whole text stays in
one tensor and every batch is a slice of it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from .arguments import check_number, check_whole_number
from .data import load_tiny_shakespeare

__all__ = [
    "UnknownCharacterError",
    "CharVocabulary",
    "split_text",
    "CharCorpus",
    "load_shakespeare_chars",
    "StreamLoader",
    "CharWindows",
    "random_window_loader",
]

#: nanoGPT's data/shakespeare_char/prepare.py: ``train = data[:int(n * 0.9)]``, ``val = data[int(n * 0.9):]``.
NANOGPT_TRAIN_FRACTION = 0.9


class UnknownCharacterError(ValueError):
    """A text holds a character the vocabulary does not know."""


def _code_points(text: str) -> np.ndarray:
    """The Unicode code point of every character, as one array (no Python loop over the text)."""
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


class CharVocabulary:
    """The sorted set of characters of a text; ``encode`` turns text into ids, ``decode`` turns ids back.

    >>> vocab = CharVocabulary("hello")
    >>> vocab.chars, vocab.encode("hell").tolist(), vocab.decode([3, 2])
    ('ehlo', [1, 0, 2, 2], 'ol')
    """

    def __init__(self, text: str) -> None:
        if not isinstance(text, str):
            raise TypeError(
                f"CharVocabulary is built from a str (the text, or its characters), got {type(text).__name__}."
            )
        if not text:
            raise ValueError("CharVocabulary needs a non-empty text to collect its characters from.")
        self._codes = np.unique(_code_points(text))  # sorted, like nanoGPT's sorted(set(text))
        self.chars = "".join(map(chr, self._codes.tolist()))

    def __len__(self) -> int:
        return len(self.chars)

    @property
    def size(self) -> int:
        """How many characters: the number of inputs of the embedding and of outputs of the last layer."""
        return len(self.chars)

    def __repr__(self) -> str:
        return f"CharVocabulary({self.size} characters: {self.chars!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CharVocabulary) and other.chars == self.chars

    def __hash__(self) -> int:
        return hash(self.chars)

    def __contains__(self, char: object) -> bool:
        return isinstance(char, str) and len(char) == 1 and char in self.chars

    def encode(self, text: str) -> torch.Tensor:
        """The ids of ``text``, an int64 tensor of ``len(text)``; a character outside the vocabulary is an error."""
        if not isinstance(text, str):
            raise TypeError(f"encode takes a str, got {type(text).__name__}.")
        codes = _code_points(text)
        ids = np.searchsorted(self._codes, codes)
        known = self._codes[np.minimum(ids, len(self._codes) - 1)] == codes
        if not known.all():
            where = int(np.argmin(known))
            raise UnknownCharacterError(
                f"The character {text[where]!r} (position {where}) is not one of the {self.size} characters of this "
                f"vocabulary; use only these: {self.chars!r}."
            )
        return torch.from_numpy(ids.astype(np.int64))

    def decode(self, ids: torch.Tensor | Sequence[int] | np.ndarray) -> str:
        """The text that ``ids`` stand for (a 1-D tensor, array or list of ints)."""
        array = ids.detach().cpu().numpy() if isinstance(ids, torch.Tensor) else np.asarray(ids)
        if array.ndim != 1:
            raise ValueError(
                f"decode takes one sequence of ids (1-D), got shape {tuple(array.shape)}; decode each row."
            )
        if array.size and not np.issubdtype(array.dtype, np.integer):
            raise TypeError(f"decode takes whole-number ids, got {array.dtype}.")
        if array.size and (array.min() < 0 or array.max() >= self.size):
            bad = int(array[(array < 0) | (array >= self.size)][0])
            raise ValueError(
                f"Id {bad} is outside this vocabulary of {self.size} characters (ids 0 to {self.size - 1})."
            )
        return self._codes[array.astype(np.int64)].tobytes().decode("utf-32-le")


def split_text(text: str | torch.Tensor, train_fraction: float = NANOGPT_TRAIN_FRACTION) -> tuple:
    """``(train, validation)``: the first ``int(n * train_fraction)`` items and the rest, not shuffled.

    With the default 0.9 this is exactly nanoGPT's cut of Tiny Shakespeare (1,003,854 training and
    111,540 validation characters). A text is not shuffled: the validation part is a later stretch
    of the play the model has never read, which is what "generalise" means for text.
    """
    check_number("train_fraction", train_fraction, above=0, below=1, why="nanoGPT trains on the first 0.9.")
    cut = int(len(text) * train_fraction)
    if cut == 0 or cut == len(text):
        raise ValueError(
            f"A text of {len(text)} characters is too short to split with train_fraction={train_fraction}."
        )
    return text[:cut], text[cut:]


@dataclass(frozen=True)
class CharCorpus:
    """A text ready for a character model: its vocabulary and the ids of the training and validation parts."""

    vocab: CharVocabulary
    train: torch.Tensor
    val: torch.Tensor


def load_shakespeare_chars(train_fraction: float = NANOGPT_TRAIN_FRACTION) -> CharCorpus:
    """Tiny Shakespeare (checksum-verified) as ids, with the vocabulary of the whole text and nanoGPT's split."""
    text = load_tiny_shakespeare()
    vocab = CharVocabulary(text)
    ids = vocab.encode(text)
    train, val = split_text(ids, train_fraction)
    return CharCorpus(vocab, train, val)


def _check_ids(ids: torch.Tensor, who: str) -> None:
    if not isinstance(ids, torch.Tensor) or ids.ndim != 1 or ids.dtype.is_floating_point or ids.dtype == torch.bool:
        described = f"shape {tuple(ids.shape)}, {ids.dtype}" if isinstance(ids, torch.Tensor) else type(ids).__name__
        raise TypeError(f"{who} takes the text as one 1-D tensor of integer ids (vocab.encode(text)), got {described}.")


class StreamLoader:
    """Windows for truncated back-propagation through time: ``batch_size`` streams read in order.

    The ids are cut into ``batch_size`` contiguous streams (row ``b`` is the ``b``-th stretch of the
    text), and each batch is the next ``window`` characters of every stream: ``(inputs, targets)``,
    both ``(batch_size, window)``, the targets being the inputs shifted by one character. Row ``b`` of
    one batch continues exactly where row ``b`` of the previous batch ended, so a model may carry its
    hidden state (detached) from each batch to the next. The last window is shorter when the streams
    do not divide evenly, unless ``drop_last=True``. The whole text is one tensor (on ``device``);
    each batch is a view of it.
    """

    def __init__(
        self,
        ids: torch.Tensor,
        batch_size: int,
        window: int,
        *,
        drop_last: bool = False,
        device: torch.device | str | None = None,
    ) -> None:
        _check_ids(ids, "StreamLoader")
        check_whole_number("batch_size", batch_size, 1, unit="streams")
        check_whole_number("window", window, 1, unit="characters")
        stream_length = (len(ids) - 1) // batch_size  # every stream needs one more character for its last target
        if stream_length < 1 or (drop_last and stream_length < window):
            need = batch_size * (window if drop_last else 1) + 1
            raise ValueError(
                f"{len(ids)} characters are too few for {batch_size} streams (need at least {need}); "
                "use a smaller batch_size or window."
            )
        used = batch_size * stream_length
        ids = ids.to(device=device, dtype=torch.int64)
        self.inputs = ids[:used].view(batch_size, stream_length)
        self.targets = ids[1 : used + 1].view(batch_size, stream_length)
        self.batch_size, self.window, self.drop_last = batch_size, window, drop_last

    @property
    def stream_length(self) -> int:
        """Characters each stream holds (inputs), i.e. time steps per stream in one pass."""
        return self.inputs.shape[1]

    def __len__(self) -> int:
        if self.drop_last:
            return self.stream_length // self.window
        return math.ceil(self.stream_length / self.window)

    @property
    def characters_per_pass(self) -> int:
        """How many characters one pass predicts (every stream, every window)."""
        steps = len(self) * self.window if self.drop_last else self.stream_length
        return self.batch_size * steps

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for start in range(0, len(self) * self.window, self.window):
            yield self.inputs[:, start : start + self.window], self.targets[:, start : start + self.window]


class CharWindows(Dataset):
    """Independent windows of a text, one item each, as a tutorial's ``Dataset`` (pair it with a DataLoader).

    Item ``i`` is ``(inputs, targets)``: ``window`` characters starting at ``i * stride`` and the same
    shifted by one. With ``stride=window`` (the default) the windows do not overlap. Every item is cut
    by Python one at a time, which is what most tutorials do; ``StreamLoader`` is the fast, stateful way.
    """

    def __init__(self, ids: torch.Tensor, window: int, stride: int | None = None) -> None:
        _check_ids(ids, "CharWindows")
        check_whole_number("window", window, 1, unit="characters")
        stride = window if stride is None else stride
        check_whole_number("stride", stride, 1, unit="characters")
        if len(ids) < window + 1:
            raise ValueError(f"{len(ids)} characters are too few for one window of {window} (need {window + 1}).")
        self.ids, self.window, self.stride = ids.to(torch.int64), window, stride

    def __len__(self) -> int:
        return (len(self.ids) - self.window - 1) // self.stride + 1

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"Window {index} does not exist: there are {len(self)} windows.")
        start = (index % len(self)) * self.stride
        chunk = self.ids[start : start + self.window + 1]
        return chunk[:-1], chunk[1:]


def random_window_loader(
    ids: torch.Tensor,
    batch_size: int,
    window: int,
    *,
    stride: int | None = None,
    generator: torch.Generator | None = None,
) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
    """The tutorial way: ``CharWindows`` shuffled through a ``DataLoader`` (full batches only)."""
    check_whole_number("batch_size", batch_size, 1, unit="windows")
    windows = CharWindows(ids, window, stride)
    if len(windows) < batch_size:
        raise ValueError(f"Only {len(windows)} windows of {window} characters, fewer than one batch of {batch_size}.")
    return DataLoader(windows, batch_size=batch_size, shuffle=True, drop_last=True, generator=generator)
