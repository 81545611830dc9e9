"""Chapter 09's checkers accept right answers, name the usual mistakes, and treat stubs as not attempted.

The root conftest sets COURSE_STRICT_EXERCISES=1, so a wrong answer raises ExerciseFailed.
"""

import pytest
import torch
import torch.nn.functional as F

from course_lib.exercises import ExerciseFailed, run_checker
from course_lib.exercises import ch09_vae as ex
from course_lib.experiments.vae import interpolate as library_interpolate
from course_lib.scratch.vae import bernoulli_nll_from_logits, kl_to_standard_normal, vae_loss
from course_lib.scratch.vae import reparameterize as library_reparameterize


def fails(checker, answer, match):
    with pytest.raises(ExerciseFailed, match=match):
        checker(answer)


def stub_two(a, b): ...


def stub_three(a, b, c): ...


def stub_four(a, b, c, d):
    """A docstring does not count as an attempt."""
    ...


@pytest.mark.parametrize(
    "checker, stub",
    [
        (ex.check_reparameterize, stub_three),
        (ex.check_kl_divergence, stub_two),
        (ex.check_elbo_loss, stub_four),
        (ex.check_interpolation, stub_three),
        (ex.check_kl_divergence, ...),
    ],
)
def test_stubs_are_not_attempted(checker, stub, capsys):
    assert not checker(stub)
    assert "⏳" in capsys.readouterr().out


def test_exercises_list_names_each_checker_once():
    assert [e.id for e in ex.EXERCISES] == ["reparameterize", "kl_divergence", "elbo_loss", "interpolation"]
    assert all(len(e.names) == 1 for e in ex.EXERCISES)


# ----------------------------------------------------------------------------- 1. reparameterisation
def good_reparameterize(mu, logvar, eps):
    return mu + torch.exp(0.5 * logvar) * eps


def test_reparameterize_accepts_the_formula(capsys):
    assert ex.check_reparameterize(good_reparameterize)
    assert ex.check_reparameterize(lambda mu, logvar, eps: mu + (logvar / 2).exp() * eps)
    assert "backpropagation reaches mu and logvar" in capsys.readouterr().out
    assert run_checker(ex.check_reparameterize, good_reparameterize).passed


@pytest.mark.parametrize(
    "answer, match",
    [
        (lambda mu, logvar, eps: mu + torch.exp(logvar) * eps, "exp\\(logvar\\), the variance"),
        (lambda mu, logvar, eps: mu + logvar * eps, "multiplied eps by logvar itself"),
        (lambda mu, logvar, eps: mu + torch.exp(0.5 * logvar) * torch.randn_like(mu), "draws its own noise"),
        (lambda mu, logvar, eps: torch.exp(0.5 * logvar) * eps, "you left out mu"),
        (lambda mu, logvar, eps: mu * torch.exp(0.5 * logvar) + eps, "you scaled mu instead of eps"),
        (
            lambda mu, logvar, eps: mu + torch.sqrt(torch.exp(logvar)) * eps,
            r"for logvar = 100 your z is inf.*exp\(logvar\) \(about 2\.7e43",
        ),
        (lambda mu, logvar, eps: (mu + torch.exp(0.5 * logvar) * eps).detach(), "carries no gradient"),
        (lambda mu, logvar, eps: torch.tensor((mu + torch.exp(0.5 * logvar) * eps).tolist()), "carries no gradient"),
        (
            lambda mu, logvar, eps: torch.distributions.Normal(mu, torch.exp(0.5 * logvar)).rsample(),
            r"calls torch\.distributions",
        ),
        (
            lambda mu, logvar, eps: (
                mu + torch.distributions.Normal(0, 1).sample(mu.shape) * 0 + torch.exp(0.5 * logvar) * eps
            ),
            r"calls torch\.distributions",
        ),
        (lambda mu, logvar, eps: library_reparameterize(mu, logvar), r"calls course_lib\.scratch\.vae\.reparameterize"),
        (
            lambda mu, logvar, eps: mu + torch.exp(0.5 * logvar) * eps.mul_(1),
            None,
        ),  # in place, values unchanged: allowed
        (lambda mu, logvar, eps: mu + torch.exp(0.5 * logvar) * eps.mul_(2) / 2, r"changed its input `eps` in place"),
        (lambda mu, logvar, eps: (mu + torch.exp(0.5 * logvar) * eps)[0], r"shape \(3,\), expected \(4, 3\)"),
        (lambda mu, logvar, eps: [mu, logvar], r"a list of 2 tensors; return one tensor"),
        (lambda mu, logvar, eps: None, r"is None\. Did you forget a `return`"),
        (lambda mu, logvar, eps: "z", r"not a torch\.Tensor"),
    ],
)
def test_reparameterize_wrong_answers(answer, match):
    if match is None:
        assert ex.check_reparameterize(answer)
    else:
        fails(ex.check_reparameterize, answer, match)


def test_a_crash_is_one_sentence_naming_the_learners_line():
    def crashes(mu, logvar, eps):
        return mu + torch.exp(0.5 * logvar) @ eps

    with pytest.raises(
        ExerciseFailed,
        match=r"crashes\(mu: \(4, 3\) float32 tensor.*raised RuntimeError.*in your "
        r"line `return mu \+ torch\.exp\(0\.5 \* logvar\) @ eps`",
    ):
        ex.check_reparameterize(crashes)


# ----------------------------------------------------------------------------- 2. KL
def good_kl(mu, logvar):
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(dim=1)


def test_kl_accepts_the_closed_form_and_the_papers_sign_convention():
    assert ex.check_kl_divergence(good_kl)
    assert ex.check_kl_divergence(lambda mu, logvar: -0.5 * torch.sum(1 + logvar - mu**2 - logvar.exp(), dim=1))


@pytest.mark.parametrize(
    "answer, match",
    [
        (lambda mu, logvar: good_kl(mu, logvar).mean(), "the mean over the batch; .* shape \\(5,\\)"),
        (lambda mu, logvar: good_kl(mu, logvar).sum(), "the sum over the batch"),
        (lambda mu, logvar: 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar), r"shape \(5, 3\): one term per latent"),
        (
            lambda mu, logvar: 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(dim=0),
            r"summed over the batch \(dim=0\)",
        ),
        (lambda mu, logvar: 2 * good_kl(mu, logvar), "twice the right one"),
        (lambda mu, logvar: -good_kl(mu, logvar), "never negative"),
        (lambda mu, logvar: 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).mean(dim=1), "averaged over the latent"),
        (lambda mu, logvar: 0.5 * (mu.pow(2) + logvar.exp() - logvar).sum(dim=1), "left out the - 1"),
        (lambda mu, logvar: 0.5 * (mu.pow(2) + (2 * logvar).exp() - 1 - 2 * logvar).sum(dim=1), "log sigma\\^2"),
        (lambda mu, logvar: 0.5 * (mu.pow(2) + logvar - 1 - torch.log(logvar)).sum(dim=1), "NaN: did you take the log"),
        (
            lambda mu, logvar: (
                0.5
                * (mu.pow(2) + torch.exp(0.5 * logvar) ** 2 - 1 - torch.log(torch.exp(0.5 * logvar) ** 2)).sum(dim=1)
            ),
            r"for logvar = -200 your KL is inf, but the right value is about 99\.5",
        ),
        (
            lambda mu, logvar: kl_to_standard_normal(mu, logvar),
            r"calls course_lib\.scratch\.vae\.kl_to_standard_normal",
        ),
        (
            lambda mu, logvar: torch.distributions.kl_divergence(
                torch.distributions.Normal(mu, (0.5 * logvar).exp()), torch.distributions.Normal(0.0, 1.0)
            ).sum(1),
            r"calls torch\.distributions",
        ),
        (lambda mu, logvar: F.kl_div(mu, logvar, reduction="none").sum(1), r"calls .*kl_div"),
        (lambda mu, logvar: good_kl(mu, logvar.clamp_(-5, 5)), r"changed its input `logvar` in place"),
    ],
)
def test_kl_wrong_answers(answer, match):
    fails(ex.check_kl_divergence, answer, match)


# ----------------------------------------------------------------------------- 3. ELBO
def good_elbo(logits, x, mu, logvar):
    reconstruction = (F.softplus(logits) - x * logits).flatten(1).sum(dim=1)
    return (reconstruction + good_kl(mu, logvar)).mean()


def bce_sum_and_kl(logits, x, mu, logvar):  # the max(l, 0) - l x + log1p(exp(-|l|)) spelling
    per_pixel = logits.clamp(min=0) - logits * x + torch.log1p(torch.exp(-logits.abs()))
    return (per_pixel.sum(dim=(1, 2, 3)) + good_kl(mu, logvar)).mean()


def sigmoid_then_log(logits, x, mu, logvar):
    p = torch.sigmoid(logits)
    reconstruction = -(x * torch.log(p) + (1 - x) * torch.log(1 - p)).flatten(1).sum(1)
    return (reconstruction + good_kl(mu, logvar)).mean()


def clamped_log(logits, x, mu, logvar):
    p = torch.sigmoid(logits)
    reconstruction = -(x * torch.log(p).clamp(min=-100) + (1 - x) * torch.log(1 - p).clamp(min=-100)).flatten(1).sum(1)
    return (reconstruction + good_kl(mu, logvar)).mean()


def test_elbo_accepts_the_stable_forms():
    assert ex.check_elbo_loss(good_elbo)
    assert ex.check_elbo_loss(bce_sum_and_kl)


@pytest.mark.parametrize(
    "answer, match",
    [
        (
            lambda logits, x, mu, logvar: (
                (F.softplus(logits) - x * logits).flatten(1).mean(1) + good_kl(mu, logvar)
            ).mean(),
            "averaged the reconstruction term over the pixels .* the KL wins",
        ),
        (
            lambda logits, x, mu, logvar: (
                (F.softplus(logits) - x * logits).flatten(1).mean(1) + good_kl(mu, logvar) / mu.shape[1]
            ).mean(),
            "averaged both terms",
        ),
        (lambda logits, x, mu, logvar: good_elbo(logits, x, mu, logvar) * len(x), "summed over the batch"),
        (lambda logits, x, mu, logvar: (F.softplus(logits) - x * logits).flatten(1).sum(1).mean(), "left out the KL"),
        (lambda logits, x, mu, logvar: -good_elbo(logits, x, mu, logvar), "returned the ELBO itself"),
        (
            lambda logits, x, mu, logvar: (
                (F.softplus(logits) - x * logits).flatten(1).sum(1) - good_kl(mu, logvar)
            ).mean(),
            "you subtracted the KL",
        ),
        (
            lambda logits, x, mu, logvar: (F.softplus(logits) - x * logits).flatten(1).sum(1) + good_kl(mu, logvar),
            r"shape \(4,\): one loss per image.*\.mean\(\)",
        ),
        (sigmoid_then_log, r"at logits of \+-200 your loss is (inf|nan).*softplus"),
        (clamped_log, r"clamping log\(p\) at -100"),
        (
            lambda logits, x, mu, logvar: (
                F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / len(x) + good_kl(mu, logvar).mean()
            ),
            r"calls torch\.binary_cross_entropy_with_logits|calls F\.binary_cross_entropy",
        ),
        (
            lambda logits, x, mu, logvar: (
                torch.nn.BCEWithLogitsLoss(reduction="sum")(logits, x) / len(x) + good_kl(mu, logvar).mean()
            ),
            r"calls (nn\.BCEWithLogitsLoss|.*binary_cross_entropy_with_logits)",
        ),
        (lambda logits, x, mu, logvar: vae_loss((logits, mu, logvar), x)["loss"], r"calls course_lib\.scratch\.vae"),
        (
            lambda logits, x, mu, logvar: (bernoulli_nll_from_logits(logits, x) + good_kl(mu, logvar)).mean(),
            r"calls course_lib\.scratch\.vae\.bernoulli_nll_from_logits",
        ),
        (
            lambda logits, x, mu, logvar: (
                -torch.distributions.Bernoulli(logits=logits).log_prob(x).flatten(1).sum(1).mean()
                + good_kl(mu, logvar).mean()
            ),
            r"calls torch\.distributions",
        ),
        (lambda logits, x, mu, logvar: good_elbo(logits.clamp_(-1, 1), x, mu, logvar), r"changed its input `logits`"),
        (lambda logits, x, mu, logvar: good_elbo(logits, x, mu, logvar).item(), "not a torch.Tensor"),
    ],
)
def test_elbo_wrong_answers(answer, match):
    fails(ex.check_elbo_loss, answer, match)


# ----------------------------------------------------------------------------- 4. interpolation
def good_interpolation(z_start, z_end, steps):
    t = torch.linspace(0, 1, steps).unsqueeze(1)
    return (1 - t) * z_start + t * z_end


def looped_interpolation(z_start, z_end, steps):
    rows = []
    for i in range(steps):
        t = i / (steps - 1)
        rows.append((1 - t) * z_start + t * z_end)
    return torch.stack(rows)


def test_interpolation_accepts_vectorised_and_looped():
    assert ex.check_interpolation(good_interpolation)
    assert ex.check_interpolation(looped_interpolation)


@pytest.mark.parametrize(
    "answer, match",
    [
        (lambda a, b, steps: good_interpolation(a, b, steps).T, r"rows and columns swapped"),
        (lambda a, b, steps: good_interpolation(a, b, steps + 1), r"has 6 rows, expected 5"),
        (lambda a, b, steps: good_interpolation(a, b, steps).flip(0), "runs backwards"),
        (lambda a, b, steps: torch.stack([a + (i / steps) * (b - a) for i in range(steps)]), "stops short of z_end"),
        (
            lambda a, b, steps: a + torch.linspace(0, 1, steps).unsqueeze(1) * (b - a),
            r"3e38 and -3e38 .*z_end - z_start overflows",
        ),
        (lambda a, b, steps: [a, b], r"a list of 2 tensors; return one tensor"),
        (lambda a, b, steps: torch.lerp(a, b, torch.linspace(0, 1, steps).unsqueeze(1)), r"calls .*lerp"),
        (lambda a, b, steps: a.lerp(b, torch.linspace(0, 1, steps).unsqueeze(1)), r"calls .*lerp"),
        (lambda a, b, steps: library_interpolate(a, b, steps), r"calls course_lib\.experiments\.vae\.interpolate"),
        (lambda a, b, steps: good_interpolation(a.mul_(1.5), b, steps), r"changed its input `a` in place"),
        (lambda a, b, steps: good_interpolation(a, b, steps) + 0.1, "not the right codes"),
    ],
)
def test_interpolation_wrong_answers(answer, match):
    fails(ex.check_interpolation, answer, match)
