"""The BPTT experiment of chapter 08: gradients per time step, checked against a hand-unrolled RNN."""

import pytest
import torch

from course_lib.experiments.rnn_gradients import input_gradient_norms, spectral_radius
from course_lib.scratch.rnn import rnn_cell, run_sequence


def test_matches_a_hand_unrolled_rnn():
    norms = input_gradient_norms("rnn", length=12, hidden=5, inputs=3, batch=2, seed=3)
    torch.manual_seed(3)
    layer = torch.nn.RNN(3, 5, batch_first=True).double()
    x = torch.randn(2, 12, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64, requires_grad=True)
    outputs, _ = run_sequence(
        rnn_cell, x, None, layer.weight_ih_l0, layer.weight_hh_l0, layer.bias_ih_l0, layer.bias_hh_l0, batch_first=True
    )
    outputs[:, -1].sum().backward()
    assert norms.shape == (12,) and norms.dtype == torch.float64
    assert torch.allclose(norms, x.grad.norm(dim=(0, 2)))


def test_plain_rnn_vanishes_and_explodes_lstm_with_forget_bias_keeps_it():
    fresh = input_gradient_norms("rnn")
    assert fresh[0] / fresh[-1] < 1e-12  # vanishing: many orders of magnitude over 100 steps
    assert fresh[0] < fresh[25] < fresh[50] < fresh[75] < fresh[-1]  # shrinking going back in time
    large = input_gradient_norms("rnn", radius=1.5)
    assert large[0] / large[-1] > 1e-3 and large.max() / large[-1] > 1  # grows back in time instead of vanishing
    lstm = input_gradient_norms("lstm")
    remembering = input_gradient_norms("lstm", forget_bias=3.0)
    assert remembering[0] / remembering[-1] > 1e-2 > lstm[0] / lstm[-1] * 1e6


def test_radius_is_what_it_says_and_results_repeat():
    weight = torch.tensor([[0.0, 2.0], [-2.0, 0.0]])
    assert spectral_radius(weight) == pytest.approx(2.0)
    assert torch.equal(input_gradient_norms("gru", length=5, seed=1), input_gradient_norms("gru", length=5, seed=1))
    state = torch.random.get_rng_state()
    input_gradient_norms("rnn", length=3)
    assert torch.equal(state, torch.random.get_rng_state())  # the global generator is left alone


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(kind="transformer"), "kind must be"),
        (dict(length=0), "length"),
        (dict(radius=-1.0), "radius"),
        (dict(kind="rnn", forget_bias=1.0), "a rnn has no forget gate"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        input_gradient_norms(**kwargs)
