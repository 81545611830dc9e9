"""Chapter 06's checkers accept right answers, name the usual mistakes, and treat stubs as not attempted.

The root conftest sets COURSE_STRICT_EXERCISES=1, so a wrong answer raises ExerciseFailed.
"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.exercises import ExerciseFailed
from course_lib.exercises import ch06_mlp as ex
from course_lib.train import BestWeights, EarlyStopping, History


def fails(checker, answer, match):
    with pytest.raises(ExerciseFailed, match=match):
        checker(answer)


def stub_step(model, x, y, loss_fn, optimizer): ...


def stub_one(value):
    pass


@pytest.mark.parametrize(
    "checker, stub",
    [
        (ex.check_train_step, stub_step),
        (ex.check_kaiming_std, stub_one),
        (ex.check_precision_recall_from_confusion, stub_one),
        (ex.check_early_stopping, ...),
    ],
)
def test_stubs_are_not_attempted(checker, stub, capsys):
    assert not checker(stub)
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


def zero_grad_after_backward(model, x, y, loss_fn, optimizer):
    loss = loss_fn(model(x), y)
    loss.backward()
    optimizer.zero_grad()
    optimizer.step()
    return loss.item()


def builds_its_own_optimizer(model, x, y, loss_fn, optimizer):
    own = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = loss_fn(model(x), y)
    own.zero_grad()
    loss.backward()
    own.step()
    return loss.item()


def updates_by_hand(model, x, y, loss_fn, optimizer):
    loss = loss_fn(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    with torch.no_grad():
        for p in model.parameters():
            p -= 0.1 * p.grad
    return loss.item()


def hard_codes_the_loss(model, x, y, loss_fn, optimizer):
    loss = F.cross_entropy(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def evaluates_the_model(model, x, y, loss_fn, optimizer):
    model.eval()
    return good_step(model, x, y, loss_fn, optimizer)


def leaves_eval_mode(model, x, y, loss_fn, optimizer):
    loss = good_step(model, x, y, loss_fn, optimizer)
    model.eval()
    return loss


def steps_twice(model, x, y, loss_fn, optimizer):
    good_step(model, x, y, loss_fn, optimizer)
    optimizer.step()
    return loss_fn(model(x), y).item()


def hides_its_own_optimizer(model, x, y, loss_fn, optimizer):
    try:
        torch.optim.Adam(model.parameters())
    except Exception:
        pass
    return good_step(model, x, y, loss_fn, optimizer)


def changes_the_batch(model, x, y, loss_fn, optimizer):
    x.mul_(2)
    return good_step(model, x, y, loss_fn, optimizer)


def test_train_step_accepts_the_five_lines(capsys):
    assert ex.check_train_step(good_step)
    assert "✅" in capsys.readouterr().out

    def zero_grad_first(model, x, y, loss_fn, optimizer):
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        return loss.item()

    assert ex.check_train_step(zero_grad_first)


@pytest.mark.parametrize(
    "step, message",
    [
        (no_zero_grad, r"step 2 is not: the gradients of the earlier steps were added.*optimizer\.zero_grad\(\)"),
        (no_step, r"gradients were computed but the weights did not change: call optimizer\.step"),
        (no_backward, r"no gradients were computed: call loss\.backward\(\)"),
        (zero_grad_after_backward, r"you called optimizer\.zero_grad\(\) after loss\.backward\(\), which wiped them"),
        (returns_tensor, r"loss\.item\(\)"),
        (returns_nothing, r"train_step's result is None"),
        (loss_after_step, r"should return the loss of this batch"),
        (builds_its_own_optimizer, r"train_step builds a new optimizer instead of using the `optimizer` it is given"),
        (hides_its_own_optimizer, r"train_step builds a new optimizer"),
        (updates_by_hand, r"optimizer\.step\(\) was never called: you updated them by hand"),
        (
            hard_codes_the_loss,
            r"train_step never called the loss_fn it was given: it computes a loss of its own choosing",
        ),
        (evaluates_the_model, r"the model ran in evaluation mode during the step \(model\.eval\(\)\)"),
        (leaves_eval_mode, r"train_step left the model in evaluation mode"),
        (steps_twice, r"ran optimizer\.step\(\) 2 times"),
        (changes_the_batch, r"changed its input `x` in place"),
        (lambda model, x, y, loss_fn, optimizer: "0.5", r"train_step never ran the model"),
    ],
)
def test_train_step_names_the_mistake(step, message):
    fails(ex.check_train_step, step, message)


def test_train_step_returning_a_string_is_told_to_return_a_number():
    def returns_text(model, x, y, loss_fn, optimizer):
        return str(good_step(model, x, y, loss_fn, optimizer))

    fails(ex.check_train_step, returns_text, r"train_step's result is the text '.*', not a number")


# ----------------------------------------------------------------------------- 2. Kaiming
def test_kaiming_std():
    assert ex.check_kaiming_std(lambda fan_in: math.sqrt(2 / fan_in))
    assert ex.check_kaiming_std(lambda fan_in: torch.tensor(2 / fan_in).sqrt())
    fails(ex.check_kaiming_std, lambda fan_in: 2 / fan_in, "is the variance")
    fails(ex.check_kaiming_std, lambda fan_in: math.sqrt(1 / fan_in), "ReLU zeroes half")
    fails(ex.check_kaiming_std, lambda fan_in: 0.01, "expected 0.0505")
    fails(ex.check_kaiming_std, lambda fan_in: "big", r"kaiming_std\(784\) is the text 'big', not a number")
    fails(ex.check_kaiming_std, lambda fan_in: torch.ones(2), r"kaiming_std\(784\) should be a number, got a tensor")
    fails(ex.check_kaiming_std, lambda fan_in: None, r"kaiming_std\(784\) is None")
    assert ex.check_kaiming_std(lambda fan_in: np.sqrt(2 / fan_in))


# ----------------------------------------------------------------------------- 3. precision / recall
def test_precision_recall_from_confusion():
    def good(m):
        tp = m.diagonal().float()
        return tp / m.sum(dim=0), tp / m.sum(dim=1)

    assert ex.check_precision_recall_from_confusion(good)
    fails(ex.check_precision_recall_from_confusion, lambda m: good(m)[::-1], "swapped")
    fails(
        ex.check_precision_recall_from_confusion,
        lambda m: (good(m)[1], good(m)[1]),
        "precision divides by the row sums",
    )
    fails(
        ex.check_precision_recall_from_confusion,
        lambda m: (good(m)[0], good(m)[0]),
        "recall divides by the column sums",
    )
    fails(
        ex.check_precision_recall_from_confusion,
        lambda m: (good(m)[0] * 0.5, good(m)[1]),
        r"precision should be \[0\.833",
    )
    fails(
        ex.check_precision_recall_from_confusion,
        lambda m: good(m)[0],
        r"should return 2 things, \(precision, recall\); it returned a tensor of shape \(3,\)",
    )
    fails(ex.check_precision_recall_from_confusion, lambda m: (good(m)[0][:2], good(m)[1]), r"shape \(2,\)")
    fails(
        ex.check_precision_recall_from_confusion,
        lambda m: (m.diagonal() // m.sum(0), m.diagonal() // m.sum(1)),
        r"precision holds whole numbers \(torch\.int64\): \[0\.0, 0\.0, 0\.0\]\. Integer division",
    )
    fails(
        ex.check_precision_recall_from_confusion,
        lambda m: (m.diagonal().float() // m.sum(0), m.diagonal().float() // m.sum(1)),
        r"every fraction was rounded down to a whole number\. // is floor division",
    )
    fails(
        ex.check_precision_recall_from_confusion,
        lambda m: (good(m)[0] * float("nan"), good(m)[1]),
        r"precision contains NaN in every entry",
    )
    fails(ex.check_precision_recall_from_confusion, lambda m: good(m.fill_diagonal_(1)), r"changed its input `m`")
    fails(
        ex.check_precision_recall_from_confusion,
        lambda m: (m.diagonal() / m.sum(1), m.diagonal() / m.sum(1)),
        r"precision divides by the row sums",
    )


# ----------------------------------------------------------------------------- 4. early stopping
def test_early_stopping_answer_agrees_with_course_lib_callbacks():
    stopper, best = EarlyStopping(patience=2), BestWeights()
    history, model = History(), nn.Linear(1, 1)
    for epoch, loss in enumerate(ex.VAL_LOSSES, start=1):
        history.add(val_loss=loss)
        best.on_epoch_end(epoch, model, history)
        if stopper.on_epoch_end(epoch, model, history):
            break
    assert ex.check_early_stopping((stopper.stopped_epoch, best.best_epoch))


def test_early_stopping_mistakes():
    fails(ex.check_early_stopping, (8, 5), "counted from 1")
    fails(ex.check_early_stopping, (8, 4), "lowest validation loss")
    fails(ex.check_early_stopping, (5, 6), "2 epochs in a row")
    fails(ex.check_early_stopping, (7, 6), "waits for two")
    fails(ex.check_early_stopping, (9, 6), "one epoch too late")
    fails(ex.check_early_stopping, (10, 6), "Walk through the list")
    fails(ex.check_early_stopping, 8, r"answer should be 2 numbers \(stop_epoch, best_epoch\), got a int")
    fails(ex.check_early_stopping, ("8", "6"), r"stop_epoch is the text '8', not a number: write the number without")
    fails(ex.check_early_stopping, (8, 6.5), r"best_epoch is 6\.5; it should be a whole number")
    assert ex.check_early_stopping(np.array([8, 6]))
    assert ex.check_early_stopping((8.0, torch.tensor(6)))
