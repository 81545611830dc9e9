"""Callbacks: code ``fit`` calls at fixed points of training, so the loop itself never changes.

``Callback`` is the base class with every hook; ``TrainingRun`` is what a callback can reach while
``fit`` runs (model, optimizer, scheduler, gradient scaler, epoch, step, history): enough to
write a checkpoint or a TensorBoard log without touching the loop. ``EarlyStopping`` and
``BestWeights`` are the two every chapter uses.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .history import History

__all__ = ["BestWeights", "Callback", "EarlyStopping", "TrainingRun", "monitor_mode"]


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
            raise ValueError(f"Cannot tell from the name whether a lower or a higher {monitor!r} is better: "
                             "pass mode='min' (lower is better, like a loss) or mode='max' (like an accuracy).")
        return named
    if named is not None and mode != named:
        better = "higher" if named == "max" else "lower"
        raise ValueError(f"A {better} {monitor!r} is better, so mode={mode!r} would keep the worst epoch. "
                         f"Use mode={named!r}, or leave mode out and it is read from the name.")
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

    def __init__(self, monitor: str = "val_loss", patience: int = 3, min_delta: float = 0.0,
                 mode: str | None = None) -> None:
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
