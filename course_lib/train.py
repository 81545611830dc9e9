"""``fit`` and ``evaluate``: the training loop every chapter uses once it has written its own.

The loop is the one chapter 06 writes out by hand (forward, loss, backward, step), plus
what a learner wants around it: the best device, a progress bar, a history to plot, an
optional live plot, callbacks (early stopping, best weights), learning-rate schedules, and
on a GPU mixed precision and channels-last memory. On a CPU those GPU extras stay off.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import torch
from torch import nn

from .device import autocast_for, get_device, to_device

__all__ = ["History", "Callback", "EarlyStopping", "BestWeights", "fit", "evaluate", "predict"]

Batch = Sequence[torch.Tensor]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class History:
    """Per-epoch numbers from ``fit``: ``history["val_loss"]`` is a list with one value an epoch."""

    metrics: dict[str, list[float]] = field(default_factory=dict)
    stopped_early: bool = False

    def add(self, **values: float) -> None:
        for name, value in values.items():
            self.metrics.setdefault(name, []).append(float(value))

    def __getitem__(self, name: str) -> list[float]:
        if name not in self.metrics:
            raise KeyError(f"No metric {name!r} in this history; it has: {', '.join(self.metrics) or 'nothing yet'}.")
        return self.metrics[name]

    def __contains__(self, name: object) -> bool:
        return name in self.metrics

    def keys(self) -> list[str]:
        return list(self.metrics)

    @property
    def epochs(self) -> int:
        return len(self.metrics.get("train_loss", []))

    def last(self) -> dict[str, float]:
        """The numbers of the last epoch, e.g. ``{'train_loss': 0.1, 'val_accuracy': 0.98}``."""
        return {name: values[-1] for name, values in self.metrics.items() if values}


class Callback:
    """Hooks ``fit`` calls; return True from ``on_epoch_end`` to stop training."""

    def on_train_begin(self, model: nn.Module) -> None:
        pass

    def on_batch_end(self, loss: float) -> None:
        """After each optimizer step, with that batch's training loss (e.g. to plot a curve per step)."""

    def on_epoch_end(self, epoch: int, model: nn.Module, history: History) -> bool:
        return False

    def on_train_end(self, model: nn.Module, history: History) -> None:
        pass


def _improved(current: float, best: float, mode: str, min_delta: float) -> bool:
    return current < best - min_delta if mode == "min" else current > best + min_delta


def _check_monitor(monitor: str, mode: str) -> None:
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' (for losses) or 'max' (for accuracies), got {mode!r}.")


class BestWeights(Callback):
    """Remember the weights of the best epoch and put them back when training ends."""

    def __init__(self, monitor: str = "val_loss", mode: str = "min") -> None:
        _check_monitor(monitor, mode)
        self.monitor, self.mode = monitor, mode
        self.best_value = math.inf if mode == "min" else -math.inf
        self.best_epoch: int | None = None
        self.best_state: dict[str, torch.Tensor] | None = None

    def on_epoch_end(self, epoch: int, model: nn.Module, history: History) -> bool:
        value = _monitored(history, self.monitor)
        if _improved(value, self.best_value, self.mode, 0.0):
            self.best_value, self.best_epoch = value, epoch
            self.best_state = copy.deepcopy(model.state_dict())
        return False

    def on_train_end(self, model: nn.Module, history: History) -> None:
        if self.best_state is not None:
            model.load_state_dict(self.best_state)


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs."""

    def __init__(self, monitor: str = "val_loss", patience: int = 3, min_delta: float = 0.0, mode: str = "min") -> None:
        _check_monitor(monitor, mode)
        if patience < 1:
            raise ValueError(f"patience must be at least 1 epoch, got {patience!r}.")
        self.monitor, self.patience, self.min_delta, self.mode = monitor, patience, min_delta, mode
        self.best_value = math.inf if mode == "min" else -math.inf
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


def _monitored(history: History, name: str) -> float:
    if name not in history:
        hint = " Pass val_data to fit() to get validation metrics." if name.startswith("val_") else ""
        raise KeyError(f"The callback watches {name!r}, but fit() records only: {', '.join(history.keys())}.{hint}")
    return history[name][-1]


def _is_classification(output: torch.Tensor, target: torch.Tensor) -> bool:
    return output.ndim == 2 and target.ndim == 1 and not torch.is_floating_point(target)


def _has_conv(model: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def _evaluation_device(model: nn.Module, device: torch.device | str | None) -> torch.device:
    """Where evaluate/predict run: the device asked for (the model moves there), else where the model already is.

    Picking "the best device" here, as fit does, would put the data on a GPU while a model that
    was never trained still sits on the CPU, and the first layer would fail with a device mismatch.
    """
    if device is not None:
        device = get_device(device) if not isinstance(device, torch.device) else device
        model.to(device)
        return device
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


def _prepare(batch: Any, device: torch.device, channels_last: bool) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(batch, (list, tuple)) or len(batch) < 2:
        raise TypeError(
            "Each batch must be a pair (inputs, targets), as a DataLoader or TensorBatchLoader yields; "
            f"got {type(batch).__name__}."
        )
    x, y = to_device(batch[0], device, non_blocking=True), to_device(batch[1], device, non_blocking=True)
    if channels_last and x.ndim == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x, y


@torch.no_grad()
def evaluate(
    model: nn.Module,
    data: Iterable[Batch],
    loss_fn: LossFn | None = None,
    device: torch.device | str | None = None,
) -> dict[str, float]:
    """Average loss (if ``loss_fn`` is given) and accuracy (for class targets) over ``data``.

    Runs where the model is, unless ``device`` is given (then the model moves there).
    """
    device = _evaluation_device(model, device)
    was_training = model.training
    model.eval()
    total_loss, correct, seen = 0.0, 0, 0
    classification = False
    for batch in data:
        x, y = _prepare(batch, device, False)
        output = model(x)
        n = len(y)
        if loss_fn is not None:
            total_loss += float(loss_fn(output, y)) * n
        if _is_classification(output, y):
            classification = True
            correct += int((output.argmax(dim=1) == y).sum())
        seen += n
    model.train(was_training)
    if seen == 0:
        raise ValueError("evaluate() got no batches: the data is empty.")
    results: dict[str, float] = {}
    if loss_fn is not None:
        results["loss"] = total_loss / seen
    if classification:
        results["accuracy"] = correct / seen
    return results


@torch.no_grad()
def predict(model: nn.Module, data: Iterable[Batch | torch.Tensor], device: torch.device | str | None = None) -> torch.Tensor:
    """The model's outputs for every batch, concatenated on the CPU (e.g. logits for a confusion matrix)."""
    device = _evaluation_device(model, device)
    was_training = model.training
    model.eval()
    outputs = []
    for batch in data:
        x = batch if isinstance(batch, torch.Tensor) else batch[0]
        outputs.append(model(x.to(device)).float().cpu())
    model.train(was_training)
    return torch.cat(outputs)


def fit(
    model: nn.Module,
    train_data: Iterable[Batch],
    loss_fn: LossFn,
    optimizer: torch.optim.Optimizer,
    epochs: int = 1,
    *,
    val_data: Iterable[Batch] | None = None,
    device: torch.device | str | None = None,
    scheduler: Any = None,
    scheduler_step: str | None = None,
    callbacks: Sequence[Callback] = (),
    grad_clip: float | None = None,
    mixed_precision: bool | None = None,
    channels_last: bool | None = None,
    live_plot: bool = False,
    progress: bool = True,
) -> History:
    """Train ``model`` for ``epochs`` and return a ``History`` of losses and accuracies.

    - ``device=None`` picks the best device and moves the model there.
    - ``scheduler`` is a ``torch.optim.lr_scheduler`` object; it steps every batch for
      OneCycleLR/CyclicLR and every epoch otherwise (override with ``scheduler_step``).
      ReduceLROnPlateau is stepped with the validation loss.
    - ``mixed_precision`` and ``channels_last`` default to on for CUDA and off elsewhere.
    - ``live_plot=True`` redraws the loss and accuracy curves in the notebook each epoch.
    """
    if not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be a whole number of passes over the data (0 or more), got {epochs!r}.")
    device = get_device(device) if not isinstance(device, torch.device) else device
    use_amp = device.type == "cuda" if mixed_precision is None else bool(mixed_precision and device.type == "cuda")
    use_channels_last = (
        device.type == "cuda" and _has_conv(model) if channels_last is None else bool(channels_last)
    )
    model.to(device)
    if use_channels_last:
        model.to(memory_format=torch.channels_last)
    fp16 = use_amp and not torch.cuda.is_bf16_supported()
    scaler = torch.amp.GradScaler("cuda", enabled=fp16)

    if scheduler_step is None:
        per_batch = (torch.optim.lr_scheduler.OneCycleLR, torch.optim.lr_scheduler.CyclicLR)
        scheduler_step = "batch" if isinstance(scheduler, per_batch) else "epoch"
    if scheduler_step not in ("batch", "epoch"):
        raise ValueError(f"scheduler_step must be 'batch' or 'epoch', got {scheduler_step!r}.")
    plateau = isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)

    from .plots import LivePlot  # matplotlib only when training starts

    plot = LivePlot() if live_plot else None
    history = History()
    for callback in callbacks:
        callback.on_train_begin(model)

    epoch_bar = _progress(range(1, epochs + 1), progress, desc="epochs", unit="epoch")
    # One batch bar, reset each epoch: a new bar per epoch would leave one widget per epoch in the notebook.
    batch_bar = _batch_bar(train_data, progress)
    for epoch in epoch_bar:
        model.train()
        start = time.perf_counter()
        total_loss, correct, seen, classification = 0.0, 0, 0, False
        if batch_bar is not None:
            batch_bar.reset(total=_length(train_data))
            batch_bar.set_description(f"epoch {epoch}")
        for batch in train_data:
            x, y = _prepare(batch, device, use_channels_last)
            with autocast_for(device, use_amp):
                output = model(x)
                loss = loss_fn(output, y)
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"The loss became {float(loss.detach())} in epoch {epoch}: training diverged. "
                    "Try a smaller learning rate, check the inputs for NaN, or clip gradients (grad_clip=1.0)."
                )
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if grad_clip is not None:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            scaler.step(optimizer)
            scaler.update()
            if scheduler is not None and scheduler_step == "batch":
                scheduler.step()
            n = len(y)
            batch_loss = float(loss.detach())
            total_loss += batch_loss * n
            for callback in callbacks:
                callback.on_batch_end(batch_loss)
            if _is_classification(output, y):
                classification = True
                correct += int((output.detach().argmax(dim=1) == y).sum())
            seen += n
            if batch_bar is not None:
                batch_bar.update(1)
        if seen == 0:
            raise ValueError("fit() got no training batches: the training data is empty.")
        record = {"train_loss": total_loss / seen}
        if classification:
            record["train_accuracy"] = correct / seen
        if val_data is not None:
            for name, value in evaluate(model, val_data, loss_fn, device).items():
                record[f"val_{name}"] = value
        record["lr"] = optimizer.param_groups[0]["lr"]
        record["seconds"] = time.perf_counter() - start
        history.add(**record)
        if scheduler is not None and scheduler_step == "epoch":
            if plateau:
                scheduler.step(record.get("val_loss", record["train_loss"]))
            else:
                scheduler.step()
        if hasattr(epoch_bar, "set_postfix"):
            epoch_bar.set_postfix({k: round(v, 4) for k, v in record.items() if k not in ("lr", "seconds")})
        if plot is not None:
            plot.update(history)
        stop = [callback.on_epoch_end(epoch, model, history) for callback in callbacks]
        if any(stop):
            history.stopped_early = True
            break
    if batch_bar is not None:
        batch_bar.close()
    for callback in callbacks:
        callback.on_train_end(model, history)
    if plot is not None:
        plot.close()
    return history


def _length(data: Iterable) -> int | None:
    try:
        return len(data)  # type: ignore[arg-type]
    except TypeError:  # a generator: the bar counts without a total
        return None


def _batch_bar(data: Iterable, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=_length(data), leave=False, unit="batch")


def _progress(iterable: Iterable, enabled: bool, **kwargs: Any) -> Iterable:
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, **kwargs)
