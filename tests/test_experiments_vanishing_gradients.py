"""Chapter 03's vanishing-gradient experiment: the numbers match a stack built by hand, and the reading is right."""

import pytest
import torch

from course_lib.experiments.vanishing_gradients import ACTIVATIONS, activation_pair, gradient_flow
from course_lib.models import init_std
from course_lib.scratch import activations as act


def test_gradient_flow_matches_an_nn_sequential_built_by_hand():
    depth, width = 4, 8
    flow = gradient_flow("tanh", depth=depth, width=width, init="xavier", batch=16, seed=3)
    gen = torch.Generator().manual_seed(3)
    std = init_std("xavier", width)
    layers = [torch.nn.Linear(width, width, bias=False).double() for _ in range(depth)]
    for layer in layers:
        with torch.no_grad():
            layer.weight.copy_(torch.randn(width, width, generator=gen, dtype=torch.float64) * std)
    h = torch.randn(16, width, generator=gen, dtype=torch.float64)
    for layer in layers:
        h = torch.tanh(layer(h))
    h.backward(torch.randn(16, width, generator=gen, dtype=torch.float64) / 4)
    expected = torch.tensor([float(layer.weight.grad.norm()) for layer in layers])
    torch.testing.assert_close(flow.weight_grad_norms, expected)
    assert flow.activation_stds.shape == (depth,)
    torch.testing.assert_close(flow.activation_stds[-1], h.detach().std().float(), check_dtype=False)


def test_sigmoid_gradients_vanish_and_kaiming_relu_keeps_them():
    sigmoid = gradient_flow("sigmoid", depth=15, init="xavier")
    relu = gradient_flow("relu", depth=15, init="kaiming")
    assert sigmoid.first_over_last < 1e-5  # shrinks by more than 10^5 on the way down
    assert 0.1 < relu.first_over_last < 10  # roughly constant
    stds = gradient_flow("relu", depth=15, init="normal-0.01").activation_stds
    assert float(stds[-1]) < 1e-15  # a tiny init shrinks the signal by 0.01 * sqrt(64 / 2) per layer


def test_large_tanh_saturates_and_its_gradient_explodes_toward_the_input():
    flow = gradient_flow("tanh", depth=10, init="normal-1")
    assert float(flow.activation_stds.min()) > 0.9  # outputs pinned near +-1: saturated
    assert flow.first_over_last > 100  # yet the gradient grows on its way down, it does not shrink
    assert all(float(a) > float(b) for a, b in zip(flow.weight_grad_norms, flow.weight_grad_norms[1:]))


def test_the_reading_names_what_the_ratio_alone_hides():
    tiny = gradient_flow("relu", depth=20, init="normal-0.01")
    assert 0.5 < tiny.first_over_last < 2  # the ratio looks healthy ...
    assert tiny.reading().startswith("The signal fades: layer 20's outputs have std 6e-26")  # ... the signal is not
    assert "Layer 1's gradient is 1.7 times layer 20's: 5.8e-23 at layer 20, 1e-22 at layer 1." in tiny.reading()
    big = gradient_flow("relu", depth=20, init="normal-1").reading()
    assert big.startswith("The signal explodes: layer 20's outputs have std 6e+14")
    tanh = gradient_flow("tanh", depth=20, init="normal-1").reading()
    assert tanh.startswith("The signal keeps its size: std 0.95 at layer 20.")
    assert "The gradient explodes toward the input: 16 at layer 20, 2.4e+07 at layer 1." in tanh
    assert "The gradient vanishes toward the input" in gradient_flow("sigmoid", depth=20).reading()


def test_every_activation_is_the_scratch_function_with_its_derivative():
    x = torch.linspace(-4, 4, 81, dtype=torch.float64, requires_grad=True)
    for name, (f, df) in ACTIVATIONS.items():
        (grad,) = torch.autograd.grad(f(x).sum(), x)
        torch.testing.assert_close(df(x.detach()), grad, msg=name)
    assert activation_pair("relu") == (act.relu, act.relu_grad)


def test_gradient_flow_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"unknown activation 'swish'; choose one of sigmoid, tanh"):
        gradient_flow("swish")
    with pytest.raises(ValueError, match=r"depth and width must be at least 1, got depth=0"):
        gradient_flow("relu", depth=0)
    with pytest.raises(ValueError, match=r"Unknown initialisation scheme 'small \(std 0.01\)'"):
        gradient_flow("relu", init="small (std 0.01)")
