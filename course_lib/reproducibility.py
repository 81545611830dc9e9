"""Seed every random number generator a chapter touches, so printed results repeat."""

from __future__ import annotations

import os
import random
import sys

import numpy as np
import torch

__all__ = ["seed_everything"]


def seed_everything(seed: int = 0, deterministic: bool = False) -> int:
    """Seed Python, NumPy, PyTorch (CPU and every GPU) and TensorFlow if it is already loaded.

    TensorFlow is seeded only when a notebook has imported it: importing it here would cost
    every chapter about 0.7 GB of memory. ``deterministic=True`` also asks PyTorch for
    deterministic kernels (slower; some GPU operations then raise instead of running).
    Returns the seed, so a notebook can print it.

    It also sets the environment variable ``PYTHONHASHSEED``, which fixes the hashing of
    ``str`` (and so the order of a ``set`` of strings) in Python processes started *after* this
    call: ``subprocess`` runs, DataLoader workers started with ``spawn``. It cannot change the
    running interpreter, whose hash seed was chosen at start-up; to fix that too, start Python
    (or Jupyter) with ``PYTHONHASHSEED`` already set.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be a whole number from 0 to 2**32 - 1, got {seed!r}.")
    os.environ["PYTHONHASHSEED"] = str(seed)  # for child processes only (see the docstring)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    if "tensorflow" in sys.modules:
        import tensorflow as tf

        tf.keras.utils.set_random_seed(seed)
    return seed
