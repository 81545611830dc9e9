"""TensorBoard event files: write them during ``fit`` and read them back without a TensorBoard server.

``TensorBoardLogger`` (in ``callbacks.py``) writes through ``summary_writer``. The server
(``tensorboard --logdir runs``, then http://localhost:6006) draws them interactively; where it
cannot open (Binder without a proxy, a headless test, a notebook read as a page),
``read_scalars`` reads the same files into lists and ``plot_runs`` draws runs side by side.

TensorBoard, once installed, uses TensorFlow whenever it can import it: for the course that
would load 0.7 GB and, before a PyTorch optimizer step, can crash the kernel (see
``tensorflow_setup.py``). ``_without_tensorflow`` makes it use its own small stand-in, which
is all that writing and reading event files need.
"""

from __future__ import annotations

import logging
import os
import sys
import types
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

__all__ = ["Scalars", "list_runs", "plot_runs", "read_scalars", "summary_writer"]


class Scalars(NamedTuple):
    """One logged curve: the optimizer steps and the values at them, in step order."""

    steps: list[int]
    values: list[float]


def _without_tensorflow() -> None:
    """Make TensorBoard use its TensorFlow stand-in (the module it looks for to decide: ``notf``)."""
    sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("tensorboard.compat.notf"))


def summary_writer(log_dir: str | os.PathLike, purge_step: int | None = None) -> Any:
    """A ``torch.utils.tensorboard.SummaryWriter`` for ``log_dir``, without importing TensorFlow."""
    _without_tensorflow()
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as error:  # the tensorboard package is missing
        raise ImportError(
            "Logging for TensorBoard needs the tensorboard package, which the course pins: run "
            "`python course.py setup` again (or pip install -r requirements.txt)."
        ) from error
    Path(log_dir).mkdir(parents=True, exist_ok=True)
    return SummaryWriter(log_dir=str(log_dir), purge_step=purge_step)


def _event_files(log_dir: Path) -> list[Path]:
    return sorted(log_dir.glob("events.out.tfevents.*"))


def read_scalars(log_dir: str | os.PathLike) -> dict[str, Scalars]:
    """Every scalar curve of one run folder, by tag: ``{"epoch/val_loss": Scalars(steps, values)}``.

    Reads the event files as TensorBoard does, including its rule for restarted runs: events a
    crashed run wrote after the step a resumed run starts from are dropped.
    """
    folder = Path(log_dir).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(
            f"There is no run folder {folder}: pass the folder given to TensorBoardLogger(log_dir=...)."
        )
    if not _event_files(folder):
        raise FileNotFoundError(
            f"{folder} holds no TensorBoard event files (events.out.tfevents.*): was it the "
            "log_dir of a TensorBoardLogger that ran? Runs are often one level down, see "
            "list_runs()."
        )
    _without_tensorflow()
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(folder), size_guidance={"scalars": 0})  # 0: keep every point
    quiet = logging.getLogger("tensorboard")  # it reports each purge of a crashed run's extra events
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        accumulator.Reload()
    finally:
        quiet.setLevel(level)
    curves = {}
    for tag in accumulator.Tags()["scalars"]:
        events = sorted(accumulator.Scalars(tag), key=lambda event: event.step)
        curves[tag] = Scalars([event.step for event in events], [float(event.value) for event in events])
    return curves


def list_runs(root: str | os.PathLike) -> list[Path]:
    """The run folders (folders holding event files) under ``root``, sorted by name."""
    root = Path(root).expanduser()
    return sorted({path.parent for path in root.rglob("events.out.tfevents.*")})


def plot_runs(
    runs: Mapping[str, str | os.PathLike],
    tags: Sequence[str] = ("epoch/train_loss", "epoch/val_loss"),
    *,
    x: str = "epoch",
) -> Any:
    """Draw the curves ``tags`` of several runs side by side, one panel a tag; return the figure.

    ``runs`` maps a label to a run folder. ``x="epoch"`` numbers the points of ``epoch/`` tags
    1, 2, 3...; ``x="step"`` uses the optimizer step they were logged at (for ``batch/`` tags).
    """
    import matplotlib.pyplot as plt

    if x not in ("epoch", "step"):
        raise ValueError(f"x must be 'epoch' or 'step', got {x!r}.")
    curves = {label: read_scalars(folder) for label, folder in runs.items()}
    fig, axes = plt.subplots(1, len(tags), figsize=(4.2 * len(tags), 3.3), squeeze=False)
    for ax, tag in zip(axes[0], tags):
        for label, run in curves.items():
            if tag not in run:
                raise KeyError(f"The run {label!r} has no curve {tag!r}; it has: {', '.join(sorted(run))}.")
            steps, values = run[tag]
            where = range(1, len(values) + 1) if x == "epoch" else steps
            ax.plot(where, values, marker="o" if len(values) <= 30 else None, markersize=3, label=label)
        ax.set_title(tag)
        ax.set_xlabel(x)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig
