import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from course_lib.experiments.vae import BetaSweep, decode_latent  # noqa: E402
from course_lib.vae_models import MLPVAE, Autoencoder  # noqa: E402
from course_lib.widgets.latent_space import latent_space_explorer, plot_beta_effect, plot_latent_map, plot_latent_point  # noqa: E402


def vae(latent_dim=2):
    torch.manual_seed(0)
    return MLPVAE(latent_dim=latent_dim, hidden=16)


def fake_sweep(betas=(0.0, 1.0, 4.0)):
    rng = np.random.default_rng(0)
    n = len(betas)
    return BetaSweep(
        betas=list(betas),
        reconstruction=[80.0 + i for i in range(n)],
        kl=[30.0 - i for i in range(n)],
        kl_per_dim=rng.random((n, 5)),
        active_units=[5, 4, 2][:n],
        originals=rng.random((4, 28, 28)),
        reconstructions=rng.random((n, 4, 28, 28)),
        samples=rng.random((n, 6, 28, 28)),
    )


def test_plot_latent_point_draws_the_decoded_digit_and_marks_the_code():
    model = vae()
    fig = plot_latent_point(model, [1.0, -0.5])
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), decode_latent(model, [1.0, -0.5]))
    assert fig.axes[0].get_title() == "decoded from z = (1.00, -0.50)"
    plt.close(fig)
    means, labels = np.random.default_rng(0).normal(size=(20, 2)), np.arange(20) % 10
    fig = plot_latent_point(model, [1.0, -0.5], means, labels)
    assert len(fig.axes) == 3  # digit, map, colour bar
    marker = fig.axes[1].lines[0]
    assert list(marker.get_xdata()) == [1.0] and list(marker.get_ydata()) == [-0.5]
    plt.close(fig)


def test_plot_latent_map_and_beta_effect():
    fig = plot_latent_map(np.zeros((56, 56)), 2.0, np.zeros((3, 2)), [0, 1, 2])
    assert fig.axes[0].images[0].get_extent() == [-2.0, 2.0, -2.0, 2.0]
    plt.close(fig)
    sweep = fake_sweep()
    fig = plot_beta_effect(sweep, 4.0)
    assert "beta = 4: reconstruction 82.0 + KL 28.0 nats, 2 of 5 latent dimensions active" in fig._suptitle.get_text()
    assert len(fig.axes) == 3 * 6
    plt.close(fig)


def test_bad_input_gets_one_sentence():
    model = vae()
    with pytest.raises(ValueError, match=r"latent codes have 2 numbers, but the code given has shape \(3,\)"):
        plot_latent_point(model, [0.0, 0.0, 0.0])
    with pytest.raises(TypeError, match="needs a trained VAE .* got a Autoencoder"):
        latent_space_explorer(Autoencoder(latent_dim=2))
    with pytest.raises(TypeError, match="got a str"):
        latent_space_explorer("my_vae.safetensors")
    with pytest.raises(ValueError, match="a slider for each of 2 latent coordinates; this VAE's codes have 20"):
        latent_space_explorer(vae(latent_dim=20))
    with pytest.raises(ValueError, match=r"beta must be .*0 or more"):
        latent_space_explorer(model, fake_sweep(), beta=-1.0)
    with pytest.raises(ValueError, match=r"beta.*0 or more"):
        plot_beta_effect(fake_sweep(), -0.5)
    with pytest.raises(ValueError, match=r"beta = 2 is not in this sweep; choose one of 0, 1, 4"):
        plot_beta_effect(fake_sweep(), 2.0)
    with pytest.raises(TypeError, match="draws a BetaSweep"):
        plot_beta_effect({"betas": [1.0]}, 1.0)
    with pytest.raises(ValueError, match=r"means should be the 2-D codes"):
        latent_space_explorer(model, means=np.zeros((4, 3)))
    with pytest.raises(ValueError, match="3 labels for 4 codes"):
        plot_latent_point(model, [0, 0], np.zeros((4, 2)), [1, 2, 3])


def test_explorer_redraws_on_each_slider(monkeypatch):
    import course_lib.widgets.latent_space as module

    points, betas = [], []
    real_point, real_beta = module.plot_latent_point, module.plot_beta_effect

    def recording_point(model, z, *args):
        points.append(tuple(z))
        return real_point(model, z, *args)

    def recording_beta(sweep, beta):
        betas.append(beta)
        return real_beta(sweep, beta)

    monkeypatch.setattr(module, "plot_latent_point", recording_point)
    monkeypatch.setattr(module, "plot_beta_effect", recording_beta)
    explorer = latent_space_explorer(vae(), fake_sweep(), span=2.0)
    explorer.sliders["z1"].value = 1.0
    explorer.sliders["z2"].value = -2.0
    explorer.sliders["beta"].value = 4.0
    assert points == [(0.0, 0.0), (1.0, 0.0), (1.0, -2.0)]
    assert betas == [1.0, 4.0]
    assert explorer.sliders["z1"].max == 2.0
    assert explorer.children[1].outputs[0]["output_type"] == "display_data"
    plain = latent_space_explorer(vae())
    assert set(plain.sliders) == {"z1", "z2"}
