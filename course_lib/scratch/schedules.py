r"""Learning-rate schedules (学习率调度): step decay, cosine annealing, linear warm-up, warm-up + cosine.

Two layers, so each can be read on its own:

- plain functions ``*_lr(step, base_lr, ...) -> float``: the formula and nothing else; plot them
  with ``[warmup_cosine_lr(t, 0.1, 5, 100) for t in range(100)]``;
- small classes (``StepDecay``, ``CosineAnnealing``, ``LinearWarmup``, ``WarmupCosine``) that set
  ``optimizer.param_groups[i]["lr"]`` each time you call ``.step()``, the way
  ``torch.optim.lr_scheduler`` does. They work with torch's optimizers and the scratch ones, and
  with ``course_lib.fit(..., scheduler=..., scheduler_step="batch" or "epoch")``.

Each formula gives the same values as its torch twin (tests/test_scratch_schedules.py):
``StepLR``, ``CosineAnnealingLR``, ``LinearLR``, ``SequentialLR([LinearLR, CosineAnnealingLR])`` and
``OneCycleLR`` (its learning rate; it also cycles momentum, which ``one_cycle_lr`` leaves out).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from ..arguments import check_learning_rate, check_number, check_whole_number

__all__ = [
    "step_decay_lr",
    "cosine_lr",
    "linear_warmup_lr",
    "warmup_cosine_lr",
    "one_cycle_lr",
    "LRSchedule",
    "StepDecay",
    "CosineAnnealing",
    "LinearWarmup",
    "WarmupCosine",
    "learning_rates",
]


# ----------------------------------------------------------------------------- checks
def _check_step(step: int) -> None:
    check_whole_number("step", step, 0, why="Step 0 is before the first update.")


def _check_count(name: str, value: int) -> None:
    check_whole_number(name, value, 1, unit="steps")


def _check_factor(name: str, value: float) -> None:
    check_number(name, value, above=0, at_most=1, why="It is a fraction of the base learning rate.")


# ----------------------------------------------------------------------------- the formulas
def step_decay_lr(step: int, base_lr: float, step_size: int, gamma: float = 0.1) -> float:
    r"""Multiply by ``gamma`` every ``step_size`` steps: :math:`\eta_t = \eta_0\,\gamma^{\lfloor t / s \rfloor}` (torch's StepLR)."""
    _check_step(step)
    check_learning_rate(base_lr, "base_lr")
    _check_count("step_size", step_size)
    check_number("gamma", gamma, above=0, why="It is the factor the learning rate is multiplied by (typical: 0.1).")
    return base_lr * gamma ** (step // step_size)


def cosine_lr(step: int, base_lr: float, total_steps: int, min_lr: float = 0.0) -> float:
    r"""Half a cosine from ``base_lr`` down to ``min_lr`` over ``total_steps`` (torch's CosineAnnealingLR, ``T_max``).

    .. math:: \eta_t = \eta_{min} + \tfrac12(\eta_0 - \eta_{min})\,(1 + \cos(\pi t / T))

    Like torch, it is a cosine wave: after ``total_steps`` it rises again. ``warmup_cosine_lr``
    stays at ``min_lr`` instead.
    """
    _check_step(step)
    check_learning_rate(base_lr, "base_lr")
    check_learning_rate(min_lr, "min_lr")
    _check_count("total_steps", total_steps)
    return min_lr + 0.5 * (base_lr - min_lr) * (1 + math.cos(math.pi * step / total_steps))


def linear_warmup_lr(
    step: int, base_lr: float, warmup_steps: int, start_factor: float = 1 / 3, end_factor: float = 1.0
) -> float:
    r"""Go in a straight line from ``start_factor·base_lr`` to ``end_factor·base_lr`` over ``warmup_steps``, then stay.

    torch's LinearLR (``total_iters=warmup_steps``; same default ``start_factor=1/3``).
    """
    _check_step(step)
    check_learning_rate(base_lr, "base_lr")
    _check_count("warmup_steps", warmup_steps)
    _check_factor("start_factor", start_factor)
    _check_factor("end_factor", end_factor)
    progress = min(step, warmup_steps) / warmup_steps  # 0 at the start, 1 from warmup_steps on
    return base_lr * (start_factor + (end_factor - start_factor) * progress)


def warmup_cosine_lr(
    step: int, base_lr: float, warmup_steps: int, total_steps: int, min_lr: float = 0.0, start_factor: float = 0.01
) -> float:
    """Linear warm-up to ``base_lr`` over ``warmup_steps``, then a cosine down to ``min_lr`` at ``total_steps``.

    The recipe most large models train with. ``total_steps`` counts the warm-up too; after it the
    rate stays at ``min_lr``. Equals torch's ``SequentialLR([LinearLR(start_factor, total_iters=warmup_steps),
    CosineAnnealingLR(T_max=total_steps - warmup_steps, eta_min=min_lr)], milestones=[warmup_steps])``
    up to ``total_steps``.
    """
    _check_count("warmup_steps", warmup_steps)
    _check_count("total_steps", total_steps)
    if total_steps <= warmup_steps:
        raise ValueError(
            f"total_steps ({total_steps}) must be larger than warmup_steps ({warmup_steps}): it counts the warm-up "
            "and the cosine decay after it."
        )
    _check_step(step)
    if step < warmup_steps:
        return linear_warmup_lr(step, base_lr, warmup_steps, start_factor)
    decay_steps = total_steps - warmup_steps
    return cosine_lr(min(step - warmup_steps, decay_steps), base_lr, decay_steps, min_lr)


def one_cycle_lr(
    step: int,
    max_lr: float,
    total_steps: int,
    pct_start: float = 0.3,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
) -> float:
    r"""The one-cycle schedule (Smith & Topin, 2019) as torch's ``OneCycleLR`` computes its learning rate.

    Up from ``max_lr / div_factor`` to ``max_lr`` along half a cosine over the first ``pct_start`` of the
    steps, then down along half a cosine to ``max_lr / (div_factor * final_div_factor)`` at the last step
    (step ``total_steps - 1``). With :math:`c(a, b, p) = b + \tfrac12 (a - b)(1 + \cos \pi p)` going from
    ``a`` at ``p = 0`` to ``b`` at ``p = 1``, and the peak at step :math:`w = \text{pct\_start}\cdot T - 1`:
    :math:`\eta_t = c(\eta_{start}, \eta_{max}, t / w)` for :math:`t \le w`, else
    :math:`c(\eta_{max}, \eta_{end}, (t - w) / (T - 1 - w))`.
    """
    _check_step(step)
    check_learning_rate(max_lr, "max_lr")
    _check_count("total_steps", total_steps)
    check_number("pct_start", pct_start, above=0, below=1, why="It is the fraction of the steps spent warming up.")
    check_number("div_factor", div_factor, above=0, why="The schedule starts at max_lr / div_factor.")
    check_number(
        "final_div_factor", final_div_factor, above=0, why="It ends at max_lr / (div_factor * final_div_factor)."
    )
    if step >= total_steps:
        raise ValueError(
            f"step {step} is past the schedule's last step, total_steps - 1 = {total_steps - 1} "
            "(torch's OneCycleLR refuses to step further too)."
        )

    def anneal(start: float, end: float, progress: float) -> float:
        return end + 0.5 * (start - end) * (1 + math.cos(math.pi * progress))

    start_lr = max_lr / div_factor
    end_lr = start_lr / final_div_factor
    peak = float(pct_start * total_steps) - 1
    if step <= peak:
        return anneal(start_lr, max_lr, step / peak)
    return anneal(max_lr, end_lr, (step - peak) / (total_steps - 1 - peak))


# ----------------------------------------------------------------------------- the classes
class LRSchedule:
    """Set each parameter group's ``"lr"`` to ``lr_at(step, base_lr)``; ``step()`` moves one step on.

    Like torch's schedulers, creating one already sets the rate of step 0, and the base rate of
    each group is the ``"lr"`` it had when the schedule was created.
    """

    def __init__(self, optimizer: Any) -> None:
        if not hasattr(optimizer, "param_groups"):
            raise TypeError(
                f"A schedule needs an optimizer with param_groups (torch.optim or course_lib.scratch.optim), "
                f"got a {type(optimizer).__name__}."
            )
        self.optimizer = optimizer
        self.base_lrs = [group["lr"] for group in optimizer.param_groups]
        self.last_step = 0
        self._apply()

    def lr_at(self, step: int, base_lr: float) -> float:
        raise NotImplementedError("Subclasses say how the learning rate depends on the step.")

    def step(self) -> None:
        """Call once per optimizer step (or once per epoch, if you count steps in epochs)."""
        self.last_step += 1
        self._apply()

    def get_last_lr(self) -> list[float]:
        """The learning rate of each parameter group now (torch's name for it)."""
        return [group["lr"] for group in self.optimizer.param_groups]

    def _apply(self) -> None:
        for group, base_lr in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = self.lr_at(self.last_step, base_lr)


class StepDecay(LRSchedule):
    """``step_decay_lr`` as a schedule: multiply the rate by ``gamma`` every ``step_size`` steps."""

    def __init__(self, optimizer: Any, step_size: int, gamma: float = 0.1) -> None:
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer)

    def lr_at(self, step: int, base_lr: float) -> float:
        return step_decay_lr(step, base_lr, self.step_size, self.gamma)


class CosineAnnealing(LRSchedule):
    """``cosine_lr`` as a schedule: half a cosine from the base rate to ``min_lr`` over ``total_steps``."""

    def __init__(self, optimizer: Any, total_steps: int, min_lr: float = 0.0) -> None:
        self.total_steps, self.min_lr = total_steps, min_lr
        super().__init__(optimizer)

    def lr_at(self, step: int, base_lr: float) -> float:
        return cosine_lr(step, base_lr, self.total_steps, self.min_lr)


class LinearWarmup(LRSchedule):
    """``linear_warmup_lr`` as a schedule: ramp from ``start_factor`` times the base rate up to it."""

    def __init__(self, optimizer: Any, warmup_steps: int, start_factor: float = 1 / 3, end_factor: float = 1.0) -> None:
        self.warmup_steps, self.start_factor, self.end_factor = warmup_steps, start_factor, end_factor
        super().__init__(optimizer)

    def lr_at(self, step: int, base_lr: float) -> float:
        return linear_warmup_lr(step, base_lr, self.warmup_steps, self.start_factor, self.end_factor)


class WarmupCosine(LRSchedule):
    """``warmup_cosine_lr`` as a schedule: linear warm-up, then cosine decay to ``min_lr``."""

    def __init__(
        self, optimizer: Any, warmup_steps: int, total_steps: int, min_lr: float = 0.0, start_factor: float = 0.01
    ) -> None:
        self.warmup_steps, self.total_steps, self.min_lr, self.start_factor = (
            warmup_steps,
            total_steps,
            min_lr,
            start_factor,
        )
        super().__init__(optimizer)

    def lr_at(self, step: int, base_lr: float) -> float:
        return warmup_cosine_lr(step, base_lr, self.warmup_steps, self.total_steps, self.min_lr, self.start_factor)


# ----------------------------------------------------------------------------- reading a schedule back
def learning_rates(
    make_scheduler: Callable[[torch.optim.Optimizer], Any],
    steps: int,
    base_lr: float = 0.1,
    optimizer_class: type = torch.optim.SGD,
) -> list[float]:
    """The rate a scheduler sets before each of ``steps`` optimizer steps, to plot or compare.

    ``make_scheduler(optimizer)`` builds a ``torch.optim.lr_scheduler`` object or one of the
    schedules above around a one-parameter optimizer (``optimizer_class``, torch's SGD unless
    you pass another, e.g. ``course_lib.scratch.optim.SGD``) that starts at ``base_lr``.
    """
    _check_count("steps", steps)
    param = torch.zeros(1, requires_grad=True)
    optimizer = optimizer_class([param], lr=base_lr)
    scheduler = make_scheduler(optimizer)
    rates = []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])
        param.grad = torch.ones(1)
        optimizer.step()  # torch warns if a scheduler steps before its optimizer ever has
        scheduler.step()
    return rates
