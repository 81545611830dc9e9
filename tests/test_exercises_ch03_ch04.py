"""Chapters 03 and 04's checkers accept right answers, name the usual mistakes, and treat stubs as not attempted.

The root conftest sets COURSE_STRICT_EXERCISES=1, so a wrong answer raises ExerciseFailed.
"""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.exercises import ExerciseFailed
from course_lib.exercises import ch03_activations as ex3
from course_lib.exercises import ch04_losses as ex4
from course_lib.scratch import activations as A
from course_lib.scratch import losses as L


def fails(checker, answer, match):
    with pytest.raises(ExerciseFailed, match=match):
        checker(answer)


def stub_one(x): ...


def stub_two(a, b):
    pass


def stub_three(targets, classes, eps):
    """A docstring does not count as an attempt."""
    ...


@pytest.mark.parametrize(
    "checker, stub",
    [
        (ex3.check_softmax, stub_one),
        (ex3.check_sigmoid_grad, stub_one),
        (ex3.check_collapsed_stack, ...),
        (ex3.check_dead_units, stub_one),
        (ex4.check_bce_with_logits, stub_two),
        (ex4.check_cross_entropy, stub_two),
        (ex4.check_smoothed_targets, stub_three),
        (ex4.check_kl_divergence, stub_two),
    ],
)
def test_stubs_are_not_attempted(checker, stub, capsys):
    assert not checker(stub)
    assert "⏳" in capsys.readouterr().out


# ----------------------------------------------------------------------------- ch03: softmax
def stable_softmax(x):
    e = torch.exp(x - x.amax(dim=-1, keepdim=True))
    return e / e.sum(dim=-1, keepdim=True)


def test_softmax_accepts_correct_answers(capsys):
    assert ex3.check_softmax(stable_softmax)
    assert ex3.check_softmax(
        lambda x: (
            torch.exp(x - x.max(dim=-1, keepdim=True).values)
            / torch.exp(x - x.max(dim=-1, keepdim=True).values).sum(dim=-1, keepdim=True)
        )
    )
    assert "✅" in capsys.readouterr().out


SOFTMAX_ALIAS = torch.nn.functional.softmax
SOFTMAX_MODULE = nn.Softmax(dim=-1)


def softmax_via_a_helper(x):
    return SOFTMAX_ALIAS(x, dim=-1)


def softmax_hiding_the_call(x):
    try:
        return torch.softmax(x, dim=-1)
    except Exception:
        return stable_softmax(x)


@pytest.mark.parametrize(
    "answer, name",
    [
        (lambda x: torch.softmax(x, dim=-1), r"torch\.softmax"),
        (lambda x: F.softmax(x, dim=-1), r"F\.softmax"),
        (lambda x: x.softmax(dim=-1), r"x\.softmax\(\)"),
        (lambda x: torch.special.softmax(x, -1), r"torch\.special\.softmax"),
        (SOFTMAX_MODULE, r"nn\.Softmax"),
        (softmax_via_a_helper, r"F\.softmax"),
        (softmax_hiding_the_call, r"torch\.softmax"),
        (A.softmax, r"course_lib\.scratch\.activations\.softmax"),
        (lambda x: torch.log_softmax(x, dim=-1).exp(), r"torch\.log_softmax"),
        (lambda x: torch.exp(x - torch.logsumexp(x, dim=-1, keepdim=True)), r"torch\.logsumexp"),
    ],
)
def test_softmax_refuses_the_built_in_however_reached(answer, name):
    fails(ex3.check_softmax, answer, f"your softmax calls {name}, which does the whole job")


@pytest.mark.parametrize(
    "answer, message",
    [
        (
            lambda x: torch.exp(x) / torch.exp(x).sum(dim=-1, keepdim=True),
            r"overflows at 1000.*Did you subtract the max\?",
        ),
        (
            lambda x: stable_softmax(x - x.max()) if x.abs().max() > 100 else stable_softmax(x),
            r"never",
        ),  # placeholder replaced below
        (lambda x: torch.exp(x) / torch.exp(x).sum(dim=0, keepdim=True), r"normalised along dim=0.*dim=-1"),
        (lambda x: torch.full_like(x, float("nan")), r"contains NaN in every entry"),
        (
            lambda x: x.sub_(x.amax(dim=-1, keepdim=True)).exp() / x.exp().sum(dim=-1, keepdim=True),
            r"changed its input `x` in place",
        ),
        (lambda x: torch.exp(x), r"exp\(x\) without dividing by the sum"),
        (lambda x: torch.exp(x) / torch.exp(x).sum(), r"sum over the whole tensor"),
        (
            lambda x: torch.exp(x) / torch.exp(x).sum(dim=-1),
            r"your function\(x: \(4, 5\) float32 tensor\) raised RuntimeError: The size of tensor a \(5\) must match.*"
            r"keepdim=True",
        ),
        (
            lambda x: torch.exp(x - x.amax(dim=-1)) / torch.exp(x - x.amax(dim=-1)).sum(dim=-1, keepdim=True),
            r"raised RuntimeError: The size of tensor a \(5\) must match.*keepdim=True",
        ),
        (lambda x: x.tolist(), r"is a list, not a torch\.Tensor"),
        (lambda x: None, r"is None\. Did you forget a `return`"),
    ],
)
def test_softmax_names_the_mistake(answer, message):
    if message == "never":
        # subtracting the max of the whole tensor instead of each row's
        answer = lambda x: torch.exp(x - x.max()) / torch.exp(x - x.max()).sum(dim=-1, keepdim=True)  # noqa: E731
        message = r"subtracted the maximum of the whole tensor.*x\.amax\(dim=-1, keepdim=True\)"
    fails(ex3.check_softmax, answer, message)


# ----------------------------------------------------------------------------- ch03: sigmoid grad
def test_sigmoid_grad_accepts_correct_answers():
    assert ex3.check_sigmoid_grad(lambda x: torch.sigmoid(x) * (1 - torch.sigmoid(x)))
    assert ex3.check_sigmoid_grad(lambda x: torch.sigmoid(x) * torch.sigmoid(-x))
    assert ex3.check_sigmoid_grad(A.sigmoid_grad)


@pytest.mark.parametrize(
    "answer, message",
    [
        (torch.sigmoid, r"returned sigmoid\(x\) itself"),
        (lambda x: x * (1 - x), r"x \* \(1 - x\).*needs sigma\(x\), not x"),
        (lambda x: -torch.sigmoid(x) * (1 - torch.sigmoid(x)), r"check the sign"),
        (lambda x: torch.exp(-x) / (1 + torch.exp(-x)), r"square the denominator"),
        (lambda x: torch.tanh(x) * 0.25, r"right shape but wrong values.*largest value is 0\.25"),
        (lambda x: (torch.sigmoid(x) * (1 - torch.sigmoid(x)))[:-1], r"has shape \(32,\), expected \(33,\)"),
        (
            lambda x: torch.exp(-x) / (1 + torch.exp(-x)) ** 2,
            r"at x = -1000 your derivative is nan: e\^-x overflows to inf in float32.*torch\.sigmoid",
        ),
        (
            lambda x: torch.sigmoid(x) * (1 - torch.sigmoid(x)) * torch.where(x.abs() > 50, float("nan"), 1.0),
            r"at x = -1000 your derivative is nan",
        ),
        (lambda x: torch.sigmoid(x).mul_(0), r"right shape but wrong values"),
        (lambda x: x.sigmoid_() * (1 - x), r"changed its input `x` in place"),
    ],
)
def test_sigmoid_grad_names_the_mistake(answer, message):
    fails(ex3.check_sigmoid_grad, answer, message)


# ----------------------------------------------------------------------------- ch03: linear stack
def test_collapsed_stack():
    w1, w2, w3 = ex3.linear_stack()
    assert ex3.check_collapsed_stack(w3 @ w2 @ w1)
    assert ex3.check_collapsed_stack((w3 @ w2 @ w1).float())  # float32 is fine
    fails(ex3.check_collapsed_stack, w1.T @ w2.T @ w3.T, r"shape \(3, 2\): that is the transpose.*W3 @ W2 @ W1")
    fails(ex3.check_collapsed_stack, w3 @ w2 @ w1 + 1e-3, r"wrong values.*W1 stands on the right")
    fails(ex3.check_collapsed_stack, w3 @ w2, r"has shape \(2, 4\), expected \(2, 3\)")
    fails(ex3.check_collapsed_stack, (w3 @ w2 @ w1).numpy(), r"is a ndarray, not a torch\.Tensor")
    fails(ex3.check_collapsed_stack, torch.full((2, 3), float("nan")), r"W contains NaN in every entry")


# ----------------------------------------------------------------------------- ch03: dead units
def test_dead_units_accepts_correct_answers():
    assert ex3.check_dead_units(lambda z: (z <= 0).all(dim=0))
    assert ex3.check_dead_units(lambda z: ~(z > 0).any(dim=0))
    assert ex3.check_dead_units(lambda z: (F.relu(z).sum(dim=0) == 0).int())  # 0/1 integers are accepted


@pytest.mark.parametrize(
    "answer, message",
    [
        (lambda z: z <= 0, r"shape \(32, 6\), one entry per example and unit.*\.all\(dim=0\)"),
        (lambda z: (z <= 0).all(dim=1), r"shape \(32,\), one per example: you reduced over the units"),
        (lambda z: (z <= 0).any(dim=0), r"inactive for \*any\* example.*not \.any\(dim=0\)"),
        (lambda z: z.mean(dim=0) <= 0, r"looked at the mean pre-activation"),
        (lambda z: (z < 0).all(dim=0), r"unit 5 is exactly 0.*use z <= 0"),
        (lambda z: torch.zeros(z.shape[1], dtype=torch.bool), r"unit 1 is dead but your mask says False"),
        (lambda z: z.clamp_(max=0).eq(0).all(dim=0), r"changed its input `z` in place"),
        (lambda z: "unit 1", r"your mask is a str, not a torch\.Tensor"),
        (lambda z: torch.full((z.shape[1],), float("nan")), r"your mask contains NaN in every entry"),
    ],
)
def test_dead_units_names_the_mistake(answer, message):
    fails(ex3.check_dead_units, answer, message)


# ----------------------------------------------------------------------------- ch04: BCE with logits
def stable_bce(z, y):
    return (z.clamp(min=0) - z * y + torch.log1p(torch.exp(-z.abs()))).mean()


def test_bce_with_logits_accepts_correct_answers():
    assert ex4.check_bce_with_logits(stable_bce)
    assert ex4.check_bce_with_logits(lambda z, y: (F.softplus(z) - z * y).mean())
    assert ex4.check_bce_with_logits(lambda z, y: -(y * F.logsigmoid(z) + (1 - y) * F.logsigmoid(-z)).mean())


BCE_MODULE = nn.BCEWithLogitsLoss()


@pytest.mark.parametrize(
    "answer, name",
    [
        (F.binary_cross_entropy_with_logits, r"F\.binary_cross_entropy_with_logits"),
        (
            lambda z, y: torch.binary_cross_entropy_with_logits(z, y, None, None, 1),
            r"torch\.binary_cross_entropy_with_logits",
        ),
        (lambda z, y: F.binary_cross_entropy(torch.sigmoid(z), y), r"F\.binary_cross_entropy"),
        (BCE_MODULE, r"nn\.BCEWithLogitsLoss"),
        (lambda z, y: nn.BCELoss()(torch.sigmoid(z), y), r"nn\.BCELoss"),
        (L.binary_cross_entropy_with_logits, r"course_lib\.scratch\.losses\.binary_cross_entropy_with_logits"),
    ],
)
def test_bce_with_logits_refuses_the_built_in_however_reached(answer, name):
    fails(ex4.check_bce_with_logits, answer, f"your loss calls {name}\\. The exercise is to write")


def naive_bce(z, y):
    p = torch.sigmoid(z)
    return -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()


@pytest.mark.parametrize(
    "answer, message",
    [
        (naive_bce, r"at logits of \+-200 your loss is (nan|inf).*log1p\(exp\(-\|z\|\)\)"),
        (
            lambda z, y: (
                -(
                    y * torch.log(torch.sigmoid(z)).clamp(min=-100)
                    + (1 - y) * torch.log(1 - torch.sigmoid(z)).clamp(min=-100)
                ).mean()
            ),
            r"clamping log\(p\) at -100.*caps the loss",
        ),
        (lambda z, y: -stable_bce(z, y), r"the negative of the right value"),
        (lambda z, y: (z.clamp(min=0) - z * y + torch.log1p(torch.exp(-z.abs()))).sum(), r"you summed over the batch"),
        (
            lambda z, y: z.clamp(min=0) - z * y + torch.log1p(torch.exp(-z.abs())),
            r"shape \(12,\): one loss per element.*\.mean\(\)",
        ),
        (lambda z, y: stable_bce(z, 1 - y), r"swapped y and 1 - y"),
        (lambda z, y: stable_bce(torch.sigmoid(z), y), r"applied the sigmoid twice"),
        (lambda z, y: ((torch.sigmoid(z) - y) ** 2).mean(), r"on ordinary logits your loss is .*, expected"),
        (lambda z, y: stable_bce(z, y) * float("nan"), r"on ordinary logits your loss is nan"),
        (lambda z, y: stable_bce(z, y.sub_(y)), r"changed its input `y` in place"),
        (lambda z, y: stable_bce(z, y).item(), r"your loss is a float, not a torch\.Tensor"),
    ],
)
def test_bce_with_logits_names_the_mistake(answer, message):
    with pytest.raises(ExerciseFailed, match=message):
        ex4.check_bce_with_logits(answer)


# ----------------------------------------------------------------------------- ch04: cross-entropy
def manual_cross_entropy(logits, targets):
    log_probs = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    return -log_probs[torch.arange(len(targets)), targets].mean()


def test_cross_entropy_accepts_correct_answers():
    assert ex4.check_cross_entropy(manual_cross_entropy)
    assert ex4.check_cross_entropy(lambda z, t: -torch.log_softmax(z, dim=1).gather(1, t[:, None]).mean())


CE_MODULE = nn.CrossEntropyLoss()


@pytest.mark.parametrize(
    "answer, name",
    [
        (F.cross_entropy, r"F\.cross_entropy"),
        (CE_MODULE, r"nn\.CrossEntropyLoss"),
        (lambda z, t: F.nll_loss(F.log_softmax(z, dim=1), t), r"F\.nll_loss"),
        (L.cross_entropy, r"course_lib\.scratch\.losses\.cross_entropy"),
    ],
)
def test_cross_entropy_refuses_the_built_in_however_reached(answer, name):
    fails(ex4.check_cross_entropy, answer, f"your loss calls {name}, which does the whole job")


def log_of_softmax(logits, targets):  # stable softmax, then its log: underflows when the true class is unlikely
    return -torch.softmax(logits, dim=1).log()[torch.arange(len(targets)), targets].mean()


@pytest.mark.parametrize(
    "answer, message",
    [
        (
            lambda z, t: (
                -torch.log(torch.softmax(z, 1)[torch.arange(len(t)), t]).mean()
                if z.abs().max() < 100
                else -torch.log(torch.exp(z) / torch.exp(z).sum(1, keepdim=True))[torch.arange(len(t)), t].mean()
            ),
            r"for logits \[1000, 0, -1000\] with the true class 0 your loss is nan: exp\(1000\) overflows",
        ),
        (
            log_of_softmax,
            r"with the true class 2, the smallest logit, your loss is inf.*log\(0\) = -inf.*Never take the log of a softmax",
        ),
        (lambda z, t: -manual_cross_entropy(z, t), r"the negative of the right value"),
        (lambda z, t: manual_cross_entropy(torch.softmax(z, 1), t), r"applied softmax and then a cross-entropy"),
        (lambda z, t: -torch.log_softmax(z, 1).mean(), r"averaged -log p over every class"),
        (lambda z, t: -torch.log_softmax(z, 1).sum(1).mean(), r"summed -log p over all classes"),
        (lambda z, t: manual_cross_entropy(z, t) * len(t), r"you summed over the batch"),
        (lambda z, t: -(z - torch.logsumexp(z, 1, keepdim=True))[torch.arange(len(t)), t], r"one loss per element"),
        (lambda z, t: -torch.log_softmax(z, 0)[torch.arange(len(t)), t].mean(), r"normalised along dim=0"),
        (lambda z, t: manual_cross_entropy(z, t) + 0.1, r"your loss is .*, expected"),
        (lambda z, t: manual_cross_entropy(z, t.fill_(0)), r"changed its input `t` in place"),
        (lambda z, t: manual_cross_entropy(z, t) / 0 * 0, r"on ordinary logits your loss is nan"),
        (
            lambda z, t: (
                (z - z.max() - torch.log(torch.exp(z - z.max()).sum(1, keepdim=True)))
                .gather(1, t[:, None])
                .neg()
                .mean()
            ),
            r"each row alone gives a finite loss, but the batch gives -inf: you "
            r"subtracted the max of the whole tensor.*each row's own max",
        ),
    ],
)
def test_cross_entropy_names_the_mistake(answer, message):
    with pytest.raises(ExerciseFailed, match=message):
        ex4.check_cross_entropy(answer)


# ----------------------------------------------------------------------------- ch04: label smoothing
def smoothed(targets, classes, eps):
    return F.one_hot(targets, classes).float() * (1 - eps) + eps / classes


def test_smoothed_targets():
    assert ex4.check_smoothed_targets(smoothed)
    one_hot = lambda t, c: F.one_hot(t, c).float()  # noqa: E731
    cases = [
        (lambda t, c, e: one_hot(t, c), r"plain one-hot rows: no smoothing"),
        (lambda t, c, e: one_hot(t, c) * (1 - e) + (1 - one_hot(t, c)) * e / (c - 1), r"C - 1 wrong classes"),
        (lambda t, c, e: one_hot(t, c) * (1 - e) + (1 - one_hot(t, c)) * e / c, r"rows do not sum to 1.*eps / C"),
        (lambda t, c, e: one_hot(t, c) * (1 - e) + e, r"added eps to every class"),
        (lambda t, c, e: smoothed(t, c, e)[:, :-1], r"has shape \(4, 2\), expected \(4, 3\)"),
        (lambda t, c, e: smoothed(t, c, e) * 2, r"each row must sum to 1"),
        (lambda t, c, e: smoothed(t.flip(0), c, e), r"wrong values.*1 - eps \+ eps / C"),
        (lambda t, c, e: smoothed(t.fill_(0), c, e), r"changed its input `t` in place"),
        (lambda t, c, e: smoothed(t, c, e) * float("nan"), r"your result contains NaN in every entry"),
    ]
    for answer, message in cases:
        fails(ex4.check_smoothed_targets, answer, message)


def test_smoothed_targets_give_torch_label_smoothing():
    logits, targets = torch.randn(4, 3, generator=torch.Generator().manual_seed(0)), torch.tensor([0, 2, 1, 2])
    soft = smoothed(targets, 3, 0.1)
    torch.testing.assert_close(
        -(soft * torch.log_softmax(logits, 1)).sum(1).mean(), F.cross_entropy(logits, targets, label_smoothing=0.1)
    )


# ----------------------------------------------------------------------------- ch04: KL
def kl(p, q):
    return (torch.xlogy(p, p) - torch.xlogy(p, q)).sum(dim=1)


def test_kl_accepts_correct_answers():
    assert ex4.check_kl_divergence(kl)
    assert ex4.check_kl_divergence(lambda p, q: L.kl_divergence(p.log(), q.log(), reduction="none"))
    assert ex4.check_kl_divergence(lambda p, q: F.kl_div(q.log(), p, reduction="none").sum(dim=1))


@pytest.mark.parametrize(
    "answer, message",
    [
        (lambda p, q: (p * (p / q).log()).sum(dim=1), r"p = \[0\.5, 0\.5, 0\] you return nan.*xlogy"),
        (lambda p, q: kl(q, p), r"KL\(q \|\| p\): the arguments are swapped"),
        (lambda p, q: -kl(p, q), r"negative of KL"),
        (lambda p, q: -(p * q.log()).sum(dim=1), r"cross-entropy H\(p, q\)"),
        (lambda p, q: kl(p, q).mean(), r"returned one number.*shape \(N,\)"),
        (lambda p, q: torch.xlogy(p, p) - torch.xlogy(p, q), r"one entry per class.*\.sum\(dim=1\)"),
        (lambda p, q: F.kl_div(p.log(), q, reduction="none").sum(dim=1), r"arguments are swapped"),
        (lambda p, q: (p - q).abs().sum(dim=1), r"wrong values"),
        (lambda p, q: kl(p, q) * float("nan"), r"your KL contains NaN in every entry"),
        (lambda p, q: kl(p, q.clamp_(min=0.3)), r"changed its input `q` in place"),
    ],
)
def test_kl_names_the_mistake(answer, message):
    with pytest.raises(ExerciseFailed, match=message):
        ex4.check_kl_divergence(answer)


def test_wrong_answer_prints_feedback_outside_strict_mode(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_STRICT_EXERCISES", "0")
    assert not ex3.check_softmax(lambda x: torch.exp(x) / torch.exp(x).sum(dim=-1, keepdim=True))
    out = capsys.readouterr().out
    assert out.startswith("❌ A softmax that does not overflow:") and "subtract the max" in out
