"""An optimizer race (优化器竞赛) on 2-D surfaces, and the same optimizers training a small network.

Chapter 05 uses it twice:

- on a surface :math:`f(x, y)` (an ill-conditioned bowl, Rosenbrock's banana valley, a saddle,
  Beale's function) each optimizer starts from the same point and takes ``steps`` steps; the
  trajectories are drawn on the contours next to the loss per step. A 2-D problem is small
  enough to *see* what momentum and adaptive step sizes do;
- on MNIST, a fresh MLP with the same seed per optimizer, trained by ``course_lib.fit``, so
  that only the optimizer differs between the loss curves.

The optimizers are ``course_lib.scratch.optim`` (the chapter's own, checked step for step
against ``torch.optim``); any ``torch.optim`` optimizer works too.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from ..scratch import optim as scratch_optim
from . import show_figure

if TYPE_CHECKING:
    import ipywidgets
    from matplotlib.figure import Figure

    from ..train import History

__all__ = ["Surface", "SURFACES", "get_surface", "Trajectory", "run_optimizer", "race", "standard_optimizers",
           "OPTIMIZER_NAMES", "plot_race", "draw_race", "optimizer_race_explorer", "NetworkRace",
           "compare_on_network", "plot_network_race"]

MakeOptimizer = Callable[[list[torch.Tensor]], torch.optim.Optimizer]

#: Beyond this distance from the origin a run counts as diverged and stops (float64 would overflow later).
DIVERGENCE_LIMIT = 1e6


# ----------------------------------------------------------------------------- surfaces
@dataclass(frozen=True)
class Surface:
    """A function of two variables to minimise, with what a race on it needs to know.

    ``fn(x, y)`` works elementwise on tensors, so the same code evaluates one point (for the
    optimizer, through autograd) and a whole grid (for the contours). ``sgd_lr`` and
    ``adaptive_lr`` are learning rates that make a good race: plain SGD's step is
    ``lr * gradient``, Adam's and RMSprop's is about ``lr`` whatever the gradient, so one
    number cannot suit both. ``momentum`` is SGD's momentum and Adam's beta1 for the race.
    """

    name: str
    formula: str
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    start: tuple[float, float]
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    minima: tuple[tuple[float, float], ...]
    min_value: float
    log_levels: bool = False
    sgd_lr: float = 0.01
    adaptive_lr: float = 0.1
    momentum: float = 0.9
    steps: int = 100
    note: str = ""

    def __call__(self, point: torch.Tensor) -> torch.Tensor:
        """f at ``point``, a tensor whose last dimension holds (x, y)."""
        return self.fn(point[..., 0], point[..., 1])

    def gradient(self, point: Sequence[float] | torch.Tensor) -> torch.Tensor:
        """The gradient (df/dx, df/dy) at one point, by autograd, in float64."""
        p = torch.as_tensor(point, dtype=torch.float64).detach().clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(self(p), p)
        return grad

    def grid(self, n: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(X, Y, Z)`` on an ``n x n`` grid over the plot range, for ``contour``."""
        xs = torch.linspace(*self.x_range, n, dtype=torch.float64)
        ys = torch.linspace(*self.y_range, n, dtype=torch.float64)
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
        return grid_x.numpy(), grid_y.numpy(), self.fn(grid_x, grid_y).numpy()

    def contains(self, point: Sequence[float]) -> bool:
        """Whether ``point`` lies inside the plotted range."""
        x, y = float(point[0]), float(point[1])
        return self.x_range[0] <= x <= self.x_range[1] and self.y_range[0] <= y <= self.y_range[1]


def _bowl(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return 0.1 * x**2 + 2 * y**2


def _rosenbrock(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def _saddle(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return 0.5 * x**2 - 0.5 * y**2 + 0.25 * y**4


def _beale(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


#: The race tracks, by name.
SURFACES: dict[str, Surface] = {
    "bowl": Surface(
        name="bowl", formula=r"$f = 0.1\,x^2 + 2\,y^2$", fn=_bowl, start=(-5.0, -2.0),
        x_range=(-6.0, 6.0), y_range=(-3.0, 3.0), minima=((0.0, 0.0),), min_value=0.0,
        sgd_lr=0.35, adaptive_lr=0.3, momentum=0.5, steps=60,
        note="curvatures 0.2 along x and 4 along y (condition number 20): SGD zig-zags across y and crawls along x; "
             "it diverges for lr > 2/4 = 0.5.",
    ),
    "Rosenbrock": Surface(
        name="Rosenbrock", formula=r"$f = (1 - x)^2 + 100\,(y - x^2)^2$", fn=_rosenbrock, start=(-1.5, 2.0),
        x_range=(-2.0, 2.0), y_range=(-1.0, 3.0), minima=((1.0, 1.0),), min_value=0.0, log_levels=True,
        sgd_lr=1e-3, adaptive_lr=0.1, steps=400,
        note="a curved, flat-bottomed valley: finding the valley is easy, following it to (1, 1) is slow.",
    ),
    "saddle": Surface(
        name="saddle", formula=r"$f = \frac{1}{2}x^2 - \frac{1}{2}y^2 + \frac{1}{4}y^4$", fn=_saddle,
        start=(2.5, 1e-3), x_range=(-3.0, 3.0), y_range=(-2.0, 2.0), minima=((0.0, -1.0), (0.0, 1.0)),
        min_value=-0.25, sgd_lr=0.1, adaptive_lr=0.05, steps=100,
        note="a saddle point at (0, 0): x^2 - y^2 near it, two minima at y = +-1. Started almost on the ridge "
             "(y = 0.001), where the gradient along y is tiny, SGD lingers near the saddle.",
    ),
    "Beale": Surface(
        name="Beale", formula=r"$f = (1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2$", fn=_beale,
        start=(1.0, 1.4), x_range=(-1.0, 4.5), y_range=(-1.5, 2.0), minima=((3.0, 0.5),), min_value=0.0,
        log_levels=True, sgd_lr=0.01, adaptive_lr=0.05, momentum=0.8, steps=300,
        note="steep walls and flat plateaus: gradients differ by orders of magnitude from place to place.",
    ),
}


def get_surface(surface: str | Surface) -> Surface:
    """A ``Surface`` from its name (or itself), with an error that lists the names."""
    if isinstance(surface, Surface):
        return surface
    if surface not in SURFACES:
        raise ValueError(f"Unknown surface {surface!r}; choose one of {', '.join(map(repr, SURFACES))}.")
    return SURFACES[surface]


# ----------------------------------------------------------------------------- running one optimizer
@dataclass
class Trajectory:
    """Where an optimizer went: ``points[t]`` and ``losses[t]`` after ``t`` steps (row 0 is the start).

    A run that diverged stops early: ``diverged_at`` is the step whose point was no longer finite
    or farther than ``DIVERGENCE_LIMIT`` from the origin, and that point is not stored.
    """

    name: str
    points: torch.Tensor
    losses: torch.Tensor
    diverged_at: int | None = None

    @property
    def diverged(self) -> bool:
        return self.diverged_at is not None

    @property
    def final_point(self) -> tuple[float, float]:
        return float(self.points[-1, 0]), float(self.points[-1, 1])

    def left_plot_at(self, surface: Surface) -> int | None:
        """The first step whose point lies outside the plotted range, or None."""
        for t, point in enumerate(self.points.tolist()):
            if not surface.contains(point):
                return t
        return None

    def label(self, surface: Surface | None = None) -> str:
        """The legend entry: the name, plus "diverged" or "left the plot" when that happened."""
        if self.diverged:
            return f"{self.name} (diverged at step {self.diverged_at})"
        if surface is not None and self.left_plot_at(surface) is not None:
            return f"{self.name} (left the plot)"
        return self.name


def run_optimizer(surface: str | Surface, make_optimizer: MakeOptimizer, steps: int | None = None,
                  name: str = "optimizer", start: Sequence[float] | None = None) -> Trajectory:
    """Minimise ``surface`` from its start with the optimizer ``make_optimizer([p])`` builds; return the path.

    ``p`` is a float64 tensor of 2 elements (x, y). Each step is the usual loop: zero_grad,
    loss, backward, step. A run that diverges is stopped, not raised: the trajectory so far
    comes back with ``diverged_at`` set.
    """
    surface = get_surface(surface)
    steps = surface.steps if steps is None else steps
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 0:
        raise ValueError(f"steps must be a whole number of optimizer steps, 0 or more; got {steps!r}.")
    start = surface.start if start is None else start
    point = torch.tensor([float(v) for v in start], dtype=torch.float64, requires_grad=True)
    optimizer = make_optimizer([point])
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(
            f"make_optimizer must return an optimizer, e.g. lambda params: torch.optim.SGD(params, lr=0.1); "
            f"it returned a {type(optimizer).__name__}."
        )
    points = [point.detach().clone()]
    losses = [float(surface(point.detach()))]
    diverged_at = None
    for t in range(1, steps + 1):
        optimizer.zero_grad()
        loss = surface(point)
        loss.backward()
        optimizer.step()
        here = point.detach().clone()
        if not bool(torch.isfinite(here).all()) or float(here.abs().max()) > DIVERGENCE_LIMIT:
            diverged_at = t
            break
        value = float(surface(here))
        if not math.isfinite(value):
            diverged_at = t
            break
        points.append(here)
        losses.append(value)
    return Trajectory(name=name, points=torch.stack(points), losses=torch.tensor(losses, dtype=torch.float64),
                      diverged_at=diverged_at)


def race(surface: str | Surface, optimizers: Mapping[str, MakeOptimizer],
         steps: int | None = None) -> dict[str, Trajectory]:
    """Run every optimizer of ``{name: make_optimizer}`` from the same start; ``{name: Trajectory}``."""
    if not optimizers:
        raise ValueError("race() needs at least one optimizer, e.g. {'SGD': lambda p: SGD(p, lr=0.1)}.")
    return {name: run_optimizer(surface, make, steps, name=name) for name, make in optimizers.items()}


#: The optimizers of the chapter, in the order the chapter introduces them.
OPTIMIZER_NAMES = ("SGD", "momentum", "Nesterov", "RMSprop", "Adam")
_COLORS = {"SGD": "tab:blue", "momentum": "tab:orange", "Nesterov": "tab:green", "RMSprop": "tab:purple",
           "Adam": "tab:red", "AdamW": "tab:brown"}


def standard_optimizers(lr: float = 0.01, momentum: float = 0.9, adaptive_lr: float | None = None,
                        names: Iterable[str] = OPTIMIZER_NAMES, library: str = "scratch") -> dict[str, MakeOptimizer]:
    """``{name: make_optimizer}`` for the chapter's optimizers.

    ``lr`` is for SGD, momentum and Nesterov; ``adaptive_lr`` (default: ``lr``) for RMSprop and
    Adam. ``momentum`` is SGD's momentum and Adam's beta1, which plays the same role.
    ``library="torch"`` uses ``torch.optim`` instead of ``course_lib.scratch.optim``.
    """
    modules = {"scratch": scratch_optim, "torch": torch.optim}
    if library not in modules:
        raise ValueError(f"library must be 'scratch' or 'torch', got {library!r}.")
    optim = modules[library]
    adaptive_lr = lr if adaptive_lr is None else adaptive_lr
    builders: dict[str, MakeOptimizer] = {
        "SGD": lambda p: optim.SGD(p, lr=lr),
        "momentum": lambda p: optim.SGD(p, lr=lr, momentum=momentum),
        # Nesterov needs momentum > 0; at momentum 0 it is plain SGD.
        "Nesterov": lambda p: optim.SGD(p, lr=lr, momentum=momentum, nesterov=momentum > 0),
        "RMSprop": lambda p: optim.RMSprop(p, lr=adaptive_lr),
        "Adam": lambda p: optim.Adam(p, lr=adaptive_lr, betas=(momentum, 0.999)),
    }
    names = list(names)
    unknown = [n for n in names if n not in builders]
    if unknown:
        raise ValueError(f"Unknown optimizer name(s) {unknown}; choose from {', '.join(OPTIMIZER_NAMES)}.")
    return {n: builders[n] for n in names}


# ----------------------------------------------------------------------------- drawing
def _visible_part(trajectory: Trajectory, surface: Surface) -> np.ndarray:
    """The points up to the first one outside the plot, that one included (the line runs off the edge there)."""
    points = trajectory.points.numpy()
    left = trajectory.left_plot_at(surface)
    return points if left is None else points[: left + 1]


def _levels(surface: Surface, z: np.ndarray) -> np.ndarray:
    if surface.log_levels:
        gap = z - surface.min_value
        low = max(float(gap.min()), 1e-3)
        return surface.min_value + np.logspace(np.log10(low), np.log10(float(gap.max())), 25)
    return np.linspace(float(z.min()), float(z.max()), 25)


def plot_race(surface: str | Surface, trajectories: Mapping[str, Trajectory], title: str | None = None) -> "Figure":
    """Trajectories on the contours (left) and the gap to the minimum per step, log scale (right)."""
    import matplotlib.pyplot as plt

    surface = get_surface(surface)
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.6), gridspec_kw={"width_ratios": [1.25, 1]})
    X, Y, Z = surface.grid()
    left.contour(X, Y, Z, levels=_levels(surface, Z), cmap="viridis", linewidths=0.7, alpha=0.8)
    left.plot(*surface.start, "ko", markersize=6, label="_start", zorder=5)  # markers above the paths
    for x_min, y_min in surface.minima:
        left.plot(x_min, y_min, "*", color="gold", markeredgecolor="black", markersize=14, label="_minimum", zorder=5)
    floor = 1e-12
    for i, (name, trajectory) in enumerate(trajectories.items()):
        color = _COLORS.get(name, f"C{i}")
        label = trajectory.label(surface)
        path = _visible_part(trajectory, surface)
        left.plot(path[:, 0], path[:, 1], ".-", color=color, markersize=3, linewidth=1.2, label=label)
        gaps = np.maximum(trajectory.losses.numpy() - surface.min_value, floor)
        right.semilogy(np.arange(len(gaps)), gaps, color=color, label=label)
        if trajectory.diverged:
            right.plot(len(gaps) - 1, gaps[-1], "x", color=color, markersize=9, label="_diverged")
    left.set_xlim(*surface.x_range)
    left.set_ylim(*surface.y_range)
    left.set_xlabel("x")
    left.set_ylabel("y")
    left.set_title(f"{surface.name}: {surface.formula}", fontsize=10)
    start_gap = float(surface(torch.tensor(surface.start, dtype=torch.float64))) - surface.min_value
    right.set_ylim(floor, max(start_gap, 1.0) * 1e4)  # a diverging run would otherwise squash the others
    right.set_xlabel("step")
    right.set_ylabel(r"$f - f_{min}$ (log scale)")
    right.set_title("distance to the minimum value", fontsize=10)
    right.grid(True, alpha=0.3)
    if trajectories:
        right.legend(fontsize=8, loc="lower left")  # here, not on the contours, where it would hide paths
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def draw_race(surface: str = "bowl", lr: float | None = None, momentum: float | None = None,
              adaptive_lr: float | None = None, steps: int | None = None,
              optimizers: Sequence[str] = OPTIMIZER_NAMES) -> "Figure":
    """Race the chosen standard optimizers on ``surface`` and plot it (what the explorer redraws).

    Settings left at None take the surface's own (``sgd_lr``, ``adaptive_lr``, ``momentum``, ``steps``).
    """
    track = get_surface(surface)
    momentum = track.momentum if momentum is None else momentum
    lr = track.sgd_lr if lr is None else lr
    adaptive_lr = track.adaptive_lr if adaptive_lr is None else adaptive_lr
    chosen = standard_optimizers(lr=lr, momentum=momentum, adaptive_lr=adaptive_lr, names=optimizers)
    trajectories = race(track, chosen, steps) if chosen else {}
    title = f"lr = {lr:.3g} (SGD family), {adaptive_lr:.3g} (RMSprop, Adam); momentum / beta1 = {momentum:g}"
    return plot_race(track, trajectories, title=title)


def optimizer_race_explorer(surface: str = "bowl") -> "ipywidgets.VBox":
    """Pick a surface, the learning rates, the momentum, the number of steps and which optimizers race.

    Choosing a surface resets the sliders to learning rates that suit it; then move them to
    find where each optimizer crawls, oscillates or diverges.
    """
    import ipywidgets as widgets

    track = get_surface(surface)
    controls = {
        "surface": widgets.Dropdown(options=list(SURFACES), value=track.name, description="surface"),
        "lr": widgets.FloatLogSlider(value=track.sgd_lr, base=10, min=-4, max=0, step=0.05, description="lr (SGD)",
                                     readout_format=".2g"),
        "adaptive_lr": widgets.FloatLogSlider(value=track.adaptive_lr, base=10, min=-3, max=0, step=0.05,
                                              description="lr (adaptive)", readout_format=".2g"),
        "momentum": widgets.FloatSlider(value=track.momentum, min=0.0, max=0.99, step=0.01, description="momentum/β1"),
        "steps": widgets.IntSlider(value=track.steps, min=1, max=1000, step=1, description="steps"),
    }
    checkboxes = {name: widgets.Checkbox(value=True, description=name, indent=False, layout={"width": "110px"})
                  for name in OPTIMIZER_NAMES}
    output = widgets.Output()
    paused = False  # True while a new surface sets four sliders, so they redraw once, not four times

    def redraw(*_: object) -> None:
        if paused:
            return
        fig = draw_race(surface=controls["surface"].value, lr=controls["lr"].value,
                        momentum=controls["momentum"].value, adaptive_lr=controls["adaptive_lr"].value,
                        steps=controls["steps"].value,
                        optimizers=[name for name, box in checkboxes.items() if box.value])
        show_figure(output, fig, get_surface(controls["surface"].value).note)

    def new_surface(change: dict) -> None:
        nonlocal paused
        chosen = get_surface(change["new"])
        paused = True
        try:
            controls["lr"].value = chosen.sgd_lr
            controls["adaptive_lr"].value = chosen.adaptive_lr
            controls["momentum"].value = chosen.momentum
            controls["steps"].value = chosen.steps
        finally:
            paused = False
        redraw()

    controls["surface"].observe(new_surface, names="value")
    for name, control in controls.items():
        if name != "surface":
            control.observe(redraw, names="value")
    for box in checkboxes.values():
        box.observe(redraw, names="value")
    redraw()
    layout = widgets.VBox([
        widgets.HBox([controls["surface"], controls["steps"], controls["momentum"]]),
        widgets.HBox([controls["lr"], controls["adaptive_lr"]]),
        widgets.HBox(list(checkboxes.values())),
        output,
    ])
    layout.controls = {**controls, **{f"show_{name}": box for name, box in checkboxes.items()}}  # for tests and scripts
    layout.redraw = redraw
    return layout


# ----------------------------------------------------------------------------- the same optimizers on a network
@dataclass
class NetworkRace:
    """What ``compare_on_network`` measured, per optimizer name."""

    batch_losses: dict[str, list[float]] = field(default_factory=dict)
    histories: dict[str, "History"] = field(default_factory=dict)
    test: dict[str, dict[str, float]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def table(self) -> str:
        """A plain-text table: final training loss, test loss and accuracy, time."""
        rows = [f"{'optimizer':<12}{'last train loss':>16}{'test loss':>11}{'test acc':>10}{'seconds':>9}"]
        for name, losses in self.batch_losses.items():
            tail = losses[-20:]  # the mean of the last batches: one batch alone is noisy
            test = self.test.get(name, {})
            rows.append(f"{name:<12}{sum(tail) / len(tail):>16.4f}{test.get('loss', float('nan')):>11.4f}"
                        f"{test.get('accuracy', float('nan')):>10.4f}{self.seconds[name]:>9.1f}")
        return "\n".join(rows)




def compare_on_network(
    optimizers: Mapping[str, MakeOptimizer],
    train: tuple[torch.Tensor, torch.Tensor],
    test: tuple[torch.Tensor, torch.Tensor] | None = None,
    *,
    epochs: int = 1,
    batch_size: int = 128,
    hidden: Sequence[int] = (128,),
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: bool = False,
) -> NetworkRace:
    """Train a fresh ``MLP(hidden=hidden)`` with each optimizer on ``train`` and evaluate it on ``test``.

    Before each run the seed is reset, so every optimizer starts from the same weights and sees
    the batches in the same order: the curves differ only by the optimizer. The loop is
    ``course_lib.fit``; the loss of every training batch is recorded for the curves.
    """
    from ..data import TensorBatchLoader
    from ..models import MLP
    from ..reproducibility import seed_everything
    from ..train import Callback, evaluate, fit

    class BatchLosses(Callback):
        def __init__(self) -> None:
            self.values: list[float] = []

        def on_batch_end(self, loss: float) -> None:
            self.values.append(loss)

    if not optimizers:
        raise ValueError("compare_on_network() needs at least one optimizer, e.g. standard_optimizers(lr=0.1).")
    x_train, y_train = train
    if len(x_train) != len(y_train):
        raise ValueError(f"train images and labels differ in number: {len(x_train)} and {len(y_train)}. "
                         "Pass train=(images, labels) with one label per image.")
    in_features = int(x_train[0].numel())
    num_classes = int(y_train.max()) + 1
    result = NetworkRace()
    for name, make_optimizer in optimizers.items():
        seed_everything(seed)
        model = MLP(in_features=in_features, hidden=tuple(hidden), num_classes=num_classes)
        optimizer = make_optimizer(list(model.parameters()))
        loader = TensorBatchLoader(x_train, y_train, batch_size=batch_size, shuffle=True,
                                   generator=torch.Generator().manual_seed(seed))
        batch_losses = BatchLosses()
        started = time.perf_counter()
        result.histories[name] = fit(model, loader, nn.functional.cross_entropy, optimizer, epochs=epochs,
                                     device=device, callbacks=[batch_losses], progress=progress)
        result.seconds[name] = time.perf_counter() - started
        result.batch_losses[name] = batch_losses.values
        if test is not None:  # evaluate runs where fit put the model
            result.test[name] = evaluate(model, TensorBatchLoader(*test, batch_size=1000), nn.functional.cross_entropy)
    return result


def _smooth(values: Sequence[float], window: int) -> np.ndarray:
    """A running mean over ``window`` batches (shorter at the start), so noisy batch losses read as a curve."""
    values = np.asarray(values, dtype=np.float64)
    if window <= 1 or len(values) == 0:
        return values
    cumulative = np.cumsum(np.insert(values, 0, 0.0))
    counts = np.minimum(np.arange(1, len(values) + 1), window)
    return (cumulative[1:] - cumulative[np.arange(1, len(values) + 1) - counts]) / counts


def plot_network_race(result: NetworkRace, smooth: int = 10) -> "Figure":
    """Training loss per batch for each optimizer (running mean over ``smooth`` batches), log scale."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for i, (name, losses) in enumerate(result.batch_losses.items()):
        ax.semilogy(np.arange(1, len(losses) + 1), _smooth(losses, smooth), color=_COLORS.get(name, f"C{i}"),
                    label=name)
    ax.set_xlabel("batch (optimizer step)")
    ax.set_ylabel(f"training loss (mean of {smooth} batches)" if smooth > 1 else "training loss")
    ax.set_title("the same network, the same batches, different optimizers", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
