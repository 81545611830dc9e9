"""Import TensorFlow quietly, only in the sections that compare with it.

TensorFlow costs about 0.7 GB of memory and prints pages of C++ log lines on import;
chapters call ``load_tensorflow()`` in their TensorFlow section instead of importing it
at the top, so a learner on Binder (2 GB) can run every chapter.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from types import ModuleType

__all__ = ["load_tensorflow"]


def _load_triton_first() -> None:
    """Load Triton (which PyTorch's CUDA wheels bring) before TensorFlow.

    With torch 2.14.1 and TensorFlow 2.21 on Linux, loading Triton's native library after
    TensorFlow crashes the process (a segmentation fault), and creating any torch optimizer
    loads it: a TensorFlow cell followed by a PyTorch training cell would kill the kernel.
    Loading it first avoids the crash (about 75 MB). Binder's CPU-only PyTorch has no Triton.
    """
    if importlib.util.find_spec("triton") is not None:
        try:
            import triton  # noqa: F401
        except Exception:  # a broken Triton only matters to torch.compile, not to the course
            pass


@contextlib.contextmanager
def _native_log_lines_held_back() -> Iterator[None]:
    """Hold back what native code writes to stderr (file descriptor 2) while TensorFlow starts.

    TF_CPP_MIN_LOG_LEVEL does not reach the absl lines TensorFlow's CUDA stubs print on a machine
    without a GPU ("Could not find cuda drivers ..."), which read like an error to a beginner. They
    go to a temporary file instead; if starting TensorFlow fails, they are written out after all.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no real stderr (some embedded interpreters): change nothing
        yield
        return
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        failed = False
        try:
            yield
        except BaseException:
            failed = True
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            if failed:
                held.seek(0)
                sys.stderr.write(held.read().decode(errors="replace"))


def load_tensorflow(threads: int | None = None) -> ModuleType:
    """Import and return ``tensorflow`` with its log noise silenced and GPU memory growth on.

    Raises ``ImportError`` with the fix when TensorFlow is not installed.
    """
    os.environ.setdefault(
        "TF_CPP_MIN_LOG_LEVEL", "3"
    )  # hide C++ log lines (a CPU-only machine gets a scary cuInit error line); real errors still raise in Python
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # silence the oneDNN notice; results stay exact
    _load_triton_first()
    try:
        with warnings.catch_warnings(), _native_log_lines_held_back():
            warnings.simplefilter("ignore")
            import tensorflow as tf

            tf.config.list_physical_devices()  # CUDA stubs print their lines here, on first use
    except ImportError as error:
        raise ImportError(
            "TensorFlow is not installed, so this TensorFlow section cannot run. The PyTorch parts of the chapter "
            "work without it. To install it: pip install -r requirements.txt (from the course folder)."
        ) from error
    tf.get_logger().setLevel("ERROR")
    from .device import usable_cpus

    cpus = threads or usable_cpus()
    try:  # must happen before TensorFlow runs anything; ignore if a cell already ran TF code
        tf.config.threading.set_intra_op_parallelism_threads(cpus)
        tf.config.threading.set_inter_op_parallelism_threads(min(2, cpus))
        for gpu in tf.config.list_physical_devices("GPU"):
            tf.config.experimental.set_memory_growth(gpu, True)
    except RuntimeError:
        pass
    return tf
