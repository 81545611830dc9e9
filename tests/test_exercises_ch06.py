"""Chapter 06's checkers accept right answers, name the usual mistakes, and treat stubs as not attempted.

The root conftest sets COURSE_STRICT_EXERCISES=1, so a wrong answer raises ExerciseFailed.
"""
import math

import pytest
import torch
from torch import nn

from course_lib.exercises import ExerciseFailed
from course_lib.exercises import ch06_mlp as ex
from course_lib.train import BestWeights, EarlyStopping, History


def fails(checker, answer, match):
    with pytest.raises(ExerciseFailed, match=match):
        checker(answer)


def stub_step(model, x, y, loss_fn, optimizer):
    ...


def stub_one(value):
    pass


@pytest.mark.parametrize(
    "checker, stub",
    [(ex.check_train_step, stub_step), (ex.check_kaiming_std, stub_one),
     (ex.check_precision_recall_from_confusion, stub_one), (ex.check_early_stopping, ...)],
)
def test_stubs_are_not_attempted(checker, stub, capsys):
    assert checker(stub) is False
    assert "⏳" in capsys.readouterr().out


# ----------------------------------------------------------------------------- 1. training step
def good_step(model, x, y, loss_fn, optimizer):
    loss = loss_fn(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def no_zero_grad(model, x, y, loss_fn, optimizer):
    loss = loss_fn(model(x), y)
    loss.backward()
    optimizer.step()
    return loss.item()


def no_step(model, x, y, loss_fn, optimizer):
    loss = loss_fn(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    return loss.item()


def no_backward(model, x, y, loss_fn, optimizer):
    loss = loss_fn(model(x), y)
    optimizer.zero_grad()
    optimizer.step()
    return loss.item()


def returns_tensor(model, x, y, loss_fn, optimizer):
    loss = loss_fn(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss


def returns_nothing(model, x, y, loss_fn, optimizer):
    good_step(model, x, y, loss_fn, optimizer)


def loss_after_step(model, x, y, loss_fn, optimizer):
    good_step(model, x, y, loss_fn, optimizer)
    return loss_fn(model(x), y).item()


def test_train_step(capsys):
    assert ex.check_train_step(good_step) is True
    assert "✅" in capsys.readouterr().out
    fails(ex.check_train_step, no_zero_grad, "optimizer.zero_grad")
    fails(ex.check_train_step, no_step, "call optimizer.step")
    fails(ex.check_train_step, no_backward, "loss.backward")
    fails(ex.check_train_step, returns_tensor, r"loss.item\(\)")
    fails(ex.check_train_step, returns_nothing, "returned None")
    fails(ex.check_train_step, loss_after_step, "should return the loss of this batch")


# ----------------------------------------------------------------------------- 2. Kaiming
def test_kaiming_std():
    assert ex.check_kaiming_std(lambda fan_in: math.sqrt(2 / fan_in)) is True
    assert ex.check_kaiming_std(lambda fan_in: torch.tensor(2 / fan_in).sqrt()) is True
    fails(ex.check_kaiming_std, lambda fan_in: 2 / fan_in, "is the variance")
    fails(ex.check_kaiming_std, lambda fan_in: math.sqrt(1 / fan_in), "ReLU zeroes half")
    fails(ex.check_kaiming_std, lambda fan_in: 0.01, "expected 0.0505")
    fails(ex.check_kaiming_std, lambda fan_in: "big", "return a number")


# ----------------------------------------------------------------------------- 3. precision / recall
def test_precision_recall_from_confusion():
    def good(m):
        tp = m.diagonal().float()
        return tp / m.sum(dim=0), tp / m.sum(dim=1)

    assert ex.check_precision_recall_from_confusion(good) is True
    fails(ex.check_precision_recall_from_confusion, lambda m: good(m)[::-1], "swapped")
    fails(ex.check_precision_recall_from_confusion, lambda m: (good(m)[1], good(m)[1]), "precision divides by the row sums")
    fails(ex.check_precision_recall_from_confusion, lambda m: (good(m)[0], good(m)[0]), "recall divides by the column sums")
    fails(ex.check_precision_recall_from_confusion, lambda m: (good(m)[0] * 0.5, good(m)[1]), r"precision should be \[0\.833")
    fails(ex.check_precision_recall_from_confusion, lambda m: good(m)[0], "return a pair")
    fails(ex.check_precision_recall_from_confusion, lambda m: (good(m)[0][:2], good(m)[1]), r"shape \(2,\)")


# ----------------------------------------------------------------------------- 4. early stopping
def test_early_stopping_answer_agrees_with_course_lib_callbacks():
    stopper, best = EarlyStopping(patience=2), BestWeights()
    history, model = History(), nn.Linear(1, 1)
    for epoch, loss in enumerate(ex.VAL_LOSSES, start=1):
        history.add(val_loss=loss)
        best.on_epoch_end(epoch, model, history)
        if stopper.on_epoch_end(epoch, model, history):
            break
    assert ex.check_early_stopping((stopper.stopped_epoch, best.best_epoch)) is True


def test_early_stopping_mistakes():
    fails(ex.check_early_stopping, (8, 5), "counted from 1")
    fails(ex.check_early_stopping, (8, 4), "lowest validation loss")
    fails(ex.check_early_stopping, (5, 6), "2 epochs in a row")
    fails(ex.check_early_stopping, (7, 6), "waits for two")
    fails(ex.check_early_stopping, (9, 6), "one epoch too late")
    fails(ex.check_early_stopping, (10, 6), "Walk through the list")
    fails(ex.check_early_stopping, 8, "a pair")
