"""The models chapter 09 trains on MNIST: a plain autoencoder (自编码器), an MLP VAE and a convolutional VAE.

Every model takes images ``(N, 1, 28, 28)`` with values in [0, 1] and decodes to **logits**
of the same shape (one Bernoulli per pixel; no sigmoid at the end, because the loss
``scratch.vae.bernoulli_nll_from_logits`` works from logits, which is exact where a sigmoid
would round to 0 or 1). ``torch.sigmoid(model.decode(z))`` gives the pixel probabilities to
draw. A VAE's ``forward`` returns ``VAEOutput(logits, mu, logvar)``, what ``vae_loss`` takes,
and samples the latent code (潜在空间 is the space it lives in) even in eval mode: one sample
of the ELBO is what PyTorch's examples/vae reports as its test loss.

Their Keras twins, with the same layer sizes and parameter counts, are in
``course_lib.keras_vae_models``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .arguments import check_whole_number
from .device import model_device
from .scratch.vae import VAEOutput, bernoulli_nll_from_logits, importance_sampled_log_likelihood, reparameterize

__all__ = ["Autoencoder", "VAE", "MLPVAE", "ConvVAE", "estimate_log_likelihood"]

IMAGE_SHAPE = (1, 28, 28)
PIXELS = 28 * 28


def _check_images(x: torch.Tensor, model: str) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or tuple(x.shape[1:]) != IMAGE_SHAPE:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(
            f"{model} expects a batch of MNIST images of shape (N, 1, 28, 28), got {got}; "
            "reshape flat rows with x.view(-1, 1, 28, 28)."
        )


def _check_latent(z: torch.Tensor, latent_dim: int, model: str) -> None:
    if not isinstance(z, torch.Tensor) or z.dim() != 2 or z.shape[1] != latent_dim:
        got = tuple(z.shape) if isinstance(z, torch.Tensor) else f"a {type(z).__name__}"
        raise ValueError(
            f"{model}.decode expects latent vectors of size {latent_dim}, a tensor of shape "
            f"(N, {latent_dim}), but got {got} (a single vector z needs z.unsqueeze(0))."
        )


class Autoencoder(nn.Module):
    """A plain autoencoder: image -> ``hidden`` -> code of ``latent_dim`` numbers -> ``hidden`` -> image logits.

    It learns to compress and rebuild, but nothing shapes its code space: codes of digits sit
    wherever they land, with holes between them, and there is no distribution to sample new codes from.
    """

    def __init__(self, latent_dim: int = 20, hidden: int = 400) -> None:
        super().__init__()
        check_whole_number("latent_dim", latent_dim, 1)
        check_whole_number("hidden", hidden, 1, unit="units")
        self.latent_dim = latent_dim
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(PIXELS, hidden), nn.ReLU(), nn.Linear(hidden, latent_dim))
        self.decoder = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, PIXELS))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The code ``(N, latent_dim)`` of images ``(N, 1, 28, 28)``."""
        _check_images(x, type(self).__name__)
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Pixel logits ``(N, 1, 28, 28)`` for codes ``(N, latent_dim)``."""
        _check_latent(z, self.latent_dim, type(self).__name__)
        return self.decoder(z).view(-1, *IMAGE_SHAPE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


class VAE(nn.Module):
    """What every VAE here shares: a Gaussian encoder, ``forward`` through the reparameterisation trick, ``sample``.

    A subclass builds ``encoder`` (images to features), ``to_mu`` and ``to_logvar`` (features
    to the ``latent_dim`` means and log-variances of q(z|x)), and ``decoder`` (codes to 784 logits).
    """

    latent_dim: int
    encoder: nn.Module
    to_mu: nn.Module
    to_logvar: nn.Module
    decoder: nn.Module

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mu, logvar)``, each ``(N, latent_dim)``: the Gaussian q(z|x) for each image."""
        _check_images(x, type(self).__name__)
        h = self.encoder(x)
        return self.to_mu(h), self.to_logvar(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Pixel logits ``(N, 1, 28, 28)`` of p(x|z) for codes ``(N, latent_dim)``."""
        _check_latent(z, self.latent_dim, type(self).__name__)
        return self.decoder(z).view(-1, *IMAGE_SHAPE)

    def forward(self, x: torch.Tensor) -> VAEOutput:
        mu, logvar = self.encode(x)
        return VAEOutput(self.decode(reparameterize(mu, logvar)), mu, logvar)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` new images: codes drawn from the prior N(0, I), decoded to pixel probabilities ``(n, 1, 28, 28)``."""
        check_whole_number("n", n, 1, unit="images")
        z = torch.randn(n, self.latent_dim, generator=generator).to(model_device(self))
        return torch.sigmoid(self.decode(z))


class MLPVAE(VAE):
    """The VAE of PyTorch's examples/vae: 784 -> 400 -> (mu, logvar) of 20, and 20 -> 400 -> 784 (652,824 parameters).

    The only change from the example is that the decoder ends in logits rather than a sigmoid
    (see the module's docstring); the function it computes is the same.
    """

    def __init__(self, latent_dim: int = 20, hidden: int = 400) -> None:
        super().__init__()
        check_whole_number("latent_dim", latent_dim, 1)
        check_whole_number("hidden", hidden, 1, unit="units")
        self.latent_dim = latent_dim
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(PIXELS, hidden), nn.ReLU())
        self.to_mu = nn.Linear(hidden, latent_dim)
        self.to_logvar = nn.Linear(hidden, latent_dim)
        self.decoder = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, PIXELS))


class ConvVAE(VAE):
    """A small convolutional VAE: two stride-2 convolutions down (28 -> 14 -> 7), two transposed ones up.

    Encoder: conv 4x4 stride 2 (``channels[0]``) -> ReLU -> conv 4x4 stride 2 (``channels[1]``)
    -> ReLU -> flatten [-> ``hidden`` -> ReLU] -> (mu, logvar). Decoder: the mirror image, ending in a
    transposed convolution to 1 x 28 x 28 logits. ``hidden=None`` leaves out the fully connected
    layer. Convolutions share weights across the image, so strokes are modelled with few parameters.
    """

    def __init__(self, latent_dim: int = 20, channels: Sequence[int] = (32, 64), hidden: int | None = None) -> None:
        super().__init__()
        if len(channels) != 2:
            raise ValueError(
                f"ConvVAE: channels gives the width of the 2 convolutions, e.g. (32, 64); got {channels!r}."
            )
        c1, c2 = channels
        check_whole_number("latent_dim", latent_dim, 1)
        check_whole_number("channels[0]", c1, 1, unit="channels")
        check_whole_number("channels[1]", c2, 1, unit="channels")
        if hidden is not None:
            check_whole_number("hidden", hidden, 1, unit="units")
        features = c2 * 7 * 7
        self.latent_dim = latent_dim
        encoder: list[nn.Module] = [
            nn.Conv2d(1, c1, 4, stride=2, padding=1),
            nn.ReLU(),  # c1 x 14 x 14
            nn.Conv2d(c1, c2, 4, stride=2, padding=1),
            nn.ReLU(),  # c2 x 7 x 7
            nn.Flatten(),
        ]
        decoder: list[nn.Module] = []
        if hidden is not None:
            encoder += [nn.Linear(features, hidden), nn.ReLU()]
            decoder += [nn.Linear(latent_dim, hidden), nn.ReLU()]
        head_width = hidden if hidden is not None else features
        self.encoder = nn.Sequential(*encoder)
        self.to_mu = nn.Linear(head_width, latent_dim)
        self.to_logvar = nn.Linear(head_width, latent_dim)
        self.decoder = nn.Sequential(
            *decoder,
            nn.Linear(hidden if hidden is not None else latent_dim, features),
            nn.ReLU(),
            nn.Unflatten(1, (c2, 7, 7)),
            nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1),
            nn.ReLU(),  # c1 x 14 x 14
            nn.ConvTranspose2d(c1, 1, 4, stride=2, padding=1),  # 1 x 28 x 28 logits
        )


@torch.no_grad()
def estimate_log_likelihood(
    model: VAE, images: torch.Tensor, k: int = 100, batch_size: int = 500, generator: torch.Generator | None = None
) -> torch.Tensor:
    """The importance-sampled estimate of log p(x) with ``k`` samples for each image: shape ``(N,)``, on the CPU.

    ``-estimate_log_likelihood(model, x).mean()`` is the negative log-likelihood per image to
    compare with the negative ELBO: it is lower, and the gap shrinks as ``k`` grows. Runs where
    the model is, ``batch_size`` images at a time.
    """
    if not isinstance(model, VAE):
        raise TypeError(f"estimate_log_likelihood needs a VAE (MLPVAE, ConvVAE), got a {type(model).__name__}.")
    check_whole_number("batch_size", batch_size, 1, unit="images")
    _check_images(images, "estimate_log_likelihood")
    device = model_device(model)
    was_training = model.training
    model.eval()
    estimates = []
    for start in range(0, len(images), batch_size):
        x = images[start : start + batch_size].to(device)
        mu, logvar = model.encode(x)
        log_px_given_z = lambda z, x=x: -bernoulli_nll_from_logits(model.decode(z), x)  # noqa: E731
        estimates.append(importance_sampled_log_likelihood(mu, logvar, log_px_given_z, k, generator).cpu())
    model.train(was_training)
    return torch.cat(estimates)
