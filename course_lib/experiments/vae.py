r"""Chapter 09's experiments with variational autoencoders: training, the beta sweep, the latent space.

- ``train_vae``: one VAE trained through ``course_lib.train.fit`` with the ELBO's parts recorded
  (a one-cycle learning rate, batches drawn from a seeded generator, so a seed gives the same run);
  ``tools/train_vae.py`` uses it to make the weights the course ships, and the chapter to train
  its own.
- ``vae_summary``: what a trained VAE does on held-out images: reconstruction and KL terms, the KL
  of each latent dimension and the number of active units (posterior collapse in numbers).
- ``run_beta_sweep`` / ``load_beta_sweep``: the same small VAE trained with several weights
  :math:`\beta` on the KL term, with a few reconstructions and prior samples of each kept for the
  explorer (the shipped sweep is precomputed by ``tools/train_vae.py``).
- ``decode_latent``, ``latent_grid``, ``interpolate``: walking the latent space (潜在空间) of a
  trained VAE; the explorer in ``widgets.latent_space`` draws what they return.
- ``shipped_vae``: the VAEs the course ships, built and loaded (``SHIPPED_VAES`` says how each is built).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..arguments import check_number, check_whole_number
from ..device import model_device
from ..reproducibility import seed_everything
from ..scratch.vae import active_units, bernoulli_nll_from_logits, kl_per_dimension, vae_loss
from ..vae_models import MLPVAE, VAE, ConvVAE

__all__ = [
    "SHIPPED_VAES",
    "shipped_vae",
    "train_vae",
    "VAESummary",
    "vae_summary",
    "BetaSweep",
    "run_beta_sweep",
    "load_beta_sweep",
    "BETA_SWEEP_FILE",
    "check_vae",
    "decode_latent",
    "latent_grid",
    "encode_means",
    "interpolate",
]

#: How each VAE the course ships is built; the weights are ``checkpoint.SHIPPED_WEIGHTS[name]``,
#: made by ``python tools/train_vae.py``.
SHIPPED_VAES: dict[str, Callable[[], VAE]] = {
    "ch09_conv_vae": lambda: ConvVAE(latent_dim=20, channels=(16, 32), hidden=256),
    "ch09_vae_2d": lambda: MLPVAE(latent_dim=2, hidden=400),
}
#: The precomputed beta sweep (not weights: reconstructions, samples and KL numbers), in SHIPPED_WEIGHTS too.
BETA_SWEEP_FILE = "ch09_beta_sweep"


def shipped_vae(name: str) -> VAE:
    """The shipped VAE ``name`` (``"ch09_conv_vae"``, ``"ch09_vae_2d"``) with its trained weights, in eval mode, on the CPU.

    A missing or damaged weights file raises the same ``MissingDataError`` / ``CorruptDataError``
    as a data file, naming the file and how to get it back.
    """
    from ..checkpoint import load_shipped_weights

    if name not in SHIPPED_VAES:
        raise KeyError(f"{name!r} is not a VAE the course ships; known: {', '.join(SHIPPED_VAES)}.")
    model = SHIPPED_VAES[name]()
    load_shipped_weights(name, model)
    return model.eval()


# ----------------------------------------------------------------------------- training
def train_vae(
    model: VAE,
    train_images: torch.Tensor,
    epochs: int,
    *,
    beta: float = 1.0,
    loss: Callable[..., dict[str, torch.Tensor]] = vae_loss,
    max_lr: float = 3e-3,
    batch_size: int = 128,
    seed: int = 0,
    val_images: torch.Tensor | None = None,
    device: torch.device | str | None = None,
    progress: bool = True,
    callbacks: Sequence = (),
):
    """Train ``model`` on ``train_images`` (N, 1, 28, 28) in [0, 1] for ``epochs``; return fit's ``History``.

    Adam with a one-cycle learning rate peaking at ``max_lr`` (``bench/vae.py`` compares it with
    PyTorch's example, a constant 1e-3), batches of ``batch_size`` in an order drawn from ``seed``.
    ``loss`` is ``vae_loss`` (or ``vae_loss_pixel_mean`` to show that bug), called with ``beta``;
    the history holds ``train_reconstruction`` and ``train_kl`` beside ``train_loss`` (and
    ``val_`` ones when ``val_images`` are given).
    """
    from ..data import TensorBatchLoader
    from ..train import fit

    if not isinstance(model, VAE):
        raise TypeError(f"train_vae trains a VAE (MLPVAE, ConvVAE), got a {type(model).__name__}.")
    check_whole_number("epochs", epochs, 1)
    check_number("beta, the weight of the KL term,", beta, at_least=0)
    generator = torch.Generator().manual_seed(seed)
    train = TensorBatchLoader(train_images, train_images, batch_size=batch_size, shuffle=True, generator=generator)
    val = None if val_images is None else TensorBatchLoader(val_images, val_images, batch_size=1000)
    optimizer = torch.optim.Adam(model.parameters(), lr=max_lr)
    steps = math.ceil(len(train_images) / batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, epochs=epochs, steps_per_epoch=steps)
    loss_fn = functools.partial(loss, beta=beta)
    return fit(
        model,
        train,
        loss_fn,
        optimizer,
        epochs,
        val_data=val,
        device=device,
        scheduler=scheduler,
        progress=progress,
        callbacks=list(callbacks),
    )


# ----------------------------------------------------------------------------- what a VAE learned
@dataclass
class VAESummary:
    """A trained VAE on held-out images (per image, in nats): its ELBO's parts and how it uses its latent code."""

    reconstruction: float
    kl: float
    kl_per_dim: list[float]
    active_units: int

    @property
    def negative_elbo(self) -> float:
        return self.reconstruction + self.kl

    def __str__(self) -> str:
        dims = " ".join(f"{v:.2f}" for v in self.kl_per_dim)
        return (
            f"negative ELBO {self.negative_elbo:.2f} = reconstruction {self.reconstruction:.2f} + KL {self.kl:.2f}"
            f"; active units {self.active_units} of {len(self.kl_per_dim)}; KL per dimension: {dims}"
        )


@torch.no_grad()
def vae_summary(model: VAE, images: torch.Tensor, seed: int = 0, batch_size: int = 1000) -> VAESummary:
    """Reconstruction and KL terms (one sample of z per image, drawn from ``seed``), KL per dimension, active units."""
    check_vae(model, "vae_summary")
    device = model_device(model)
    was_training = model.training
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    reconstruction, mus, logvars = [], [], []
    try:
        for start in range(0, len(images), batch_size):
            x = images[start : start + batch_size].to(device)
            mu, logvar = model.encode(x)
            eps = torch.randn(mu.shape, generator=generator).to(device)
            logits = model.decode(mu + torch.exp(0.5 * logvar) * eps)
            reconstruction.append(bernoulli_nll_from_logits(logits, x).cpu())
            mus.append(mu.cpu())
            logvars.append(logvar.cpu())
    finally:
        model.train(was_training)
    mu, logvar = torch.cat(mus), torch.cat(logvars)
    per_dim = kl_per_dimension(mu, logvar)
    return VAESummary(
        float(torch.cat(reconstruction).mean()), float(per_dim.sum()), [float(v) for v in per_dim], active_units(mu)
    )


# ----------------------------------------------------------------------------- the beta sweep
@dataclass
class BetaSweep:
    """One small VAE per ``beta``, measured on test images; ``originals`` are the images reconstructed.

    Arrays: ``reconstructions`` (betas, n, 28, 28) and ``samples`` (betas, m, 28, 28) are pixel
    probabilities; ``kl_per_dim`` is (betas, latent_dim).
    """

    betas: list[float]
    reconstruction: list[float]
    kl: list[float]
    kl_per_dim: np.ndarray
    active_units: list[int]
    originals: np.ndarray
    reconstructions: np.ndarray
    samples: np.ndarray

    def index(self, beta: float) -> int:
        """The position of ``beta`` in the sweep; an error names the betas there are."""
        check_number("beta", beta, at_least=0)
        for i, b in enumerate(self.betas):
            if math.isclose(b, beta, rel_tol=1e-6, abs_tol=1e-9):
                return i
        raise ValueError(
            f"beta = {beta:g} is not in this sweep; choose one of {', '.join(f'{b:g}' for b in self.betas)}."
        )

    def table(self) -> str:
        rows = [f"{'beta':>6}{'reconstruction':>16}{'KL':>8}{'-ELBO':>9}{'active units':>14}"]
        for i, beta in enumerate(self.betas):
            rec, kl = self.reconstruction[i], self.kl[i]
            rows.append(
                f"{beta:>6g}{rec:>16.1f}{kl:>8.1f}{rec + kl:>9.1f}{self.active_units[i]:>9d} of {self.kl_per_dim.shape[1]}"
            )
        return "\n".join(rows)

    def to_tensors(self) -> dict[str, torch.Tensor]:
        """Tensors for a safetensors file (images as float16: they are only drawn)."""
        return {
            "betas": torch.tensor(self.betas, dtype=torch.float64),
            "reconstruction": torch.tensor(self.reconstruction, dtype=torch.float64),
            "kl": torch.tensor(self.kl, dtype=torch.float64),
            "kl_per_dim": torch.from_numpy(np.asarray(self.kl_per_dim, dtype=np.float64)),
            "active_units": torch.tensor(self.active_units, dtype=torch.int64),
            "originals": torch.from_numpy(np.asarray(self.originals)).to(torch.float16),
            "reconstructions": torch.from_numpy(np.asarray(self.reconstructions)).to(torch.float16),
            "samples": torch.from_numpy(np.asarray(self.samples)).to(torch.float16),
        }

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor]) -> BetaSweep:
        return cls(
            betas=tensors["betas"].tolist(),
            reconstruction=tensors["reconstruction"].tolist(),
            kl=tensors["kl"].tolist(),
            kl_per_dim=tensors["kl_per_dim"].numpy(),
            active_units=[int(v) for v in tensors["active_units"]],
            originals=tensors["originals"].float().numpy(),
            reconstructions=tensors["reconstructions"].float().numpy(),
            samples=tensors["samples"].float().numpy(),
        )


def run_beta_sweep(
    betas: Sequence[float],
    train_images: torch.Tensor,
    test_images: torch.Tensor,
    epochs: int,
    *,
    make_model: Callable[[], VAE] = lambda: MLPVAE(latent_dim=10, hidden=256),
    shown: int = 8,
    sampled: int = 16,
    seed: int = 0,
    progress: bool = True,
) -> BetaSweep:
    """Train one VAE per beta (same seed, same batches) and measure each on ``test_images``.

    Each model starts from the same weights (the seed is reset before it is built) and sees the
    batches in the same order, so the rows differ only by beta. The first ``shown`` test images
    are reconstructed (from their means) and ``sampled`` codes drawn from the prior, the same
    codes for every beta.
    """
    if not betas:
        raise ValueError("run_beta_sweep needs at least one beta, e.g. betas=(0.5, 1, 4).")
    for beta in betas:
        check_number("beta, the weight of the KL term,", beta, at_least=0)
    rows = []
    for beta in betas:
        seed_everything(seed)
        model = make_model()
        train_vae(model, train_images, epochs, beta=beta, seed=seed, progress=progress, device="cpu")
        model.eval()
        summary = vae_summary(model, test_images, seed=seed)
        with torch.no_grad():
            mu, _ = model.encode(test_images[:shown])
            recon = torch.sigmoid(model.decode(mu))[:, 0]
            z = torch.randn(sampled, model.latent_dim, generator=torch.Generator().manual_seed(seed))
            samples = torch.sigmoid(model.decode(z))[:, 0]
        rows.append((summary, recon.numpy(), samples.numpy()))
    return BetaSweep(
        betas=[float(b) for b in betas],
        reconstruction=[s.reconstruction for s, _, _ in rows],
        kl=[s.kl for s, _, _ in rows],
        kl_per_dim=np.array([s.kl_per_dim for s, _, _ in rows]),
        active_units=[s.active_units for s, _, _ in rows],
        originals=test_images[:shown, 0].numpy(),
        reconstructions=np.stack([r for _, r, _ in rows]),
        samples=np.stack([m for _, _, m in rows]),
    )


def load_beta_sweep() -> BetaSweep:
    """The precomputed beta sweep the course ships (made by ``python tools/train_vae.py``), checksum-verified."""
    from ..checkpoint import load_shipped_tensors

    return BetaSweep.from_tensors(load_shipped_tensors(BETA_SWEEP_FILE))


# ----------------------------------------------------------------------------- the latent space
def check_vae(model: object, where: str) -> VAE:
    """``model`` itself if it is a VAE; otherwise a one-sentence TypeError saying what is needed."""
    if not isinstance(model, VAE):
        kind = f"the class {model.__name__}" if isinstance(model, type) else f"a {type(model).__name__}"
        hint = " (a plain autoencoder has no prior to sample from)" if isinstance(model, nn.Module) else ""
        raise TypeError(f"{where} needs a trained VAE (MLPVAE or ConvVAE), got {kind}{hint}.")
    return model


@torch.no_grad()
def decode_latent(model: VAE, z: Sequence[float] | np.ndarray | torch.Tensor) -> np.ndarray:
    """The pixel probabilities (28, 28) the decoder gives for one latent code, or (N, 28, 28) for N codes.

    ``z`` has ``model.latent_dim`` numbers (or N rows of them); any other size is a one-sentence ValueError.
    """
    check_vae(model, "decode_latent")
    codes = torch.as_tensor(np.asarray(z, dtype=np.float32) if not isinstance(z, torch.Tensor) else z.float())
    single = codes.dim() == 1
    codes = codes.reshape(1, -1) if single else codes
    if codes.dim() != 2 or codes.shape[1] != model.latent_dim:
        raise ValueError(
            f"This VAE's latent codes have {model.latent_dim} numbers, but the code given has shape "
            f"{tuple(torch.as_tensor(np.asarray(z)).shape) if not isinstance(z, torch.Tensor) else tuple(z.shape)}."
        )
    if not torch.isfinite(codes).all():
        raise ValueError(
            "The latent code holds NaN or infinite numbers; give finite numbers (the prior puts most "
            "codes within -3 to 3)."
        )
    was_training = model.training
    model.eval()
    try:
        images = torch.sigmoid(model.decode(codes.to(model_device(model))))[:, 0].cpu().numpy()
    finally:
        model.train(was_training)
    return images[0] if single else images


def latent_grid(model: VAE, n: int = 15, span: float = 3.0) -> np.ndarray:
    """A 2-D VAE's latent plane from -span to span on both axes, decoded: one (28n, 28n) image.

    Row 0 is the top of the plane (largest z2), as in a plot whose y axis points up.
    """
    check_vae(model, "latent_grid")
    if model.latent_dim != 2:
        raise ValueError(f"latent_grid lays out a 2-D latent space; this VAE's codes have {model.latent_dim} numbers.")
    check_whole_number("n", n, 2, unit="images per side")
    check_number("span", span, above=0)
    ticks = np.linspace(-span, span, n, dtype=np.float32)
    codes = np.array([[z1, z2] for z2 in ticks[::-1] for z1 in ticks], dtype=np.float32)
    digits = decode_latent(model, codes).reshape(n, n, 28, 28)
    return digits.transpose(0, 2, 1, 3).reshape(n * 28, n * 28)


@torch.no_grad()
def encode_means(model: VAE, images: torch.Tensor, batch_size: int = 1000) -> np.ndarray:
    """The encoder's means mu(x), (N, latent_dim): where each image sits in the latent space."""
    check_vae(model, "encode_means")
    device = model_device(model)
    was_training = model.training
    model.eval()
    try:
        means = [
            model.encode(images[s : s + batch_size].to(device))[0].cpu() for s in range(0, len(images), batch_size)
        ]
    finally:
        model.train(was_training)
    return torch.cat(means).numpy()


def interpolate(z_start: torch.Tensor, z_end: torch.Tensor, steps: int) -> torch.Tensor:
    """``steps`` codes evenly spaced on the straight line from ``z_start`` to ``z_end`` (both included): (steps, D)."""
    if not isinstance(z_start, torch.Tensor) or not isinstance(z_end, torch.Tensor) or z_start.shape != z_end.shape:
        raise ValueError("interpolate needs two latent codes as tensors of the same shape (latent_dim,).")
    check_whole_number("steps", steps, 2)
    t = torch.linspace(0, 1, steps, dtype=z_start.dtype).unsqueeze(1)
    return (1 - t) * z_start.reshape(1, -1) + t * z_end.reshape(1, -1)
