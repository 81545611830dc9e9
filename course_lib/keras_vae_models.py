"""Keras twins of ``course_lib.vae_models``: the same layers, sizes and parameter counts.

TensorFlow is imported inside each function (through ``load_tensorflow``), so importing this
module costs nothing until a chapter's Keras section calls it. Images are channels-last
``(N, 28, 28, 1)`` (``keras_models.to_keras_images`` converts), and decoders end in logits.

A plain autoencoder fits Keras' usual mould: ``model.fit(x, x)`` with a loss of
(target, prediction). A VAE does not: its loss needs the encoder's ``mu`` and ``logvar`` as well
as the reconstruction. Keras 3's way, which works on every backend, is to subclass ``keras.Model``
and override ``compute_loss(x, y, y_pred, ...)``: ``fit``, ``evaluate`` and the progress bar stay
Keras' own, and the reconstruction and KL parts are reported beside the loss as metrics.
(The older recipes, a ``train_step`` with ``tf.GradientTape`` or a layer calling
``add_loss``, still work with TensorFlow but tie the model to one backend or to Keras 2 habits.)
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from typing import Any

from .arguments import check_whole_number
from .scratch.vae import _check_beta
from .tensorflow_setup import load_tensorflow

__all__ = ["keras_autoencoder", "keras_mlp_vae", "keras_conv_vae", "bernoulli_nll_loss", "image_batches"]


def _keras() -> Any:
    return load_tensorflow().keras


def image_batches(images: Any, batch_size: int = 128, seed: int = 0) -> Iterator[Any]:
    """Shuffled batches of ``images`` (a NumPy array), epoch after epoch, for ``model.fit(..., steps_per_epoch=...)``.

    ``model.fit(array)`` copies the whole array into TensorFlow, twice over while it trains (about
    0.4 GB more for MNIST's 60,000 images); batches from a generator are copied one at a time,
    which keeps a chapter that has loaded both frameworks under Binder's 2 GB. The order is drawn
    from ``seed``, a new permutation each epoch; the last batch of an epoch may be smaller.
    """
    import numpy as np

    check_whole_number("batch_size", batch_size, 1, unit="images")
    if not hasattr(images, "shape") or len(images) == 0:
        raise ValueError(f"image_batches needs a non-empty NumPy array of images, got {type(images).__name__}.")
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(len(images))
        for start in range(0, len(order), batch_size):
            yield (images[np.sort(order[start : start + batch_size])],)  # a 1-tuple: inputs, no targets


def bernoulli_nll_loss(x: Any, logits: Any) -> Any:
    """Binary cross-entropy from logits summed over pixels, one number per image (``softplus(l) - x*l``).

    Keras' own ``BinaryCrossentropy`` averages over the last axis: with images that is the
    pixel-mean bug of ``scratch.vae.vae_loss_pixel_mean``.
    """
    ops = _keras().ops
    per_pixel = ops.softplus(logits) - x * logits
    return ops.sum(ops.reshape(per_pixel, (ops.shape(per_pixel)[0], -1)), axis=1)


@functools.cache
def _vae_class() -> type:
    """The Keras VAE class, defined on first use so that importing this module does not import TensorFlow."""
    keras = _keras()
    ops = keras.ops

    class KerasVAE(keras.Model):
        """``encoder`` maps images to ``[mu, logvar]``, ``decoder`` maps codes to logits; the loss is ``vae_loss``'s."""

        def __init__(self, encoder: Any, decoder: Any, beta: float = 1.0, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            _check_beta(beta)
            self.encoder, self.decoder, self.beta = encoder, decoder, float(beta)
            self.latent_dim = int(decoder.input_shape[-1])
            self.noise_seed = keras.random.SeedGenerator()
            self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction")
            self.kl_tracker = keras.metrics.Mean(name="kl")

        def call(self, x: Any, training: bool = False) -> tuple[Any, Any, Any]:
            mu, logvar = self.encoder(x, training=training)
            eps = keras.random.normal(ops.shape(mu), seed=self.noise_seed)
            z = mu + ops.exp(0.5 * logvar) * eps  # the reparameterisation trick
            return self.decoder(z, training=training), mu, logvar

        def compute_loss(
            self, x: Any = None, y: Any = None, y_pred: Any = None, sample_weight: Any = None, training: bool = True
        ) -> Any:
            logits, mu, logvar = y_pred
            reconstruction = bernoulli_nll_loss(x, logits)  # summed over pixels
            kl = 0.5 * ops.sum(ops.square(mu) + ops.exp(logvar) - 1.0 - logvar, axis=1)  # summed over latents
            self.reconstruction_tracker.update_state(reconstruction)
            self.kl_tracker.update_state(kl)
            return ops.mean(reconstruction + self.beta * kl)  # averaged over the batch

        def decode(self, z: Any) -> Any:
            """Pixel logits ``(N, 28, 28, 1)`` for codes ``(N, latent_dim)``."""
            shape = tuple(z.shape)
            if len(shape) != 2 or shape[1] != self.latent_dim:
                raise ValueError(
                    f"decode expects latent vectors of size {self.latent_dim}, an array of shape "
                    f"(N, {self.latent_dim}), but got {shape} (a single vector z needs z[None])."
                )
            return self.decoder(z)

    return KerasVAE


def _compile(model: Any, learning_rate: float, loss: Any = None) -> Any:
    model.compile(optimizer=_keras().optimizers.Adam(learning_rate), loss=loss)
    return model


def keras_autoencoder(
    latent_dim: int = 20, hidden: int = 400, compile: bool = True, learning_rate: float = 1e-3
) -> Any:
    """The twin of ``Autoencoder``: 784 -> hidden -> latent_dim -> hidden -> 784 logits; train with ``fit(x, x)``."""
    check_whole_number("latent_dim", latent_dim, 1)
    keras = _keras()
    L = keras.layers
    model = keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            L.Flatten(),
            L.Dense(hidden, activation="relu"),
            L.Dense(latent_dim),
            L.Dense(hidden, activation="relu"),
            L.Dense(28 * 28),
            L.Reshape((28, 28, 1)),
        ],
        name="autoencoder",
    )
    return _compile(model, learning_rate, loss=bernoulli_nll_loss) if compile else model


def _gaussian_head(h: Any, latent_dim: int) -> list[Any]:
    L = _keras().layers
    return [L.Dense(latent_dim, name="mu")(h), L.Dense(latent_dim, name="logvar")(h)]


def keras_mlp_vae(
    latent_dim: int = 20, hidden: int = 400, beta: float = 1.0, compile: bool = True, learning_rate: float = 1e-3
) -> Any:
    """The twin of ``MLPVAE`` (784-400-20, 652,824 parameters); train with ``model.fit(x, epochs=...)``, no targets."""
    check_whole_number("latent_dim", latent_dim, 1)
    _check_beta(beta)
    keras = _keras()
    L = keras.layers
    images = keras.Input(shape=(28, 28, 1))
    h = L.Dense(hidden, activation="relu")(L.Flatten()(images))
    encoder = keras.Model(images, _gaussian_head(h, latent_dim), name="encoder")
    decoder = keras.Sequential(
        [
            keras.Input(shape=(latent_dim,)),
            L.Dense(hidden, activation="relu"),
            L.Dense(28 * 28),
            L.Reshape((28, 28, 1)),
        ],
        name="decoder",
    )
    model = _vae_class()(encoder, decoder, beta=beta, name="mlp_vae")
    return _compile(model, learning_rate) if compile else model


def keras_conv_vae(
    latent_dim: int = 20,
    channels: Sequence[int] = (32, 64),
    hidden: int | None = None,
    beta: float = 1.0,
    compile: bool = True,
    learning_rate: float = 1e-3,
) -> Any:
    """The twin of ``ConvVAE``: conv 4x4 stride 2 twice (28 -> 14 -> 7) [, a Dense layer], and back up."""
    check_whole_number("latent_dim", latent_dim, 1)
    _check_beta(beta)
    if len(channels) != 2:
        raise ValueError(
            f"keras_conv_vae: channels gives the width of the 2 convolutions, e.g. (32, 64); got {channels!r}."
        )
    keras = _keras()
    L = keras.layers
    c1, c2 = channels
    images = keras.Input(shape=(28, 28, 1))
    h = L.Conv2D(c1, 4, strides=2, padding="same", activation="relu")(images)  # 14 x 14 x c1
    h = L.Conv2D(c2, 4, strides=2, padding="same", activation="relu")(h)  # 7 x 7 x c2
    h = L.Flatten()(h)
    if hidden is not None:
        h = L.Dense(hidden, activation="relu")(h)
    encoder = keras.Model(images, _gaussian_head(h, latent_dim), name="encoder")
    up = [keras.Input(shape=(latent_dim,))]
    if hidden is not None:
        up.append(L.Dense(hidden, activation="relu"))
    up += [
        L.Dense(7 * 7 * c2, activation="relu"),
        L.Reshape((7, 7, c2)),
        L.Conv2DTranspose(c1, 4, strides=2, padding="same", activation="relu"),  # 14 x 14 x c1
        L.Conv2DTranspose(1, 4, strides=2, padding="same"),
    ]  # 28 x 28 x 1 logits
    decoder = keras.Sequential(up, name="decoder")
    model = _vae_class()(encoder, decoder, beta=beta, name="conv_vae")
    return _compile(model, learning_rate) if compile else model
