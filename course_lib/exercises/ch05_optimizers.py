"""Checkers for chapter 05 (optimizers): each spots the usual mistake and says how to fix it.

Use in a notebook: ``from course_lib.exercises import ch05_optimizers as ex`` then
``ex.check_gd_step(new_point)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .core import (
    Exercise,
    Incorrect,
    call_learner,
    close_numbers,
    exercise,
    expect_close,
    expect_finite,
    expect_number,
    expect_numbers,
    expect_results,
    require_tensor,
)

__all__ = [
    "EXERCISES",
    "GD_POINT",
    "GD_LR",
    "check_gd_step",
    "check_momentum_update",
    "check_adam_bias_correction",
    "QUADRATIC_COEFFICIENT",
    "check_learning_rate_bounds",
]

#: Exercise 1: one step of gradient descent on f(x, y) = x^2 + 3 y^2 from this point with this learning rate.
GD_POINT = (1.0, 2.0)
GD_LR = 0.1
#: Exercise 4: f(x) = QUADRATIC_COEFFICIENT * x^2.
QUADRATIC_COEFFICIENT = 5.0


def _same(a: tuple[float, ...], b: tuple[float, ...], tol: float = 1e-6) -> bool:
    return all(close_numbers(x, y, tol) for x, y in zip(a, b))


# ----------------------------------------------------------------------------- 1. one step by hand
@exercise("One gradient-descent step by hand")
def check_gd_step(new_point: Any) -> str:
    """``new_point``: (x, y) after one step of gradient descent on x^2 + 3y^2 from GD_POINT with lr GD_LR."""
    x, y = GD_POINT
    lr = GD_LR
    got = expect_numbers(new_point, ("x", "y"), "your new point")
    grad = (2 * x, 6 * y)
    expected = (x - lr * grad[0], y - lr * grad[1])
    if _same(got, (x + lr * grad[0], y + lr * grad[1])):
        raise Incorrect(
            f"{got} is a step *up* the hill: you added lr * gradient. The gradient points uphill, so "
            "gradient descent subtracts it: theta_new = theta - lr * gradient."
        )
    if _same(got, (x - grad[0], y - grad[1])):
        raise Incorrect(
            f"{got}: you subtracted the whole gradient. Multiply it by the learning rate first: "
            f"theta - {lr} * gradient."
        )
    if _same(got, (lr * grad[0], lr * grad[1])) or _same(got, (-lr * grad[0], -lr * grad[1])):
        raise Incorrect(f"{got} is the step itself (lr * gradient). The new point is the old one minus that step.")
    if _same(got, (x - lr * x, y - lr * 3 * y)):
        raise Incorrect(
            f"{got}: the gradient is off by a factor of 2. d/dx x^2 = 2x and d/dy 3y^2 = 6y, "
            f"so at {GD_POINT} the gradient is {grad}."
        )
    if _same(got, (x - lr * 2 * x, y - lr * 3 * y)) or _same(got, (x - lr * 2 * x, y - lr * 2 * y)):
        raise Incorrect(f"{got}: x is right, y is not. d/dy (3y^2) = 6y = {grad[1]:g} at y = {y:g}.")
    if not _same(got, expected, 1e-4):
        raise Incorrect(
            f"your point is {got}. Compute the gradient (2x, 6y) at {GD_POINT}, multiply it by "
            f"lr = {lr}, and subtract it from the point."
        )
    return (
        f"({expected[0]:g}, {expected[1]:g}): f fell from {x**2 + 3 * y**2:g} to "
        f"{expected[0] ** 2 + 3 * expected[1] ** 2:g}. y moved 6 times as far as x: it started twice as far out, "
        "on a slope 3 times as curved."
    )


# ----------------------------------------------------------------------------- 2. momentum
def _momentum_reference(
    theta: torch.Tensor, velocity: torch.Tensor, grad: torch.Tensor, lr: float, mu: float
) -> tuple[torch.Tensor, torch.Tensor]:
    velocity = mu * velocity + grad
    return theta - lr * velocity, velocity


@exercise("The momentum update")
def check_momentum_update(fn: Callable[..., Any]) -> str:
    """``fn(theta, velocity, grad, lr, mu)`` returns ``(new_theta, new_velocity)`` in torch.optim.SGD's convention."""
    gen = torch.Generator().manual_seed(5)
    theta = torch.randn(4, generator=gen, dtype=torch.float64)
    velocity = torch.randn(4, generator=gen, dtype=torch.float64)
    grad = torch.randn(4, generator=gen, dtype=torch.float64)
    lr, mu = 0.1, 0.9
    answer = expect_results(call_learner(fn, theta, velocity, grad, lr, mu), ("new_theta", "new_velocity"))
    new_theta = _like_theta(answer[0], "new_theta", theta.shape)
    new_velocity = _like_theta(answer[1], "new_velocity", theta.shape)
    exp_theta, exp_velocity = _momentum_reference(theta, velocity, grad, lr, mu)

    def matches(t: torch.Tensor, v: torch.Tensor) -> bool:
        return torch.allclose(new_theta, t) and torch.allclose(new_velocity, v)

    if torch.allclose(new_theta, exp_velocity) and torch.allclose(new_velocity, exp_theta):
        raise Incorrect("your two results are swapped: return (new_theta, new_velocity), in that order.")
    if matches(theta - lr * velocity, exp_velocity):
        raise Incorrect(
            "the velocity is right, but theta moved with the *old* velocity. Update the velocity "
            "first, then step with the new one: v = mu * v + g; theta = theta - lr * v."
        )
    if matches(theta + lr * exp_velocity, exp_velocity):
        raise Incorrect("theta moved uphill: subtract lr * v, do not add it.")
    if matches(theta - lr * (velocity + grad), velocity + grad):
        raise Incorrect("the old velocity is not multiplied by mu, so it never fades: v = mu * v + g.")
    if matches(theta - lr * (mu * grad + velocity), mu * grad + velocity):
        raise Incorrect(
            "mu multiplies the wrong term: it scales the *old velocity* (how much of it is kept), v = mu * v + g."
        )
    ema = mu * velocity + (1 - mu) * grad
    if matches(theta - lr * ema, ema):
        raise Incorrect(
            "you wrote an exponential moving average, v = mu * v + (1 - mu) * g. That is Adam's first "
            "moment (and SGD with dampening = 1 - mu). torch.optim.SGD's momentum adds the full "
            "gradient: v = mu * v + g, so the steady-state step is lr * g / (1 - mu), 10 times lr * g."
        )
    scaled = mu * velocity + lr * grad
    if matches(theta - scaled, scaled):
        raise Incorrect(
            "you put the learning rate inside the velocity (v = mu * v + lr * g; theta -= v). That is a "
            "valid convention (Sutskever et al., and Keras's up to a sign), but it gives other numbers "
            "for the same velocity. Use torch.optim.SGD's: v = mu * v + g; theta = theta - lr * v."
        )
    if not matches(exp_theta, exp_velocity):
        wrong = "new_velocity" if torch.allclose(new_theta, exp_theta) else "new_theta"
        raise Incorrect(
            f"{wrong} has the wrong values. torch.optim.SGD with momentum does: v = mu * v + g, then "
            "theta = theta - lr * v."
        )
    # Several steps on a quadratic, against torch.optim.SGD itself (its first velocity is g: v starts at 0).
    point = torch.tensor([2.0, -1.0], dtype=torch.float64, requires_grad=True)
    torch_sgd = torch.optim.SGD([point], lr=0.05, momentum=0.8)
    mine, v = point.detach().clone(), torch.zeros(2, dtype=torch.float64)
    scales = torch.tensor([1.0, 10.0], dtype=torch.float64)
    for _ in range(5):
        torch_sgd.zero_grad()
        (scales * point**2).sum().backward()
        torch_sgd.step()
        result = expect_results(call_learner(fn, mine, v, 2 * scales * mine, 0.05, 0.8), ("new_theta", "new_velocity"))
        mine, v = _like_theta(result[0], "new_theta", mine.shape), _like_theta(result[1], "new_velocity", mine.shape)
    expect_close(
        mine,
        point.detach(),
        "theta after 5 steps",
        rtol=1e-9,
        atol=1e-12,
        hint="Starting from v = 0, five calls should follow torch.optim.SGD(lr=0.05, momentum=0.8) exactly.",
    )
    return "five steps match torch.optim.SGD(momentum=0.8) exactly. The velocity is a running sum of past gradients."


def _tensor_of_shape(value: Any, what: str, shape: torch.Size, hint: str, shape_message: str) -> torch.Tensor:
    """The learner's tensor as float64, or a message saying what it should have been."""
    value = require_tensor(value, what, hint)
    if value.shape != shape:
        raise Incorrect(f"{what} has shape {tuple(value.shape)}{shape_message}")
    expect_finite(value, torch.zeros(shape), what)
    return value.double()


def _like_theta(value: Any, what: str, shape: torch.Size) -> torch.Tensor:
    return _tensor_of_shape(
        value,
        what,
        shape,
        "Compute it with tensor arithmetic on the arguments.",
        f"; it should have the shape of theta, {tuple(shape)}.",
    )


# ----------------------------------------------------------------------------- 3. Adam's bias correction
@exercise("Adam's bias correction")
def check_adam_bias_correction(fn: Callable[..., Any]) -> str:
    """``fn(m, v, t, beta1, beta2)`` returns ``(m_hat, v_hat)``, the bias-corrected moments after step ``t``."""
    gen = torch.Generator().manual_seed(7)
    m = torch.randn(3, generator=gen, dtype=torch.float64) * 0.1
    v = torch.rand(3, generator=gen, dtype=torch.float64) * 0.01
    for t, beta1, beta2 in ((1, 0.9, 0.999), (3, 0.9, 0.999), (50, 0.8, 0.99)):
        answer = expect_results(call_learner(fn, m, v, t, beta1, beta2), ("m_hat", "v_hat"))
        m_hat, v_hat = (_like_moment(answer[0], "m_hat", m.shape), _like_moment(answer[1], "v_hat", v.shape))
        exp_m, exp_v = m / (1 - beta1**t), v / (1 - beta2**t)

        def matches(a: torch.Tensor, b: torch.Tensor, m_hat: torch.Tensor = m_hat, v_hat: torch.Tensor = v_hat) -> bool:
            return torch.allclose(m_hat, a, rtol=1e-6) and torch.allclose(v_hat, b, rtol=1e-6)

        if matches(exp_m, exp_v):
            continue
        at = f"at t = {t}"
        if matches(m, v):
            raise Incorrect(f"{at} you returned m and v unchanged. Divide each by (1 - beta^t).")
        if matches(m / (1 - beta2**t), v / (1 - beta1**t)):
            raise Incorrect(
                f"{at} the betas are swapped: m (the mean of g) goes with beta1, v (the mean of g^2) with beta2."
            )
        if (
            t > 1
            and matches(m / (1 - beta1 ** (t - 1)), v / (1 - beta2 ** (t - 1)))
            or t > 0
            and matches(m / (1 - beta1 ** (t + 1)), v / (1 - beta2 ** (t + 1)))
        ):
            raise Incorrect(
                f"{at} the power is off by one. t counts steps from 1: after the first step, "
                "m = (1 - beta1) g, so dividing by (1 - beta1^1) gives back g."
            )
        if matches(m / beta1**t, v / beta2**t):
            raise Incorrect(
                f"{at} you divided by beta^t; divide by (1 - beta^t), the total weight the running "
                "average has given to real gradients so far."
            )
        if matches(m * (1 - beta1**t), v * (1 - beta2**t)):
            raise Incorrect(
                f"{at} you multiplied by (1 - beta^t); divide. m starts at 0 and is too small early "
                "on, so the correction must make it bigger."
            )
        if torch.allclose(m_hat, exp_m, rtol=1e-6) and torch.allclose(v_hat, exp_v.sqrt(), rtol=1e-6):
            raise Incorrect(
                f"{at} v_hat is the square root of the answer. Return v / (1 - beta2^t) itself; the "
                "square root comes later, in the step: lr * m_hat / (sqrt(v_hat) + eps)."
            )
        wrong = "v_hat" if torch.allclose(m_hat, exp_m, rtol=1e-6) else "m_hat"
        raise Incorrect(f"{at} {wrong} has the wrong values. m_hat = m / (1 - beta1**t), v_hat = v / (1 - beta2**t).")
    g = 0.5
    return (
        f"after the first step with g = {g}: m = {0.1 * g:g}, v = {0.001 * g * g:g}; corrected, m_hat = {g:g} and "
        f"v_hat = {g * g:g}, so the first step is lr * {g} / sqrt({g * g:g}) = lr, whatever the size of g."
    )


def _like_moment(value: Any, what: str, shape: torch.Size) -> torch.Tensor:
    return _tensor_of_shape(
        value,
        what,
        shape,
        "Compute it from the tensors m and v.",
        f", expected {tuple(shape)}: the correction is a number that multiplies every entry.",
    )


# ----------------------------------------------------------------------------- 4. learning rates on a quadratic
@exercise("Learning rates on a quadratic")
def check_learning_rate_bounds(lr_one_step: Any, lr_diverges_above: Any) -> str:
    """For f(x) = 5 x^2: the learning rate that reaches the minimum in one step, and the one above which GD diverges."""
    a = QUADRATIC_COEFFICIENT
    curvature = 2 * a  # f''(x)
    one = expect_number(lr_one_step, "lr_one_step")
    limit = expect_number(lr_diverges_above, "lr_diverges_above")
    expected_one, expected_limit = 1 / curvature, 2 / curvature
    if _same((one, limit), (expected_limit, expected_one)):
        raise Incorrect(
            "your two answers are swapped: one step to the minimum needs lr = 1/L; divergence starts "
            "above 2/L, twice as large."
        )
    if _same((one, limit), (1 / a, 2 / a)):
        raise Incorrect(
            f"you used the coefficient {a:g} as the curvature. The curvature is the second derivative: "
            f"f(x) = {a:g} x^2 gives f'(x) = {2 * a:g} x and f''(x) = L = {curvature:g}."
        )
    if not _same((one,), (expected_one,)):
        hint = (
            " That is the divergence limit; the one-step rate is half of it."
            if _same((one,), (expected_limit,))
            else ""
        )
        raise Incorrect(
            f"lr_one_step = {one:g} is not right.{hint} One step gives x - lr * {curvature:g} x = "
            f"(1 - {curvature:g} lr) x; choose lr so that this is 0."
        )
    right = f"lr_one_step = {one:g} is right, so you have L = {curvature:g}. "
    if _same((limit,), (expected_one,)):
        raise Incorrect(
            f"{right}lr_diverges_above = {limit:g} is the one-step rate itself. Above it GD overshoots "
            f"the minimum but still converges, oscillating, while |1 - {curvature:g} lr| < 1."
        )
    if not _same((limit,), (expected_limit,)):
        factor = 1 - curvature * limit
        where = (
            f"at lr = {limit:g} that factor is {factor:+.1f}, so GD already diverges below your limit"
            if abs(factor) > 1
            else f"at lr = {limit:g} that factor is {factor:+.1f}, so GD still converges there"
        )
        raise Incorrect(
            f"{right}But lr_diverges_above = {limit:g} is not: each step multiplies x by "
            f"(1 - {curvature:g} lr), and {where}. GD diverges once the size of that factor exceeds 1."
        )
    factors = ", ".join(f"lr = {lr:g}: x times {1 - curvature * lr:+.1f}" for lr in (0.05, 0.1, 0.15, 0.25))
    return f"L = f'' = {curvature:g}, so lr = 1/L = {expected_one:g} and lr < 2/L = {expected_limit:g}. ({factors})"


#: This chapter's exercises in notebook order, for a grader: the checker and the notebook variables it reads.
EXERCISES = [
    Exercise(id="gd_step", checker=check_gd_step, names=("new_point",)),
    Exercise(id="learning_rate_bounds", checker=check_learning_rate_bounds, names=("lr_one_step", "lr_diverges_above")),
    Exercise(id="momentum_update", checker=check_momentum_update, names=("momentum_step",)),
    Exercise(id="adam_bias_correction", checker=check_adam_bias_correction, names=("bias_correction",)),
]
