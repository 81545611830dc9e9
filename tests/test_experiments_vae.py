"""Chapter 09's experiments: training a VAE through fit, its summary, the beta sweep, walking the latent space."""

import numpy as np
import pytest
import torch

from course_lib.data import load_mnist
from course_lib.experiments.vae import (
    SHIPPED_VAES,
    BetaSweep,
    decode_latent,
    encode_means,
    interpolate,
    latent_grid,
    load_beta_sweep,
    run_beta_sweep,
    shipped_vae,
    train_vae,
    vae_summary,
)
from course_lib.reproducibility import seed_everything
from course_lib.scratch.vae import kl_to_standard_normal, vae_loss_pixel_mean
from course_lib.vae_models import MLPVAE, Autoencoder


@pytest.fixture(scope="module")
def images():
    x, _ = load_mnist(train=False, limit=600)
    return x[:500], x[500:]


def small_vae(latent_dim=4):
    seed_everything(0)
    return MLPVAE(latent_dim=latent_dim, hidden=32)


def test_train_vae_goes_through_fit_records_the_elbos_parts_and_repeats_from_its_seed(images):
    train, val = images
    first = train_vae(small_vae(), train, 2, val_images=val, device="cpu", progress=False)
    for split in ("train", "val"):
        for loss, rec, kl in zip(*(first[f"{split}_{part}"] for part in ("loss", "reconstruction", "kl"))):
            assert loss == pytest.approx(rec + kl, rel=1e-5)
    assert first["train_loss"][1] < first["train_loss"][0]
    again = train_vae(small_vae(), train, 2, val_images=val, device="cpu", progress=False)
    assert again["train_loss"] == first["train_loss"]
    other_seed = train_vae(small_vae(), train, 2, seed=1, device="cpu", progress=False)
    assert other_seed["train_loss"] != first["train_loss"]


def test_train_vae_with_beta_and_the_pixel_mean_bug(images):
    train, _ = images
    history = train_vae(small_vae(), train, 1, beta=4.0, device="cpu", progress=False)
    assert history["train_loss"][0] == pytest.approx(
        history["train_reconstruction"][0] + 4 * history["train_kl"][0], rel=1e-5
    )
    buggy = train_vae(small_vae(), train, 1, loss=vae_loss_pixel_mean, device="cpu", progress=False)
    assert buggy["train_reconstruction"][0] < 1  # nats per pixel: the KL term (nats per image) outweighs it


def test_train_vae_refuses_what_it_cannot_train(images):
    train, _ = images
    with pytest.raises(TypeError, match="train_vae trains a VAE .* got a Autoencoder"):
        train_vae(Autoencoder(), train, 1)
    with pytest.raises(ValueError, match="beta"):
        train_vae(small_vae(), train, 1, beta=-1.0)


def test_vae_summary_counts_the_kl_of_each_dimension_and_the_active_units(images):
    _, test = images
    model = small_vae()
    summary = vae_summary(model, test)
    with torch.no_grad():
        mu, logvar = model.encode(test)
    assert summary.kl == pytest.approx(float(kl_to_standard_normal(mu, logvar).mean()), rel=1e-4)
    assert len(summary.kl_per_dim) == 4 and sum(summary.kl_per_dim) == pytest.approx(summary.kl, rel=1e-5)
    assert 0 <= summary.active_units <= 4
    assert summary.negative_elbo == summary.reconstruction + summary.kl
    assert vae_summary(model, test) == summary  # the sample of z comes from the seed
    assert "active units" in str(summary) and model.training  # the mode is put back


def test_beta_sweep_trains_one_model_per_beta_and_round_trips_through_tensors(images):
    train, test = images
    sweep = run_beta_sweep(
        (0.0, 1.0, 50.0), train, test, 1, make_model=lambda: MLPVAE(4, 32), shown=3, sampled=5, progress=False
    )
    assert sweep.betas == [0.0, 1.0, 50.0]
    assert sweep.reconstructions.shape == (3, 3, 28, 28) and sweep.samples.shape == (3, 5, 28, 28)
    assert sweep.kl_per_dim.shape == (3, 4) and sweep.originals.shape == (3, 28, 28)
    assert sweep.kl[0] > sweep.kl[2], "a heavier KL term squeezes the KL"
    back = BetaSweep.from_tensors(sweep.to_tensors())
    assert back.betas == sweep.betas and back.active_units == sweep.active_units
    np.testing.assert_allclose(back.reconstructions, sweep.reconstructions, atol=1e-3)  # float16 images
    assert sweep.index(1.0) == 1
    with pytest.raises(ValueError, match=r"beta = 2 is not in this sweep; choose one of 0, 1, 50"):
        sweep.index(2.0)
    with pytest.raises(ValueError, match="beta"):
        sweep.index(-1)
    assert len(sweep.table().splitlines()) == 4
    with pytest.raises(ValueError, match="at least one beta"):
        run_beta_sweep((), train, test, 1)


def test_decode_latent_gives_pixel_probabilities_and_one_sentence_for_bad_input():
    model = small_vae(latent_dim=2)
    one = decode_latent(model, [0.5, -1.0])
    assert one.shape == (28, 28) and 0 <= one.min() and one.max() <= 1
    many = decode_latent(model, np.zeros((3, 2)))
    assert many.shape == (3, 28, 28)
    with torch.no_grad():
        expected = torch.sigmoid(model.decode(torch.tensor([[0.5, -1.0]])))[0, 0].numpy()
    np.testing.assert_allclose(one, expected, rtol=1e-6)
    with pytest.raises(ValueError, match=r"latent codes have 2 numbers, but the code given has shape \(3,\)"):
        decode_latent(model, [0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="NaN or infinite"):
        decode_latent(model, [float("nan"), 0.0])
    with pytest.raises(TypeError, match=r"needs a trained VAE .* got a Autoencoder \(a plain autoencoder has no prior"):
        decode_latent(Autoencoder(latent_dim=2), [0.0, 0.0])
    with pytest.raises(TypeError, match="got the class MLPVAE"):
        decode_latent(MLPVAE, [0.0, 0.0])


def test_latent_grid_lays_out_the_plane_with_the_top_row_at_the_largest_z2():
    model = small_vae(latent_dim=2)
    grid = latent_grid(model, n=3, span=2.0)
    assert grid.shape == (84, 84)
    np.testing.assert_allclose(grid[:28, :28], decode_latent(model, [-2.0, 2.0]), rtol=1e-6)
    np.testing.assert_allclose(grid[56:, 56:], decode_latent(model, [2.0, -2.0]), rtol=1e-6)
    with pytest.raises(ValueError, match="lays out a 2-D latent space; this VAE's codes have 4 numbers"):
        latent_grid(small_vae(latent_dim=4))


def test_encode_means_and_interpolate(images):
    _, test = images
    model = small_vae()
    means = encode_means(model, test[:7])
    np.testing.assert_allclose(means, model.encode(test[:7])[0].detach().numpy(), rtol=1e-5, atol=1e-6)
    a, b = torch.zeros(4), torch.ones(4)
    line = interpolate(a, b, 5)
    assert line.shape == (5, 4) and torch.equal(line[0], a) and torch.equal(line[-1], b)
    assert torch.allclose(line[2], torch.full((4,), 0.5))
    with pytest.raises(ValueError, match="same shape"):
        interpolate(a, torch.ones(3), 5)


@pytest.mark.parametrize("name", sorted(SHIPPED_VAES))
def test_shipped_vaes_load_and_decode(name):
    model = shipped_vae(name)
    assert not model.training
    assert decode_latent(model, np.zeros(model.latent_dim)).shape == (28, 28)
    with pytest.raises(KeyError, match="not a VAE the course ships"):
        shipped_vae("ch09_nothing")


def test_the_shipped_conv_vae_is_a_good_one():
    x, _ = load_mnist(train=False, limit=1000)
    summary = vae_summary(shipped_vae("ch09_conv_vae"), x)
    assert summary.negative_elbo < 100  # nats per image; the whole test set: about 95 (tools/train_vae.py)


def test_the_shipped_beta_sweep_shows_collapse_as_beta_grows():
    sweep = load_beta_sweep()
    assert sweep.betas == sorted(sweep.betas) and 1.0 in sweep.betas
    assert sweep.active_units[-1] < sweep.active_units[sweep.index(1.0)]
    assert sweep.kl[-1] < sweep.kl[0]
    assert sweep.samples.shape[0] == sweep.reconstructions.shape[0] == len(sweep.betas)
