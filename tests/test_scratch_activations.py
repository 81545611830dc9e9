"""course_lib.scratch.activations against torch.nn.functional, autograd and TensorFlow."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib.scratch import activations as A
from course_lib.tensorflow_setup import load_tensorflow

DTYPES = [torch.float32, torch.float64]
SEEDS = [0, 1, 2]
TOL = {torch.float32: dict(rtol=1e-5, atol=1e-6), torch.float64: dict(rtol=1e-12, atol=1e-13)}

# name -> (our function, our derivative, PyTorch's function)
ELEMENTWISE = {
    "sigmoid": (A.sigmoid, A.sigmoid_grad, torch.sigmoid),
    "tanh": (A.tanh, A.tanh_grad, torch.tanh),
    "relu": (A.relu, A.relu_grad, F.relu),
    "leaky_relu": (A.leaky_relu, A.leaky_relu_grad, F.leaky_relu),
    "leaky_relu_0.2": (
        lambda x: A.leaky_relu(x, 0.2),
        lambda x: A.leaky_relu_grad(x, 0.2),
        lambda x: F.leaky_relu(x, 0.2),
    ),
    "gelu": (A.gelu, A.gelu_grad, F.gelu),
    "gelu_tanh": (
        lambda x: A.gelu(x, "tanh"),
        lambda x: A.gelu_grad(x, "tanh"),
        lambda x: F.gelu(x, approximate="tanh"),
    ),
}


def random_input(seed, dtype, scale=4.0, shape=(7, 33)):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(shape, generator=gen, dtype=torch.float64) * scale).to(dtype)


def autograd_derivative(torch_fn, x):
    """f'(x) by autograd, computed in float64 and returned in x's dtype.

    In float32 PyTorch's own tanh-GELU backward loses the far tail (it rounds 1 + tanh(u) to 0
    near x = -5, giving -1.03e-6 where the true value is -1.17e-6); a float64 reference is the fair judge.
    """
    x64 = x.detach().double().requires_grad_(True)
    torch_fn(x64).sum().backward()
    return x64.grad.to(x.dtype)


@pytest.mark.parametrize("name", ELEMENTWISE)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
def test_function_and_derivative_match_torch(name, dtype, seed):
    ours, ours_grad, theirs = ELEMENTWISE[name]
    x = random_input(seed, dtype)
    out = ours(x)
    assert out.dtype == dtype and out.shape == x.shape
    torch.testing.assert_close(out, theirs(x), **TOL[dtype])
    grad = ours_grad(x)
    assert grad.dtype == dtype and grad.shape == x.shape
    torch.testing.assert_close(grad, autograd_derivative(theirs, x), **TOL[dtype])


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_autograd_through_our_function_agrees_with_our_derivative(name):
    """The functions are built from differentiable ops, so autograd works through them (chapter 03's deep
    stacks rely on it), including at 0 and at +-1000 where a careless stable form gives a wrong slope or NaN."""
    ours, ours_grad, _ = ELEMENTWISE[name]
    x = torch.cat(
        [random_input(9, torch.float64, shape=(50,)), torch.tensor([0.0, -1000.0, 1000.0], dtype=torch.float64)]
    )
    leaf = x.clone().requires_grad_(True)
    ours(leaf).sum().backward()
    torch.testing.assert_close(leaf.grad, ours_grad(x))


@pytest.mark.parametrize("name", ELEMENTWISE)
@pytest.mark.parametrize("dtype", DTYPES)
def test_extreme_inputs_stay_finite_and_match_torch(name, dtype):
    ours, ours_grad, theirs = ELEMENTWISE[name]
    x = torch.tensor([-1000.0, -200.0, -40.0, -1e-8, 0.0, 1e-8, 40.0, 200.0, 1000.0], dtype=dtype)
    out, grad = ours(x), ours_grad(x)
    assert torch.isfinite(out).all() and torch.isfinite(grad).all()
    torch.testing.assert_close(out, theirs(x), **TOL[dtype])
    torch.testing.assert_close(grad, autograd_derivative(theirs, x), **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_is_stable_where_the_naive_formula_is_not(dtype):
    x = torch.tensor([-1000.0, -100.0, 100.0, 1000.0], dtype=dtype, requires_grad=True)
    assert torch.isinf(torch.exp(-x[0]))  # the naive 1 / (1 + exp(-x)) exponentiates +1000 here
    naive = 1 / (1 + torch.exp(-x))
    naive.sum().backward()
    assert torch.isnan(x.grad[0])  # ... which gives a NaN gradient: inf / inf inside the backward pass
    s = A.sigmoid(x)
    torch.testing.assert_close(s, torch.sigmoid(x), rtol=0, atol=1e-30)
    x.grad = None
    s.sum().backward()
    assert torch.isfinite(x.grad).all()  # autograd through the stable form is finite too
    # the tiny tail keeps relative precision: sigma(-100) = e^-100 / (1 + e^-100)
    assert float(A.sigmoid(torch.tensor(-100.0, dtype=torch.float64))) == pytest.approx(np.exp(-100), rel=1e-14)


def test_tanh_keeps_precision_near_zero():
    x = torch.tensor([1e-10, -3e-9, 1e-5], dtype=torch.float64)
    torch.testing.assert_close(A.tanh(x), torch.tanh(x), rtol=1e-15, atol=0)


def test_relu_derivative_at_zero_is_zero_like_torch():
    """Convention: ReLU'(0) = 0 (torch and TensorFlow agree); leaky ReLU'(0) = negative_slope (torch)."""
    zero = torch.zeros(3)
    assert torch.equal(A.relu_grad(zero), torch.zeros(3))
    assert torch.equal(A.relu_grad(zero), autograd_derivative(F.relu, zero))
    assert torch.equal(A.leaky_relu_grad(zero, 0.1), torch.full((3,), 0.1))
    assert torch.equal(A.leaky_relu_grad(zero, 0.1), autograd_derivative(lambda x: F.leaky_relu(x, 0.1), zero))


def test_relu_propagates_nan_like_torch():
    x = torch.tensor([float("nan"), -1.0, 2.0])
    assert torch.equal(A.relu(x).isnan(), F.relu(x).isnan())


def test_gelu_rejects_an_unknown_approximation():
    with pytest.raises(ValueError, match=r'approximate must be "none".*"tanh".*got \'erf\''):
        A.gelu(torch.zeros(2), approximate="erf")
    with pytest.raises(ValueError, match=r"got 'Tanh'"):
        A.gelu_grad(torch.zeros(2), approximate="Tanh")


@pytest.mark.parametrize("fn", [A.sigmoid, A.tanh, A.relu, A.gelu, A.softmax, A.log_softmax, A.relu_grad])
def test_integer_and_non_tensor_inputs_are_refused_with_the_fix(fn):
    with pytest.raises(TypeError, match=r"floating-point tensor.*got torch\.int64.*x\.float\(\)"):
        fn(torch.arange(3))
    with pytest.raises(TypeError, match=r"x should be a torch\.Tensor, got a list\. Wrap it"):
        fn([1.0, 2.0])


@pytest.mark.parametrize("name", ELEMENTWISE)
@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_and_infinity_give_what_torch_gives(name, dtype):
    """Where torch propagates NaN, so must we: sigmoid(NaN) once came out as 0.5 and tanh(NaN) as 0,
    a silent wrong number in a learner's plot. Values, our derivatives and autograd through ours are all checked.
    The reference is torch in float64: in float32 torch's vectorised exact GELU gives NaN at +inf (its scalar path inf)."""
    ours, ours_grad, theirs = ELEMENTWISE[name]
    x = torch.tensor([float("nan"), -float("inf"), float("inf"), 0.0, 1.5, -2.0], dtype=dtype)
    torch.testing.assert_close(ours(x), theirs(x.double()).to(dtype), equal_nan=True, **TOL[dtype])
    expected_grad = autograd_derivative(theirs, x)
    torch.testing.assert_close(ours_grad(x), expected_grad, equal_nan=True, **TOL[dtype])
    leaf = x.clone().requires_grad_(True)
    ours(leaf).sum().backward()
    assert torch.equal(leaf.grad[:1].isnan(), expected_grad[:1].isnan())  # at NaN: NaN exactly where torch has NaN


def test_nan_stays_nan_in_softmax_and_log_softmax():
    x = torch.tensor([[float("nan"), 1.0, 2.0], [0.0, 1.0, 2.0]])
    for ours, theirs in ((A.softmax, torch.softmax), (A.log_softmax, torch.log_softmax)):
        torch.testing.assert_close(ours(x, dim=-1), theirs(x, dim=-1), equal_nan=True)


@pytest.mark.parametrize("shape, dim", [((0,), -1), ((3, 0), -1), ((0, 3), -1), ((0, 3), 0), ((2, 0, 4), 1)])
def test_softmax_of_an_empty_tensor_is_empty_like_torch(shape, dim):
    x = torch.empty(shape)
    for ours, theirs in ((A.softmax, torch.softmax), (A.log_softmax, torch.log_softmax)):
        out = ours(x, dim=dim)
        assert out.shape == theirs(x, dim=dim).shape == x.shape and out.dtype == x.dtype


@pytest.mark.parametrize("fn", [A.softmax, A.log_softmax])
def test_softmax_dim_must_be_an_axis(fn):
    with pytest.raises(
        ValueError,
        match=r"dim must be an axis of the input, a whole number from -2 to 1 for a tensor "
        r"of shape \(2, 3\).*got 2",
    ):
        fn(torch.zeros(2, 3), dim=2)
    with pytest.raises(ValueError, match=r"dim must be an axis.*got 1\.0"):
        fn(torch.zeros(2, 3), dim=1.0)
    with pytest.raises(IndexError):  # torch refuses the same axis
        torch.softmax(torch.zeros(2, 3), dim=2)


@pytest.mark.parametrize("fn", [A.leaky_relu, A.leaky_relu_grad])
def test_leaky_relu_slope_must_be_a_number(fn):
    with pytest.raises(ValueError, match=r"negative_slope must be a number; got '0\.1'\. It is the slope for x < 0"):
        fn(torch.zeros(2), "0.1")


# ----------------------------------------------------------------------------- softmax
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("dim", [-1, 0, 1])
def test_softmax_and_log_softmax_match_torch(dtype, seed, dim):
    x = random_input(seed, dtype, scale=3.0, shape=(5, 6, 4))
    s = A.softmax(x, dim=dim)
    assert s.dtype == dtype
    torch.testing.assert_close(s, torch.softmax(x, dim=dim), **TOL[dtype])
    torch.testing.assert_close(A.log_softmax(x, dim=dim), torch.log_softmax(x, dim=dim), **TOL[dtype])
    torch.testing.assert_close(s.sum(dim=dim), torch.ones_like(s.sum(dim=dim)), **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_is_finite_for_logits_of_1000(dtype):
    x = torch.tensor([[1000.0, 999.0, -1000.0], [-1000.0, -1000.0, -999.0], [1000.0, 1000.0, 1000.0]], dtype=dtype)
    naive = torch.exp(x) / torch.exp(x).sum(dim=-1, keepdim=True)
    assert torch.isnan(naive).any()  # what the max subtraction fixes
    s, log_s = A.softmax(x), A.log_softmax(x)
    assert torch.isfinite(s).all() and torch.isfinite(log_s).all()
    torch.testing.assert_close(s, torch.softmax(x, dim=-1), **TOL[dtype])
    torch.testing.assert_close(log_s, torch.log_softmax(x, dim=-1), **TOL[dtype])
    assert float(log_s[0, 2]) == pytest.approx(-2000 - np.log1p(np.exp(-1)), rel=1e-6)  # -inf via softmax().log()
    assert torch.isinf(s[0:1, 2].log()).all()


def test_softmax_jacobian_matches_autograd():
    x = random_input(3, torch.float64, shape=(5,))
    s = A.softmax(x)
    jacobian = torch.diag(s) - torch.outer(s, s)  # s_i (delta_ij - s_j), as the docstring says
    torch.testing.assert_close(jacobian, torch.autograd.functional.jacobian(lambda v: torch.softmax(v, 0), x))


# ----------------------------------------------------------------------------- TensorFlow
@pytest.fixture(scope="module")
def tf():
    return load_tensorflow()


@pytest.mark.parametrize("dtype", DTYPES)
def test_activations_match_tensorflow(tf, dtype):
    x = random_input(5, dtype, scale=5.0, shape=(4, 50))
    x_tf = tf.constant(x.numpy())
    pairs = [
        (A.sigmoid(x), tf.nn.sigmoid(x_tf)),
        (A.tanh(x), tf.nn.tanh(x_tf)),
        (A.relu(x), tf.nn.relu(x_tf)),
        # tf.nn.leaky_relu's default alpha is 0.2, PyTorch's negative_slope 0.01: pass it explicitly.
        (A.leaky_relu(x, 0.2), tf.nn.leaky_relu(x_tf, alpha=0.2)),
        # tf.nn.gelu defaults to approximate=False (erf), like PyTorch; Keras' gelu has the same default.
        (A.gelu(x), tf.nn.gelu(x_tf, approximate=False)),
        (A.gelu(x, "tanh"), tf.nn.gelu(x_tf, approximate=True)),
        (A.softmax(x), tf.nn.softmax(x_tf, axis=-1)),
        (A.log_softmax(x, dim=0), tf.nn.log_softmax(x_tf, axis=0)),
    ]
    # TensorFlow's exact GELU passes its 1/sqrt(2) through float32, so in float64 it agrees with the
    # exact formula (and with PyTorch) to about 1e-8 only, not 1e-15.
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == torch.float32 else dict(rtol=1e-7, atol=1e-9)
    for ours, theirs in pairs:
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), **tol)


def test_derivatives_match_tensorflow_gradient_tape(tf):
    x = random_input(6, torch.float64, shape=(100,))
    x_tf = tf.Variable(x.numpy())
    for ours, tf_fn in [
        (A.sigmoid_grad, tf.nn.sigmoid),
        (A.tanh_grad, tf.nn.tanh),
        (A.relu_grad, tf.nn.relu),
        (A.gelu_grad, lambda v: tf.nn.gelu(v, approximate=False)),
    ]:
        with tf.GradientTape() as tape:
            y = tf.reduce_sum(tf_fn(x_tf))
        np.testing.assert_allclose(ours(x).numpy(), tape.gradient(y, x_tf).numpy(), rtol=1e-6, atol=1e-8)  # see above


def test_keras_softmax_is_finite_at_1000_too(tf):
    from keras import activations

    x = np.array([[1000.0, 0.0, -1000.0]], dtype="float32")
    np.testing.assert_allclose(np.asarray(activations.softmax(x)), A.softmax(torch.from_numpy(x)).numpy(), atol=1e-7)
