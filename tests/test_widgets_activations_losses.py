"""The chapter 03 and 04 explorers: the numbers behind the pictures, the pictures, and the widgets redrawing."""
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from course_lib.widgets import activations as WA  # noqa: E402
from course_lib.widgets import losses as WL  # noqa: E402


# ----------------------------------------------------------------------------- activations
def test_init_std_values_and_errors():
    assert WA.init_std("xavier", 64) == pytest.approx(1 / 8)
    assert WA.init_std("kaiming", 50) == pytest.approx(math.sqrt(2 / 50))
    assert WA.init_std("small (std 0.01)", 10) == 0.01
    with pytest.raises(ValueError, match=r"init must be one of .*'kaiming'.*got 'he'"):
        WA.init_std("he", 10)
    with pytest.raises(ValueError, match=r"fan_in must be at least 1"):
        WA.init_std("xavier", 0)


def test_gradient_flow_matches_an_nn_sequential_built_by_hand():
    depth, width = 4, 8
    flow = WA.gradient_flow("tanh", depth=depth, width=width, init="xavier", batch=16, seed=3)
    gen = torch.Generator().manual_seed(3)
    std = WA.init_std("xavier", width)
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
    sigmoid = WA.gradient_flow("sigmoid", depth=15, init="xavier").weight_grad_norms
    relu = WA.gradient_flow("relu", depth=15, init="kaiming").weight_grad_norms
    assert float(sigmoid[0] / sigmoid[-1]) < 1e-5  # shrinks by more than 10^5 on the way down
    assert 0.1 < float(relu[0] / relu[-1]) < 10  # roughly constant
    stds = WA.gradient_flow("relu", depth=15, init="small (std 0.01)").activation_stds
    assert float(stds[-1]) < 1e-15  # a tiny init shrinks the signal by 0.01 * sqrt(64 / 2) per layer


def test_gradient_flow_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"unknown activation 'swish'; choose one of sigmoid, tanh"):
        WA.gradient_flow("swish")
    with pytest.raises(ValueError, match=r"depth and width must be at least 1, got depth=0"):
        WA.gradient_flow("relu", depth=0)


def test_activation_plots():
    fig = WA.plot_activation("gelu", -3, 3)
    lines = fig.axes[0].get_lines()
    x, y = lines[0].get_data()
    assert x[0] == -3 and x[-1] == 3
    torch.testing.assert_close(torch.as_tensor(y), F.gelu(torch.as_tensor(x)))
    plt.close(fig)
    with pytest.raises(ValueError, match=r"x_min must be below x_max, got 2 and 1"):
        WA.plot_activation("relu", 2, 1)
    fig = WA.plot_activation_panel("sigmoid", (-4, 4), depth=6, init="kaiming")
    assert len(fig.axes) == 2
    assert len(fig.axes[1].get_lines()[0].get_xdata()) == 6
    assert "6 layers of sigmoid, kaiming init" in fig.axes[1].get_title()
    plt.close(fig)


def test_activation_explorer_redraws_on_every_control(monkeypatch):
    calls = []

    def recording(name, x_range, depth, init):
        calls.append((name, x_range, depth, init))
        return plt.figure()

    monkeypatch.setattr(WA, "plot_activation_panel", recording)
    explorer = WA.activation_explorer(depth=5)
    explorer.controls["activation"].value = "relu"
    explorer.controls["depth"].value = 12
    explorer.controls["init"].value = "kaiming"
    explorer.controls["x_range"].value = (-2.0, 3.0)
    assert calls == [("sigmoid", (-5.0, 5.0), 5, "xavier"), ("relu", (-5.0, 5.0), 5, "xavier"),
                     ("relu", (-5.0, 5.0), 12, "xavier"), ("relu", (-5.0, 5.0), 12, "kaiming"),
                     ("relu", (-2.0, 3.0), 12, "kaiming")]
    assert plt.get_fignums() == []


def test_activation_explorer_really_draws():
    explorer = WA.activation_explorer(depth=3)
    explorer.controls["activation"].value = "tanh"
    assert plt.get_fignums() == []


# ----------------------------------------------------------------------------- losses
def test_loss_and_gradient_gives_each_predictions_derivative():
    grid = torch.linspace(-3, 3, 7)
    values, grads = WL.loss_and_gradient(WL.REGRESSION_LOSSES["MSE"], grid, 1.0)
    torch.testing.assert_close(values, (grid.double() - 1) ** 2)
    torch.testing.assert_close(grads, 2 * (grid.double() - 1))
    _, huber_grads = WL.loss_and_gradient(WL.REGRESSION_LOSSES["Huber"], grid, 0.0, delta=1.5)
    torch.testing.assert_close(huber_grads, grid.double().clamp(-1.5, 1.5))  # capped: robust to outliers
    _, bce = WL.loss_and_gradient(WL.CLASSIFICATION_LOSSES["cross-entropy (BCE with logits)"], grid, 1.0)
    torch.testing.assert_close(bce, torch.sigmoid(grid.double()) - 1)


def test_mse_on_sigmoid_gradient_vanishes_when_confidently_wrong():
    wrong = torch.tensor([-10.0])
    _, mse_grad = WL.loss_and_gradient(WL.CLASSIFICATION_LOSSES["MSE on sigmoid"], wrong, 1.0)
    _, ce_grad = WL.loss_and_gradient(WL.CLASSIFICATION_LOSSES["cross-entropy (BCE with logits)"], wrong, 1.0)
    s = torch.sigmoid(wrong.double())
    torch.testing.assert_close(mse_grad, 2 * (s - 1) * s * (1 - s))
    assert abs(float(mse_grad)) < 1e-4 and abs(float(ce_grad)) > 0.99


def test_loss_plots():
    fig = WL.plot_regression_losses(prediction=3.0, target=0.5, delta=0.5)
    left, right = fig.axes
    assert [line.get_label() for line in left.get_lines() if not line.get_label().startswith("_")] == \
        ["MSE", "MAE", "Huber (δ=0.5)"]
    assert [t.get_text() for t in right.texts] == ["+5.00", "+1.00", "+0.50"]
    plt.close(fig)
    fig = WL.plot_classification_losses(logit=-5.0, label=1)
    assert [t.get_text() for t in fig.axes[1].texts] == ["-0.993", "-0.013"]
    plt.close(fig)
    with pytest.raises(ValueError, match=r"label must be 0 or 1, got 2"):
        WL.plot_classification_losses(label=2)


def test_loss_explorers_redraw(monkeypatch):
    calls = []
    monkeypatch.setattr(WL, "plot_regression_losses", lambda **kw: calls.append(kw) or plt.figure())
    explorer = WL.regression_loss_explorer()
    explorer.controls["prediction"].value = -4.0
    explorer.controls["delta"].value = 2.0
    assert calls[-1] == {"prediction": -4.0, "target": 0.0, "delta": 2.0} and len(calls) == 3
    explorer = WL.classification_loss_explorer()  # the real drawing
    explorer.controls["label"].value = 0
    explorer.controls["logit"].value = 6.0
    assert plt.get_fignums() == []


def test_cross_entropy_wins_the_race_from_a_confidently_wrong_start():
    history = WL.train_ce_vs_mse(steps=60)
    ce, mse = history.accuracy.values()
    assert ce[0] == mse[0] < 0.2  # same, confidently wrong start
    assert ce[-1] > 0.85 and mse[-1] < 0.2
    ce_grad, mse_grad = history.grad_norm.values()
    assert ce_grad[0] > 100 * mse_grad[0]
    fig = WL.plot_ce_vs_mse(history)
    assert len(fig.axes) == 2 and len(fig.axes[0].get_lines()) == 2
    plt.close(fig)


def test_two_blobs_are_balanced_and_reproducible():
    x, y = WL.make_two_blobs(n=10, seed=1)
    assert x.shape == (10, 2) and y.tolist() == [0.0, 1.0] * 5
    assert torch.equal(x, WL.make_two_blobs(n=10, seed=1)[0])
