"""Chapter 05's optimizer race on 2-D surfaces: the surfaces, the runs, divergence, the standard optimizers."""

import pytest
import torch

from course_lib.experiments import optimizer_race as R
from course_lib.scratch import optim as scratch

SURFACE_NAMES = list(R.SURFACES)


def _random_points(surface, n=6, seed=0):
    gen = torch.Generator().manual_seed(seed)
    u = torch.rand(n, 2, generator=gen, dtype=torch.float64)
    low = torch.tensor([surface.x_range[0], surface.y_range[0]], dtype=torch.float64)
    high = torch.tensor([surface.x_range[1], surface.y_range[1]], dtype=torch.float64)
    return low + u * (high - low)


# ----------------------------------------------------------------------------- surfaces
@pytest.mark.parametrize("name", SURFACE_NAMES)
def test_gradient_matches_central_differences(name):
    surface = R.SURFACES[name]
    h = 1e-6
    for point in _random_points(surface):
        grad = surface.gradient(point)
        for i in range(2):
            step = torch.zeros(2, dtype=torch.float64)
            step[i] = h
            numeric = (surface(point + step) - surface(point - step)) / (2 * h)
            assert float(grad[i]) == pytest.approx(float(numeric), rel=1e-6, abs=1e-5)


def test_gradients_match_the_formulas_by_hand():
    x, y = -1.3, 0.7
    assert R.SURFACES["bowl"].gradient((x, y)).tolist() == pytest.approx([0.2 * x, 4 * y])
    assert R.SURFACES["Rosenbrock"].gradient((x, y)).tolist() == pytest.approx(
        [-2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2)]
    )
    assert R.SURFACES["saddle"].gradient((x, y)).tolist() == pytest.approx([x, -y + y**3])


@pytest.mark.parametrize("name", SURFACE_NAMES)
def test_minima_are_where_stated(name):
    surface = R.SURFACES[name]
    for minimum in surface.minima:
        point = torch.tensor(minimum, dtype=torch.float64)
        assert float(surface(point)) == pytest.approx(surface.min_value, abs=1e-12)
        assert surface.gradient(point).abs().max() < 1e-12
        hessian = torch.autograd.functional.hessian(lambda p: surface(p), point)
        assert bool((torch.linalg.eigvalsh(hessian) > 0).all()), "a minimum curves upwards in every direction"
        assert surface.contains(minimum)
    _, _, z = surface.grid(300)
    assert z.min() >= surface.min_value - 1e-9, "nothing on the plot lies below the stated minimum"
    assert surface.contains(surface.start)


def test_the_saddle_point_curves_up_and_down():
    saddle = R.SURFACES["saddle"]
    origin = torch.zeros(2, dtype=torch.float64)
    assert saddle.gradient(origin).abs().max() == 0
    eigenvalues = torch.linalg.eigvalsh(torch.autograd.functional.hessian(lambda p: saddle(p), origin))
    assert eigenvalues.tolist() == pytest.approx([-1.0, 1.0])


def test_get_surface_names_the_choices():
    assert R.get_surface("bowl") is R.SURFACES["bowl"]
    assert R.get_surface(R.SURFACES["saddle"]) is R.SURFACES["saddle"]
    with pytest.raises(ValueError, match=r"Unknown surface 'himmelblau'; choose one of 'bowl', 'Rosenbrock'"):
        R.get_surface("himmelblau")


# ----------------------------------------------------------------------------- trajectories
@pytest.mark.parametrize("library", ["scratch", "torch"])
def test_sgd_trajectory_equals_a_hand_written_gradient_descent_loop(library):
    surface, lr, steps = R.SURFACES["Rosenbrock"], 1e-3, 50
    make = R.standard_optimizers(lr=lr, names=["SGD"], library=library)["SGD"]
    trajectory = R.run_optimizer(surface, make, steps, name="SGD")
    x, y = surface.start
    expected = [(x, y)]
    for _ in range(steps):
        dx, dy = -2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)
        x, y = x - lr * dx, y - lr * dy
        expected.append((x, y))
    assert trajectory.points.shape == (steps + 1, 2) and trajectory.losses.shape == (steps + 1,)
    torch.testing.assert_close(trajectory.points, torch.tensor(expected, dtype=torch.float64), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(
        trajectory.losses,
        torch.tensor([(1 - a) ** 2 + 100 * (b - a * a) ** 2 for a, b in expected], dtype=torch.float64),
    )
    assert not trajectory.diverged and trajectory.label(surface) == "SGD"


def test_scratch_and_torch_optimizers_race_identically():
    for name in SURFACE_NAMES:
        surface = R.SURFACES[name]
        ours = R.race(surface, R.standard_optimizers(surface.sgd_lr, surface.momentum, surface.adaptive_lr), 80)
        theirs = R.race(
            surface, R.standard_optimizers(surface.sgd_lr, surface.momentum, surface.adaptive_lr, library="torch"), 80
        )
        for key in R.OPTIMIZER_NAMES:
            assert ours[key].diverged_at == theirs[key].diverged_at
            torch.testing.assert_close(ours[key].points, theirs[key].points, rtol=1e-9, atol=1e-10)


def test_default_races_finish_and_momentum_beats_sgd_on_rosenbrock():
    surface = R.SURFACES["Rosenbrock"]
    result = R.race(surface, R.standard_optimizers(surface.sgd_lr, surface.momentum, surface.adaptive_lr))
    assert not any(t.diverged for t in result.values())
    assert result["momentum"].losses[-1] < 0.1 * result["SGD"].losses[-1]
    bowl = R.SURFACES["bowl"]
    assert not any(
        t.diverged for t in R.race(bowl, R.standard_optimizers(bowl.sgd_lr, bowl.momentum, bowl.adaptive_lr)).values()
    )


def test_sgd_escapes_the_saddle_slowly_and_reaches_a_minimum():
    saddle = R.SURFACES["saddle"]
    sgd = R.run_optimizer(saddle, lambda p: scratch.SGD(p, lr=saddle.sgd_lr), saddle.steps)
    assert abs(float(sgd.points[20, 1])) < 0.05, "after 20 steps SGD is still on the ridge y = 0"
    assert sgd.final_point == pytest.approx((0.0, 1.0), abs=0.01)
    on_the_ridge = R.run_optimizer(saddle, lambda p: scratch.SGD(p, lr=0.1), 200, start=(2.5, 0.0))
    assert on_the_ridge.final_point == pytest.approx((0.0, 0.0), abs=1e-6), "on the ridge it stops at the saddle"


def test_divergence_is_stopped_and_labelled():
    bowl = R.SURFACES["bowl"]
    # curvature 4 along y: plain gradient descent diverges for lr > 2/4
    trajectory = R.run_optimizer(bowl, lambda p: scratch.SGD(p, lr=0.6), 500, name="SGD")
    assert trajectory.diverged and 10 < trajectory.diverged_at < 500
    assert len(trajectory.points) == trajectory.diverged_at == len(trajectory.losses)
    assert bool(torch.isfinite(trajectory.points).all()) and bool(torch.isfinite(trajectory.losses).all())
    assert trajectory.label(bowl) == f"SGD (diverged at step {trajectory.diverged_at})"
    left = trajectory.left_plot_at(bowl)
    assert left is not None and left < trajectory.diverged_at


def test_a_nan_loss_counts_as_divergence_too():
    cliff = R.Surface(
        name="cliff",
        formula="x^2 + y^2 + sqrt(1 - x)",
        fn=lambda x, y: x**2 + y**2 + torch.sqrt(1 - x),
        start=(-0.5, 0.0),
        x_range=(-2.0, 2.0),
        y_range=(-2.0, 2.0),
        minima=(),
        min_value=0.0,
    )
    trajectory = R.run_optimizer(cliff, lambda p: torch.optim.SGD(p, lr=2.0), 20, name="SGD")
    assert trajectory.diverged_at == 1 and len(trajectory.points) == 1
    assert trajectory.label(cliff) == "SGD (diverged at step 1)"


def test_a_run_that_leaves_the_plot_but_comes_back_is_not_diverged():
    rosenbrock = R.SURFACES["Rosenbrock"]
    trajectory = R.run_optimizer(rosenbrock, lambda p: scratch.RMSprop(p, lr=0.2), 400, name="RMSprop")
    assert not trajectory.diverged and trajectory.left_plot_at(rosenbrock) is not None
    assert rosenbrock.contains(trajectory.final_point)
    assert trajectory.label(rosenbrock) == "RMSprop (left the plot)"


def test_run_optimizer_explains_wrong_arguments():
    with pytest.raises(ValueError, match=r"steps must be a whole number of optimizer steps, 0 or more; got -1"):
        R.run_optimizer("bowl", lambda p: scratch.SGD(p, lr=0.1), -1)
    with pytest.raises(TypeError, match=r"make_optimizer must return an optimizer.*returned a list"):
        R.run_optimizer("bowl", lambda p: p, 5)
    with pytest.raises(ValueError, match=r"race\(\) needs at least one optimizer"):
        R.race("bowl", {})
    with pytest.raises(ValueError, match=r"Unknown optimizer name\(s\) \['adagrad'\]; choose from SGD, momentum"):
        R.standard_optimizers(names=["SGD", "adagrad"])
    with pytest.raises(ValueError, match=r"library must be 'scratch' or 'torch', got 'keras'"):
        R.standard_optimizers(library="keras")


def test_zero_momentum_turns_nesterov_into_plain_sgd():
    makers = R.standard_optimizers(lr=0.1, momentum=0.0)
    sgd = R.run_optimizer("bowl", makers["SGD"], 30)
    nesterov = R.run_optimizer("bowl", makers["Nesterov"], 30)
    torch.testing.assert_close(sgd.points, nesterov.points)
