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


def test_fit_learns_and_records_history():
    x, y = _blobs()
    train = data.TensorBatchLoader(x, y, batch_size=32, shuffle=True)
    val = data.TensorBatchLoader(*_blobs(seed=1), batch_size=64)
    model = _model()
    before = evaluate(model, val, nn.functional.cross_entropy)
    history = fit(model, train, nn.functional.cross_entropy, torch.optim.Adam(model.parameters(), 0.05),
                  epochs=5, val_data=val, progress=False)
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
    history = fit(model, data.TensorBatchLoader(x, y, batch_size=16), nn.functional.mse_loss,
                  torch.optim.SGD(model.parameters(), 0.1), epochs=20, progress=False)
    assert "train_accuracy" not in history and history["train_loss"][-1] < 1e-2


def test_predict_returns_outputs_in_order():
    x, y = _blobs(50)
    model = _model()
    out = predict(model, data.TensorBatchLoader(x, y, batch_size=8))
    assert out.shape == (50, 2) and torch.allclose(out, model(x).detach(), atol=1e-6)


def test_early_stopping_and_best_weights():
    x, y = _blobs()
    loader = data.TensorBatchLoader(x, y, batch_size=32)

    class Scripted(Callback):  # feeds a made-up validation curve: best at epoch 2
        curve = [0.5, 0.3, 0.4, 0.45, 0.5, 0.6, 0.7]

        def on_epoch_end(self, epoch, model, history):
            history.metrics.setdefault("val_loss", []).append(self.curve[epoch - 1])
            return False

    model = _model()
    best, stop = BestWeights(), EarlyStopping(patience=2)
    snapshots = {}

    class Snapshot(Callback):
        def on_epoch_end(self, epoch, model, history):
            snapshots[epoch] = {k: v.clone() for k, v in model.state_dict().items()}
            return False

    history = fit(model, loader, nn.functional.cross_entropy, torch.optim.SGD(model.parameters(), 0.5),
                  epochs=7, callbacks=[Scripted(), Snapshot(), best, stop], progress=False)
    assert history.stopped_early and history.epochs == 4 and stop.stopped_epoch == 4
    assert best.best_epoch == 2
    for name, value in model.state_dict().items():
        assert torch.equal(value, snapshots[2][name])


def test_callback_watching_a_missing_metric_says_to_pass_val_data():
    x, y = _blobs(32)
    model = _model()
    with pytest.raises(KeyError, match="Pass val_data to fit"):
        fit(model, data.TensorBatchLoader(x, y), nn.functional.cross_entropy,
            torch.optim.SGD(model.parameters(), 0.1), epochs=1, callbacks=[EarlyStopping()], progress=False)


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
        fit(model, data.TensorBatchLoader(x, y, batch_size=64), nn.functional.cross_entropy,
            torch.optim.SGD(model.parameters(), 0.1), epochs=1, progress=False)


def test_gradient_clipping_bounds_the_update():
    x, y = _blobs(64)
    model = nn.Linear(2, 2)
    before = model.weight.detach().clone()
    fit(model, data.TensorBatchLoader(x * 1000, y, batch_size=64), nn.functional.cross_entropy,
        torch.optim.SGD(model.parameters(), 1.0), epochs=1, grad_clip=0.01, progress=False)
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
    x, y = _blobs(32)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Flatten(), nn.Linear(2 * 4 * 4, 2))
    images = torch.randn(32, 1, 4, 4)
    fit(model, data.TensorBatchLoader(images, y, batch_size=8), nn.functional.cross_entropy,
        torch.optim.SGD(model.parameters(), 0.1), epochs=1, device="cpu", progress=False)
    assert model[0].weight.is_contiguous()  # channels-last is a CUDA-only optimisation


def test_history_errors_name_what_exists():
    history = History()
    history.add(train_loss=1.0)
    with pytest.raises(KeyError, match="it has: train_loss"):
        history["val_loss"]


def test_live_plot_and_progress_work_without_a_notebook(capsys):
    x, y = _blobs(32)
    model = _model()
    history = fit(model, data.TensorBatchLoader(x, y, batch_size=16), nn.functional.cross_entropy,
                  torch.optim.SGD(model.parameters(), 0.1), epochs=2, live_plot=True, progress=True)
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

    history = fit(model, Batches(), nn.functional.cross_entropy, torch.optim.SGD(model.parameters(), 0.1),
                  epochs=2, progress=True)
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
    history = fit(model, data.TensorBatchLoader(x, y, batch_size=32), nn.functional.cross_entropy,
                  torch.optim.SGD(model.parameters(), 0.1), epochs=2, callbacks=[Record()], progress=False)
    assert len(seen) == 2 * 4  # 100 examples in batches of 32: 4 batches an epoch
    sizes = [32, 32, 32, 4]
    first_epoch = sum(loss * n for loss, n in zip(seen[:4], sizes)) / 100
    assert first_epoch == pytest.approx(history["train_loss"][0])
