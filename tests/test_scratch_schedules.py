"""course_lib.scratch.schedules against torch.optim.lr_scheduler, value by value."""

import math

import pytest
import torch

from course_lib.scratch import optim as scratch
from course_lib.scratch import schedules as S

STEPS = 60


def torch_lrs(make_scheduler, base_lr=0.1, steps=STEPS):
    """The rate torch's scheduler sets before each of ``steps`` optimizer steps (read by the library's helper)."""
    return S.learning_rates(make_scheduler, steps, base_lr)


def our_lrs(make_schedule, base_lr=0.1, steps=STEPS, optimizer_class=scratch.SGD):
    param = torch.zeros(2, requires_grad=True)
    optimizer = optimizer_class([param], lr=base_lr)
    schedule = make_schedule(optimizer)
    lrs = []
    for _ in range(steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        assert schedule.get_last_lr() == [lrs[-1]]
        param.grad = torch.ones(2)
        optimizer.step()
        schedule.step()
    return lrs


def assert_same(ours, theirs):
    assert len(ours) == len(theirs)
    for t, (a, b) in enumerate(zip(ours, theirs)):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), f"step {t}: ours {a}, torch {b}"


@pytest.mark.parametrize("step_size, gamma", [(1, 0.5), (7, 0.1), (10, 0.9), (100, 0.1)])
def test_step_decay_matches_steplr(step_size, gamma):
    theirs = torch_lrs(lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=step_size, gamma=gamma))
    assert_same([S.step_decay_lr(t, 0.1, step_size, gamma) for t in range(STEPS)], theirs)
    assert_same(our_lrs(lambda o: S.StepDecay(o, step_size, gamma)), theirs)


@pytest.mark.parametrize("total, min_lr", [(10, 0.0), (25, 0.001), (60, 0.05), (7, 0.0)])
def test_cosine_matches_cosineannealinglr_including_past_the_end(total, min_lr):
    # STEPS > total in most cases: torch's cosine rises again after T_max, and so does ours
    theirs = torch_lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=total, eta_min=min_lr))
    assert_same([S.cosine_lr(t, 0.1, total, min_lr) for t in range(STEPS)], theirs)
    assert_same(our_lrs(lambda o: S.CosineAnnealing(o, total, min_lr)), theirs)


def test_cosine_endpoints():
    assert S.cosine_lr(0, 0.1, 20, 0.01) == pytest.approx(0.1)
    assert S.cosine_lr(10, 0.1, 20, 0.01) == pytest.approx(0.055)  # halfway: the mean of the two ends
    assert S.cosine_lr(20, 0.1, 20, 0.01) == pytest.approx(0.01)


@pytest.mark.parametrize("warmup, start, end", [(5, 1 / 3, 1.0), (10, 0.01, 1.0), (20, 0.5, 0.8), (1, 0.1, 1.0)])
def test_linear_warmup_matches_linearlr(warmup, start, end):
    theirs = torch_lrs(
        lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=start, end_factor=end, total_iters=warmup)
    )
    assert_same([S.linear_warmup_lr(t, 0.1, warmup, start, end) for t in range(STEPS)], theirs)
    assert_same(our_lrs(lambda o: S.LinearWarmup(o, warmup, start, end)), theirs)


def test_linear_warmup_default_start_factor_is_torchs():
    theirs = torch_lrs(lambda o: torch.optim.lr_scheduler.LinearLR(o, total_iters=4))
    assert_same([S.linear_warmup_lr(t, 0.1, 4) for t in range(STEPS)], theirs)


@pytest.mark.parametrize("warmup, total, min_lr, start", [(5, 50, 0.0, 0.01), (10, 60, 0.001, 0.1), (1, 30, 0.0, 0.5)])
def test_warmup_cosine_matches_sequential_linear_then_cosine(warmup, total, min_lr, start):
    def make(o):
        return torch.optim.lr_scheduler.SequentialLR(
            o,
            [
                torch.optim.lr_scheduler.LinearLR(o, start_factor=start, total_iters=warmup),
                torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=total - warmup, eta_min=min_lr),
            ],
            milestones=[warmup],
        )

    theirs = torch_lrs(make, steps=total + 1)
    ours = [S.warmup_cosine_lr(t, 0.1, warmup, total, min_lr, start) for t in range(total + 1)]
    assert_same(ours, theirs)
    assert_same(our_lrs(lambda o: S.WarmupCosine(o, warmup, total, min_lr, start), steps=total + 1), theirs)
    # past the end ours stays at min_lr (torch's cosine would climb back up)
    assert S.warmup_cosine_lr(total + 7, 0.1, warmup, total, min_lr, start) == pytest.approx(min_lr)


@pytest.mark.parametrize(
    "total, pct, div, final", [(60, 0.3, 25.0, 1e4), (100, 0.25, 10.0, 100.0), (37, 0.5, 25.0, 1e4)]
)
def test_one_cycle_matches_onecyclelr(total, pct, div, final):
    theirs = torch_lrs(
        lambda o: torch.optim.lr_scheduler.OneCycleLR(
            o, max_lr=0.1, total_steps=total, pct_start=pct, div_factor=div, final_div_factor=final
        ),
        steps=total,
    )
    assert_same([S.one_cycle_lr(t, 0.1, total, pct, div, final) for t in range(total)], theirs)
    assert max(theirs) == pytest.approx(0.1, rel=0.01) and theirs[0] == pytest.approx(0.1 / div)
    with pytest.raises(ValueError, match="past the schedule's last step"):
        S.one_cycle_lr(total, 0.1, total)


def test_warmup_cosine_shape():
    lrs = [S.warmup_cosine_lr(t, 1.0, 10, 100) for t in range(101)]
    assert lrs[0] == pytest.approx(0.01)
    assert all(a < b for a, b in zip(lrs[:10], lrs[1:11]))  # rising during the warm-up
    assert lrs[10] == pytest.approx(1.0) and max(lrs) == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))  # never rising after it
    assert lrs[100] == pytest.approx(0.0, abs=1e-12)


def test_schedules_drive_torch_optimizers_and_every_param_group():
    a, b = torch.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.Adam([{"params": [a], "lr": 0.1}, {"params": [b], "lr": 0.01}])
    schedule = S.StepDecay(optimizer, step_size=2, gamma=0.5)
    for _ in range(4):
        schedule.step()
    assert schedule.get_last_lr() == pytest.approx([0.025, 0.0025])
    assert schedule.base_lrs == [0.1, 0.01]


@pytest.mark.parametrize("optimizer_class", [scratch.SGD, scratch.RMSprop, scratch.Adam, scratch.AdamW])
def test_torch_schedulers_drive_scratch_optimizers(optimizer_class):
    theirs = torch_lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=20))
    ours = our_lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=20), optimizer_class=optimizer_class)
    assert_same(ours, theirs)


def test_schedule_inside_fit_changes_the_rate_each_batch():
    from course_lib import fit

    torch.manual_seed(0)
    x, y = torch.randn(32, 3), torch.randn(32, 1)
    model = torch.nn.Linear(3, 1)
    optimizer = scratch.SGD(model.parameters(), lr=0.1)
    schedule = S.WarmupCosine(optimizer, warmup_steps=2, total_steps=8)
    batches = [(x[i : i + 8], y[i : i + 8]) for i in range(0, 32, 8)]  # 4 batches an epoch
    history = fit(
        model,
        batches,
        torch.nn.functional.mse_loss,
        optimizer,
        epochs=2,
        device="cpu",
        scheduler=schedule,
        scheduler_step="batch",
        progress=False,
    )
    assert schedule.last_step == 8
    # fit records the rate each epoch's last step used: steps 3 and 7 (counted from 0), not the one after them
    assert history["lr"] == pytest.approx([S.warmup_cosine_lr(3, 0.1, 2, 8), S.warmup_cosine_lr(7, 0.1, 2, 8)])


@pytest.mark.parametrize(
    "call, match",
    [
        (
            lambda: S.step_decay_lr(-1, 0.1, 5),
            "step must be a whole number, 0 or more; got -1. Step 0 is before the first update",
        ),
        (lambda: S.step_decay_lr(1.5, 0.1, 5), "step must be a whole number"),
        (lambda: S.step_decay_lr(3, 0.1, 0), "step_size must be a whole number of steps, 1 or more"),
        (lambda: S.step_decay_lr(3, 0.1, 5, gamma=0), r"gamma must be a number above 0; got 0\. It is the factor"),
        (lambda: S.cosine_lr(3, -0.1, 10), "base_lr must be a learning rate"),
        (lambda: S.cosine_lr(3, 0.1, 0), "total_steps must be a whole number"),
        (lambda: S.cosine_lr(3, 0.1, 10, min_lr=-1), "min_lr must be a learning rate"),
        (
            lambda: S.linear_warmup_lr(3, 0.1, 5, start_factor=0),
            r"start_factor must be a number in \(0, 1\]; got 0\. It is a fraction of the base",
        ),
        (lambda: S.linear_warmup_lr(3, 0.1, 5, end_factor=2), r"end_factor must be a number in \(0, 1\]; got 2"),
        (lambda: S.warmup_cosine_lr(3, 0.1, 10, 10), r"total_steps \(10\) must be larger than warmup_steps \(10\)"),
        (lambda: S.StepDecay(object(), 5), "needs an optimizer with param_groups"),
    ],
)
def test_bad_arguments_say_what_is_wrong(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_schedule_class_checks_its_arguments_when_created():
    optimizer = scratch.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    with pytest.raises(ValueError, match="must be larger than warmup_steps"):
        S.WarmupCosine(optimizer, warmup_steps=20, total_steps=10)


def test_learning_rates_reads_any_schedule_and_checks_steps():
    ours = S.learning_rates(lambda o: S.StepDecay(o, step_size=2, gamma=0.5), 5, base_lr=1.0)
    assert ours == [1.0, 1.0, 0.5, 0.5, 0.25]
    with pytest.raises(ValueError, match="steps must be a whole number of steps, 1 or more"):
        S.learning_rates(lambda o: S.StepDecay(o, step_size=2), 0)
