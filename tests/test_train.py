import math

import pytest
import torch
from torch import nn

from course_lib import data, evaluate, fit
from course_lib.train import BestWeights, Callback, EarlyStopping, History, predict


def _blobs(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.randn(n, 2, generator=g) * 0.5 + (y.float() * 2 - 1).unsqueeze(1) * 1.5
    return x, y


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))


def _loader(n=64, batch_size=16, seed=0):
    return data.TensorBatchLoader(*_blobs(n, seed=seed), batch_size=batch_size)


def _fit(model=None, train=None, **kwargs):
    model = model if model is not None else _model()
    kwargs.setdefault("progress", False)
    optimizer = kwargs.pop("optimizer", None) or torch.optim.SGD(model.parameters(), 0.1)
    return fit(
        model,
        train if train is not None else _loader(),
        kwargs.pop("loss_fn", nn.functional.cross_entropy),
        optimizer,
        kwargs.pop("epochs", 1),
        **kwargs,
    )


class _Scripted(Callback):
    """Writes a made-up validation metric into the history each epoch."""

    def __init__(self, name, curve):
        self.name, self.curve = name, curve

    def on_epoch_end(self, epoch, model, history):
        history.metrics.setdefault(self.name, []).append(self.curve[epoch - 1])
        return False


class _Snapshots(Callback):
    def __init__(self):
        self.states = {}

    def on_epoch_end(self, epoch, model, history):
        self.states[epoch] = {k: v.clone() for k, v in model.state_dict().items()}
        return False


class _FailAt(Callback):
    def __init__(self, epoch, error):
        self.epoch, self.error = epoch, error

    def on_epoch_end(self, epoch, model, history):
        if epoch == self.epoch:
            raise self.error
        return False


def test_fit_learns_and_records_history():
    x, y = _blobs()
    train = data.TensorBatchLoader(x, y, batch_size=32, shuffle=True)
    val = data.TensorBatchLoader(*_blobs(seed=1), batch_size=64)
    model = _model()
    before = evaluate(model, val, nn.functional.cross_entropy)
    history = fit(
        model,
        train,
        nn.functional.cross_entropy,
        torch.optim.Adam(model.parameters(), 0.05),
        epochs=5,
        val_data=val,
        progress=False,
    )
    assert history.epochs == 5 and not history.stopped_early
    assert set(history.keys()) >= {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds"}
    assert history["train_loss"][-1] < history["train_loss"][0]
    after = evaluate(model, val, nn.functional.cross_entropy)
    assert after["accuracy"] > 0.95 and after["loss"] < before["loss"]
    assert history.last()["val_accuracy"] == pytest.approx(after["accuracy"])


def test_evaluate_matches_a_hand_computation():
    x, y = _blobs(100)
    model = _model()
    result = evaluate(model, data.TensorBatchLoader(x, y, batch_size=7), nn.functional.cross_entropy)
    with torch.no_grad():
        logits = model(x)
    assert result["loss"] == pytest.approx(float(nn.functional.cross_entropy(logits, y)), rel=1e-5)
    assert result["accuracy"] == pytest.approx(float((logits.argmax(1) == y).float().mean()))


def test_regression_has_loss_but_no_accuracy():
    x = torch.randn(64, 3)
    y = x.sum(1, keepdim=True)
    model = nn.Linear(3, 1)
    history = fit(
        model,
        data.TensorBatchLoader(x, y, batch_size=16),
        nn.functional.mse_loss,
        torch.optim.SGD(model.parameters(), 0.1),
        epochs=20,
        progress=False,
    )
    assert "train_accuracy" not in history and history["train_loss"][-1] < 1e-2


def test_predict_returns_outputs_in_order():
    x, y = _blobs(50)
    model = _model()
    out = predict(model, data.TensorBatchLoader(x, y, batch_size=8))
    assert out.shape == (50, 2) and torch.allclose(out, model(x).detach(), atol=1e-6)


def test_early_stopping_and_best_weights():
    x, y = _blobs()
    loader = data.TensorBatchLoader(x, y, batch_size=32)

    model = _model()
    best, stop, snapshots = BestWeights(), EarlyStopping(patience=2), _Snapshots()
    scripted = _Scripted("val_loss", [0.5, 0.3, 0.4, 0.45, 0.5, 0.6, 0.7])  # a made-up curve: best at epoch 2
    history = fit(
        model,
        loader,
        nn.functional.cross_entropy,
        torch.optim.SGD(model.parameters(), 0.5),
        epochs=7,
        callbacks=[scripted, snapshots, best, stop],
        progress=False,
    )
    assert history.stopped_early and history.epochs == 4 and stop.stopped_epoch == 4
    assert best.best_epoch == 2
    for name, value in model.state_dict().items():
        assert torch.equal(value, snapshots.states[2][name])


def test_callback_watching_a_missing_metric_says_to_pass_val_data():
    x, y = _blobs(32)
    model = _model()
    with pytest.raises(KeyError, match="Pass val_data to fit"):
        fit(
            model,
            data.TensorBatchLoader(x, y),
            nn.functional.cross_entropy,
            torch.optim.SGD(model.parameters(), 0.1),
            epochs=1,
            callbacks=[EarlyStopping()],
            progress=False,
        )


def test_callback_arguments_are_checked():
    with pytest.raises(ValueError, match="mode must be 'min'"):
        EarlyStopping(mode="lowest")
    with pytest.raises(ValueError, match="patience must be at least 1"):
        EarlyStopping(patience=0)


def test_schedulers_step_per_batch_for_one_cycle_and_per_epoch_otherwise():
    x, y = _blobs(64)
    loader = data.TensorBatchLoader(x, y, batch_size=16)  # 4 batches an epoch
    model = _model()
    opt = torch.optim.SGD(model.parameters(), 0.1)
    one_cycle = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=3 * len(loader))
    fit(model, loader, nn.functional.cross_entropy, opt, epochs=3, scheduler=one_cycle, progress=False)
    assert one_cycle.last_epoch == 12
    opt2 = torch.optim.SGD(model.parameters(), 0.1)
    step = torch.optim.lr_scheduler.StepLR(opt2, step_size=1, gamma=0.5)
    history = fit(model, loader, nn.functional.cross_entropy, opt2, epochs=3, scheduler=step, progress=False)
    assert history["lr"] == pytest.approx([0.1, 0.05, 0.025])
    with pytest.raises(ValueError, match="scheduler_step must be 'batch' or 'epoch'"):
        fit(model, loader, nn.functional.cross_entropy, opt2, epochs=1, scheduler=step, scheduler_step="often")


def test_diverging_loss_stops_with_advice():
    x, y = _blobs(64)
    model = _model()
    x[0, 0] = math.nan
    with pytest.raises(FloatingPointError, match="training diverged.*smaller learning rate"):
        fit(
            model,
            data.TensorBatchLoader(x, y, batch_size=64),
            nn.functional.cross_entropy,
            torch.optim.SGD(model.parameters(), 0.1),
            epochs=1,
            progress=False,
        )


def test_gradient_clipping_bounds_the_update():
    x, y = _blobs(64)
    model = nn.Linear(2, 2)
    before = model.weight.detach().clone()
    fit(
        model,
        data.TensorBatchLoader(x * 1000, y, batch_size=64),
        nn.functional.cross_entropy,
        torch.optim.SGD(model.parameters(), 1.0),
        epochs=1,
        grad_clip=0.01,
        progress=False,
    )
    assert float((model.weight.detach().cpu() - before).norm()) <= 0.01 + 1e-6  # fit may have moved it to a GPU


def test_bad_arguments_and_empty_data():
    model = _model()
    opt = torch.optim.SGD(model.parameters(), 0.1)
    with pytest.raises(ValueError, match="epochs must be a whole number"):
        fit(model, [], nn.functional.cross_entropy, opt, epochs=-1)
    with pytest.raises(ValueError, match="no training batches"):
        fit(model, [], nn.functional.cross_entropy, opt, epochs=1, progress=False)
    with pytest.raises(TypeError, match=r"pair \(inputs, targets\)"):
        fit(model, [torch.zeros(2, 2)], nn.functional.cross_entropy, opt, epochs=1, progress=False)
    with pytest.raises(ValueError, match="no batches"):
        evaluate(model, [])


def test_gpu_extras_stay_off_on_cpu():
    _, y = _blobs(32)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Flatten(), nn.Linear(2 * 4 * 4, 2))
    images = torch.randn(32, 1, 4, 4)
    fit(
        model,
        data.TensorBatchLoader(images, y, batch_size=8),
        nn.functional.cross_entropy,
        torch.optim.SGD(model.parameters(), 0.1),
        epochs=1,
        device="cpu",
        progress=False,
    )
    assert model[0].weight.is_contiguous()  # channels-last is a CUDA-only optimisation


def test_history_errors_name_what_exists():
    history = History()
    history.add(train_loss=1.0)
    with pytest.raises(KeyError, match="it has: train_loss"):
        history["val_loss"]


def test_live_plot_and_progress_work_without_a_notebook(capsys):
    x, y = _blobs(32)
    model = _model()
    history = fit(
        model,
        data.TensorBatchLoader(x, y, batch_size=16),
        nn.functional.cross_entropy,
        torch.optim.SGD(model.parameters(), 0.1),
        epochs=2,
        live_plot=True,
        progress=True,
    )
    assert history.epochs == 2


def test_progress_bar_works_with_data_that_has_no_length():
    x, y = _blobs(32)
    model = _model()

    def batches():  # a generator has no len(); the class below makes a fresh one each epoch
        yield x[:16], y[:16]
        yield x[16:], y[16:]

    class Batches:
        def __iter__(self):
            return batches()

    history = fit(
        model, Batches(), nn.functional.cross_entropy, torch.optim.SGD(model.parameters(), 0.1), epochs=2, progress=True
    )
    assert history.epochs == 2


def test_evaluate_and_predict_run_where_the_model_is(monkeypatch):
    # On a GPU machine "the best device" is cuda while an untrained model is still on the CPU;
    # evaluate/predict must follow the model, not pick a device of their own.
    import course_lib.train as train_module

    def no_best_device(name=None):
        if name is None:
            raise AssertionError("evaluate/predict asked for the best device instead of using the model's")
        return torch.device(name)

    monkeypatch.setattr(train_module, "get_device", no_best_device)
    x, y = _blobs(50)
    model = _model()
    loader = data.TensorBatchLoader(x, y, batch_size=16)
    assert 0.0 <= evaluate(model, loader)["accuracy"] <= 1.0
    assert predict(model, loader).shape == (50, 2)
    assert evaluate(model, loader, device="cpu")["accuracy"] == evaluate(model, loader)["accuracy"]


def test_on_batch_end_sees_every_batch_loss():
    x, y = _blobs(100)
    seen = []

    class Record(Callback):
        def on_batch_end(self, loss):
            seen.append(loss)

    model = _model()
    history = fit(
        model,
        data.TensorBatchLoader(x, y, batch_size=32),
        nn.functional.cross_entropy,
        torch.optim.SGD(model.parameters(), 0.1),
        epochs=2,
        callbacks=[Record()],
        progress=False,
    )
    assert len(seen) == 2 * 4  # 100 examples in batches of 32: 4 batches an epoch
    sizes = [32, 32, 32, 4]
    first_epoch = sum(loss * n for loss, n in zip(seen[:4], sizes)) / 100
    assert first_epoch == pytest.approx(history["train_loss"][0])


# ============================================================================= trust (issue 8)
@pytest.mark.parametrize("error", [KeyboardInterrupt(), RuntimeError("a callback broke")])
def test_an_error_keeps_the_history_closes_the_bars_and_restores_the_best_weights(monkeypatch, error):
    import tqdm.auto

    bars = []

    class RecordedBar(tqdm.auto.tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            bars.append(self)

    monkeypatch.setattr(tqdm.auto, "tqdm", RecordedBar)
    model, snapshots, best = _model(), _Snapshots(), BestWeights()
    ended = []

    class End(Callback):
        def on_train_end(self, model, history):
            ended.append(history.epochs)

    with pytest.raises(type(error)) as caught:
        _fit(
            model,
            epochs=5,
            progress=True,
            callbacks=[_Scripted("val_loss", [0.5, 0.3, 0.4, 0.4]), snapshots, best, End(), _FailAt(3, error)],
        )
    assert caught.value.history.epochs == 3 and caught.value.history["val_loss"] == [0.5, 0.3, 0.4]
    assert ended == [3] and best.best_epoch == 2
    for name, value in model.state_dict().items():  # BestWeights put epoch 2 back
        assert torch.equal(value, snapshots.states[2][name])
    assert bars and all(bar.disable for bar in bars)  # closed
    assert model.training


def test_a_diverging_loss_keeps_the_history_passed_in():
    x, y = _blobs(64)
    history = History()

    class Poison(Callback):  # a NaN input from epoch 3 on
        def on_epoch_end(self, epoch, model, history):
            if epoch == 2:
                x[5, 0] = math.nan
            return False

    with pytest.raises(FloatingPointError, match="epoch 3, batch 1: training diverged") as caught:
        _fit(train=data.TensorBatchLoader(x, y, batch_size=16), epochs=5, history=history, callbacks=[Poison()])
    assert history.epochs == 2 and caught.value.history is history


def test_monitor_mode_is_read_from_the_metric_name():
    model, snapshots = _model(), _Snapshots()
    best, stop = BestWeights(monitor="val_accuracy"), EarlyStopping(monitor="val_accuracy", patience=3)
    history = _fit(
        model, epochs=6, callbacks=[_Scripted("val_accuracy", [0.5, 0.6, 0.7, 0.9, 0.8, 0.85]), snapshots, best, stop]
    )
    assert best.mode == stop.mode == "max"
    assert best.best_epoch == 4 and not history.stopped_early  # rising accuracy is improvement
    for name, value in model.state_dict().items():
        assert torch.equal(value, snapshots.states[4][name])
    assert BestWeights().mode == "min" and EarlyStopping(monitor="train_loss").mode == "min"
    assert BestWeights(monitor="val_f1").mode == "max"


def test_monitor_mode_must_be_given_when_the_name_does_not_say_and_must_not_contradict_it():
    with pytest.raises(ValueError, match="Cannot tell from the name.*mode='min'"):
        EarlyStopping(monitor="val_kl")
    assert EarlyStopping(monitor="val_kl", mode="min").mode == "min"
    with pytest.raises(ValueError, match="higher 'val_accuracy' is better, so mode='min' would keep the worst"):
        BestWeights(monitor="val_accuracy", mode="min")
    with pytest.raises(ValueError, match="lower 'val_loss' is better"):
        EarlyStopping(mode="max")


def test_one_callback_instance_serves_two_fits():
    stop, best = EarlyStopping(patience=2), BestWeights()
    _fit(epochs=6, callbacks=[_Scripted("val_loss", [0.5, 0.3, 0.4, 0.45, 0.5, 0.6]), best, stop])
    assert stop.stopped_epoch == 4
    model_b, snapshots = _model(), _Snapshots()
    with torch.no_grad():
        model_b[0].weight.add_(1.0)  # a different model
    history = _fit(model_b, epochs=4, callbacks=[_Scripted("val_loss", [0.9, 0.8, 0.7, 0.75]), snapshots, best, stop])
    assert not history.stopped_early and history.epochs == 4 and stop.stopped_epoch is None
    assert best.best_epoch == 3
    for name, value in model_b.state_dict().items():  # model B's own epoch 3, not model A's weights
        assert torch.equal(value, snapshots.states[3][name])


@pytest.mark.parametrize("clip", [-1.0, 0, 0.0, math.nan, "1.0", True])
def test_grad_clip_must_be_positive(clip):
    with pytest.raises(ValueError, match="grad_clip is the largest gradient norm allowed, a positive number"):
        _fit(grad_clip=clip)


def test_an_optimizer_of_another_model_is_refused():
    model, other = _model(), _model()
    with pytest.raises(ValueError, match="optimizer does not hold any of this model's parameters"):
        _fit(model, optimizer=torch.optim.SGD(other.parameters(), 0.1))
    frozen_body = _model()  # an optimizer for part of the model (fine-tuning the last layer) is fine
    _fit(frozen_body, optimizer=torch.optim.SGD(frozen_body[2].parameters(), 0.1))


def test_one_shot_iterators_are_refused_up_front():
    x, y = _blobs(32)
    batches = [(x[:16], y[:16]), (x[16:], y[16:])]
    with pytest.raises(TypeError, match="train_data is a one-shot iterator.*second epoch would find it empty"):
        _fit(train=(batch for batch in batches), epochs=2)
    with pytest.raises(TypeError, match="val_data is a one-shot iterator"):
        _fit(train=batches, val_data=iter(batches))
    with pytest.raises(TypeError, match=r"pair \(inputs, targets\).*TensorBatchLoader\(x, y"):
        _fit(train=(x, y))
    assert evaluate(_model(), (batch for batch in batches))["accuracy"] >= 0  # one pass: a generator is fine


@pytest.mark.parametrize("call", ["fit", "evaluate", "predict"])
def test_every_device_argument_goes_through_get_device(call):
    from course_lib.device import DeviceNotAvailableError

    model = _model()
    run = {
        "fit": lambda device: _fit(model, device=device),
        "evaluate": lambda device: evaluate(model, _loader(), device=device),
        "predict": lambda device: predict(model, _loader(), device=device),
    }[call]
    with pytest.raises(DeviceNotAvailableError, match="does not support device 'meta'"):
        run(torch.device("meta"))
    assert model[0].weight.device.type == "cpu"  # not moved to meta
    run(torch.device("cpu"))  # a torch.device object works like its name
    if not torch.cuda.is_available():
        with pytest.raises(DeviceNotAvailableError, match="no CUDA GPU"):
            run(torch.device("cuda"))


class _ReturnsAPair(nn.Module):  # returns (output, hidden state), like nn.LSTM
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 2)

    def forward(self, x):
        return self.linear(x), None


def _float_labels():
    x, y = _blobs(32)
    return data.TensorBatchLoader(x, y.float(), batch_size=16)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (
            lambda: _fit(loss_fn=nn.CrossEntropyLoss),
            TypeError,
            r"loss_fn is the class CrossEntropyLoss; create the loss first: CrossEntropyLoss\(\)",
        ),
        (
            lambda: _fit(loss_fn=nn.CrossEntropyLoss(reduction="none")),
            ValueError,
            "reduction='none'.*needs the mean over the batch",
        ),
        (
            lambda: _fit(loss_fn=lambda out, y: nn.functional.cross_entropy(out, y, reduction="none")),
            ValueError,
            r"the loss is a tensor of shape \(16,\), not one number.*reduction='none'",
        ),
        (
            lambda: fit(_model(), _loader(), nn.functional.cross_entropy, torch.optim.Adam, progress=False),
            TypeError,
            r"optimizer is the class Adam; create it.*Adam\(model.parameters\(\)",
        ),
        (
            lambda: _fit(callbacks=[EarlyStopping]),
            TypeError,
            r"callbacks\[0\] is the class EarlyStopping; create the callback first",
        ),
        (lambda: _fit(callbacks=5), TypeError, "callbacks must be a list"),
        (
            lambda: _fit(train=_float_labels()),
            ValueError,
            r"targets are floating-point numbers \(torch.float32\).*y.long\(\)",
        ),
        (lambda: _fit(_ReturnsAPair()), TypeError, "model returned a tuple of 2 items, not one tensor"),
        (
            lambda: evaluate(_ReturnsAPair(), _loader(), nn.functional.cross_entropy),
            TypeError,
            "model returned a tuple of 2 items",
        ),
    ],
    ids=[
        "loss-class",
        "reduction-none-module",
        "reduction-none-function",
        "optimizer-class",
        "callback-class",
        "callbacks-not-a-list",
        "float-labels",
        "model-returns-tuple",
        "evaluate-model-returns-tuple",
    ],
)
def test_common_mistakes_get_one_sentence(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_a_single_callback_needs_no_list():
    stop = EarlyStopping(monitor="train_loss", patience=1)
    history = _fit(epochs=3, callbacks=stop)
    assert history.epochs >= 1 and stop.best_value == min(history["train_loss"])


def test_predict_on_a_bare_tensor_and_on_empty_data():
    x, _ = _blobs(50)
    model = _model()
    out = predict(model, x, batch_size=16)
    assert out.shape == (50, 2) and torch.allclose(out, model(x).detach(), atol=1e-6)
    with pytest.raises(ValueError, match="predict\\(\\) got no inputs: the data is empty"):
        predict(model, [])
    with pytest.raises(ValueError, match="got no inputs"):
        predict(model, x[:0])
    with pytest.raises(ValueError, match="batch_size must be a whole number of examples, 1 or more, got 0"):
        predict(model, x, batch_size=0)


def test_evaluate_and_predict_restore_the_mode_even_when_they_fail():
    class Broken(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(2, 2)

        def forward(self, x):
            if not self.training:
                raise RuntimeError("broken in eval mode")
            return self.linear(x)

    model = Broken()
    for call in (lambda: evaluate(model, _loader()), lambda: predict(model, _loader())):
        with pytest.raises(RuntimeError, match="broken in eval mode"):
            call()
        assert model.training


# ============================================================================= device and precision (issue 9)
def test_the_model_moves_once_per_fit():
    moves = []

    class Counted(nn.Sequential):
        def to(self, *args, **kwargs):
            moves.append(args)
            return super().to(*args, **kwargs)

    torch.manual_seed(0)
    model = Counted(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2))
    _fit(model, epochs=3, val_data=_loader(seed=1))
    assert len(moves) == 1


def _count_host_reads(monkeypatch):
    """Count the ways a tensor's value is read back to Python (each one waits for a GPU)."""
    reads = []
    for name in ("__float__", "__int__", "__bool__", "item", "tolist"):
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _original=original, _name=name, **kwargs):
            reads.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    return reads


def test_fit_reads_numbers_back_once_per_window_not_every_batch(monkeypatch):
    import course_lib.train as train_module

    monkeypatch.setattr(train_module, "_steps_between_checks", lambda device: 100)  # as on a GPU
    model = _model()
    loader = _loader(n=320, batch_size=16)  # 20 batches an epoch
    optimizer = torch.optim.SGD(model.parameters(), 0.1)
    reads = _count_host_reads(monkeypatch)
    fit(model, loader, nn.functional.cross_entropy, optimizer, epochs=2, progress=False)
    monkeypatch.undo()
    assert reads == ["tolist", "tolist"], reads  # one read an epoch (was 3 a batch: 120)


def test_nan_is_caught_at_the_next_check_and_the_window_is_named(monkeypatch):
    import course_lib.train as train_module

    x, y = _blobs(128)
    x[5 * 16, 0] = math.nan  # in batch 6 of 8
    loader = data.TensorBatchLoader(x, y, batch_size=16)
    model = _model()
    with pytest.raises(FloatingPointError, match=r"in epoch 1, batch 6: training diverged\. Try a smaller"):
        _fit(model, train=loader)  # on a CPU every batch is checked before its step
    assert all(torch.isfinite(p).all() for p in model.parameters())
    monkeypatch.setattr(train_module, "_steps_between_checks", lambda device: 4)
    with pytest.raises(FloatingPointError, match="epoch 1, one of batches 5 to 8: training diverged"):
        _fit(train=loader)


def test_validation_runs_with_the_training_precision_and_memory_format(monkeypatch):
    import course_lib.train as train_module
    from course_lib.device import MixedPrecision

    seen = {True: set(), False: set()}

    class Probe(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3, padding=1)
            self.head = nn.Linear(2 * 4 * 4, 2)

        def forward(self, x):
            out = self.conv(x)
            seen[self.training].add((out.dtype, x.is_contiguous(memory_format=torch.channels_last)))
            return self.head(out.flatten(1))

    bfloat16 = MixedPrecision("cpu", torch.bfloat16)
    monkeypatch.setattr(train_module, "mixed_precision_for", lambda device, enabled: bfloat16)
    _, y = _blobs(32)
    loader = data.TensorBatchLoader(torch.randn(32, 2, 4, 4)[:, :1], y, batch_size=8)
    model = Probe()
    _fit(model, train=loader, val_data=loader, channels_last=True)
    assert seen[True] == seen[False] == {(torch.bfloat16, True)}


def test_the_float16_path_scales_the_loss_and_clips_the_true_gradients(monkeypatch):
    # What fit does on a GPU without bfloat16, run on the CPU: float16 autocast and an enabled GradScaler.
    import course_lib.train as train_module
    from course_lib.device import MixedPrecision

    float16 = MixedPrecision("cpu", torch.float16)
    monkeypatch.setattr(train_module, "mixed_precision_for", lambda device, enabled: float16)
    model = nn.Linear(2, 2)
    changes = []

    class StepSizes(Callback):
        def on_train_begin(self, model):
            self.before = model.weight.detach().clone()

        def on_step_end(self, step, loss, lr):
            assert self.run.scaler.is_enabled() and self.run.scaler.get_scale() > 1
            changes.append(float((model.weight.detach() - self.before).norm()))
            self.before = model.weight.detach().clone()

    history = _fit(
        model,
        train=_loader(n=128, batch_size=16),
        optimizer=torch.optim.SGD(model.parameters(), 1.0),
        grad_clip=0.01,
        epochs=2,
        callbacks=[StepSizes()],
        val_data=_loader(seed=1),
    )
    assert all(math.isfinite(v) for v in history["train_loss"] + history["val_loss"])
    # clipping saw the unscaled gradients: a step moves the weights by at most the clip norm, and the large
    # early gradients by the clip norm itself (not by the clip norm divided by the loss scale, 65536)
    assert max(changes) == pytest.approx(0.01, rel=1e-3) and max(changes) <= 0.01 * (1 + 1e-4)


def test_the_recorded_lr_is_the_one_the_epochs_last_step_used():
    model = _model()
    loader = _loader(n=64, batch_size=16)  # 4 batches
    optimizer = torch.optim.SGD(model.parameters(), 0.1)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, total_steps=3 * 4)
    used = []

    class Rates(Callback):
        def on_step_end(self, step, loss, lr):
            used.append(lr)

    history = _fit(model, train=loader, optimizer=optimizer, scheduler=scheduler, epochs=3, callbacks=[Rates()])
    reference = torch.optim.SGD([nn.Parameter(torch.zeros(1))], 0.1)
    expected_schedule = torch.optim.lr_scheduler.OneCycleLR(reference, max_lr=0.1, total_steps=12)
    expected = []
    for _ in range(12):
        expected.append(reference.param_groups[0]["lr"])
        reference.step()
        expected_schedule.step()
    assert used == pytest.approx(expected)
    assert history["lr"] == pytest.approx([expected[3], expected[7], expected[11]])


def test_plots_and_train_do_not_import_each_other():
    import ast
    from pathlib import Path

    import course_lib

    def module_imports(name):
        tree = ast.parse((Path(course_lib.__file__).parent / f"{name}.py").read_text())
        return {node.module for node in tree.body if isinstance(node, ast.ImportFrom) and node.level == 1}

    assert "train" not in module_imports("plots") and "plots" not in module_imports("train")
    from course_lib.plots import LivePlot

    assert isinstance(LivePlot(), Callback)


# ============================================================================= hooks for chapters 08-10
def _parts_loss(output, y):
    ce = nn.functional.cross_entropy(output, y)
    size = output.pow(2).mean()
    return {"loss": ce + 0.01 * size, "ce": ce, "size": size}


def test_a_loss_with_parts_is_recorded_part_by_part():
    model = _model()
    train, val = _loader(n=70, batch_size=16), _loader(n=50, batch_size=16, seed=1)  # uneven last batches
    history = _fit(
        model,
        train=train,
        loss_fn=_parts_loss,
        val_data=val,
        epochs=2,
        optimizer=torch.optim.SGD(model.parameters(), 0.0),
    )  # lr 0: the model stays the same
    for split in ("train", "val"):
        for name in ("loss", "ce", "size", "accuracy"):
            assert len(history[f"{split}_{name}"]) == 2
    x, y = _blobs(50, seed=1)
    with torch.no_grad():
        output = model(x)
    by_hand = {name: float(value) for name, value in _parts_loss(output, y).items()}  # means over all 50
    result = evaluate(model, val, _parts_loss)
    assert set(result) == {"loss", "ce", "size", "accuracy"}
    for name, value in by_hand.items():
        assert result[name] == pytest.approx(value, rel=1e-5)
        assert history[f"val_{name}"][-1] == pytest.approx(value, rel=1e-5)
    x, y = _blobs(70)
    with torch.no_grad():
        assert history["train_ce"][0] == pytest.approx(float(nn.functional.cross_entropy(model(x), y)), rel=1e-5)


@pytest.mark.parametrize(
    "loss_fn, error, match",
    [
        (lambda out, y: {"total": nn.functional.cross_entropy(out, y)}, ValueError, "no 'loss' entry"),
        (
            lambda out, y: {"loss": nn.functional.cross_entropy(out, y), "accuracy": torch.tensor(1.0)},
            ValueError,
            "part named 'accuracy'",
        ),
        (
            lambda out, y: {"loss": nn.functional.cross_entropy(out, y), "per_example": out.sum(1)},
            ValueError,
            r"the part 'per_example' returned by loss_fn is a tensor of shape \(16,\)",
        ),
        (lambda out, y: [nn.functional.cross_entropy(out, y)], TypeError, "returned a list"),
        (lambda out, y: nn.functional.cross_entropy(out, y).item(), TypeError, r"returned a float.*\.item\(\)"),
        (lambda out, y: nn.functional.cross_entropy(out, y).detach(), RuntimeError, "does not depend on any weight"),
    ],
)
def test_a_badly_shaped_loss_result_is_explained(loss_fn, error, match):
    with pytest.raises(error, match=match):
        _fit(loss_fn=loss_fn)


class _StatefulLSTM(nn.Module):
    """Reads a long sequence in consecutive chunks, carrying its hidden state from one batch to the next."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(1, 8, batch_first=True)
        self.head = nn.Linear(8, 1)
        self.state = None
        self.resets = 0

    def reset_state(self):
        self.state, self.resets = None, self.resets + 1

    def detach_state(self):
        self.state = tuple(s.detach() for s in self.state)

    def forward(self, x):
        out, self.state = self.lstm(x, self.state)
        return self.head(out)


def _sine_chunks(streams=4, chunks=6, length=10):
    """Batches of ``streams`` rows; row i of chunk t continues row i of chunk t - 1. Target: the next value."""
    t = torch.arange(chunks * length + 1, dtype=torch.float32)
    waves = torch.stack([torch.sin(0.3 * t + phase) for phase in torch.linspace(0, 3, streams)]).unsqueeze(-1)
    return [
        (waves[:, i * length : (i + 1) * length], waves[:, i * length + 1 : (i + 1) * length + 1])
        for i in range(chunks)
    ]


def test_a_stateful_model_trains_with_its_state_reset_each_pass_and_detached_each_step():
    torch.manual_seed(0)
    model = _StatefulLSTM()
    batches = _sine_chunks()
    history = _fit(
        model,
        train=batches,
        loss_fn=nn.functional.mse_loss,
        val_data=batches,
        epochs=15,
        optimizer=torch.optim.Adam(model.parameters(), 0.02),
    )
    assert history["train_loss"][-1] < 0.5 * history["train_loss"][0]
    assert model.resets == 2 * 15  # each training epoch and each validation pass
    first, second = evaluate(model, batches, nn.functional.mse_loss), evaluate(model, batches, nn.functional.mse_loss)
    assert first == second  # each pass starts from a fresh state
    assert history["val_loss"][-1] == pytest.approx(first["loss"], rel=1e-5)
    assert predict(model, batches).shape == (6 * 4, 10, 1)

    class Forgetful(_StatefulLSTM):  # without detach_state the second batch backpropagates into the first
        detach_state = None

    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        _fit(Forgetful(), train=batches, loss_fn=nn.functional.mse_loss)


def test_callbacks_see_what_a_checkpoint_needs_and_every_step():
    from course_lib.train import TrainingRun

    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), 0.1, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    seen, steps = [], []

    class Checkpointish(Callback):
        def on_epoch_end(self, epoch, model_, history):
            run = self.run
            assert isinstance(run, TrainingRun) and run.model is model and run.optimizer is optimizer
            assert run.scheduler is scheduler and run.history is history and run.epoch == epoch
            assert not run.scaler.is_enabled()  # float32 on a CPU
            seen.append((epoch, run.step, dict(optimizer.state_dict()["param_groups"][0])["lr"]))
            return False

        def on_step_end(self, step, loss, lr):
            steps.append((step, float(loss), lr))

    history = _fit(model, optimizer=optimizer, scheduler=scheduler, epochs=2, callbacks=[Checkpointish()])
    assert [step for step, _, _ in steps] == list(range(1, 9)) and history.steps == 8
    assert [lr for _, _, lr in steps] == [0.1] * 4 + [0.05] * 4
    assert sum(loss for _, loss, _ in steps[:4]) / 4 == pytest.approx(history["train_loss"][0])
    # at an epoch's end the epoch scheduler has stepped: a checkpoint saved there resumes at the next rate
    assert seen == [(1, 4, 0.05), (2, 8, 0.025)]


def test_resuming_from_a_checkpoint_matches_an_uninterrupted_run():
    import copy

    def setup():
        model = _model()
        optimizer = torch.optim.SGD(model.parameters(), 0.1, momentum=0.9)
        return model, optimizer, torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)

    train, val = _loader(n=64, batch_size=16), _loader(n=32, seed=1)
    model, optimizer, scheduler = setup()
    straight = _fit(model, train=train, val_data=val, optimizer=optimizer, scheduler=scheduler, epochs=4)

    first, opt_a, sched_a = setup()
    first_history = _fit(first, train=train, val_data=val, optimizer=opt_a, scheduler=sched_a, epochs=2)
    saved = copy.deepcopy(
        {
            "model": first.state_dict(),
            "optimizer": opt_a.state_dict(),
            "scheduler": sched_a.state_dict(),
            "history": first_history.state_dict(),
        }
    )
    resumed, opt_b, sched_b = setup()
    resumed.load_state_dict(saved["model"])

    class Resume(Callback):  # what chapter 10's Checkpoint callback does in on_train_begin
        def on_train_begin(self, model):
            self.run.optimizer.load_state_dict(saved["optimizer"])
            self.run.scheduler.load_state_dict(saved["scheduler"])

    history = History()
    history.load_state_dict(saved["history"])
    resumed_history = _fit(
        resumed,
        train=train,
        val_data=val,
        optimizer=opt_b,
        scheduler=sched_b,
        epochs=4,
        history=history,
        callbacks=[Resume()],
    )
    assert resumed_history is history and history.epochs == 4 and history.steps == straight.steps == 16
    for name in ("train_loss", "val_loss", "val_accuracy", "lr"):
        assert history[name] == pytest.approx(straight[name], rel=1e-6)
    for name, value in resumed.state_dict().items():
        assert torch.allclose(value, model.state_dict()[name], atol=1e-6)
    with pytest.raises(ValueError, match="already holds 4 epochs, more than epochs=3.*epochs=7"):
        _fit(resumed, train=train, optimizer=opt_b, epochs=3, history=history)
