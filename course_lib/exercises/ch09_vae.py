"""Checkers for chapter 09 (variational autoencoders): each spots the usual mistake and says how to fix it.

Use in a notebook: ``from course_lib.exercises import ch09_vae as ex`` then ``ex.check_reparameterize(reparameterize)``.
The references are ``course_lib.scratch.vae`` (tested against ``torch.distributions``); each
exercise forbids the built-ins that would do the whole job, however they are reached.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..experiments import vae as vae_experiments
from ..scratch import losses as scratch_losses
from ..scratch import vae as scratch_vae
from .core import (
    Exercise,
    Forbidden,
    Incorrect,
    call_learner,
    close_tensors,
    exercise,
    expect_finite,
    reject_none,
    require_tensor,
    torch_spellings,
)

__all__ = ["EXERCISES", "check_reparameterize", "check_kl_divergence", "check_elbo_loss", "check_interpolation"]

#: Every ``torch.distributions`` distribution (they all call Distribution.__init__), ``kl_divergence`` among them
#: (it needs distributions to compare).
_DISTRIBUTIONS = {"torch.distributions (Normal, Bernoulli, ...)": torch.distributions.Distribution}

BUILT_IN_SAMPLING = Forbidden(
    {**_DISTRIBUTIONS, "course_lib.scratch.vae.reparameterize": scratch_vae.reparameterize},
    "your function calls {name}. The exercise is the reparameterisation step itself: "
    "z = mu + exp(0.5 * logvar) * eps, with the eps you are given.",
)

BUILT_IN_KL = Forbidden(
    {
        **_DISTRIBUTIONS,
        **torch_spellings("kl_div"),
        "nn.KLDivLoss": nn.KLDivLoss,
        "course_lib.scratch.vae.kl_to_standard_normal": scratch_vae.kl_to_standard_normal,
        "course_lib.scratch.vae.kl_per_dimension": scratch_vae.kl_per_dimension,
    },
    "your function calls {name}. The exercise is to write the closed form yourself: "
    "0.5 * (mu**2 + exp(logvar) - 1 - logvar), summed over the latent dimensions.",
)

BUILT_IN_ELBO = Forbidden(
    {
        **BUILT_IN_KL.functions,
        **torch_spellings("binary_cross_entropy_with_logits", "binary_cross_entropy"),
        "nn.BCEWithLogitsLoss": nn.BCEWithLogitsLoss,
        "nn.BCELoss": nn.BCELoss,
        "course_lib.scratch.losses.binary_cross_entropy_with_logits": scratch_losses.binary_cross_entropy_with_logits,
        "course_lib.scratch.losses.binary_cross_entropy": scratch_losses.binary_cross_entropy,
        "course_lib.scratch.vae.bernoulli_nll_from_logits": scratch_vae.bernoulli_nll_from_logits,
        "course_lib.scratch.vae.vae_loss": scratch_vae.vae_loss,
        "course_lib.scratch.vae.vae_loss_pixel_mean": scratch_vae.vae_loss_pixel_mean,
    },
    "your loss calls {name}. The exercise is to write the negative ELBO from its two formulas: "
    "softplus(logits) - x * logits summed over pixels, plus the KL summed over latent dimensions, averaged over "
    "the batch.",
)

BUILT_IN_INTERPOLATION = Forbidden(
    {**torch_spellings("lerp"), "course_lib.experiments.vae.interpolate": vae_experiments.interpolate},
    "your function calls {name}, which does the whole job. Write the line yourself: "
    "z(t) = (1 - t) * z_start + t * z_end for t = 0, 1/(steps-1), ..., 1.",
)


def _as_result(value: Any, what: str) -> torch.Tensor:
    reject_none(value, what, "Did you forget a `return`?")
    if isinstance(value, (tuple, list)) and value and all(isinstance(v, torch.Tensor) for v in value):
        raise Incorrect(
            f"{what} is a {type(value).__name__} of {len(value)} tensors; return one tensor "
            "(torch.stack(rows) turns a list of rows into one)."
        )
    return require_tensor(value, what)


def _same(a: torch.Tensor, b: torch.Tensor, rtol: float = 1e-5, atol: float = 1e-6) -> bool:
    return close_tensors(a, b, rtol=rtol, atol=atol)


# ----------------------------------------------------------------------------- 1. the reparameterisation step
@exercise("The reparameterisation trick")
def check_reparameterize(reparameterize: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], Any]) -> str:
    """``reparameterize(mu, logvar, eps)`` is ``mu + exp(0.5 * logvar) * eps``, differentiable in mu and logvar."""
    gen = torch.Generator().manual_seed(9)
    mu, logvar = torch.randn(4, 3, generator=gen), torch.randn(4, 3, generator=gen)
    eps = torch.randn(4, 3, generator=gen)
    expected = mu + torch.exp(0.5 * logvar) * eps
    mu_, logvar_ = mu.clone().requires_grad_(True), logvar.clone().requires_grad_(True)
    z = _as_result(call_learner(reparameterize, mu_, logvar_, eps, forbidden=BUILT_IN_SAMPLING), "your z")
    if tuple(z.shape) != (4, 3):
        raise Incorrect(f"your z has shape {tuple(z.shape)}, expected (4, 3): one sample per mean, the shape of mu.")
    expect_finite(z, expected, "your z")
    if not _same(z, expected):
        again = call_learner(reparameterize, mu, logvar, eps, forbidden=BUILT_IN_SAMPLING)
        if isinstance(again, torch.Tensor) and not _same(again, z):
            raise Incorrect(
                "your function gives a different z each time for the same eps: it draws its own noise "
                "(torch.randn...). Use the eps it is given: z = mu + exp(0.5 * logvar) * eps. Drawing "
                "eps outside is what makes the result repeatable and the trick clear."
            )
        for wrong, why in (
            (
                mu + torch.exp(logvar) * eps,
                "you multiplied eps by exp(logvar), the variance sigma^2; the standard "
                "deviation is sigma = exp(0.5 * logvar).",
            ),
            (
                mu + logvar * eps,
                "you multiplied eps by logvar itself; logvar is log sigma^2, so sigma = exp(0.5 * logvar).",
            ),
            (mu + torch.exp(logvar / 2) + eps, "you added sigma and eps; the sample is mu + sigma * eps."),
            (mu * torch.exp(0.5 * logvar) + eps, "you scaled mu instead of eps: z = mu + sigma * eps."),
            (torch.exp(0.5 * logvar) * eps, "you left out mu: z = mu + sigma * eps."),
        ):
            if _same(z, wrong):
                raise Incorrect(why)
        raise Incorrect(
            "your z differs from mu + exp(0.5 * logvar) * eps. The noise eps ~ N(0, I) is scaled by the "
            "standard deviation sigma = exp(0.5 * logvar) and shifted by mu."
        )
    if not z.requires_grad:
        raise Incorrect(
            "your z carries no gradient back to mu and logvar: something detached it (.detach(), .item(), "
            "torch.no_grad, a NumPy round trip). Gradients flowing through the sample is the whole point "
            "of the trick: build z from mu and logvar with torch operations."
        )
    z.sum().backward()
    if (
        mu_.grad is None
        or logvar_.grad is None
        or not _same(mu_.grad, torch.ones_like(mu))
        or not _same(logvar_.grad, 0.5 * torch.exp(0.5 * logvar) * eps)
    ):
        raise Incorrect(
            "the values of your z are right, but its gradients are not dz/dmu = 1 and dz/dlogvar = "
            "0.5 * sigma * eps: part of it is computed outside the graph."
        )
    # exp(logvar) of 100 is inf in float32 while exp(0.5 * 100) = 5e21 is not: sqrt(exp(logvar)) overflows.
    big = torch.tensor([[0.0, 1.0], [100.0, -200.0]])
    ones = torch.ones(2, 2)
    expected = torch.zeros(2, 2) + torch.exp(0.5 * big) * ones
    z = _as_result(
        call_learner(reparameterize, torch.zeros(2, 2), big, ones, forbidden=BUILT_IN_SAMPLING),
        "your z for logvar of 100",
    )
    if tuple(z.shape) == (2, 2) and torch.isinf(z).any() and torch.isfinite(expected).all():
        raise Incorrect(
            "for logvar = 100 your z is inf, but sigma = exp(50) is about 5e21, a fine float32: you "
            "formed exp(logvar) (about 2.7e43, past float32's 3.4e38) before its square root. Take "
            "exp(0.5 * logvar) directly."
        )
    expect_finite(z, expected, "your z for logvar of 100")
    if not _same(z, expected, rtol=1e-4):
        raise Incorrect("for large and very negative logvar (100, -200) your z is off; use exp(0.5 * logvar).")
    return (
        "z = mu + sigma * eps: the randomness is in eps, which does not depend on the encoder, so "
        "backpropagation reaches mu and logvar (dz/dmu = 1, dz/dsigma = eps)."
    )


# ----------------------------------------------------------------------------- 2. the KL term in closed form
@exercise("The KL divergence to N(0, I) in closed form")
def check_kl_divergence(kl_divergence: Callable[[torch.Tensor, torch.Tensor], Any]) -> str:
    """``kl_divergence(mu, logvar)``: shape (batch,), 0.5 * sum over dims of (mu^2 + exp(logvar) - 1 - logvar)."""
    gen = torch.Generator().manual_seed(4)
    mu, logvar = torch.randn(5, 3, generator=gen), torch.randn(5, 3, generator=gen)
    terms = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar)
    expected = terms.sum(dim=1)
    kl = _as_result(call_learner(kl_divergence, mu, logvar, forbidden=BUILT_IN_KL), "your KL")
    if kl.numel() == 1:
        wrong = float(kl)
        scope = (
            "the mean over the batch"
            if math.isclose(wrong, float(expected.mean()), rel_tol=1e-4)
            else "the sum over the batch"
            if math.isclose(wrong, float(expected.sum()), rel_tol=1e-4)
            else "a single number"
        )
        raise Incorrect(
            f"your KL is {scope}; the function should return one KL per example, shape (5,): sum over "
            "the latent dimensions only (dim=1). The loss averages over the batch later."
        )
    if tuple(kl.shape) == (5, 3):
        raise Incorrect(
            "your KL has shape (5, 3): one term per latent dimension. Sum them (dim=1): the KL of a "
            "diagonal Gaussian is the sum of the KLs of its independent coordinates."
        )
    if tuple(kl.shape) == (3,):
        raise Incorrect(
            "your KL has shape (3,): you summed over the batch (dim=0). Sum over the latent dimensions, "
            "dim=1, to get one KL per example, shape (5,)."
        )
    if tuple(kl.shape) != (5,):
        raise Incorrect(f"your KL has shape {tuple(kl.shape)}, expected (5,): one number per example.")
    if torch.isnan(kl).any():
        raise Incorrect(
            "your KL has NaN: did you take the log of logvar? logvar is already log sigma^2 (and may be "
            "negative); the formula uses it as it is: mu^2 + exp(logvar) - 1 - logvar."
        )
    expect_finite(kl, expected, "your KL")
    if not _same(kl, expected, rtol=1e-4):
        for wrong, why in (
            (2 * expected, "your KL is twice the right one: the formula has a factor 0.5 in front."),
            (
                -expected,
                "your KL is the negative of the right one: a KL divergence is never negative; it is "
                "0.5 * (mu^2 + exp(logvar) - 1 - logvar), and -0.5 * (1 + logvar - mu^2 - exp(logvar)) "
                "as papers write it.",
            ),
            (
                terms.mean(dim=1),
                "you averaged over the latent dimensions; sum them (the KL of independent coordinates adds up).",
            ),
            (
                0.5 * (mu.pow(2) + logvar.exp() - logvar).sum(dim=1),
                "you left out the - 1 in each dimension; without it the KL of the prior with itself would not be 0.",
            ),
            (
                0.5 * (mu.pow(2) + (2 * logvar).exp() - 1 - 2 * logvar).sum(dim=1),
                "you treated logvar as log sigma; it is log sigma^2, the log of the variance.",
            ),
            (0.5 * (mu + logvar.exp() - 1 - logvar).sum(dim=1), "you used mu where the formula has mu squared."),
        ):
            if _same(kl, wrong, rtol=1e-4):
                raise Incorrect(why)
        raise Incorrect("your KL differs from 0.5 * sum(mu^2 + exp(logvar) - 1 - logvar, dim=1).")
    # sigma = exp(0.5 * -200) squared underflows to 0 in float32, and log(0) = -inf: log(sigma^2) is not logvar.
    tiny = torch.tensor([[0.0, -200.0], [2.0, 0.0]])
    expected = 0.5 * (torch.tensor([[0.0, 0.0], [4.0, 0.0]]) + tiny.exp() - 1 - tiny).sum(dim=1)
    kl = _as_result(
        call_learner(kl_divergence, torch.tensor([[0.0, 0.0], [2.0, 0.0]]), tiny, forbidden=BUILT_IN_KL),
        "your KL for logvar = -200",
    )
    if tuple(kl.shape) == (2,) and torch.isinf(kl).any():
        raise Incorrect(
            "for logvar = -200 your KL is inf, but the right value is about 99.5: you computed sigma (or "
            "sigma^2) and took its log, and exp(-200) rounds to 0 in float32. Use logvar itself where the "
            "formula has log sigma^2."
        )
    expect_finite(kl, expected, "your KL for logvar = -200")
    if not _same(kl, expected, rtol=1e-4):
        raise Incorrect("for logvar = -200 your KL is off; use logvar directly, never log(exp(logvar)).")
    return "it is 0 exactly at mu = 0, logvar = 0 (the prior itself) and grows as q moves or narrows away from it."


# ----------------------------------------------------------------------------- 3. the ELBO with the right reduction
def _elbo_parts(logits: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor):
    reconstruction = (F.softplus(logits) - x * logits).flatten(1).sum(dim=1)
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(dim=1)
    return reconstruction, kl


def _scalar_loss(value: Any, what: str, batch: int) -> float:
    tensor = _as_result(value, what)
    if isinstance(value, torch.Tensor) and tuple(tensor.shape) == (batch,):
        raise Incorrect(
            f"{what} has shape ({batch},): one loss per image. The training loss is their mean over the "
            "batch, a single number: finish with .mean()."
        )
    if tensor.numel() != 1:
        raise Incorrect(f"{what} should be a single number (the mean over the batch), got shape {tuple(tensor.shape)}.")
    return float(tensor)


@exercise("The negative ELBO, with the right reduction")
def check_elbo_loss(elbo_loss: Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], Any]) -> str:
    """``elbo_loss(logits, x, mu, logvar)``: reconstruction summed over pixels + KL summed over latents, batch mean."""
    gen = torch.Generator().manual_seed(2)
    logits = torch.randn(4, 1, 6, 6, generator=gen) * 3
    x = torch.rand(4, 1, 6, 6, generator=gen)  # grey levels, as MNIST in [0, 1]
    mu, logvar = torch.randn(4, 5, generator=gen), torch.randn(4, 5, generator=gen)
    rec, kl = _elbo_parts(logits, x, mu, logvar)
    expected = float((rec + kl).mean())
    got = _scalar_loss(call_learner(elbo_loss, logits, x, mu, logvar, forbidden=BUILT_IN_ELBO), "your loss", 4)
    if not math.isfinite(got):
        raise Incorrect(
            f"on ordinary logits your loss is {got}. nan comes from 0/0 or the log of a negative number; "
            "inf from the log of 0: look for one of those."
        )
    pixels = 36
    wrongs = (
        (
            (rec / pixels + kl).mean(),
            "you averaged the reconstruction term over the pixels (F.binary_cross_entropy's "
            "default reduction): it shrinks 36-fold here (784-fold on MNIST) while the KL "
            "stays whole, so the KL wins and the model decodes the same blurry digit for "
            "every input. Sum over the pixels, then average over the batch.",
        ),
        (
            (rec / pixels + kl / 5).mean(),
            "you averaged both terms over their dimensions (pixels and latents). Each "
            "is one log-density per image: sum over pixels and over latent dimensions, "
            "then average over the batch.",
        ),
        (
            (rec + kl).sum(),
            "you summed over the batch; the loss is the mean over the batch (so the learning rate "
            "does not depend on the batch size).",
        ),
        (rec.mean(), "you left out the KL term: without it this is a plain autoencoder's loss."),
        (kl.mean(), "you left out the reconstruction term."),
        ((rec + kl / 5).mean(), "you averaged the KL over the latent dimensions; sum it."),
        (
            (rec - kl).mean(),
            "you subtracted the KL. The ELBO is E[log p(x|z)] - KL, so the loss to minimise, its "
            "negative, is reconstruction + KL.",
        ),
        (
            -(rec + kl).mean(),
            "you returned the ELBO itself; the loss to minimise is its negative: reconstruction (-log p(x|z)) + KL.",
        ),
        ((rec + 2 * kl).mean(), "your KL term is twice the right one: the formula has a factor 0.5."),
        (
            (F.softplus(-logits) + x * logits).flatten(1).sum(1).add(kl).mean(),
            "your reconstruction term has the signs mixed up: -log p(x|z) per pixel is softplus(l) - x * l.",
        ),
    )
    for wrong, why in wrongs:
        if math.isclose(got, float(wrong), rel_tol=1e-4, abs_tol=1e-6) and not math.isclose(
            got, expected, rel_tol=1e-4
        ):
            raise Incorrect(why)
    if not math.isclose(got, expected, rel_tol=1e-4, abs_tol=1e-6):
        raise Incorrect(
            f"your loss is {got:.4f}, expected {expected:.4f}: per image, sum over pixels of "
            "softplus(l) - x * l, plus 0.5 * sum over latents of (mu^2 + exp(logvar) - 1 - logvar); "
            "then the mean over the batch."
        )
    # Confident logits: sigmoid(+-200) rounds to exactly 1 or 0 in float32, so log(sigmoid(l)) is -inf.
    big = torch.tensor([[[[200.0, -200.0], [200.0, -200.0]]]]).repeat(2, 1, 1, 1)
    pixels_01 = torch.tensor([[[[0.0, 1.0], [1.0, 0.0]]]]).repeat(2, 1, 1, 1)
    zeros = torch.zeros(2, 3)
    rec, kl = _elbo_parts(big, pixels_01, zeros, zeros)
    expected = float((rec + kl).mean())
    got = _scalar_loss(
        call_learner(elbo_loss, big, pixels_01, zeros, zeros, forbidden=BUILT_IN_ELBO),
        "your loss at logits of +-200",
        2,
    )
    if not math.isfinite(got):
        raise Incorrect(
            f"at logits of +-200 your loss is {got}: sigmoid(-200) rounds to 0 in float32 and log(0) = "
            "-inf. Never form the probabilities: -log p(x|z) per pixel is softplus(l) - x * l "
            "(F.softplus is stable)."
        )
    if math.isclose(got, 200.0, rel_tol=1e-3):
        raise Incorrect(
            f"at logits of +-200 your loss is {got:.1f}, expected {expected:.1f}: clamping log(p) at -100 "
            "(as F.binary_cross_entropy does) hides the inf but caps a confident mistake at 100 nats. Use "
            "softplus(l) - x * l."
        )
    if not math.isclose(got, expected, rel_tol=1e-4):
        raise Incorrect(
            f"at logits of +-200 your loss is {got:.4f}, expected {expected:.4f}; use "
            "softplus(l) - x * l for the reconstruction term."
        )
    return (
        "this is vae_loss: the negative ELBO per image, PyTorch's examples/vae's test loss, and the number "
        "papers report for MNIST (in nats)."
    )


# ----------------------------------------------------------------------------- 4. a straight line in latent space
@exercise("Linear interpolation between two latent codes")
def check_interpolation(interpolate_codes: Callable[[torch.Tensor, torch.Tensor, int], Any]) -> str:
    """``interpolate_codes(z_start, z_end, steps)``: (steps, D), row i = (1 - t) z_start + t z_end, t = i/(steps-1)."""
    gen = torch.Generator().manual_seed(5)
    for steps, dim in ((5, 3), (2, 4), (7, 2)):
        a, b = torch.randn(dim, generator=gen), torch.randn(dim, generator=gen)
        t = torch.linspace(0, 1, steps).unsqueeze(1)
        expected = (1 - t) * a + t * b
        what = f"interpolate_codes(z_start, z_end, steps={steps})"
        got = _as_result(call_learner(interpolate_codes, a, b, steps, forbidden=BUILT_IN_INTERPOLATION), what)
        if tuple(got.shape) == (dim, steps) and dim != steps:
            raise Incorrect(
                f"{what} has shape {(dim, steps)}: rows and columns swapped. Return one code per row, "
                f"shape (steps, latent_dim) = {(steps, dim)}."
            )
        if tuple(got.shape) in ((steps - 1, dim), (steps + 1, dim)):
            raise Incorrect(
                f"{what} has {got.shape[0]} rows, expected {steps}: the line should start exactly at "
                "z_start and end exactly at z_end, steps codes in all (torch.linspace(0, 1, steps) gives "
                "the t values)."
            )
        if tuple(got.shape) != (steps, dim):
            raise Incorrect(f"{what} has shape {tuple(got.shape)}, expected {(steps, dim)}: one code per row.")
        expect_finite(got, expected, what)
        if _same(got, expected.flip(0)):
            raise Incorrect(f"{what} runs backwards: the first row should be z_start and the last z_end.")
        if _same(got[0], a) and not _same(got[-1], b):
            tail = torch.arange(steps).unsqueeze(1) / steps
            if _same(got, (1 - tail) * a + tail * b):
                raise Incorrect(
                    f"{what} stops short of z_end: t = i / steps never reaches 1. Use "
                    "t = i / (steps - 1), i.e. torch.linspace(0, 1, steps)."
                )
            raise Incorrect(f"{what}'s last row should be z_end exactly.")
        if not _same(got, expected):
            raise Incorrect(
                f"{what} has the right shape but not the right codes: row i should be "
                "(1 - t) * z_start + t * z_end with t = i / (steps - 1)."
            )
    # z_end - z_start overflows float32 here (about -6e38 is past 3.4e38), while (1 - t) a + t b stays finite.
    a, b = torch.full((2,), 3e38), torch.full((2,), -3e38)
    t = torch.linspace(0, 1, 3).unsqueeze(1)
    expected = (1 - t) * a + t * b
    got = _as_result(
        call_learner(interpolate_codes, a, b, 3, forbidden=BUILT_IN_INTERPOLATION), "your codes between 3e38 and -3e38"
    )
    if tuple(got.shape) == (3, 2) and not torch.isfinite(got).all():
        raise Incorrect(
            "between codes of 3e38 and -3e38 your line has inf or NaN: z_end - z_start overflows float32 "
            "(its largest number is 3.4e38). Write it as (1 - t) * z_start + t * z_end, which never forms "
            "the difference."
        )
    expect_finite(got, expected, "your codes between 3e38 and -3e38")
    if not _same(got, expected, rtol=1e-4, atol=1e32):
        raise Incorrect("between codes of 3e38 and -3e38 your line is off; use (1 - t) * z_start + t * z_end.")
    return (
        "decoding these codes morphs one digit into the other; in a VAE's latent space the digits on the way "
        "look like digits, which a plain autoencoder does not promise."
    )


#: This chapter's exercises in notebook order, for a grader: the checker and the notebook variables it reads.
EXERCISES = [
    Exercise(id="reparameterize", checker=check_reparameterize, names=("reparameterize",)),
    Exercise(id="kl_divergence", checker=check_kl_divergence, names=("kl_divergence",)),
    Exercise(id="elbo_loss", checker=check_elbo_loss, names=("elbo_loss",)),
    Exercise(id="interpolation", checker=check_interpolation, names=("interpolate_codes",)),
]
