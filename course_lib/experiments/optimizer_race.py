"""An optimizer race (优化器竞赛) on 2-D surfaces: each optimizer from the same start, step by step.

On a surface :math:`f(x, y)` (an ill-conditioned bowl, Rosenbrock's banana valley, a saddle, Beale's
function) ``race`` runs every optimizer from the surface's start for ``steps`` steps and keeps each
path. A 2-D problem is small enough to *see* what momentum and adaptive step sizes do; chapter 05
draws the paths with ``widgets.optimizer_race``.

The optimizers are ``course_lib.scratch.optim`` (the chapter's own, checked step for step against
``torch.optim``); any ``torch.optim`` optimizer works too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..scratch import optim as scratch_optim

__all__ = [
    "MakeOptimizer",
    "DIVERGENCE_LIMIT",
    "Surface",
    "SURFACES",
    "get_surface",
    "Trajectory",
    "run_optimizer",
    "race",
    "OPTIMIZER_NAMES",
    "standard_optimizers",
]

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
        name="bowl",
        formula=r"$f = 0.1\,x^2 + 2\,y^2$",
        fn=_bowl,
        start=(-5.0, -2.0),
        x_range=(-6.0, 6.0),
        y_range=(-3.0, 3.0),
        minima=((0.0, 0.0),),
        min_value=0.0,
        sgd_lr=0.35,
        adaptive_lr=0.3,
        momentum=0.5,
        steps=60,
        note="curvatures 0.2 along x and 4 along y (condition number 20): SGD zig-zags across y and crawls along x; "
        "it diverges for lr > 2/4 = 0.5.",
    ),
    "Rosenbrock": Surface(
        name="Rosenbrock",
        formula=r"$f = (1 - x)^2 + 100\,(y - x^2)^2$",
        fn=_rosenbrock,
        start=(-1.5, 2.0),
        x_range=(-2.0, 2.0),
        y_range=(-1.0, 3.0),
        minima=((1.0, 1.0),),
        min_value=0.0,
        log_levels=True,
        sgd_lr=1e-3,
        adaptive_lr=0.1,
        steps=400,
        note="a curved, flat-bottomed valley: finding the valley is easy, following it to (1, 1) is slow.",
    ),
    "saddle": Surface(
        name="saddle",
        formula=r"$f = \frac{1}{2}x^2 - \frac{1}{2}y^2 + \frac{1}{4}y^4$",
        fn=_saddle,
        start=(2.5, 1e-3),
        x_range=(-3.0, 3.0),
        y_range=(-2.0, 2.0),
        minima=((0.0, -1.0), (0.0, 1.0)),
        min_value=-0.25,
        sgd_lr=0.1,
        adaptive_lr=0.05,
        steps=100,
        note="a saddle point at (0, 0): x^2 - y^2 near it, two minima at y = +-1. Started almost on the ridge "
        "(y = 0.001), where the gradient along y is tiny, SGD lingers near the saddle.",
    ),
    "Beale": Surface(
        name="Beale",
        formula=r"$f = (1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2$",
        fn=_beale,
        start=(1.0, 1.4),
        x_range=(-1.0, 4.5),
        y_range=(-1.5, 2.0),
        minima=((3.0, 0.5),),
        min_value=0.0,
        log_levels=True,
        sgd_lr=0.01,
        adaptive_lr=0.05,
        momentum=0.8,
        steps=300,
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


def run_optimizer(
    surface: str | Surface,
    make_optimizer: MakeOptimizer,
    steps: int | None = None,
    name: str = "optimizer",
    start: Sequence[float] | None = None,
) -> Trajectory:
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
    return Trajectory(
        name=name, points=torch.stack(points), losses=torch.tensor(losses, dtype=torch.float64), diverged_at=diverged_at
    )


def race(
    surface: str | Surface, optimizers: Mapping[str, MakeOptimizer], steps: int | None = None
) -> dict[str, Trajectory]:
    """Run every optimizer of ``{name: make_optimizer}`` from the same start; ``{name: Trajectory}``."""
    if not optimizers:
        raise ValueError("race() needs at least one optimizer, e.g. {'SGD': lambda p: SGD(p, lr=0.1)}.")
    return {name: run_optimizer(surface, make, steps, name=name) for name, make in optimizers.items()}


#: The optimizers of the chapter, in the order the chapter introduces them.
OPTIMIZER_NAMES = ("SGD", "momentum", "Nesterov", "RMSprop", "Adam")


def standard_optimizers(
    lr: float = 0.01,
    momentum: float = 0.9,
    adaptive_lr: float | None = None,
    names: Iterable[str] = OPTIMIZER_NAMES,
    library: str = "scratch",
) -> dict[str, MakeOptimizer]:
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
