"""Chapter 02's checkers accept right answers, name the usual mistakes, and treat stubs as not attempted.

The root conftest sets COURSE_STRICT_EXERCISES=1, so a wrong answer raises ExerciseFailed.
"""

import math

import numpy as np
import pytest
import torch

from course_lib.exercises import ExerciseFailed
from course_lib.exercises import ch02_autograd as ex
from course_lib.scratch.autograd import Value


def fails(checker, answer, match):
    with pytest.raises(ExerciseFailed, match=match):
        checker(answer)


# ----------------------------------------------------------------------------- stubs
def stub_op(x): ...


def stub_three(f, xs, h=1e-6):
    pass


def stub_two(f, x):
    """A docstring alone is still a stub."""
    ...


@pytest.mark.parametrize(
    "checker, stub",
    [
        (ex.check_hand_gradient, ...),
        (ex.check_sigmoid_op, stub_op),
        (ex.check_numerical_gradient, stub_three),
        (ex.check_torch_gradient, stub_two),
    ],
)
def test_stubs_are_not_attempted(checker, stub, capsys):
    assert not checker(stub)
    assert "⏳" in capsys.readouterr().out


# ----------------------------------------------------------------------------- 1. by hand
def test_hand_gradient_accepts_the_answer_in_several_forms(capsys):
    assert ex.check_hand_gradient((6.0, -18.0))
    assert ex.check_hand_gradient((np.float32(6.0), np.int64(-18)))
    assert ex.check_hand_gradient(np.array([6.0, -18.0]))
    assert ex.check_hand_gradient([6, -18])
    assert ex.check_hand_gradient(torch.tensor([6.0, -18.0]))
    assert "✅" in capsys.readouterr().out


def test_hand_gradient_agrees_with_the_engine():
    x, y = Value(ex.HAND_POINT["x"]), Value(ex.HAND_POINT["y"])
    ((x * y + y) ** 2).backward()
    assert ex.check_hand_gradient((x.grad, y.grad))


@pytest.mark.parametrize(
    "answer, message",
    [
        ((-18.0, 6.0), r"swapped"),
        ((-6.0, 18.0), r"both signs are flipped"),
        ((-1.0, 3.0), r"du/dx and du/dy of the inner node.*2u"),
        ((3.0, -9.0), r"half the right size"),
        ((6.0, -12.0), r"missing a term: y appears twice"),
        ((6.0, 5.0), r"df/dx = 6 is right, but df/dy = 5 is not"),
        ((1.0, -18.0), r"df/dy = -18 is right, but df/dx = 1 is not"),
        ((0.0, 0.0), r"\(0, 0\) is not right. Compute u"),
        ((6.0,), r"answer should be 2 numbers \(df_dx, df_dy\), got 1"),
        (6.0, r"answer should be 2 numbers \(df_dx, df_dy\), got a float"),
        (("6", "-18"), r"df_dx is the text '6', not a number: write the number without quotes"),
        ((float("nan"), -18.0), r"df_dx is NaN"),
        (None, r"answer is None"),
    ],
)
def test_hand_gradient_names_the_mistake(answer, message):
    fails(ex.check_hand_gradient, answer, message)


# ----------------------------------------------------------------------------- 2. sigmoid op
def _sigmoid_value(s):
    return 1 / (1 + math.exp(-s)) if s >= 0 else math.exp(s) / (1 + math.exp(s))


def sigmoid_right(x):
    s = _sigmoid_value(x.data)
    out = Value(s, inputs=(x,), op="sigmoid")

    def _backward():
        x.grad += s * (1 - s) * out.grad

    out._backward = _backward
    return out


def sigmoid_composed(x):  # built from existing ops: right values, but not one node
    return 1 / (1 + (-x).exp())


ENGINE_SIGMOID = Value.sigmoid  # an alias taken before the check


def sigmoid_overflowing(x):  # the naive formula: math.exp(1000) raises OverflowError at x = -1000
    s = 1 / (1 + math.exp(-x.data))
    out = Value(s, inputs=(x,), op="sigmoid")

    def _backward():
        x.grad += s * (1 - s) * out.grad

    out._backward = _backward
    return out


def sigmoid_with_torch(x):  # the forward value from torch is fine: only the engine's own node is not
    s = torch.sigmoid(torch.tensor(x.data, dtype=torch.float64)).item()
    out = Value(s, inputs=(x,), op="sigmoid")

    def _backward():
        x.grad += s * (1 - s) * out.grad

    out._backward = _backward
    return out


def _variant(
    forward=_sigmoid_value,
    local=lambda s, x: s * (1 - s),
    upstream=True,
    assign=False,
    inputs=True,
    attach=True,
    as_float=False,
):
    def op(x):
        s = forward(x.data)
        if as_float:
            return s
        out = Value(s, inputs=(x, x) if inputs == "twice" else (x,) if inputs else (), op="sigmoid")

        def _backward():
            g = local(s, x.data) * (out.grad if upstream else 1.0)
            if assign:
                x.grad = g
            else:
                x.grad += g

        if attach:
            out._backward = _backward
        return out

    return op


def test_sigmoid_op_accepts_one_new_node(capsys):
    assert ex.check_sigmoid_op(sigmoid_right)
    assert ex.check_sigmoid_op(sigmoid_with_torch)
    assert "✅" in capsys.readouterr().out


@pytest.mark.parametrize(
    "fn, message",
    [
        (_variant(as_float=True), r"returned a float; return the new Value"),
        (_variant(forward=lambda v: 1 / (1 + math.exp(v))), r"1/\(1 \+ e\^x\); sigmoid is 1/\(1 \+ e\^\(-x\)\)"),
        (_variant(forward=lambda v: math.tanh(v)), r"forward value at x = -3 is -0.995055, expected sigmoid"),
        (_variant(inputs=False), r"does not list x among its inputs.*inputs=\(x,\)"),
        (_variant(attach=False), r"x.grad stayed 0.*out._backward = _backward"),
        (_variant(upstream=False), r"multiply the local derivative by out.grad"),
        (_variant(local=lambda s, x: x * (1 - x)), r"you used x.data in the derivative"),
        (_variant(local=lambda s, x: s), r"x.grad is 0.142278; expected 3·s\(1 - s\) = 0.135530"),
        (_variant(assign=True), r"lost the contribution of the second path: use x.grad \+= "),
        (sigmoid_composed, r"a chain of 4 of the engine's operations.*ONE new node whose only input is x"),
        (lambda x: x.sigmoid(), r"calls Value\.sigmoid \(x\.sigmoid\(\)\), the engine's own sigmoid"),
        (lambda x: ENGINE_SIGMOID(x), r"calls Value\.sigmoid"),
        (
            sigmoid_overflowing,
            r"sigmoid_overflowing\(x: Value\(data=-1000, grad=0\)\) raised OverflowError: math range "
            r"error \(in your line `s = 1 / \(1 \+ math\.exp\(-x\.data\)\)`\)\. math\.exp\(1000\) is "
            r"too large.*e\^x / \(1 \+ e\^x\)",
        ),
        (lambda x: None, r"your function's result is None\. Return the new Value"),
        (lambda x: x, r"returned x itself\. Return a NEW Value"),
        (_variant(inputs="twice"), r"the new Value lists 2 inputs; its only input should be x"),
    ],
)
def test_sigmoid_op_names_the_mistake(fn, message):
    fails(ex.check_sigmoid_op, fn, message)


def test_sigmoid_op_reports_the_learners_own_exception(capsys):
    def broken(x):
        return Value(1 / (1 + math.exp(-x)))  # exp of a Value: TypeError

    with pytest.raises(
        ExerciseFailed,
        match=r"broken\(x: Value\(.*\)\) raised TypeError: must be real number, not "
        r"Value \(in your line `return Value\(1 / \(1 \+ math\.exp\(-x\)\)\)",
    ):
        ex.check_sigmoid_op(broken)
    assert "Traceback" not in capsys.readouterr().out


def test_the_official_solution_is_stable_at_plus_and_minus_1000():
    for v in (-1000.0, 1000.0):
        x = Value(v)
        out = sigmoid_right(x)
        out.backward()
        assert out.data == (0.0 if v < 0 else 1.0) and x.grad == 0.0


# ----------------------------------------------------------------------------- 3. finite differences
def central(f, xs, h=1e-6):
    grads = []
    for i in range(len(xs)):
        up, down = list(xs), list(xs)
        up[i] += h
        down[i] -= h
        grads.append((f(up) - f(down)) / (2 * h))
    return grads


def central_in_place(f, xs, h=1e-6):  # nudges xs itself but restores it: also right
    grads = []
    for i in range(len(xs)):
        keep = xs[i]
        xs[i] = keep + h
        up = f(xs)
        xs[i] = keep - h
        down = f(xs)
        xs[i] = keep
        grads.append((up - down) / (2 * h))
    return grads


def forward_difference(f, xs, h=1e-6):
    grads = []
    for i in range(len(xs)):
        up = list(xs)
        up[i] += h
        grads.append((f(up) - f(xs)) / h)
    return grads


def backward_difference(f, xs, h=1e-6):
    grads = []
    for i in range(len(xs)):
        down = list(xs)
        down[i] -= h
        grads.append((f(xs) - f(down)) / h)
    return grads


def divides_by_h(f, xs, h=1e-6):
    return [2 * g for g in central(f, xs, h)]


def forgets_to_restore(f, xs, h=1e-6):
    grads = []
    for i in range(len(xs)):
        xs[i] += h
        up = f(xs)
        xs[i] -= 2 * h
        grads.append((up - f(xs)) / (2 * h))
    return grads


def forward_with_its_own_h(f, xs, h=1e-6):
    return forward_difference(f, xs, 1e-7)


def central_with_its_own_h(f, xs, h=1e-6):
    return central(f, xs, 1e-5)


def restores_by_arithmetic(f, xs, h=1e-6):  # puts xs back with += and -=, which rounding does not undo
    grads = []
    for i in range(len(xs)):
        xs[i] += h
        up = f(xs)
        xs[i] -= 2 * h
        down = f(xs)
        xs[i] += h
        grads.append((up - down) / (2 * h))
    return grads


def test_numerical_gradient_accepts_central_differences(capsys):
    assert ex.check_numerical_gradient(central)
    assert ex.check_numerical_gradient(central_in_place)
    assert ex.check_numerical_gradient(lambda f, xs, h=1e-6: torch.tensor(central(f, xs, h)))
    assert "✅" in capsys.readouterr().out


@pytest.mark.parametrize(
    "fn, message",
    [
        (forward_difference, r"forward \(f\(x \+ h\) - f\(x\)\) / h difference"),
        (backward_difference, r"backward \(f\(x\) - f\(x - h\)\) / h difference"),
        (divides_by_h, r"twice the derivative.*divide by 2 \* h"),
        (forgets_to_restore, r"changed xs to .*restore xs\[i\] after each nudge"),
        (
            forward_with_its_own_h,
            r"with h = 0\.5 your function still returns the exact derivatives, so it does not use "
            r"the h it is given",
        ),
        (central_with_its_own_h, r"does not use the h it is given"),
        (
            lambda f, xs, h=1e-6: forward_difference(f, xs, h) if h > 0.1 else central(f, xs, h),
            r"with h = 0\.5 you used the forward",
        ),
        (
            restores_by_arithmetic,
            r"put xs back by adding and subtracting h, but floating-point rounding does not undo "
            r"exactly: xs\[0\] came back as 1\.4999999999999998 instead of 1\.5",
        ),
        (lambda f, xs, h=1e-6: None, r"result is None\. Did you forget `return grads`"),
        (lambda f, xs, h=1e-6: [float("nan")] * 3, r"the derivative for input 0 is NaN"),
        (lambda f, xs, h=1e-6: ["1", "2", "3"], r"the derivative for input 0 is the text '1'"),
        (lambda f, xs, h=1e-6: central(f, xs, h)[:2], r"returned 2 numbers for 3 inputs"),
        (lambda f, xs, h=1e-6: 3.0, r"one number per input"),
        (lambda f, xs, h=1e-6: [0.0, 0.0, 0.0], r"the derivative for input 1 is 0.000000, expected about 2.639400"),
    ],
)
def test_numerical_gradient_names_the_mistake(fn, message):
    fails(ex.check_numerical_gradient, fn, message)


# ----------------------------------------------------------------------------- 4. torch.autograd
def torch_gradient(f, x):
    x = x.detach().clone().requires_grad_(True)
    f(x).backward()
    return x.grad


def with_autograd_grad(f, x):
    x = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(f(x), x)
    return grad


def test_torch_gradient_accepts_backward_and_autograd_grad(capsys):
    assert ex.check_torch_gradient(torch_gradient)
    assert ex.check_torch_gradient(lambda f, x: torch_gradient(f, x.double()))  # float64 is fine
    assert ex.check_torch_gradient(with_autograd_grad)
    assert "✅" in capsys.readouterr().out


def changes_the_callers_tensor(f, x):
    x.requires_grad_(True)
    f(x).backward()
    return x.grad


SHARED = {}


def accumulates(f, x):
    leaf = SHARED.setdefault(tuple(x.shape), x.detach().clone().requires_grad_(True))
    f(leaf).backward()
    return leaf.grad


def returns_graph_tensor(f, x):
    x = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(f(x), x, create_graph=True)
    return grad


@pytest.mark.parametrize(
    "fn, message",
    [
        (changes_the_callers_tensor, r"changed the caller's tensor.*detach\(\).clone\(\).requires_grad_"),
        (accumulates, r"second time on the same x.*accumulated"),
        (returns_graph_tensor, r"still requires grad"),
        (lambda f, x: None, r"result is None\. Return the gradient"),
        (lambda f, x: torch.full_like(x, float("nan")), r"your gradient contains NaN in every entry"),
        (lambda f, x: x.mul_(0), r"changed its input `x` in place"),
        (lambda f, x: 2.0, r"return a tensor shaped like x, got a float"),
        (lambda f, x: torch.zeros(1), r"has shape \(1,\); it must have x's shape \(3,\)"),
        (lambda f, x: 2 * x + 1, r"f\(x\) = \(x\*\*2\).sum\(\) at x = \[1.0, -2.0, 3.0\] you returned \[3.0"),
    ],
)
def test_torch_gradient_names_the_mistake(fn, message):
    fails(ex.check_torch_gradient, fn, message)
    SHARED.clear()
