"""The chapter 03 and 04 explorers: the numbers behind the pictures, the pictures, and the widgets redrawing."""

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from course_lib.experiments.ce_vs_mse import CLASSIFICATION_LOSSES, train_ce_vs_mse  # noqa: E402
from course_lib.experiments.vanishing_gradients import gradient_flow  # noqa: E402
from course_lib.widgets import activations as WA  # noqa: E402
from course_lib.widgets import losses as WL  # noqa: E402


# ----------------------------------------------------------------------------- activations
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


def test_gradient_flow_plot_shows_the_signal_beside_the_gradient_and_says_what_they_mean():
    flow = gradient_flow("relu", depth=20, init="normal-0.01")
    fig = WA.plot_gradient_flow("relu", depth=20, init="normal-0.01")
    ax = fig.axes[0]
    gradient, signal = (line for line in ax.get_lines() if not line.get_label().startswith("_"))
    assert gradient.get_label() == "gradient ||dL/dW||" and signal.get_label() == "signal: std of the output"
    assert list(gradient.get_ydata()) == pytest.approx(flow.weight_grad_norms.tolist())
    assert list(signal.get_ydata()) == pytest.approx(flow.activation_stds.tolist())
    assert "The signal fades: layer 20's outputs have std 6e-26" in ax.get_title()
    assert ax.get_yscale() == "log"
    plt.close(fig)


def test_a_nearly_flat_gradient_is_drawn_flat():
    fig = WA.plot_gradient_flow("relu", depth=10, init="kaiming")
    low, high = fig.axes[0].get_ylim()
    assert math.log10(high / low) >= WA.MIN_DECADES - 1e-9  # a factor of 1.5 is not blown up to the full height
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
    explorer.controls["init"].value = "normal-1"
    assert calls == [
        ("sigmoid", (-5.0, 5.0), 5, "xavier"),
        ("relu", (-5.0, 5.0), 5, "xavier"),
        ("relu", (-5.0, 5.0), 12, "xavier"),
        ("relu", (-5.0, 5.0), 12, "kaiming"),
        ("relu", (-2.0, 3.0), 12, "kaiming"),
        ("relu", (-2.0, 3.0), 12, "normal-1"),
    ]
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
    assert [line.get_label() for line in left.get_lines() if not line.get_label().startswith("_")] == [
        "MSE",
        "MAE",
        "Huber (δ=0.5)",
    ]
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


def test_plot_ce_vs_mse_draws_both_runners():
    history = train_ce_vs_mse(steps=30)
    fig = WL.plot_ce_vs_mse(history)
    left, right = fig.axes
    assert [line.get_label() for line in left.get_lines()] == list(CLASSIFICATION_LOSSES)
    assert list(right.get_lines()[1].get_ydata()) == history.grad_norm["MSE on sigmoid"]
    assert right.get_yscale() == "log"
    plt.close(fig)
