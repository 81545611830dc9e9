"""Callbacks: code ``fit`` calls at fixed points of training, so the loop itself never changes.

``Callback`` is the base class with every hook; ``TrainingRun`` is what a callback can reach while
``fit`` runs (model, optimizer, scheduler, gradient scaler, epoch, step, history): enough to
write a checkpoint or a TensorBoard log without touching the loop. ``EarlyStopping`` and
``BestWeights`` are the two every chapter uses; ``Checkpoint`` (chapter 10) saves a checkpoint
that ``fit(..., resume_from=path)`` continues from exactly, and ``restore_training`` is how;
``TensorBoardLogger`` writes TensorBoard's event files.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .history import History

__all__ = [
    "BestWeights",
    "Callback",
    "Checkpoint",
    "EarlyStopping",
    "TensorBoardLogger",
    "TrainingRun",
    "monitor_mode",
    "restore_training",
]


@dataclass
class TrainingRun:
    """What a callback reaches as ``self.run`` while ``fit`` runs.

    - ``model``, ``optimizer``, ``scheduler`` (or None), ``scaler`` (the gradient scaler; disabled
      unless float16 mixed precision is on), ``device``: what a checkpoint saves; a callback's
      ``on_train_begin`` may load saved states into them to resume.
    - ``epoch``: the epoch being trained, counted from 1 (0 before the first); ``epochs``: the
      last epoch this ``fit`` call runs to; ``step``: optimizer steps so far over all epochs
      (kept in ``history.steps``, so a resumed run counts on).
    - ``lr``: the learning rate the last step used; ``error``: the exception that is ending
      training (None while all is well), for ``on_train_end``.
    - ``train_data``: what fit trains on; a checkpoint saves its position and order when it has
      ``state_dict()`` (a ``TensorBatchLoader``), so a resumed run sees the same batches.
    """

    model: nn.Module
    optimizer: Any
    history: History
    device: torch.device
    scheduler: Any = None
    scaler: torch.amp.GradScaler | None = None
    epochs: int = 0
    epoch: int = 0
    lr: float | None = None
    error: BaseException | None = None
    train_data: Any = None

    @property
    def step(self) -> int:
        return self.history.steps


class Callback:
    """Hooks ``fit`` calls while it trains; subclass and override the ones you need.

    Order: ``on_train_begin``; then for each epoch ``on_epoch_begin``, after every optimizer
    step ``on_step_end`` and ``on_batch_end``, and ``on_epoch_end`` (return True to stop
    training); ``on_train_end`` always, also when training stops with an error or Ctrl-C.
    ``fit`` sets ``self.run`` (a ``TrainingRun``) before ``on_train_begin``. A callback that
    keeps state resets it in ``on_train_begin``, so one instance can serve several ``fit`` calls.
    """

    run: TrainingRun | None = None

    def on_train_begin(self, model: nn.Module) -> None:
        """Before the first epoch: reset state here (and, to resume, load saved states into ``self.run``)."""

    def on_epoch_begin(self, epoch: int, model: nn.Module) -> None:
        """Before each training epoch (counted from 1), after the model is put in training mode."""

    def on_step_end(self, step: int, loss: torch.Tensor, lr: float) -> None:
        """After each optimizer step: the step number (from 1, over all epochs), the batch's loss, the rate used.

        ``loss`` is a detached 0-dim tensor still on the device: ``float(loss)`` reads it, and on a
        GPU that waits for the device, so a logger there reads it every few steps, not every step.
        The parameters' ``.grad`` still hold this step's gradients (unscaled), e.g. for histograms.
        """

    def on_batch_end(self, loss: float) -> None:
        """After each optimizer step, with that batch's training loss as a Python number.

        The simple form of ``on_step_end``; when a callback defines it, ``fit`` waits for the
        device after every batch to read the number.
        """

    def on_epoch_end(self, epoch: int, model: nn.Module, history: History) -> bool:
        """After each epoch, with its numbers already in ``history``; return True to stop training."""
        return False

    def on_train_end(self, model: nn.Module, history: History) -> None:
        """After the last epoch, or when training stops early, with an error, or by Ctrl-C."""


# Which way is better, read from the end of a metric's name: val_top5_accuracy is an accuracy.
_HIGHER_IS_BETTER = ("accuracy", "acc", "f1", "precision", "recall", "auc")
_LOWER_IS_BETTER = ("loss", "error", "mse", "mae", "perplexity")


def monitor_mode(monitor: str, mode: str | None = None) -> str:
    """'min' or 'max': whether lower or higher values of ``monitor`` are better.

    Read from the name when ``mode`` is None (losses: min, accuracies: max); a name that does
    not say must be given a mode, and a mode that contradicts the name is refused, since either
    would silently keep the worst epoch.
    """
    if mode is not None and mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' (for losses) or 'max' (for accuracies), got {mode!r}.")
    if not isinstance(monitor, str) or not monitor:
        raise ValueError(f"monitor must name a metric of the history, such as 'val_loss', got {monitor!r}.")
    last_word = monitor.lower().rsplit("_", 1)[-1]
    named = "max" if last_word in _HIGHER_IS_BETTER else "min" if last_word in _LOWER_IS_BETTER else None
    if mode is None:
        if named is None:
            raise ValueError(
                f"Cannot tell from the name whether a lower or a higher {monitor!r} is better: "
                "pass mode='min' (lower is better, like a loss) or mode='max' (like an accuracy)."
            )
        return named
    if named is not None and mode != named:
        better = "higher" if named == "max" else "lower"
        raise ValueError(
            f"A {better} {monitor!r} is better, so mode={mode!r} would keep the worst epoch. "
            f"Use mode={named!r}, or leave mode out and it is read from the name."
        )
    return mode


def _improved(current: float, best: float, mode: str, min_delta: float) -> bool:
    return current < best - min_delta if mode == "min" else current > best + min_delta


def _worst(mode: str) -> float:
    return math.inf if mode == "min" else -math.inf


def _monitored(history: History, name: str) -> float:
    if name not in history:
        hint = " Pass val_data to fit() to get validation metrics." if name.startswith("val_") else ""
        raise KeyError(f"The callback watches {name!r}, but fit() records only: {', '.join(history.keys())}.{hint}")
    return history[name][-1]


class BestWeights(Callback):
    """Remember the weights of the best epoch and put them back when training ends (also after an error).

    ``mode`` ('min' or 'max') is read from the metric's name when left out.
    """

    def __init__(self, monitor: str = "val_loss", mode: str | None = None) -> None:
        self.monitor, self.mode = monitor, monitor_mode(monitor, mode)
        self.on_train_begin(None)

    def on_train_begin(self, model: nn.Module | None) -> None:
        self.best_value = _worst(self.mode)
        self.best_epoch: int | None = None
        self.best_state: dict[str, torch.Tensor] | None = None

    def on_epoch_end(self, epoch: int, model: nn.Module, history: History) -> bool:
        value = _monitored(history, self.monitor)
        if _improved(value, self.best_value, self.mode, 0.0):
            self.best_value, self.best_epoch = value, epoch
            self.best_state = {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}
        return False

    def on_train_end(self, model: nn.Module, history: History) -> None:
        if self.best_state is not None:
            model.load_state_dict(self.best_state)


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    ``mode`` ('min' or 'max') is read from the metric's name when left out.
    """

    def __init__(
        self, monitor: str = "val_loss", patience: int = 3, min_delta: float = 0.0, mode: str | None = None
    ) -> None:
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise ValueError(f"patience must be at least 1 epoch, got {patience!r}.")
        self.monitor, self.mode = monitor, monitor_mode(monitor, mode)
        self.patience, self.min_delta = patience, min_delta
        self.on_train_begin(None)

    def on_train_begin(self, model: nn.Module | None) -> None:
        self.best_value = _worst(self.mode)
        self.bad_epochs = 0
        self.stopped_epoch: int | None = None

    def on_epoch_end(self, epoch: int, model: nn.Module, history: History) -> bool:
        value = _monitored(history, self.monitor)
        if _improved(value, self.best_value, self.mode, self.min_delta):
            self.best_value, self.bad_epochs = value, 0
            return False
        self.bad_epochs += 1
        if self.bad_epochs >= self.patience:
            self.stopped_epoch = epoch
            return True
        return False


# ----------------------------------------------------------------------------- checkpoints (chapter 10)
_HISTORY_KEY, _EPOCH_KEY = "history", "epoch"


def _has_state(obj: Any) -> bool:
    return callable(getattr(obj, "state_dict", None)) and callable(getattr(obj, "load_state_dict", None))


def _stateful_data(run: TrainingRun) -> dict[str, Any]:
    """The training data's position and order, when it can save them (a TensorBatchLoader can)."""
    return {"train_data": run.train_data} if _has_state(run.train_data) else {}


class Checkpoint(Callback):
    """Save a checkpoint (检查点) at the end of epochs, so ``fit(..., resume_from=path)`` continues exactly.

    Each save goes through ``course_lib.checkpoint.save_checkpoint``: atomic (a crash while saving
    leaves the previous file whole) and verified on load. It holds the model, optimizer,
    scheduler, gradient scaler (when enabled), the training data's position and order (when the
    data has ``state_dict()``, as a ``TensorBatchLoader`` does), the random states, the epoch and
    the history.

    - ``monitor=None``: save every ``every`` epochs and after the last one (the latest state).
    - ``monitor="val_loss"`` (or any metric): keep the best, saving only when that metric improves
      (``mode`` 'min' or 'max' is read from the name). A resumed run counts the best so far from
      the history it resumes with, so it never overwrites a better file with a worse epoch.
    """

    def __init__(
        self, path: str | os.PathLike, *, monitor: str | None = None, mode: str | None = None, every: int = 1
    ) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(
                f"path must be the checkpoint file's path, e.g. 'runs/last.ckpt', got {type(path).__name__}."
            )
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be a whole number of epochs, 1 or more, got {every!r}.")
        if Path(path).is_dir():
            raise ValueError(
                f"{path} is a folder: give Checkpoint a file name inside it, e.g. {Path(path) / 'last.ckpt'}."
            )
        if monitor is not None and every != 1:
            raise ValueError(
                "Give either monitor= (save whenever it improves) or every= (save every few epochs), not both."
            )
        self.path = Path(path)
        self.monitor = monitor
        self.mode = None if monitor is None else monitor_mode(monitor, mode)
        self.every = every
        self.on_train_begin(None)

    def on_train_begin(self, model: nn.Module | None) -> None:
        self.saved_epochs: list[int] = []
        self.best_value = _worst(self.mode) if self.mode else math.nan
        self.best_epoch: int | None = None
        history = self.run.history if self.run is not None else None
        if self.monitor is not None and history is not None and self.monitor in history:
            for epoch, value in enumerate(history[self.monitor], start=1):  # a resumed run: the best so far
                if _improved(value, self.best_value, self.mode, 0.0):
                    self.best_value, self.best_epoch = value, epoch
        parent = self.path.expanduser().parent
        if model is not None and not parent.is_dir():
            parent.mkdir(parents=True, exist_ok=True)  # a fresh run's folder, e.g. runs/experiment-3

    def on_epoch_end(self, epoch: int, model: nn.Module, history: History) -> bool:
        if self.monitor is not None:
            value = _monitored(history, self.monitor)
            if not _improved(value, self.best_value, self.mode, 0.0):
                return False
            self.best_value, self.best_epoch = value, epoch
        elif epoch % self.every and epoch != self.run.epochs:
            return False
        self.save(epoch)
        return False

    def save(self, epoch: int) -> Path:
        """Write the checkpoint now (``fit`` calls it; also usable from your own callback)."""
        from .checkpoint import save_checkpoint  # here: checkpoint.py imports data and device

        run = self.run
        scaler = run.scaler if run.scaler is not None and run.scaler.is_enabled() else None
        path = save_checkpoint(
            self.path,
            run.model,
            run.optimizer,
            run.scheduler,
            scaler,
            stateful=_stateful_data(run),
            **{_EPOCH_KEY: epoch, _HISTORY_KEY: run.history.state_dict()},
        )
        self.saved_epochs.append(epoch)
        return path


def restore_training(path: str | os.PathLike, run: TrainingRun, epochs: int | None = None) -> dict[str, Any]:
    """Load a ``Checkpoint`` file into a run: what ``fit(..., resume_from=path)`` does before its first epoch.

    Restores the model, optimizer, scheduler, gradient scaler, the training data's order, the
    random states and the history (in place, so fit continues with the next epoch); returns the
    checkpoint's extra values. Build the model, optimizer and scheduler as for the saved run.
    ``epochs``: the total the run trains to; a checkpoint already past it is refused, unloaded.
    """
    from .checkpoint import CheckpointMismatchError, inspect_checkpoint, load_checkpoint

    contents = inspect_checkpoint(path)  # verified; says what the file holds before anything changes
    if _HISTORY_KEY not in contents["extra"] or _EPOCH_KEY not in contents["extra"]:
        raise CheckpointMismatchError(
            f"{path} is a checkpoint but not one written during fit (it holds no epoch and history), so fit cannot "
            "tell where to continue. Load it with load_checkpoint(path, model, optimizer) and call fit without "
            "resume_from, or save checkpoints with callbacks=[Checkpoint(path)]."
        )
    saved_epoch = contents["extra"][_EPOCH_KEY]
    if epochs is not None and saved_epoch > epochs:
        raise ValueError(
            f"The checkpoint {path} was saved after epoch {saved_epoch}, past epochs={epochs}; nothing was loaded. "
            f"epochs is the total to reach, counted from the start: to train 3 more, pass epochs={saved_epoch + 3}."
        )
    parts = contents["parts"]
    scaler = run.scaler if "scaler" in parts else None
    stateful = _stateful_data(run) if "train_data" in contents["stateful"] else {}
    if "train_data" in contents["stateful"] and not stateful:
        warnings.warn(
            f"{Path(path).name} holds the order of the training data, but this train_data cannot take "
            "it (it has no load_state_dict()): the resumed run will see other batches.",
            stacklevel=3,
        )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*also holds.*stateful 'train_data'")
        extra = load_checkpoint(path, run.model, run.optimizer, run.scheduler, scaler, stateful=stateful)
    run.history.load_state_dict(extra[_HISTORY_KEY])
    if run.history.epochs != extra[_EPOCH_KEY]:
        raise CheckpointMismatchError(
            f"{path} says it was saved after epoch {extra[_EPOCH_KEY]}, but its history "
            f"holds {run.history.epochs} epochs: it was not written by Checkpoint."
        )
    run.epoch = extra[_EPOCH_KEY]
    return extra


# ----------------------------------------------------------------------------- TensorBoard (chapter 10)
class TensorBoardLogger(Callback):
    """Write what ``fit`` does to TensorBoard event files in ``log_dir``, one folder per run.

    - every ``batch_every`` optimizer steps: the batch's loss and the learning rate
      (``batch/loss``, ``batch/lr``);
    - every epoch: each number of the history (``epoch/train_loss``, ``epoch/val_accuracy``,
      ``epoch/lr``, ...);
    - every ``histograms_every`` epochs (0: never): a histogram of each weight tensor and of its
      last gradient (``weights/<name>``, ``gradients/<name>``).

    Every value is logged at the optimizer step it belongs to, so a run resumed from a checkpoint
    continues the same curves (events the interrupted run wrote after the checkpoint are dropped:
    ``purge_step``). Open TensorBoard with ``tensorboard --logdir runs`` in a terminal, or read the
    files back with ``course_lib.tensorboard_logs.read_scalars`` where no server can run.
    """

    def __init__(self, log_dir: str | os.PathLike, *, batch_every: int = 1, histograms_every: int = 1) -> None:
        if not isinstance(log_dir, (str, os.PathLike)):
            raise TypeError(f"log_dir must be a folder path, e.g. 'runs/adam', got {type(log_dir).__name__}.")
        for name, value, low in (("batch_every", batch_every, 1), ("histograms_every", histograms_every, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be a whole number, {low} or more, got {value!r}.")
        self.log_dir = Path(log_dir)
        self.batch_every, self.histograms_every = batch_every, histograms_every
        self.writer = None

    def on_train_begin(self, model: nn.Module) -> None:
        from .tensorboard_logs import summary_writer

        # A resumed run starts after the checkpoint's last step: drop what a crashed run logged beyond it.
        purge_step = self.run.step + 1 if self.run.step else None
        self.writer = summary_writer(self.log_dir, purge_step=purge_step)

    def on_step_end(self, step: int, loss: torch.Tensor, lr: float) -> None:
        if step % self.batch_every == 0:  # float(loss) waits for a GPU: not every step there
            self.writer.add_scalar("batch/loss", float(loss), step)
            self.writer.add_scalar("batch/lr", lr, step)

    def on_epoch_end(self, epoch: int, model: nn.Module, history: History) -> bool:
        step = self.run.step
        for name, value in history.last().items():
            self.writer.add_scalar(f"epoch/{name}", value, step)
        if self.histograms_every and epoch % self.histograms_every == 0:
            for name, parameter in model.named_parameters():
                self.writer.add_histogram(f"weights/{name}", parameter.detach().float().cpu(), step)
                if parameter.grad is not None:
                    self.writer.add_histogram(f"gradients/{name}", parameter.grad.detach().float().cpu(), step)
        self.writer.flush()
        return False

    def on_train_end(self, model: nn.Module, history: History) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
