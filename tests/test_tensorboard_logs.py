"""TensorBoardLogger writes what fit does; read_scalars and plot_runs read it back without a server."""

import os
import subprocess
import sys
from pathlib import Path

import matplotlib
import pytest
from test_train_checkpoint import EPOCHS, PowerCut, build, run_fit

import course_lib
from course_lib.callbacks import Callback, Checkpoint, TensorBoardLogger
from course_lib.tensorboard_logs import _without_tensorflow, list_runs, plot_runs, read_scalars

matplotlib.use("Agg")
ROOT = Path(course_lib.__file__).resolve().parent.parent
STEPS_PER_EPOCH = 6


class BatchLosses(Callback):
    def on_train_begin(self, model):
        self.losses = []

    def on_batch_end(self, loss):
        self.losses.append(loss)


def histogram_tags(folder):
    _without_tensorflow()
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(folder))
    accumulator.Reload()
    return set(accumulator.Tags()["histograms"])


def test_scalars_per_batch_and_per_epoch_learning_rate_and_histograms(tmp_path):
    course_lib.seed_everything(0)
    batches = BatchLosses()
    history = run_fit(build(), callbacks=[TensorBoardLogger(tmp_path / "run"), batches])
    curves = read_scalars(tmp_path / "run")

    assert curves["batch/loss"].steps == list(range(1, EPOCHS * STEPS_PER_EPOCH + 1))
    assert curves["batch/loss"].values == pytest.approx(batches.losses, rel=1e-6)  # stored as float32
    rates = curves["batch/lr"].values
    assert rates[:STEPS_PER_EPOCH] == pytest.approx([0.02] * STEPS_PER_EPOCH)  # StepLR: x0.8 every epoch
    assert rates[STEPS_PER_EPOCH] == pytest.approx(0.016)
    for name in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds"):
        epoch_curve = curves[f"epoch/{name}"]
        assert epoch_curve.steps == [STEPS_PER_EPOCH * e for e in range(1, EPOCHS + 1)]
        assert epoch_curve.values == pytest.approx(history[name], rel=1e-6)
    tags = histogram_tags(tmp_path / "run")
    for name, _ in build()[0].named_parameters():
        assert {f"weights/{name}", f"gradients/{name}"} <= tags


def test_batch_every_and_histograms_every(tmp_path):
    run_fit(build(), epochs=3, callbacks=[TensorBoardLogger(tmp_path / "run", batch_every=4, histograms_every=0)])
    curves = read_scalars(tmp_path / "run")
    assert curves["batch/loss"].steps == [4, 8, 12, 16]
    assert histogram_tags(tmp_path / "run") == set()


def test_a_resumed_run_continues_the_curves_without_the_crashed_runs_extra_points(tmp_path):
    course_lib.seed_everything(0)
    run_fit(build(), callbacks=[TensorBoardLogger(tmp_path / "straight")])
    course_lib.seed_everything(0)
    cut = tmp_path / "cut"
    with pytest.raises(RuntimeError, match="power cut"):
        run_fit(build(), callbacks=[Checkpoint(tmp_path / "c.ckpt"), TensorBoardLogger(cut), PowerCut(3, 4)])
    assert read_scalars(cut)["batch/loss"].steps[-1] == 2 * STEPS_PER_EPOCH + 4  # logged past the checkpoint
    run_fit(build(model_seed=3), resume_from=tmp_path / "c.ckpt", callbacks=[TensorBoardLogger(cut)])

    straight, resumed = read_scalars(tmp_path / "straight"), read_scalars(cut)
    assert resumed.keys() == straight.keys()
    for tag in straight:
        assert resumed[tag].steps == straight[tag].steps, tag  # no step twice
        if tag != "epoch/seconds":
            assert resumed[tag].values == straight[tag].values, tag


def test_plot_runs_draws_each_run_and_names_what_is_missing(tmp_path):
    for name, lr in (("slow", 0.001), ("fast", 0.05)):
        model, optimizer, _, train, val = build()
        for group in optimizer.param_groups:
            group["lr"] = lr
        run_fit(
            (model, optimizer, None, train, val),
            epochs=2,
            callbacks=[TensorBoardLogger(tmp_path / "runs" / name, histograms_every=0)],
        )
    runs = {path.name: path for path in list_runs(tmp_path / "runs")}
    assert list(runs) == ["fast", "slow"]
    figure = plot_runs(runs, tags=("epoch/train_loss", "epoch/val_accuracy"))
    assert [len(ax.lines) for ax in figure.axes[:2]] == [2, 2]
    assert list(figure.axes[0].lines[0].get_xdata()) == [1, 2]
    step_figure = plot_runs(runs, tags=("batch/loss",), x="step")
    assert list(step_figure.axes[0].lines[0].get_xdata()) == list(range(1, 13))
    with pytest.raises(KeyError, match="has no curve 'epoch/nope'; it has: batch/loss"):
        plot_runs(runs, tags=("epoch/nope",))
    with pytest.raises(ValueError, match="x must be"):
        plot_runs(runs, x="time")
    with pytest.raises(FileNotFoundError, match="no run folder"):
        read_scalars(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no TensorBoard event files.*list_runs"):
        read_scalars(tmp_path / "runs")


def test_logger_arguments_are_checked(tmp_path):
    with pytest.raises(ValueError, match="batch_every must be a whole number, 1 or more"):
        TensorBoardLogger(tmp_path, batch_every=0)
    with pytest.raises(ValueError, match="histograms_every"):
        TensorBoardLogger(tmp_path, histograms_every=-1)
    with pytest.raises(TypeError, match="log_dir must be a folder path"):
        TensorBoardLogger(3)


def test_writing_and_reading_logs_never_imports_tensorflow(tmp_path):
    script = (
        "import sys, torch, course_lib\n"
        "from course_lib.tensorboard_logs import summary_writer, read_scalars\n"
        f"w = summary_writer({str(tmp_path)!r}); w.add_scalar('x', 1.0, 1); w.add_histogram('h', torch.ones(3), 1)\n"
        f"w.close(); assert read_scalars({str(tmp_path)!r})['x'].values == [1.0]\n"
        "assert 'tensorflow' not in sys.modules, 'TensorFlow was imported'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
