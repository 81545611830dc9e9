r"""The pieces of a variational autoencoder (变分自编码器), written from the math.

A VAE's encoder gives, for each image :math:`x`, a diagonal Gaussian
:math:`q(z\mid x) = \mathcal N(\mu, \operatorname{diag}\sigma^2)` over the latent code; the decoder
gives :math:`p(x\mid z)`, one Bernoulli per pixel, as logits. Training maximises the evidence
lower bound (证据下界, ELBO)

.. math::
    \log p(x) \ \ge\ \mathbb E_{q(z\mid x)}[\log p(x\mid z)] - \mathrm{KL}\big(q(z\mid x)\,\|\,\mathcal N(0, I)\big).

The reduction matters and is stated once here: each term is **summed over pixels and over
latent dimensions** (it is one log-density per image) and **averaged over the batch**.
Averaging over pixels instead (``vae_loss_pixel_mean``, kept to show the bug on purpose)
divides the reconstruction term by 784 while the KL term stays whole, so the KL wins: the
model learns to ignore its input and decodes blurry, near-identical digits.

Encoders output :math:`\log\sigma^2` (``logvar``), not :math:`\sigma`: any real number is a
valid log-variance, so the network needs no constraint. Tests in tests/test_scratch_vae.py
check each piece against ``torch.distributions`` and Monte-Carlo estimates.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F

from ..arguments import check_float_tensor, check_number, check_whole_number

__all__ = [
    "VAEOutput",
    "reparameterize",
    "kl_to_standard_normal",
    "kl_per_dimension",
    "active_units",
    "bernoulli_nll_from_logits",
    "vae_loss",
    "vae_loss_pixel_mean",
    "importance_sampled_log_likelihood",
]

_LOG_2PI = math.log(2.0 * math.pi)


class VAEOutput(NamedTuple):
    """A VAE's ``forward`` output: decoder logits (shaped like the input), the encoder's ``mu``, ``logvar`` (N, D)."""

    logits: torch.Tensor
    mu: torch.Tensor
    logvar: torch.Tensor


# ----------------------------------------------------------------------------- checks
def _check_gaussian(mu: torch.Tensor, logvar: torch.Tensor, where: str) -> None:
    """``mu`` and ``logvar`` are both ``(batch, latent_dim)`` float tensors of the same shape."""
    check_float_tensor(mu, "mu", where)
    check_float_tensor(logvar, "logvar", where)
    if mu.dim() != 2:
        raise ValueError(
            f"{where}: mu should have shape (batch, latent_dim), got {tuple(mu.shape)}; "
            "for a single example use mu.unsqueeze(0)."
        )
    if logvar.shape != mu.shape:
        raise ValueError(
            f"{where}: mu and logvar must have the same shape (one mean and one log-variance per "
            f"latent dimension), got mu {tuple(mu.shape)} and logvar {tuple(logvar.shape)}."
        )


def _check_beta(beta: float) -> None:
    check_number("beta, the weight of the KL term,", beta, at_least=0)


def _standard_normal_like(mu: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Noise shaped like ``mu``, drawn where ``generator`` lives (a CPU generator works for a GPU ``mu``)."""
    device = generator.device if generator is not None else mu.device
    return torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=device).to(mu.device)


# ----------------------------------------------------------------------------- reparameterisation
def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    r"""A sample :math:`z = \mu + \sigma\varepsilon` of :math:`q(z\mid x)`, :math:`\varepsilon \sim \mathcal N(0, I)`.

    The reparameterisation trick (重参数化技巧): the randomness sits in :math:`\varepsilon`,
    which does not depend on the encoder, so gradients flow from :math:`z` back into
    :math:`\mu` and :math:`\log\sigma^2` (:math:`\partial z/\partial\mu = 1`,
    :math:`\partial z/\partial\sigma = \varepsilon`). Pass a ``generator`` for repeatable noise.
    """
    _check_gaussian(mu, logvar, "reparameterize")
    eps = _standard_normal_like(mu, generator)
    return mu + torch.exp(0.5 * logvar) * eps


# ----------------------------------------------------------------------------- KL term
def _kl_elementwise(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    # KL(N(mu, s^2) || N(0, 1)) = 1/2 (mu^2 + s^2 - 1 - log s^2), per latent dimension
    return 0.5 * (mu.pow(2) + torch.exp(logvar) - 1.0 - logvar)


def kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    r"""KL divergence (KL 散度) from :math:`\mathcal N(\mu, \operatorname{diag}\sigma^2)` to :math:`\mathcal N(0, I)`.

    .. math:: \mathrm{KL} = \tfrac12 \sum_{d} \left(\mu_d^2 + \sigma_d^2 - 1 - \log\sigma_d^2\right)

    summed over the latent dimensions; returns shape ``(batch,)``. It is 0 exactly when
    :math:`\mu = 0, \sigma = 1`: the prior itself.
    """
    _check_gaussian(mu, logvar, "kl_to_standard_normal")
    return _kl_elementwise(mu, logvar).sum(dim=1)


def kl_per_dimension(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """The KL term of each latent dimension, averaged over the batch: shape ``(latent_dim,)``.

    A dimension whose KL stays near 0 for every image carries no information about the input:
    that is posterior collapse, seen one dimension at a time.
    """
    _check_gaussian(mu, logvar, "kl_per_dimension")
    return _kl_elementwise(mu, logvar).mean(dim=0)


def active_units(mu: torch.Tensor, threshold: float = 0.01) -> int:
    r"""How many latent dimensions the encoder uses: those whose mean :math:`\mu_d(x)` varies across inputs.

    Burda et al. (2016) count dimension :math:`d` as active when :math:`\operatorname{Var}_x \mu_d(x) > 0.01`;
    ``mu`` is the encoder's means for many inputs, shape ``(batch, latent_dim)``.
    """
    check_float_tensor(mu, "mu", "active_units")
    if mu.dim() != 2 or len(mu) < 2:
        raise ValueError(
            f"active_units: mu should be the means of at least 2 examples, shape (batch, latent_dim); "
            f"got {tuple(mu.shape)}."
        )
    return int((mu.var(dim=0) > threshold).sum())


# ----------------------------------------------------------------------------- reconstruction term
def bernoulli_nll_from_logits(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    r""":math:`-\log p(x\mid z)` for one Bernoulli per pixel given as logits, summed over pixels: shape ``(batch,)``.

    With :math:`p = \sigma(\ell)`, :math:`-[x\log p + (1-x)\log(1-p)] = \operatorname{softplus}(\ell) - x\,\ell`,
    where :math:`\operatorname{softplus}(\ell) = \log(1 + e^{\ell})`. This never forms :math:`p`, so it
    stays exact where :math:`\sigma(\ell)` rounds to 0 or 1 (logits of :math:`\pm1000` give finite
    values). Grey-level :math:`x \in [0, 1]` is allowed: it is the binary cross-entropy PyTorch's
    examples/vae sums (strictly a likelihood only for binary :math:`x`).
    """
    check_float_tensor(logits, "logits", "bernoulli_nll_from_logits")
    check_float_tensor(x, "x", "bernoulli_nll_from_logits")
    if logits.shape != x.shape:
        raise ValueError(
            f"bernoulli_nll_from_logits: logits and x must have the same shape (one logit per pixel), "
            f"got logits {tuple(logits.shape)} and x {tuple(x.shape)}."
        )
    if x.dim() < 2:
        raise ValueError(
            f"bernoulli_nll_from_logits: expected a batch, shape (batch, pixels...), got "
            f"{tuple(x.shape)}; for a single image use x.unsqueeze(0)."
        )
    if x.numel():
        low, high = (float(v) for v in torch.aminmax(x.detach()))
        if low < 0 or high > 1:
            raise ValueError(
                f"bernoulli_nll_from_logits: x should hold pixel intensities in [0, 1], got values from "
                f"{low:g} to {high:g}; images stored as 0-255 need dividing by 255."
            )
    return (F.softplus(logits) - x * logits).flatten(start_dim=1).sum(dim=1)


# ----------------------------------------------------------------------------- the ELBO
def _unpack(output: object, x: torch.Tensor, where: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    if isinstance(output, torch.Tensor) or not isinstance(output, (tuple, list)) or len(output) != 3:
        got = "a single tensor" if isinstance(output, torch.Tensor) else f"a {type(output).__name__}"
        raise TypeError(
            f"{where} expects a VAE's output (logits, mu, logvar), got {got}; "
            "a plain autoencoder's loss is bernoulli_nll_from_logits(logits, x).mean()."
        )
    logits, mu, logvar = output
    _check_gaussian(mu, logvar, where)
    check_float_tensor(x, "x", where)
    if len(mu) != len(x):
        raise ValueError(
            f"{where}: {len(x)} images but {len(mu)} latent codes; the encoder's mu and the batch x must "
            "have the same length."
        )
    return logits, mu, logvar


def _loss_parts(reconstruction: torch.Tensor, kl: torch.Tensor, beta: float) -> dict[str, torch.Tensor]:
    return {"loss": (reconstruction + beta * kl).mean(), "reconstruction": reconstruction.mean(), "kl": kl.mean()}


def vae_loss(output: VAEOutput | tuple, x: torch.Tensor, beta: float = 1.0) -> dict[str, torch.Tensor]:
    r"""The VAE's training loss and its parts, each averaged over the batch (scalars).

    - ``"reconstruction"``: :math:`-\log p(x\mid z)` summed over pixels (one sample of :math:`z`);
    - ``"kl"``: :math:`\mathrm{KL}(q(z\mid x)\,\|\,\mathcal N(0,I))` summed over latent dimensions;
    - ``"loss"``: reconstruction :math:`+\ \beta\cdot` KL, what to minimise.

    With ``beta=1`` (the default) ``"loss"`` is the negative ELBO per image, the number PyTorch's
    examples/vae reports as its test loss; for any beta the negative ELBO is reconstruction + kl.
    ``output`` is ``(logits, mu, logvar)`` as a VAE's forward returns it, so ``fit(model, loader,
    vae_loss, ...)`` works with batches of ``(images, images)``.
    """
    _check_beta(beta)
    logits, mu, logvar = _unpack(output, x, "vae_loss")
    return _loss_parts(bernoulli_nll_from_logits(logits, x), _kl_elementwise(mu, logvar).sum(dim=1), beta)


def vae_loss_pixel_mean(output: VAEOutput | tuple, x: torch.Tensor, beta: float = 1.0) -> dict[str, torch.Tensor]:
    """WRONG ON PURPOSE: ``vae_loss`` with the reconstruction averaged over pixels instead of summed.

    The classic bug (``F.binary_cross_entropy``'s default ``reduction="mean"``, Keras'
    ``binary_crossentropy`` per pixel): the reconstruction term shrinks 784-fold on MNIST while
    the KL term does not, as if beta were 784. Kept so chapter 09 can show the blurry,
    identical digits it produces; train with ``vae_loss``.
    """
    _check_beta(beta)
    logits, mu, logvar = _unpack(output, x, "vae_loss_pixel_mean")
    pixels = x[0].numel()
    return _loss_parts(bernoulli_nll_from_logits(logits, x) / pixels, _kl_elementwise(mu, logvar).sum(dim=1), beta)


# ----------------------------------------------------------------------------- importance sampling
def _standard_normal_log_density(z: torch.Tensor) -> torch.Tensor:
    return -0.5 * (z.pow(2) + _LOG_2PI).sum(dim=1)


def importance_sampled_log_likelihood(
    mu: torch.Tensor,
    logvar: torch.Tensor,
    log_likelihood: Callable[[torch.Tensor], torch.Tensor],
    k: int,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""An estimate of :math:`\log p(x)` from :math:`k` samples of :math:`q(z\mid x)`: shape ``(batch,)``.

    .. math::
        \log p(x) \approx \log \frac1k \sum_{i=1}^k \frac{p(x\mid z_i)\,p(z_i)}{q(z_i\mid x)},\qquad z_i \sim q(z\mid x)

    computed as a log-mean-exp of the log-weights (never exponentiating a log-density of -100
    or less, which would round to 0). With ``k=1`` it is one sample of the ELBO; its average
    rises with ``k`` towards :math:`\log p(x)` (Burda et al., 2016, the IWAE bound), and it is
    exact for every ``k`` when :math:`q` is the true posterior. ``mu`` and ``logvar`` are the
    encoder's outputs for the batch; ``log_likelihood(z)`` returns :math:`\log p(x\mid z)` for a
    ``(batch, latent_dim)`` sample, shape ``(batch,)``, e.g. ``lambda z: -bernoulli_nll_from_logits(decode(z), x)``.
    """
    _check_gaussian(mu, logvar, "importance_sampled_log_likelihood")
    check_whole_number("k", k, 1, unit="samples")
    std = torch.exp(0.5 * logvar)
    log_weights = []
    for _ in range(k):
        eps = _standard_normal_like(mu, generator)
        z = mu + std * eps
        log_px_given_z = log_likelihood(z)
        if not isinstance(log_px_given_z, torch.Tensor) or log_px_given_z.shape != (len(mu),):
            is_tensor = isinstance(log_px_given_z, torch.Tensor)
            got = tuple(log_px_given_z.shape) if is_tensor else type(log_px_given_z).__name__
            raise ValueError(
                f"importance_sampled_log_likelihood: log_likelihood(z) should return one log p(x|z) per "
                f"example, shape ({len(mu)},), got {got}."
            )
        log_q = -0.5 * (eps.pow(2) + logvar + _LOG_2PI).sum(dim=1)  # log N(z; mu, std^2), with (z - mu)/std = eps
        log_weights.append(log_px_given_z + _standard_normal_log_density(z) - log_q)
    return torch.logsumexp(torch.stack(log_weights), dim=0) - math.log(k)
