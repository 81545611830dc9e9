"""One place that reads the environment: fast mode and the folders the course uses.

Notebooks ask this module, never ``os.environ`` directly, so that a learner, an
instructor and CI all change behaviour the same way.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

#: The repository root when course_lib is used from a checkout (``pip install -e .``).
PROJECT_ROOT = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


def is_fast() -> bool:
    """True when ``COURSE_FAST=1``: notebooks shrink epochs and subsets so CI stays short."""
    return _flag("COURSE_FAST")


def fast_or_full(fast: T, full: T) -> T:
    """Pick the small value in fast mode and the learner's real value otherwise.

    >>> epochs = fast_or_full(fast=1, full=10)
    """
    return fast if is_fast() else full


def strict_exercises() -> bool:
    """True when ``COURSE_STRICT_EXERCISES=1`` (the tests set it): a wrong answer raises."""
    return _flag("COURSE_STRICT_EXERCISES")


def data_dir() -> Path:
    """The folder that holds the datasets: ``$COURSE_DATA_DIR`` or the repository's ``data/``."""
    override = os.environ.get("COURSE_DATA_DIR", "").strip()
    return Path(override).expanduser() if override else PROJECT_ROOT / "data"


def cache_dir() -> Path:
    """A writable folder for derived files (decompressed copies for torchvision).

    ``$COURSE_CACHE_DIR`` or ``~/.cache/deep-learning-course``. Never holds the only copy of
    anything: everything in it can be rebuilt from ``data_dir()``.
    """
    override = os.environ.get("COURSE_CACHE_DIR", "").strip()
    base = Path(override).expanduser() if override else Path.home() / ".cache" / "deep-learning-course"
    return base
