"""course_lib.keras_vae_models: twins of the PyTorch models, the same loss, and a VAE that trains with Keras' fit."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from course_lib import keras_vae_models as kv
from course_lib.data import load_mnist
from course_lib.keras_models import to_keras_images
from course_lib.models import count_parameters
from course_lib.scratch.vae import bernoulli_nll_from_logits, vae_loss
from course_lib.tensorflow_setup import load_tensorflow
from course_lib.vae_models import MLPVAE, Autoencoder, ConvVAE


def _nchw(array):
    return torch.from_numpy(np.array(array)).permute(0, 3, 1, 2)


@pytest.mark.parametrize(
    "torch_model, keras_model",
    [
        (lambda: Autoencoder(), lambda: kv.keras_autoencoder(compile=False)),
        (lambda: MLPVAE(), lambda: kv.keras_mlp_vae(compile=False)),
        (lambda: MLPVAE(latent_dim=2, hidden=64), lambda: kv.keras_mlp_vae(latent_dim=2, hidden=64, compile=False)),
        (lambda: ConvVAE(), lambda: kv.keras_conv_vae(compile=False)),
        (lambda: ConvVAE(latent_dim=3, channels=(8, 16)), lambda: kv.keras_conv_vae(3, (8, 16), compile=False)),
        (
            lambda: ConvVAE(channels=(8, 16), hidden=32),
            lambda: kv.keras_conv_vae(channels=(8, 16), hidden=32, compile=False),
        ),
    ],
)
def test_twins_have_the_same_parameter_counts_and_output_shapes(torch_model, keras_model):
    t, k = torch_model(), keras_model()
    x = torch.rand(3, 1, 28, 28)
    ours, theirs = t(x), k(to_keras_images(x))
    assert k.count_params() == count_parameters(t)
    if isinstance(ours, torch.Tensor):
        assert tuple(_nchw(theirs).shape) == tuple(ours.shape)
    else:
        assert [tuple(a.shape) for a in (_nchw(theirs[0]), *theirs[1:])] == [tuple(a.shape) for a in ours]


def test_keras_vae_loss_is_vae_loss():
    load_tensorflow()
    model = kv.keras_mlp_vae(latent_dim=3, hidden=16, beta=2.5)
    g = np.random.default_rng(0)
    x = g.random((4, 28, 28, 1), dtype=np.float32)
    logits = (g.standard_normal((4, 28, 28, 1)) * 3).astype(np.float32)
    mu, logvar = g.standard_normal((4, 3)).astype(np.float32), g.standard_normal((4, 3)).astype(np.float32)
    theirs = float(model.compute_loss(x=x, y_pred=(logits, mu, logvar)))
    ours = vae_loss((_nchw(logits), torch.from_numpy(mu), torch.from_numpy(logvar)), _nchw(x), beta=2.5)
    assert theirs == pytest.approx(float(ours["loss"]), rel=1e-5)
    assert float(model.reconstruction_tracker.result()) == pytest.approx(float(ours["reconstruction"]), rel=1e-5)
    assert float(model.kl_tracker.result()) == pytest.approx(float(ours["kl"]), rel=1e-5)
    per_image = np.asarray(kv.bernoulli_nll_loss(x, logits))
    np.testing.assert_allclose(per_image, bernoulli_nll_from_logits(_nchw(logits), _nchw(x)).numpy(), rtol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize(
    "make",
    [lambda: kv.keras_mlp_vae(learning_rate=3e-3), lambda: kv.keras_conv_vae(channels=(8, 16), learning_rate=3e-3)],
    ids=["mlp", "conv"],
)
def test_keras_vae_trains_with_fit_and_reports_its_parts(make):
    tf = load_tensorflow()
    tf.keras.utils.set_random_seed(0)
    x = to_keras_images(load_mnist(train=False, limit=256)[0])
    model = make()
    history = model.fit(x, epochs=4, batch_size=64, verbose=0).history
    assert set(history) == {"loss", "reconstruction", "kl"}
    assert history["loss"][-1] < 0.75 * history["loss"][0]
    result = model.evaluate(x, verbose=0, return_dict=True)
    assert result["loss"] == pytest.approx(result["reconstruction"] + result["kl"], rel=0.02)
    assert model.decode(np.zeros((2, 20), np.float32)).shape == (2, 28, 28, 1)


@pytest.mark.slow
def test_keras_autoencoder_trains_on_images_as_targets():
    tf = load_tensorflow()
    tf.keras.utils.set_random_seed(0)
    x = to_keras_images(load_mnist(train=False, limit=256)[0])
    model = kv.keras_autoencoder(learning_rate=3e-3)
    history = model.fit(x, x, epochs=3, batch_size=64, verbose=0).history
    assert history["loss"][-1] < 0.75 * history["loss"][0]


def test_keras_bad_input():
    model = kv.keras_conv_vae(latent_dim=4, compile=False)
    with pytest.raises(
        ValueError,
        match=r"^decode expects latent vectors of size 4, an array of shape \(N, 4\), "
        r"but got "
        r"\(4,\) \(a single vector z needs z\[None\]\)\.$",
    ):
        model.decode(np.zeros(4, np.float32))
    with pytest.raises(ValueError, match=r"^beta, the weight of the KL term, must be a number 0 or more; got -0\.1\.$"):
        kv.keras_mlp_vae(beta=-0.1)
    with pytest.raises(ValueError, match=r"^latent_dim must be a whole number, 1 or more; got 0\.$"):
        kv.keras_autoencoder(latent_dim=0)
    with pytest.raises(ValueError, match=r"channels gives the width of the 2 convolutions"):
        kv.keras_conv_vae(channels=(8,))


def test_importing_the_vae_modules_does_not_import_tensorflow():
    code = (
        "import sys, course_lib.keras_vae_models, course_lib.vae_models, course_lib.scratch.vae; "
        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_image_batches_cover_every_image_once_an_epoch_in_a_seeded_order():
    images = np.arange(10, dtype=np.float32).reshape(10, 1, 1, 1)
    batches = kv.image_batches(images, batch_size=4, seed=3)
    epoch = [next(batches)[0] for _ in range(3)]
    assert [len(b) for b in epoch] == [4, 4, 2]
    assert sorted(np.concatenate(epoch).ravel().tolist()) == list(range(10))
    again = kv.image_batches(images, batch_size=4, seed=3)
    assert all(np.array_equal(next(again)[0], b) for b in epoch)
    with pytest.raises(ValueError, match="batch_size must be a whole number of images"):
        next(kv.image_batches(images, batch_size=0))
    with pytest.raises(ValueError, match="non-empty NumPy array"):
        next(kv.image_batches([]))
