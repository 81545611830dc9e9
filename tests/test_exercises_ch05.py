"""Chapter 05's checkers accept right answers, name the usual mistakes, and treat stubs as not attempted.

The root conftest sets COURSE_STRICT_EXERCISES=1, so a wrong answer raises ExerciseFailed.
"""

import numpy as np
import pytest
import torch

from course_lib.exercises import ExerciseFailed
from course_lib.exercises import ch05_optimizers as ex


def stub_momentum(theta, velocity, grad, lr, mu): ...


def stub_adam(m, v, t, beta1, beta2):
    """A docstring does not count as an attempt."""
    pass


@pytest.mark.parametrize(
    "checker, args",
    [
        (ex.check_gd_step, (...,)),
        (ex.check_momentum_update, (stub_momentum,)),
        (ex.check_adam_bias_correction, (stub_adam,)),
        (ex.check_learning_rate_bounds, (..., ...)),
        (ex.check_learning_rate_bounds, (0.1, ...)),
    ],
)
def test_stubs_are_not_attempted(checker, args, capsys):
    assert not checker(*args)
    assert "⏳" in capsys.readouterr().out


def test_not_strict_a_wrong_answer_prints_and_returns_false(monkeypatch, capsys):
    monkeypatch.delenv("COURSE_STRICT_EXERCISES")
    assert not ex.check_gd_step((1.2, 3.2))
    out = capsys.readouterr().out
    assert out.startswith("❌ One gradient-descent step by hand: (1.2, 3.2) is a step *up* the hill")


# ----------------------------------------------------------------------------- 1. one step by hand
def test_gd_step_accepts_the_right_point_in_any_container(capsys):
    assert ex.check_gd_step((0.8, 0.8))
    assert ex.check_gd_step([0.8, 0.8])
    assert ex.check_gd_step(torch.tensor([0.8, 0.8]))
    assert ex.check_gd_step(np.array([0.8, 0.8]))
    out = capsys.readouterr().out
    assert "✅" in out and "f fell from 13 to 2.56" in out


@pytest.mark.parametrize(
    "answer, message",
    [
        ((1.2, 3.2), r"a step \*up\* the hill: you added lr \* gradient"),
        ((-1.0, -10.0), r"subtracted the whole gradient\. Multiply it by the learning rate"),
        ((0.2, 1.2), r"is the step itself \(lr \* gradient\)"),
        ((-0.2, -1.2), r"is the step itself"),
        ((0.9, 1.4), r"off by a factor of 2\. d/dx x\^2 = 2x and d/dy 3y\^2 = 6y"),
        ((0.8, 1.4), r"x is right, y is not\. d/dy \(3y\^2\) = 6y = 12"),
        ((0.8, 1.6), r"x is right, y is not"),
        ((0.5, 0.5), r"your point is \(0\.5, 0\.5\)\. Compute the gradient \(2x, 6y\)"),
        ((0.8,), r"should be 2 numbers \(x, y\), got 1"),
        ("0.8, 0.8", r"is the text '0\.8, 0\.8'; it should be 2 numbers \(x, y\), without quotes"),
        (("0.8", "0.8"), r"x is the text '0\.8', not a number"),
        ((float("nan"), 0.8), r"x is NaN"),
        (None, r"is None"),
    ],
)
def test_gd_step_names_the_mistake(answer, message):
    with pytest.raises(ExerciseFailed, match=message):
        ex.check_gd_step(answer)


# ----------------------------------------------------------------------------- 2. momentum
def momentum(theta, velocity, grad, lr, mu):
    velocity = mu * velocity + grad
    return theta - lr * velocity, velocity


def test_momentum_accepts_the_torch_convention(capsys):
    assert ex.check_momentum_update(momentum)
    assert "five steps match torch.optim.SGD(momentum=0.8) exactly" in capsys.readouterr().out


def momentum_in_place(theta, velocity, grad, lr, mu):  # what torch.optim does inside, but not this function's contract
    velocity.mul_(mu).add_(grad)
    theta.sub_(lr * velocity)
    return theta, velocity


@pytest.mark.parametrize(
    "answer, message",
    [
        (lambda th, v, g, lr, mu: (mu * v + g, th - lr * (mu * v + g)), r"swapped: return \(new_theta, new_velocity\)"),
        (lambda th, v, g, lr, mu: (th - lr * v, mu * v + g), r"theta moved with the \*old\* velocity"),
        (lambda th, v, g, lr, mu: (th + lr * (mu * v + g), mu * v + g), r"theta moved uphill"),
        (lambda th, v, g, lr, mu: (th - lr * (v + g), v + g), r"not multiplied by mu, so it never fades"),
        (lambda th, v, g, lr, mu: (th - lr * (mu * g + v), mu * g + v), r"mu multiplies the wrong term"),
        (
            lambda th, v, g, lr, mu: (th - lr * (mu * v + (1 - mu) * g), mu * v + (1 - mu) * g),
            r"exponential moving average.*Adam's first moment.*dampening",
        ),
        (
            lambda th, v, g, lr, mu: (th - (mu * v + lr * g), mu * v + lr * g),
            r"learning rate inside the velocity.*Sutskever.*Keras",
        ),
        (lambda th, v, g, lr, mu: (th - lr * (mu * v + g), mu * v), r"new_velocity has the wrong values"),
        (lambda th, v, g, lr, mu: (th - lr * g, mu * v + g), r"new_theta has the wrong values"),
        (
            lambda th, v, g, lr, mu: th - lr * (mu * v + g),
            r"should return 2 things, \(new_theta, new_velocity\); it returned a tensor of shape \(4,\)",
        ),
        (momentum_in_place, r"changed its input `theta` in place"),
        (
            lambda th, v, g, lr, mu: (th - lr * (mu * v + g), (mu * v + g) * float("nan")),
            r"new_velocity contains NaN in every entry",
        ),
        (lambda th, v, g, lr, mu: None, r"your function's result is None"),
        (lambda th, v, g, lr, mu: ((th - lr * (mu * v + g)).tolist(), mu * v + g), r"new_theta is a list"),
        (lambda th, v, g, lr, mu: (None, mu * v + g), r"new_theta is None"),
        (
            lambda th, v, g, lr, mu: ((th - lr * (mu * v + g))[None], mu * v + g),
            r"new_theta has shape \(1, 4\); it should have the shape of theta, \(4,\)",
        ),
    ],
)
def test_momentum_names_the_mistake(answer, message):
    with pytest.raises(ExerciseFailed, match=message):
        ex.check_momentum_update(answer)


def test_momentum_that_only_fits_one_step_is_caught_over_five():
    calls = []

    def forgets_after_the_first_call(theta, velocity, grad, lr, mu):
        calls.append(1)
        if len(calls) <= 1:
            return momentum(theta, velocity, grad, lr, mu)
        return theta - lr * grad, grad  # no momentum any more

    with pytest.raises(ExerciseFailed, match=r"theta after 5 steps has the right shape but wrong values.*optim\.SGD"):
        ex.check_momentum_update(forgets_after_the_first_call)


def test_momentum_error_inside_the_learners_code_is_reported():
    def broken(theta, velocity, grad, lr, mu):
        return theta - lr * undefined_name  # noqa: F821

    with pytest.raises(
        ExerciseFailed,
        match=r"broken\(theta: \(4,\) float64 tensor, velocity: \(4,\) float64 "
        r"tensor, grad: \(4,\) float64 tensor, lr: 0\.1, mu: 0\.9\) raised "
        r"NameError: name 'undefined_name' is not defined \(in your line `return "
        r"theta - lr \* undefined_name",
    ):
        ex.check_momentum_update(broken)


# ----------------------------------------------------------------------------- 3. Adam's bias correction
def bias_correction(m, v, t, beta1, beta2):
    return m / (1 - beta1**t), v / (1 - beta2**t)


def test_adam_bias_correction_accepts_the_formula(capsys):
    assert ex.check_adam_bias_correction(bias_correction)
    out = capsys.readouterr().out
    assert "m_hat = 0.5 and v_hat = 0.25, so the first step is lr * 0.5 / sqrt(0.25) = lr" in out


@pytest.mark.parametrize(
    "answer, message",
    [
        (lambda m, v, t, b1, b2: (m, v), r"at t = 1 you returned m and v unchanged"),
        (lambda m, v, t, b1, b2: (m / (1 - b2**t), v / (1 - b1**t)), r"the betas are swapped"),
        (
            lambda m, v, t, b1, b2: (m / (1 - b1 ** (t + 1)), v / (1 - b2 ** (t + 1))),
            r"at t = 1 the power is off by one",
        ),
        (
            lambda m, v, t, b1, b2: (m / (1 - b1 ** max(t - 1, 1)), v / (1 - b2 ** max(t - 1, 1))),
            r"at t = 3 the power is off by one",
        ),
        (lambda m, v, t, b1, b2: (m / b1**t, v / b2**t), r"you divided by beta\^t; divide by \(1 - beta\^t\)"),
        (lambda m, v, t, b1, b2: (m * (1 - b1**t), v * (1 - b2**t)), r"you multiplied by \(1 - beta\^t\); divide"),
        (lambda m, v, t, b1, b2: (m / (1 - b1**t), (v / (1 - b2**t)).sqrt()), r"v_hat is the square root"),
        (lambda m, v, t, b1, b2: (m / (1 - b1**t), v / (1 - b1**t)), r"v_hat has the wrong values"),
        (lambda m, v, t, b1, b2: (m / (1 - 0.9**t), v / (1 - 0.999**t)), r"at t = 50 m_hat has the wrong values"),
        (lambda m, v, t, b1, b2: (float(m[0]), v), r"m_hat is a float"),
        (lambda m, v, t, b1, b2: (m.sum() / (1 - b1**t), v / (1 - b2**t)), r"m_hat has shape \(\), expected \(3,\)"),
        (lambda m, v, t, b1, b2: m / (1 - b1**t), r"should return 2 things, \(m_hat, v_hat\); it returned a tensor"),
        (lambda m, v, t, b1, b2: (m.div_(1 - b1**t), v / (1 - b2**t)), r"changed its input `m` in place"),
    ],
)
def test_adam_bias_correction_names_the_mistake(answer, message):
    with pytest.raises(ExerciseFailed, match=message):
        ex.check_adam_bias_correction(answer)


def test_adam_bias_correction_matches_torch_adams_first_step():
    """The formula the checker wants is the one torch.optim.Adam uses: its first step moves each weight by lr."""
    w = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
    adam = torch.optim.Adam([w], lr=0.01, eps=0.0)
    w.grad = torch.tensor([0.5, -3.0], dtype=torch.float64)
    adam.step()
    m_hat, v_hat = bias_correction(0.1 * w.grad, 0.001 * w.grad**2, 1, 0.9, 0.999)
    torch.testing.assert_close(w.detach(), torch.tensor([1.0, -2.0], dtype=torch.float64) - 0.01 * m_hat / v_hat.sqrt())
    torch.testing.assert_close(w.detach(), torch.tensor([0.99, -1.99], dtype=torch.float64))


# ----------------------------------------------------------------------------- 4. learning rates on a quadratic
def test_learning_rate_bounds_accepts_the_right_pair(capsys):
    assert ex.check_learning_rate_bounds(0.1, 0.2)
    assert ex.check_learning_rate_bounds(1 / 10, torch.tensor(2 / 10))
    assert ex.check_learning_rate_bounds(np.float32(0.1), np.float64(0.2))
    out = capsys.readouterr().out
    assert "L = f'' = 10, so lr = 1/L = 0.1 and lr < 2/L = 0.2" in out and "lr = 0.15: x times -0.5" in out


def test_learning_rate_bounds_are_what_gradient_descent_does():
    """1/L lands on the minimum in one step; just below 2/L converges, just above diverges."""

    def run(lr, steps=200):
        x = 3.0
        for _ in range(steps):
            x -= lr * 2 * ex.QUADRATIC_COEFFICIENT * x
        return abs(x)

    assert run(0.1, steps=1) == 0
    assert run(0.19) < 1e-6 and run(0.21) > 1e6


@pytest.mark.parametrize(
    "one_step, limit, message",
    [
        (0.2, 0.1, r"your two answers are swapped"),
        (0.2, 0.4, r"used the coefficient 5 as the curvature.*f''\(x\) = L = 10"),
        (
            0.1,
            0.4,
            r"lr_one_step = 0\.1 is right, so you have L = 10\. But lr_diverges_above = 0\.4 is not.*"
            r"at lr = 0\.4 that factor is -3\.0, so GD already diverges below your limit",
        ),
        (0.1, 0.15, r"at lr = 0\.15 that factor is -0\.5, so GD still converges there"),
        (0.05, 0.2, r"lr_one_step = 0\.05 is not right\. One step gives x - lr \* 10 x"),
        (0.2, 0.2, r"lr_one_step = 0\.2 is not right\. That is the divergence limit"),
        (0.1, 0.1, r"lr_diverges_above = 0\.1 is the one-step rate.*still converges, oscillating"),
        (0.1, 1.0, r"lr_diverges_above = 1 is not: each step multiplies x by \(1 - 10 lr\)"),
        (0.1, "0.2", r"lr_diverges_above is the text '0\.2', not a number: write the number without quotes"),
        (0.1, torch.tensor([0.2, 0.2]), r"lr_diverges_above should be a number, got a tensor of shape \(2,\)"),
        (float("nan"), 0.2, r"lr_one_step is NaN"),
        (None, 0.2, r"lr_one_step is None"),
    ],
)
def test_learning_rate_bounds_name_the_mistake(one_step, limit, message):
    with pytest.raises(ExerciseFailed, match=message):
        ex.check_learning_rate_bounds(one_step, limit)
