"""Chapter 04's race: cross-entropy recovers from a confidently wrong start, MSE on a sigmoid does not."""

import pytest
import torch

from course_lib.experiments.ce_vs_mse import (
    CLASSIFICATION_LOSSES,
    RaceHistory,
    make_two_blobs,
    mse_on_sigmoid,
    train_ce_vs_mse,
)


def test_cross_entropy_wins_the_race_from_a_confidently_wrong_start():
    history = train_ce_vs_mse(steps=60)
    ce, mse = history.accuracy.values()
    assert ce[0] == mse[0] < 0.2  # same, confidently wrong start
    assert ce[-1] > 0.85 and mse[-1] < 0.2
    ce_grad, mse_grad = history.grad_norm.values()
    assert ce_grad[0] > 100 * mse_grad[0]
    assert len(ce) == len(mse) == len(ce_grad) == 60


def test_the_race_is_plain_gradient_descent_on_logistic_regression():
    points, labels = make_two_blobs(n=40, seed=2)
    history = train_ce_vs_mse(steps=3, lr=0.1, n=40, seed=2, start=(0.5, -0.5, 0.1))
    w = torch.tensor([0.5, -0.5], dtype=torch.float64)
    b = 0.1
    x, y = points.double(), labels.double()
    for step in range(3):  # binary cross-entropy's gradient by hand: mean((p - y) x), mean(p - y)
        p = torch.sigmoid(x @ w + b)
        grad_w, grad_b = ((p - y)[:, None] * x).mean(0), float((p - y).mean())
        assert history.accuracy["cross-entropy (BCE with logits)"][step] == pytest.approx(
            float(((x @ w + b > 0).double() == y).double().mean())
        )
        assert history.grad_norm["cross-entropy (BCE with logits)"][step] == pytest.approx(
            float(torch.cat([grad_w, torch.tensor([grad_b], dtype=torch.float64)]).norm()), rel=1e-5
        )
        w, b = w - 0.1 * grad_w, b - 0.1 * grad_b


def test_mse_on_sigmoid_and_its_vanishing_gradient():
    z = torch.tensor([-10.0, 0.0, 3.0], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([1.0, 1.0, 0.0], dtype=torch.float64)
    loss = mse_on_sigmoid(z, y, reduction="none")
    torch.testing.assert_close(loss, (torch.sigmoid(z) - y) ** 2)
    (grad,) = torch.autograd.grad(loss.sum(), z)
    s = torch.sigmoid(z.detach())
    torch.testing.assert_close(grad, 2 * (s - y) * s * (1 - s))
    assert abs(float(grad[0])) < 1e-4  # confidently wrong, and MSE barely pushes
    assert list(CLASSIFICATION_LOSSES) == ["cross-entropy (BCE with logits)", "MSE on sigmoid"]


def test_race_history_records_accuracy_before_the_step_and_the_gradient_norm():
    history = RaceHistory()
    history.record(
        "run", torch.tensor([2.0, -1.0, 0.5, -3.0]), torch.tensor([1.0, 1.0, 0.0, 0.0]), torch.tensor([3.0, 4.0])
    )
    assert history.accuracy == {"run": [0.5]} and history.grad_norm == {"run": [5.0]}


def test_two_blobs_are_balanced_and_reproducible():
    x, y = make_two_blobs(n=10, seed=1)
    assert x.shape == (10, 2) and y.tolist() == [0.0, 1.0] * 5
    assert torch.equal(x, make_two_blobs(n=10, seed=1)[0])
    with pytest.raises(ValueError, match=r"n is the number of points, at least 2"):
        make_two_blobs(n=1)
