"""fit with checkpoints: Checkpoint saves during training, fit(resume_from=...) continues exactly."""

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

import course_lib
from course_lib import data
from course_lib.checkpoint import CheckpointMismatchError, inspect_checkpoint, save_checkpoint
from course_lib.train import Callback, Checkpoint, History, fit

ROOT = Path(course_lib.__file__).resolve().parent.parent
EPOCHS = 4


def _blobs(n=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    x = torch.randn(n, 4, generator=g) * 0.7 + nn.functional.one_hot(y, 4).float()
    return x, y


def build(model_seed=0, generator_seed=None):
    """Model with dropout (draws from torch's generator), AdamW, StepLR, a shuffling loader."""
    torch.manual_seed(model_seed)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.02)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.8)
    generator = None if generator_seed is None else torch.Generator().manual_seed(generator_seed)
    train = data.TensorBatchLoader(*_blobs(), batch_size=16, shuffle=True, generator=generator)
    val = data.TensorBatchLoader(*_blobs(32, seed=1), batch_size=32)
    return model, optimizer, scheduler, train, val


def run_fit(parts, epochs=EPOCHS, **kwargs):
    model, optimizer, scheduler, train, val = parts
    return fit(
        model,
        train,
        nn.functional.cross_entropy,
        optimizer,
        epochs,
        val_data=val,
        scheduler=scheduler,
        progress=False,
        **kwargs,
    )


class PowerCut(Callback):
    """Stops the run with an error in the middle of an epoch, as a crash would."""

    def __init__(self, epoch, batch):
        self.epoch, self.batch = epoch, batch

    def on_step_end(self, step, loss, lr):
        if self.run.epoch == self.epoch and step == (self.epoch - 1) * 6 + self.batch:
            raise RuntimeError("power cut")


class Scripted(Callback):
    def __init__(self, name, curve):
        self.name, self.curve = name, curve

    def on_epoch_end(self, epoch, model, history):
        history.metrics.setdefault(self.name, []).append(self.curve[epoch - 1])
        return False


def numbers(history):
    return {name: values for name, values in history.metrics.items() if name != "seconds"}


@pytest.mark.parametrize("generator_seed", [None, 7], ids=["global-rng", "own-generator"])
def test_a_run_cut_mid_epoch_and_resumed_equals_the_uninterrupted_run_number_for_number(tmp_path, generator_seed):
    course_lib.seed_everything(0)
    straight_parts = build(generator_seed=generator_seed)
    straight = run_fit(straight_parts, callbacks=[Checkpoint(tmp_path / "straight.ckpt")])

    course_lib.seed_everything(0)
    with pytest.raises(RuntimeError, match="power cut"):
        run_fit(
            build(generator_seed=generator_seed),
            callbacks=[Checkpoint(tmp_path / "cut.ckpt"), PowerCut(epoch=3, batch=4)],
        )
    assert inspect_checkpoint(tmp_path / "cut.ckpt")["extra"]["epoch"] == 2

    course_lib.seed_everything(123)  # another start: only the checkpoint can make the runs agree
    resumed_parts = build(model_seed=5, generator_seed=None if generator_seed is None else 99)
    resumed = run_fit(resumed_parts, resume_from=tmp_path / "cut.ckpt", callbacks=[Checkpoint(tmp_path / "cut.ckpt")])

    assert numbers(resumed) == numbers(straight)  # exactly: every loss, accuracy and rate
    assert resumed.epochs == EPOCHS and resumed.steps == straight.steps == EPOCHS * 6
    for name, value in straight_parts[0].state_dict().items():
        assert torch.equal(resumed_parts[0].state_dict()[name], value), name
    assert inspect_checkpoint(tmp_path / "cut.ckpt")["extra"]["epoch"] == EPOCHS


def test_without_the_checkpoint_the_resumed_run_goes_elsewhere(tmp_path):
    """The exactness test can fail: a run that only reloads the weights and history differs."""
    course_lib.seed_everything(0)
    straight = run_fit(build())
    course_lib.seed_everything(0)
    first = build()
    half = run_fit(first, epochs=2)
    course_lib.seed_everything(123)
    again = build(model_seed=5)
    again[0].load_state_dict(first[0].state_dict())
    continued = run_fit(again, history=half)
    assert numbers(continued)["train_loss"][:2] == numbers(straight)["train_loss"][:2]
    assert numbers(continued)["train_loss"][2:] != numbers(straight)["train_loss"][2:]


def test_every_n_epochs_and_after_the_last(tmp_path):
    saver = Checkpoint(tmp_path / "last.ckpt", every=2)
    run_fit(build(), epochs=5, callbacks=[saver])
    assert saver.saved_epochs == [2, 4, 5]
    contents = inspect_checkpoint(tmp_path / "last.ckpt")
    assert contents["extra"]["epoch"] == 5 and contents["extra"]["history"]["steps"] == 30
    assert set(contents["parts"]) == {"optimizer", "scheduler"}  # the CPU's disabled scaler is left out
    assert set(contents["stateful"]) == {"train_data"}


def test_keep_best_saves_only_improvements_and_remembers_the_best_when_resumed(tmp_path):
    path = tmp_path / "best.ckpt"
    curve = [0.5, 0.7, 0.6, 0.8, 0.75]
    best = Checkpoint(path, monitor="val_score", mode="max")
    run_fit(build(), epochs=3, callbacks=[Scripted("val_score", curve), best])
    assert best.saved_epochs == [1, 2] and best.best_value == 0.7
    assert inspect_checkpoint(path)["extra"]["epoch"] == 2
    # Resumed from the best (epoch 2): epoch 3's 0.6 is no improvement on 0.7, epoch 4's 0.8 is.
    resumed_best = Checkpoint(path, monitor="val_score", mode="max")
    run_fit(build(), epochs=5, resume_from=path, callbacks=[Scripted("val_score", curve), resumed_best])
    assert resumed_best.saved_epochs == [4] and resumed_best.best_epoch == 4
    assert inspect_checkpoint(path)["extra"]["history"]["metrics"]["val_score"] == [0.5, 0.7, 0.6, 0.8]


def test_a_fresh_folder_is_created_and_the_user_history_is_filled_in_place(tmp_path):
    path = tmp_path / "runs" / "a" / "last.ckpt"
    run_fit(build(), epochs=2, callbacks=[Checkpoint(path)])
    history = History()
    returned = run_fit(build(), epochs=3, resume_from=str(path), history=history)
    assert returned is history and history.epochs == 3


def test_training_data_without_state_resumes_without_a_warning(tmp_path):
    model, optimizer, scheduler, train, val = build()
    batches = list(data.TensorBatchLoader(*_blobs(), batch_size=16))
    run_fit((model, optimizer, scheduler, batches, val), epochs=1, callbacks=[Checkpoint(tmp_path / "c.ckpt")])
    assert inspect_checkpoint(tmp_path / "c.ckpt")["stateful"] == {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        history = run_fit(build()[:3] + (batches, val), epochs=2, resume_from=tmp_path / "c.ckpt")
    assert history.epochs == 2


def test_resume_errors_say_what_to_do_and_change_nothing(tmp_path):
    path = tmp_path / "run.ckpt"
    run_fit(build(), epochs=3, callbacks=[Checkpoint(path)])
    parts = build(model_seed=3)
    before = {k: v.clone() for k, v in parts[0].state_dict().items()}
    with pytest.raises(ValueError, match="after epoch 3, past epochs=2; nothing was loaded.*epochs=6"):
        run_fit(parts, epochs=2, resume_from=path)
    assert all(torch.equal(before[k], v) for k, v in parts[0].state_dict().items())
    with pytest.raises(ValueError, match="either resume_from= .* or history=, not both"):
        run_fit(build(), resume_from=path, history=run_fit(build(), epochs=1))
    with pytest.raises(TypeError, match="resume_from must be the path"):
        run_fit(build(), resume_from=3)
    model, optimizer, *_ = build()
    save_checkpoint(tmp_path / "plain.ckpt", model, optimizer)
    with pytest.raises(CheckpointMismatchError, match="not one written during fit"):
        run_fit(build(), resume_from=tmp_path / "plain.ckpt")
    model, optimizer, *_ = build()
    save_checkpoint(
        tmp_path / "nosched.ckpt", model, optimizer, epoch=1, history=run_fit(build(), epochs=1).state_dict()
    )
    with pytest.raises(CheckpointMismatchError, match="You passed scheduler= but .* holds no scheduler state"):
        run_fit(build(), resume_from=tmp_path / "nosched.ckpt")


def test_checkpoint_arguments_are_checked(tmp_path):
    with pytest.raises(ValueError, match="every must be a whole number"):
        Checkpoint(tmp_path / "a.ckpt", every=0)
    with pytest.raises(ValueError, match="is a folder"):
        Checkpoint(tmp_path)
    with pytest.raises(ValueError, match="either monitor= .* or every="):
        Checkpoint(tmp_path / "a.ckpt", monitor="val_loss", every=2)
    with pytest.raises(TypeError, match="checkpoint file's path"):
        Checkpoint(None)
    with pytest.raises(ValueError, match="mode="):
        Checkpoint(tmp_path / "a.ckpt", monitor="val_accuracy", mode="min")


FRESH_PROCESS_SCRIPT = """
import sys
import torch
import course_lib
from course_lib.train import Checkpoint, History
sys.path.insert(0, sys.argv[3])
from test_train_checkpoint import build, run_fit, numbers

mode, folder = sys.argv[1], sys.argv[2]
if mode == "straight":
    course_lib.seed_everything(0)
    parts = build()
    history = run_fit(parts)
elif mode == "first":
    course_lib.seed_everything(0)
    parts = build()
    history = run_fit(parts, epochs=2, callbacks=[Checkpoint(folder + "/run.ckpt")])
else:
    course_lib.seed_everything(42)
    parts = build(model_seed=9)
    history = run_fit(parts, resume_from=folder + "/run.ckpt")
torch.save({"numbers": numbers(history), "weights": parts[0].state_dict()}, folder + "/" + mode + ".pt")
"""


@pytest.mark.slow
def test_fit_resumed_in_a_fresh_process_is_bit_identical(tmp_path):
    script = tmp_path / "fresh.py"
    script.write_text(FRESH_PROCESS_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for mode in ("straight", "first", "resume"):
        done = subprocess.run(
            [sys.executable, str(script), mode, str(tmp_path), str(ROOT / "tests")],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
    straight, resumed = (torch.load(tmp_path / f"{m}.pt", weights_only=True) for m in ("straight", "resume"))
    assert resumed["numbers"] == straight["numbers"]
    assert all(torch.equal(resumed["weights"][k], v) for k, v in straight["weights"].items())
