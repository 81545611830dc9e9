"""Chapter 05's race pictures: paths on the contours, the explorer redrawing, the network race's curves."""

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from course_lib.experiments import optimizer_race as R  # noqa: E402
from course_lib.experiments.network_race import NetworkRace  # noqa: E402
from course_lib.scratch import optim as scratch  # noqa: E402
from course_lib.widgets import optimizer_race as W  # noqa: E402

SURFACE_NAMES = list(R.SURFACES)


# ----------------------------------------------------------------------------- pictures
def test_plot_race_draws_every_trajectory_on_both_panels():
    surface = R.SURFACES["bowl"]
    makers = R.standard_optimizers(lr=0.3, momentum=0.5, adaptive_lr=0.3)
    makers["too fast"] = lambda p: scratch.SGD(p, lr=0.7)
    fig = W.plot_race(surface, R.race(surface, makers, 60), title="a race")
    contours, losses = fig.axes
    labels = [line.get_label() for line in contours.get_lines() if not line.get_label().startswith("_")]
    assert labels[:5] == list(R.OPTIMIZER_NAMES)
    assert labels[5].startswith("too fast (diverged at step")
    assert len([line for line in losses.get_lines() if not line.get_label().startswith("_")]) == 6
    assert [text.get_text() for text in losses.get_legend().get_texts()] == labels
    assert contours.get_xlim() == surface.x_range and contours.get_ylim() == surface.y_range
    assert losses.get_yscale() == "log" and fig._suptitle.get_text() == "a race"
    plt.close(fig)


@pytest.mark.parametrize("name", SURFACE_NAMES)
def test_draw_race_with_each_surfaces_defaults(name):
    fig = W.draw_race(name, steps=20)
    assert len(fig.axes) == 2
    assert len([line for line in fig.axes[0].get_lines() if not line.get_label().startswith("_")]) == 5
    plt.close(fig)


def test_draw_race_with_no_optimizer_still_draws_the_surface():
    fig = W.draw_race("saddle", optimizers=[])
    assert [line.get_label() for line in fig.axes[0].get_lines()] == ["_start", "_minimum", "_minimum"]
    plt.close(fig)


def test_a_diverged_run_is_drawn_up_to_the_edge_and_labelled():
    bowl = R.SURFACES["bowl"]
    trajectory = R.run_optimizer(bowl, lambda p: scratch.SGD(p, lr=0.6), 500, name="SGD")
    left = trajectory.left_plot_at(bowl)
    visible = W._visible_part(trajectory, bowl)
    assert len(visible) == left + 1 and not bowl.contains(visible[-1]) and all(bowl.contains(p) for p in visible[:-1])
    fig = W.plot_race(bowl, {"SGD": trajectory})
    assert [line.get_label() for line in fig.axes[0].get_lines()][-1] == trajectory.label(bowl)
    assert [line.get_label() for line in fig.axes[1].get_lines()][-1] == "_diverged"
    plt.close(fig)


# ----------------------------------------------------------------------------- the explorer
def test_explorer_redraws_on_every_control(monkeypatch):
    calls = []
    monkeypatch.setattr(W, "draw_race", lambda **kw: calls.append(kw) or plt.figure())
    explorer = W.optimizer_race_explorer("bowl")
    assert len(calls) == 1 and calls[0]["surface"] == "bowl" and calls[0]["lr"] == pytest.approx(0.35)
    explorer.controls["lr"].value = 0.1
    assert len(calls) == 2 and calls[-1]["lr"] == pytest.approx(0.1)
    explorer.controls["momentum"].value = 0.8
    assert calls[-1]["momentum"] == pytest.approx(0.8)
    explorer.controls["show_Adam"].value = False
    assert calls[-1]["optimizers"] == ["SGD", "momentum", "Nesterov", "RMSprop"]
    explorer.controls["surface"].value = "Rosenbrock"  # resets four sliders, draws once
    rosenbrock = R.SURFACES["Rosenbrock"]
    assert len(calls) == 5
    assert calls[-1] == {
        "surface": "Rosenbrock",
        "lr": pytest.approx(rosenbrock.sgd_lr),
        "momentum": pytest.approx(rosenbrock.momentum),
        "adaptive_lr": pytest.approx(rosenbrock.adaptive_lr),
        "steps": rosenbrock.steps,
        "optimizers": ["SGD", "momentum", "Nesterov", "RMSprop"],
    }
    explorer.controls["steps"].value = 7
    assert len(calls) == 6 and calls[-1]["steps"] == 7
    plt.close("all")


def test_explorer_really_draws_and_leaves_no_figure_open():
    explorer = W.optimizer_race_explorer("saddle")
    explorer.controls["steps"].value = 10
    explorer.controls["lr"].value = 0.9  # diverges: must draw, not raise
    assert plt.get_fignums() == []


# ----------------------------------------------------------------------------- the network race's curves
def test_plot_network_race_draws_one_smoothed_curve_per_optimizer():
    result = NetworkRace(batch_losses={"SGD": [2.0, 1.0, 3.0, 1.0], "Adam": [1.0, 0.5, 0.25, 0.125]})
    fig = W.plot_network_race(result, smooth=2)
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["SGD", "Adam"]
    assert list(lines[0].get_ydata()) == [2.0, 1.5, 2.0, 2.0]
    assert fig.axes[0].get_yscale() == "log"
    plt.close(fig)


def test_smoothing_is_a_running_mean():
    assert W._smooth([1.0, 3.0, 5.0, 7.0], 2).tolist() == [1.0, 2.0, 4.0, 6.0]
    assert W._smooth([1.0, 3.0, 5.0], 1).tolist() == [1.0, 3.0, 5.0]
    assert math.isclose(W._smooth([2.0] * 50, 10)[-1], 2.0)
