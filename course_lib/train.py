"""``fit``, ``evaluate`` and ``predict``: the training loop every chapter uses once it has written its own.

One epoch of ``fit`` is the loop chapter 06 writes by hand (forward, loss, backward, step). What a
learner wants around it sits in small helpers beside it: the device, mixed precision and
channels-last memory on a GPU (``device.py``), gradient clipping, learning-rate schedules,
callbacks (``callbacks.py``), a progress bar and a ``History`` of the numbers.

Three hooks serve the later chapters without a second loop:

- **A loss with parts** (a VAE's reconstruction and KL terms): ``loss_fn`` may return a dict of
  0-dim tensors with the total under ``"loss"`` (what is backpropagated); every other entry is
  averaged per example like the loss and recorded as ``train_<name>`` / ``val_<name>``, and
  ``evaluate`` returns it as ``<name>``.
- **Stateful models** (truncated back-propagation through time): any module of the model with a
  ``reset_state()`` method has it called at the start of every training epoch and of every
  evaluation pass (``evaluate``, ``predict``, validation); any with ``detach_state()`` has it
  called after every optimizer step, so the hidden state carries over to the next batch but the
  gradient does not flow back into batches already trained on.
- **Checkpoints and logs**: callbacks reach the model, optimizer, scheduler, gradient scaler,
  epoch, step and history as ``self.run`` (a ``TrainingRun``), see every step's loss and rate in
  ``on_step_end``, and ``fit(..., history=earlier_history)`` resumes after the epochs it holds.
  ``callbacks=[Checkpoint(path)]`` saves a checkpoint every epoch and ``fit(..., resume_from=path)``
  continues from one exactly: the same batches, random draws and numbers as a run never stopped.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import torch
from torch import nn

from .callbacks import BestWeights, Callback, Checkpoint, EarlyStopping, TrainingRun, restore_training
from .device import MixedPrecision, get_device, mixed_precision_for, model_device, to_device
from .history import History

__all__ = [
    "BestWeights",
    "Callback",
    "Checkpoint",
    "EarlyStopping",
    "History",
    "TrainingRun",
    "evaluate",
    "fit",
    "predict",
]

Batch = Sequence[torch.Tensor]
LossFn = Callable[[Any, torch.Tensor], Any]

#: On a GPU, reading a number back waits for the device. There fit reads the running loss (to stop
#: at NaN) every this many batches; on a CPU, where a read costs nothing, after every batch.
STEPS_BETWEEN_CHECKS_ON_ACCELERATOR = 50

_PER_BATCH_SCHEDULERS = (torch.optim.lr_scheduler.OneCycleLR, torch.optim.lr_scheduler.CyclicLR)


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
    callbacks: Sequence[Callback] | Callback = (),
    grad_clip: float | None = None,
    mixed_precision: bool | None = None,
    channels_last: bool | None = None,
    live_plot: bool = False,
    progress: bool = True,
    history: History | None = None,
    resume_from: str | os.PathLike | None = None,
) -> History:
    """Train ``model`` for ``epochs`` and return a ``History`` of losses and accuracies.

    - ``device=None`` picks the best device; the model moves there once.
    - ``scheduler`` is a ``torch.optim.lr_scheduler`` object; it steps every batch for
      OneCycleLR/CyclicLR and every epoch otherwise (override with ``scheduler_step``).
      ReduceLROnPlateau is stepped with the validation loss. ``history["lr"]`` holds the rate
      the epoch's last step used.
    - ``grad_clip`` (a positive number) caps the norm of all gradients together.
    - ``mixed_precision`` and ``channels_last`` default to on for CUDA and off elsewhere; the
      validation pass uses the same settings.
    - ``live_plot=True`` is short for ``callbacks=[LivePlot()]``: the curves redrawn each epoch.
    - ``history``: a History from earlier epochs of this training (e.g. from a checkpoint): fit
      appends to it and runs epochs ``history.epochs + 1`` to ``epochs``, so ``epochs`` stays the
      total. A History you pass also keeps the finished epochs if training is interrupted.
    - ``resume_from``: a file written by ``callbacks=[Checkpoint(path)]``. Before the first epoch
      fit restores the model, optimizer, scheduler, gradient scaler, the training data's order
      (a ``TensorBatchLoader``'s), the random states and the history, then trains the epochs left
      up to ``epochs`` (the total), giving the numbers the run would have given had it never
      stopped. Build the model, optimizer and scheduler as for the saved run.
    - ``loss_fn`` may return a dict with the total under ``"loss"`` (see the module's docstring).

    When training stops with an error (a diverging loss, Ctrl-C, a failing callback) the
    progress bars close, every callback's ``on_train_end`` runs (``BestWeights`` restores the
    best weights), and the finished epochs are attached to the error as ``error.history``.
    """
    history, callbacks, scheduler_step = _check_fit_arguments(
        model,
        train_data,
        loss_fn,
        optimizer,
        epochs,
        val_data,
        scheduler,
        scheduler_step,
        callbacks,
        grad_clip,
        history,
    )
    if resume_from is not None and len(history.metrics):
        raise ValueError("Pass either resume_from= (the checkpoint holds the history) or history=, not both.")
    if live_plot:
        from .plots import LivePlot  # matplotlib only when a plot is asked for

        callbacks.append(LivePlot())

    device = get_device(device)
    precision = mixed_precision_for(device, enabled=mixed_precision is None or bool(mixed_precision))
    use_channels_last = device.type == "cuda" and _has_conv(model) if channels_last is None else bool(channels_last)
    model.to(device)
    if use_channels_last:
        model.to(memory_format=torch.channels_last)
    run = TrainingRun(
        model=model,
        optimizer=optimizer,
        history=history,
        device=device,
        scheduler=scheduler,
        scaler=precision.grad_scaler(),
        epochs=epochs,
        train_data=train_data,
    )
    if resume_from is not None:
        _resume(resume_from, run, epochs)
    first_epoch = history.epochs + 1
    bars = _ProgressBars(progress, first_epoch, epochs, _length(train_data))
    loop = _Loop(run, loss_fn, precision, use_channels_last, grad_clip, scheduler_step == "batch", callbacks, bars)
    history.stopped_early = False
    try:
        for callback in callbacks:
            callback.run = run
            callback.on_train_begin(model)
        for epoch in range(first_epoch, epochs + 1):
            run.epoch = epoch
            start = time.perf_counter()
            for callback in callbacks:
                callback.on_epoch_begin(epoch, model)
            record = _prefixed("train", _train_epoch(loop, train_data))
            if val_data is not None:
                record |= _prefixed(
                    "val", _evaluate_pass(model, val_data, loss_fn, device, precision, use_channels_last)
                )
            record["lr"] = run.lr
            record["seconds"] = time.perf_counter() - start
            history.add(**record)
            if scheduler_step == "epoch":
                _step_per_epoch(scheduler, record)
            bars.epoch_done(record)
            stop = [callback.on_epoch_end(epoch, model, history) for callback in callbacks]  # every one runs
            if any(stop):
                history.stopped_early = True
                break
    except BaseException as error:  # Ctrl-C too: keep what was trained
        run.error = error
        _attach_history(error, history, run.epoch)
        raise
    finally:
        bars.close()
        model.train()
        for callback in callbacks:
            callback.on_train_end(model, history)
    return history


def _resume(path: str | os.PathLike, run: TrainingRun, epochs: int) -> None:
    """Restore a Checkpoint file into ``run`` (see ``restore_training``); refuse a total already reached."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"resume_from must be the path of a checkpoint file, e.g. 'runs/last.ckpt', got {type(path).__name__}."
        )
    restore_training(path, run, epochs)


def _train_epoch(loop: _Loop, data: Iterable[Batch]) -> dict[str, float]:
    """One pass over the training data: chapter 06's loop, with the extras kept in ``loop``."""
    model, optimizer, scaler = loop.run.model, loop.run.optimizer, loop.run.scaler
    model.train()
    _reset_state(model)
    totals = _Totals(loop.run.device)
    for x, y in loop.batches(data):  # on the device; counted for the progress bar
        with loop.precision.autocast():
            output = model(x)  # 1. forward
            loss = loop.loss(output, y, totals)  # 2. loss (checked, and summed for the history)
        optimizer.zero_grad(set_to_none=True)  # 3. clear the old gradients
        scaler.scale(loss).backward()  # 4. backward: compute new ones
        loop.clip_gradients()
        scaler.step(optimizer)  # 5. update the weights
        scaler.update()
        loop.after_step(loss)  # hidden state, schedule, callbacks
    return loop.epoch_averages(totals)


class _Loop:
    """Everything ``fit`` does around the five lines of a training step."""

    def __init__(
        self,
        run: TrainingRun,
        loss_fn: LossFn,
        precision: MixedPrecision,
        channels_last: bool,
        grad_clip: float | None,
        schedule_per_batch: bool,
        callbacks: list[Callback],
        bars: _ProgressBars,
    ) -> None:
        self.run, self.loss_fn, self.precision = run, loss_fn, precision
        self.channels_last, self.grad_clip, self.schedule_per_batch = channels_last, grad_clip, schedule_per_batch
        self.callbacks, self.bars = callbacks, bars
        # Only a callback that defines on_batch_end needs each loss as a number (a wait for the device).
        self.number_callbacks = [c for c in callbacks if type(c).on_batch_end is not Callback.on_batch_end]
        self.check_every = _steps_between_checks(run.device)
        self.detach_states = _methods(run.model, "detach_state")  # found once, called every step
        self.batch = self.checked = 0

    def batches(self, data: Iterable[Batch]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        self.batch = self.checked = 0
        self.bars.start_epoch(self.run.epoch, _length(data))
        for batch in data:
            self.batch += 1
            yield _prepare(batch, self.run.device, self.channels_last)
            self.bars.batch_done()

    def loss(self, output: Any, y: torch.Tensor, totals: _Totals) -> torch.Tensor:
        loss, parts = _split_loss(_call_loss(self.loss_fn, output, y))
        if not loss.requires_grad:
            raise RuntimeError(
                "The loss does not depend on any weight being trained, so there is nothing to "
                "learn: check that loss_fn uses the model's output (not .item(), .detach() or "
                "argmax of it) and that the model's parameters have requires_grad=True."
            )
        totals.add(loss, parts, output, y)
        if self.batch - self.checked >= self.check_every:
            self.check_finite(float(totals.loss))  # one wait for the device
        return loss

    def check_finite(self, summed_loss: float) -> None:
        """Stop with advice once the epoch's loss so far (its sum, or at the end its mean) is NaN or infinite."""
        first, last = self.checked + 1, self.batch
        self.checked = self.batch
        if math.isfinite(summed_loss):
            return
        where = f"batch {last}" if first == last else f"one of batches {first} to {last}"
        already = "" if first == last else " (the steps of that window have already changed the weights)"
        raise FloatingPointError(
            f"The training loss became {summed_loss} in epoch {self.run.epoch}, {where}: training diverged{already}. "
            "Try a smaller learning rate, check the inputs for NaN, or clip gradients (grad_clip=1.0)."
        )

    def clip_gradients(self) -> None:
        if self.grad_clip is not None:
            self.run.scaler.unscale_(self.run.optimizer)  # clip the true gradients, not the scaled ones
            nn.utils.clip_grad_norm_(self.run.model.parameters(), self.grad_clip)

    def after_step(self, loss: torch.Tensor) -> None:
        run = self.run
        for detach_state in self.detach_states:
            detach_state()
        run.lr = run.optimizer.param_groups[0]["lr"]  # the rate this step used, before the schedule moves it
        run.history.steps += 1
        if self.schedule_per_batch:
            run.scheduler.step()
        loss = loss.detach()
        for callback in self.callbacks:
            callback.on_step_end(run.step, loss, run.lr)
        if self.number_callbacks:
            value = float(loss)
            for callback in self.number_callbacks:
                callback.on_batch_end(value)

    def epoch_averages(self, totals: _Totals) -> dict[str, float]:
        if totals.seen == 0:
            raise ValueError("fit() got no training batches: the training data is empty.")
        averages = totals.averages()
        if self.checked < self.batch:
            self.check_finite(averages["loss"])
        return averages


class _Totals:
    """Sums over one pass, kept on the device so that adding a batch never waits for it."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.loss = torch.zeros((), device=device)
        self.parts: dict[str, torch.Tensor] = {}
        self.correct = torch.zeros((), dtype=torch.long, device=device)
        self.seen = 0
        self.has_loss = self.classification = False

    def add(self, loss: torch.Tensor | None, parts: dict[str, torch.Tensor], output: Any, y: torch.Tensor) -> None:
        n = len(y)
        if loss is not None:
            self.has_loss = True
            self.loss += loss.detach().float() * n
        for name, value in parts.items():
            if name not in self.parts:
                self.parts[name] = torch.zeros((), device=self.device)
            self.parts[name] += value.detach().float() * n
        if _is_classification(output, y):
            self.classification = True
            self.correct += (output.detach().argmax(dim=1) == y).sum()
        self.seen += n

    def averages(self) -> dict[str, float]:
        """The loss, its parts and the accuracy per example: one wait for the device."""
        loss, *parts, correct = torch.stack([self.loss, *self.parts.values(), self.correct.float()]).tolist()
        results = {"loss": loss / self.seen} if self.has_loss else {}
        results |= {name: total / self.seen for name, total in zip(self.parts, parts)}
        if self.classification:
            results["accuracy"] = round(correct) / self.seen
        return results


@torch.no_grad()
def _evaluate_pass(
    model: nn.Module,
    data: Iterable[Batch],
    loss_fn: LossFn | None,
    device: torch.device,
    precision: MixedPrecision,
    channels_last: bool,
) -> dict[str, float]:
    model.eval()
    _reset_state(model)
    totals = _Totals(device)
    for batch in data:
        x, y = _prepare(batch, device, channels_last)
        with precision.autocast():
            output = model(x)
            loss, parts = _split_loss(_call_loss(loss_fn, output, y)) if loss_fn is not None else (None, {})
        totals.add(loss, parts, output, y)
    if totals.seen == 0:
        raise ValueError("evaluate() got no batches: the data is empty.")
    return totals.averages()


def evaluate(
    model: nn.Module,
    data: Iterable[Batch],
    loss_fn: LossFn | None = None,
    device: torch.device | str | None = None,
) -> dict[str, float]:
    """Average loss (if ``loss_fn`` is given, with its parts if it returns a dict) and accuracy over ``data``.

    Runs where the model is, unless ``device`` is given (then the model moves there), in float32.
    The model's training or evaluation mode is put back afterwards, also after an error.
    """
    if loss_fn is not None:
        _check_loss_fn(loss_fn)
    device = _evaluation_device(model, device)
    was_training = model.training
    try:
        return _evaluate_pass(model, data, loss_fn, device, MixedPrecision(device.type, None), channels_last=False)
    finally:
        model.train(was_training)


@torch.no_grad()
def predict(
    model: nn.Module,
    data: Iterable[Batch | torch.Tensor] | torch.Tensor,
    device: torch.device | str | None = None,
    *,
    batch_size: int = 1000,
) -> torch.Tensor | tuple[torch.Tensor, ...]:
    """The model's outputs for every input, concatenated on the CPU (e.g. logits for a confusion matrix).

    ``data`` is batches (pairs whose inputs come first, or bare input tensors) or one tensor of
    inputs, which is cut into batches of ``batch_size``. A model that returns a tuple of tensors
    gets a tuple of concatenated tensors. The model's mode is put back afterwards.
    """
    device = _evaluation_device(model, device)
    if isinstance(data, torch.Tensor):
        if data.ndim == 0:
            raise ValueError("predict() needs inputs with the examples along the first dimension, got a 0-dim tensor.")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a whole number of examples, 1 or more, got {batch_size!r}.")
        data = data.split(batch_size)
    was_training = model.training
    model.eval()
    _reset_state(model)
    try:
        outputs = [model(to_device(_inputs(batch), device)) for batch in data]
    finally:
        model.train(was_training)
    if not outputs or sum(_count(output) for output in outputs) == 0:
        raise ValueError("predict() got no inputs: the data is empty.")
    return _concatenate(outputs)


# ----------------------------------------------------------------------------- the extras
def _prepare(batch: Any, device: torch.device, channels_last: bool) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(batch, (list, tuple)) or len(batch) < 2:
        raise TypeError(
            "Each batch must be a pair (inputs, targets), as a DataLoader or TensorBatchLoader yields; "
            f"got {type(batch).__name__}."
        )
    x, y = to_device(batch[0], device, non_blocking=True), to_device(batch[1], device, non_blocking=True)
    if channels_last and isinstance(x, torch.Tensor) and x.ndim == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x, y


def _call_loss(loss_fn: LossFn, output: Any, y: torch.Tensor) -> Any:
    """``loss_fn(output, y)``, with torch's error turned into one sentence about what to change."""
    try:
        return loss_fn(output, y)
    except torch.OutOfMemoryError:
        raise
    except (RuntimeError, TypeError, ValueError, IndexError) as error:
        said = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if isinstance(output, (tuple, list)):
            raise TypeError(
                f"The model returned a {type(output).__name__} of {len(output)} items, not one tensor, and the loss "
                "cannot take it. Make forward() return the tensor the loss needs (for nn.LSTM: "
                f"output, _ = self.lstm(x)), or write a loss_fn that takes the {type(output).__name__}. "
                f"(PyTorch said: {said})"
            ) from None
        if (
            isinstance(output, torch.Tensor)
            and isinstance(y, torch.Tensor)
            and torch.is_floating_point(y)
            and output.ndim >= 2
            and y.ndim == output.ndim - 1
        ):
            raise ValueError(
                f"The targets are floating-point numbers ({y.dtype}), but a classification loss such as "
                "cross-entropy wants class numbers as integers: convert them with y.long() (or build the "
                f"labels with dtype=torch.long). (PyTorch said: {said})"
            ) from None
        raise ValueError(
            f"loss_fn(output, targets) failed for output {_describe(output)} and targets {_describe(y)}: {said}"
        ) from None


def _split_loss(result: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """(the loss to backpropagate, the named parts to record) from what ``loss_fn`` returned."""
    if isinstance(result, dict):
        if "loss" not in result:
            raise ValueError(
                f"loss_fn returned a dict with {', '.join(map(repr, result))} but no 'loss' entry: "
                "put the total to minimise under 'loss', e.g. {'loss': rec + kl, 'rec': rec, 'kl': kl}."
            )
        loss, parts = result["loss"], {}
        for name, value in result.items():
            if name == "loss":
                continue
            if not isinstance(name, str) or name == "accuracy":
                raise ValueError(
                    f"loss_fn returned a part named {name!r}: name each part with a string other "
                    "than 'loss' and 'accuracy' (fit records it as train_<name> and val_<name>)."
                )
            parts[name] = _one_number(value, f"the part {name!r} returned by loss_fn")
        return _one_number(loss, "the loss"), parts
    if isinstance(result, (int, float)):
        raise TypeError(
            f"loss_fn returned a {type(result).__name__}, a plain number without a gradient: return the "
            "loss tensor itself (no .item() or float() on it)."
        )
    if not isinstance(result, torch.Tensor):
        raise TypeError(
            f"loss_fn must return the loss as a tensor, or a dict with the total under 'loss'; "
            f"it returned a {type(result).__name__}."
        )
    return _one_number(result, "the loss"), {}


def _one_number(value: Any, what: str) -> torch.Tensor:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return torch.tensor(float(value))
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{what} should be a tensor holding one number, got a {type(value).__name__}.")
    if value.numel() != 1:
        raise ValueError(
            f"{what} is a tensor of shape {tuple(value.shape)}, not one number: a loss built with reduction='none' "
            "gives one value per example. Average it over the batch (the default reduction='mean', or .mean())."
        )
    return value.reshape(())


def _is_classification(output: Any, target: torch.Tensor) -> bool:
    return (
        isinstance(output, torch.Tensor)
        and isinstance(target, torch.Tensor)
        and output.ndim == 2
        and target.ndim == 1
        and not torch.is_floating_point(target)
    )


def _has_conv(model: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def _methods(model: nn.Module, name: str) -> list[Callable[[], None]]:
    """The method ``name`` of every module of ``model`` that has one (the stateful-model protocol)."""
    methods = (getattr(module, name, None) for module in model.modules())
    return [method for method in methods if callable(method)]


def _reset_state(model: nn.Module) -> None:
    """A stateful model starts a new pass: call every module's ``reset_state()``."""
    for reset_state in _methods(model, "reset_state"):
        reset_state()


def _steps_between_checks(device: torch.device) -> int:
    return 1 if device.type == "cpu" else STEPS_BETWEEN_CHECKS_ON_ACCELERATOR


def _step_per_epoch(scheduler: Any, record: dict[str, float]) -> None:
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(record.get("val_loss", record["train_loss"]))
    else:
        scheduler.step()


def _prefixed(split: str, values: dict[str, float]) -> dict[str, float]:
    return {f"{split}_{name}": value for name, value in values.items()}


def _attach_history(error: BaseException, history: History, epoch: int) -> None:
    try:
        error.history = history  # type: ignore[attr-defined]
    except AttributeError:  # an exception type that takes no attributes
        return
    if history.epochs and hasattr(error, "add_note"):  # Python 3.11+
        error.add_note(
            f"fit() stopped in epoch {epoch}; the {history.epochs} finished epoch(s) are kept in "
            "error.history (sys.last_value.history after the cell), and the model keeps its weights."
        )


def _evaluation_device(model: nn.Module, device: torch.device | str | None) -> torch.device:
    """Where evaluate/predict run: the device asked for (the model moves there), else where the model already is.

    Picking "the best device" here, as fit does, would put the data on a GPU while a model that
    was never trained still sits on the CPU, and the first layer would fail with a device mismatch.
    """
    _check_model(model)
    if device is None:
        return model_device(model)
    device = get_device(device)
    model.to(device)
    return device


def _inputs(batch: Any) -> Any:
    return batch if isinstance(batch, torch.Tensor) else batch[0]


def _count(output: Any) -> int:
    first = output[0] if isinstance(output, (tuple, list)) and output else output
    return len(first) if isinstance(first, torch.Tensor) and first.ndim > 0 else 1


def _concatenate(outputs: list[Any]) -> torch.Tensor | tuple[torch.Tensor, ...]:
    def on_cpu(tensor: Any) -> torch.Tensor:
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(
                f"predict() gathers tensors, or tuples of tensors, but the model returned a {type(tensor).__name__}."
            )
        return (tensor.float() if tensor.is_floating_point() else tensor).cpu()

    if isinstance(outputs[0], (tuple, list)):
        return tuple(torch.cat([on_cpu(output[i]) for output in outputs]) for i in range(len(outputs[0])))
    return torch.cat([on_cpu(output) for output in outputs])


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"of shape {tuple(value.shape)} ({value.dtype})"
    return f"of type {type(value).__name__}"


def _length(data: Iterable) -> int | None:
    try:
        return len(data)  # type: ignore[arg-type]
    except TypeError:  # no len(): the bar counts without a total
        return None


class _ProgressBars:
    """An epoch bar and one batch bar reset each epoch (a new bar per epoch would leave one widget per epoch)."""

    def __init__(self, enabled: bool, first_epoch: int, epochs: int, batches: int | None) -> None:
        self.epochs = self.batches = None
        if not enabled:
            return
        from tqdm.auto import tqdm

        self.epochs = tqdm(total=epochs, initial=first_epoch - 1, desc="epochs", unit="epoch")
        self.batches = tqdm(total=batches, leave=False, unit="batch")

    def start_epoch(self, epoch: int, batches: int | None) -> None:
        if self.batches is not None:
            self.batches.reset(total=batches)
            self.batches.set_description(f"epoch {epoch}")

    def batch_done(self) -> None:
        if self.batches is not None:
            self.batches.update(1)

    def epoch_done(self, record: dict[str, float]) -> None:
        if self.epochs is not None:
            self.epochs.update(1)
            self.epochs.set_postfix({k: round(v, 4) for k, v in record.items() if k not in ("lr", "seconds")})

    def close(self) -> None:
        for bar in (self.batches, self.epochs):
            if bar is not None:
                bar.close()


# ----------------------------------------------------------------------------- argument checks
def _check_fit_arguments(
    model: Any,
    train_data: Any,
    loss_fn: Any,
    optimizer: Any,
    epochs: Any,
    val_data: Any,
    scheduler: Any,
    scheduler_step: Any,
    callbacks: Any,
    grad_clip: Any,
    history: Any,
) -> tuple[History, list[Callback], str | None]:
    """Refuse, in one sentence each, what would fail deep inside torch or train silently wrong."""
    history = _check_history(history, epochs)
    callbacks = _check_callbacks(callbacks)
    _check_model(model)
    _check_loss_fn(loss_fn)
    _check_optimizer(optimizer, model)
    _check_training_data(train_data, "train_data")
    if val_data is not None:
        _check_training_data(val_data, "val_data")
    _check_grad_clip(grad_clip)
    return history, callbacks, _check_scheduler(scheduler, scheduler_step, optimizer)


def _check_history(history: History | None, epochs: Any) -> History:
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be a whole number of passes over the data (0 or more), got {epochs!r}.")
    if history is None:
        return History()
    if not isinstance(history, History):
        raise TypeError(f"history must be a History (from an earlier fit, to resume), got {type(history).__name__}.")
    if history.epochs > epochs:
        raise ValueError(
            f"The history already holds {history.epochs} epochs, more than epochs={epochs}. With a history, epochs "
            f"is the total to reach, counted from the start: to train 3 more, pass epochs={history.epochs + 3}."
        )
    return history


def _check_callbacks(callbacks: Any) -> list[Callback]:
    if isinstance(callbacks, Callback):  # one callback without the list: fine
        return [callbacks]
    try:
        callbacks = list(callbacks)
    except TypeError:
        raise TypeError(
            f"callbacks must be a list of callbacks, e.g. callbacks=[EarlyStopping()], got {type(callbacks).__name__}."
        ) from None
    for i, callback in enumerate(callbacks):
        if isinstance(callback, type) and issubclass(callback, Callback):
            raise TypeError(
                f"callbacks[{i}] is the class {callback.__name__}; create the callback first: "
                f"{callback.__name__}() (with parentheses)."
            )
        if not isinstance(callback, Callback):
            raise TypeError(
                f"callbacks[{i}] is a {type(callback).__name__}, not a Callback: write callbacks as "
                "subclasses of course_lib.train.Callback."
            )
    return callbacks


def _check_model(model: Any) -> None:
    if isinstance(model, type):
        raise TypeError(f"model is the class {model.__name__}; create the model first: {model.__name__}(...).")
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")


def _check_loss_fn(loss_fn: Any) -> None:
    if isinstance(loss_fn, type):
        raise TypeError(
            f"loss_fn is the class {loss_fn.__name__}; create the loss first: {loss_fn.__name__}() "
            "(with parentheses), or pass a function such as torch.nn.functional.cross_entropy."
        )
    if not callable(loss_fn):
        raise TypeError(
            f"loss_fn must be a function or a loss module, such as F.cross_entropy, got {type(loss_fn).__name__}."
        )
    reduction = getattr(loss_fn, "reduction", "mean")
    if reduction in ("none", "sum"):
        raise ValueError(
            f"The loss was built with reduction={reduction!r}, but fit() needs the mean over the batch (it averages "
            f"the batch losses per example): create it with the default reduction='mean', e.g. "
            f"{type(loss_fn).__name__}()."
        )


def _check_optimizer(optimizer: Any, model: nn.Module) -> None:
    if isinstance(optimizer, type):
        raise TypeError(
            f"optimizer is the class {optimizer.__name__}; create it with this model's parameters: "
            f"{optimizer.__name__}(model.parameters(), lr=...)."
        )
    if not hasattr(optimizer, "param_groups") or not hasattr(optimizer, "step"):
        raise TypeError(
            f"optimizer must be a torch.optim optimizer, such as torch.optim.Adam(model.parameters()), "
            f"got {type(optimizer).__name__}."
        )
    held = {id(p) for group in optimizer.param_groups for p in group["params"]}
    if held and not held & {id(p) for p in model.parameters()}:
        raise ValueError(
            "The optimizer does not hold any of this model's parameters, so training would change nothing: it was "
            "built for another model (or before the model was created again). Build it from this model: "
            "torch.optim.Adam(model.parameters(), lr=...)."
        )


def _check_training_data(data: Any, name: str) -> None:
    if isinstance(data, Iterator):
        raise TypeError(
            f"{name} is a one-shot iterator ({type(data).__name__}): it can be read only once, so the second epoch "
            "would find it empty. Pass something that can be read again: a list of batches, a TensorBatchLoader, "
            "a DataLoader, or an object whose __iter__ makes a new generator each time."
        )
    if isinstance(data, torch.Tensor) or (
        isinstance(data, (list, tuple)) and data and isinstance(data[0], torch.Tensor)
    ):
        raise TypeError(
            f"{name} must give batches, each a pair (inputs, targets); it is a {type(data).__name__} of tensors. "
            "To cut tensors x and y into batches, pass TensorBatchLoader(x, y, batch_size=64)."
        )


def _check_grad_clip(grad_clip: Any) -> None:
    if grad_clip is None:
        return
    if isinstance(grad_clip, bool) or not isinstance(grad_clip, (int, float)) or not grad_clip > 0:
        raise ValueError(
            f"grad_clip is the largest gradient norm allowed, a positive number such as 1.0; got {grad_clip!r} "
            "(0 would freeze the model, and a negative value would climb the loss). grad_clip=None turns clipping off."
        )


def _check_scheduler(scheduler: Any, scheduler_step: str | None, optimizer: Any) -> str | None:
    if scheduler_step not in (None, "batch", "epoch"):
        raise ValueError(f"scheduler_step must be 'batch' or 'epoch', got {scheduler_step!r}.")
    if scheduler is None:
        return None
    if isinstance(scheduler, type):
        raise TypeError(
            f"scheduler is the class {scheduler.__name__}; create it around the optimizer first: "
            f"{scheduler.__name__}(optimizer, ...)."
        )
    if getattr(scheduler, "optimizer", optimizer) is not optimizer:
        raise ValueError(
            "The scheduler was built around another optimizer than the one given to fit(), so it would "
            "change a learning rate nobody uses: build it from this optimizer."
        )
    if scheduler_step is None:
        scheduler_step = "batch" if isinstance(scheduler, _PER_BATCH_SCHEDULERS) else "epoch"
    return scheduler_step
