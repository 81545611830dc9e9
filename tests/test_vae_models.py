"""course_lib.vae_models: shapes, the PyTorch examples/vae architecture, clear errors, and that they learn."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.data import TensorBatchLoader, load_mnist
from course_lib.models import count_parameters
from course_lib.scratch.vae import VAEOutput, bernoulli_nll_from_logits, importance_sampled_log_likelihood, vae_loss
from course_lib.train import evaluate, fit
from course_lib.vae_models import MLPVAE, VAE, Autoencoder, ConvVAE, estimate_log_likelihood


class ExamplesVAE(nn.Module):
    """PyTorch's examples/vae/main.py model, as published."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def decode(self, z):
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z))))


def test_mlp_vae_is_the_pytorch_example():
    ours, theirs = MLPVAE(), ExamplesVAE()
    assert count_parameters(ours) == count_parameters(theirs) == 652_824
    pairs = [
        (ours.encoder[1], theirs.fc1),
        (ours.to_mu, theirs.fc21),
        (ours.to_logvar, theirs.fc22),
        (ours.decoder[0], theirs.fc3),
        (ours.decoder[2], theirs.fc4),
    ]
    for a, b in pairs:
        a.load_state_dict(b.state_dict())
    x = torch.rand(5, 1, 28, 28)
    for a, b in zip(ours.encode(x), theirs.encode(x.view(-1, 784))):
        torch.testing.assert_close(a, b)
    z = torch.randn(5, 20)
    torch.testing.assert_close(torch.sigmoid(ours.decode(z)), theirs.decode(z).view(5, 1, 28, 28))


@pytest.mark.parametrize("make", [MLPVAE, ConvVAE, lambda: ConvVAE(latent_dim=2, channels=(8, 16))])
def test_vae_forward_returns_logits_and_the_gaussian_with_a_reparameterised_sample(make):
    model = make()
    x = torch.rand(4, 1, 28, 28)
    torch.manual_seed(3)
    out = model(x)
    assert isinstance(out, VAEOutput)
    assert out.logits.shape == x.shape and out.mu.shape == out.logvar.shape == (4, model.latent_dim)
    mu, logvar = model.encode(x)
    torch.manual_seed(3)
    eps = torch.randn(4, model.latent_dim)
    torch.testing.assert_close(out.logits, model.decode(mu + torch.exp(0.5 * logvar) * eps))
    model.eval()
    assert not torch.equal(model(x).logits, model(x).logits)  # samples in eval mode too: the ELBO is an expectation


def test_conv_vae_sizes():
    model = ConvVAE()
    assert count_parameters(model) == 258_025
    assert count_parameters(ConvVAE(hidden=256)) - 258_025 == (3136 * 256 + 256) * 2 + 256 * 20 * 3 - 3136 * 20 * 3
    assert ConvVAE(hidden=16)(torch.rand(2, 1, 28, 28)).logits.shape == (2, 1, 28, 28)
    assert model.decode(torch.zeros(3, 20)).shape == (3, 1, 28, 28)
    with pytest.raises(ValueError, match=r"channels gives the width of the 2 convolutions"):
        ConvVAE(channels=(8, 16, 32))
    with pytest.raises(ValueError, match=r"^latent_dim must be a whole number, 1 or more; got 0\.$"):
        MLPVAE(latent_dim=0)
    with pytest.raises(ValueError, match=r"^hidden must be a whole number of units, 1 or more; got -5\.$"):
        ConvVAE(hidden=-5)


def test_autoencoder_encodes_and_decodes():
    model = Autoencoder(latent_dim=8, hidden=64)
    x = torch.rand(3, 1, 28, 28)
    assert model.encode(x).shape == (3, 8)
    assert model(x).shape == x.shape
    torch.testing.assert_close(model(x), model(x))  # deterministic, unlike a VAE
    assert not isinstance(model, VAE)


@pytest.mark.parametrize("model", [Autoencoder(), MLPVAE(), ConvVAE()], ids=["ae", "mlp", "conv"])
def test_wrong_shapes_get_one_clear_sentence(model):
    name = type(model).__name__
    for z in (torch.zeros(3, 2), torch.zeros(20)):
        with pytest.raises(
            ValueError,
            match=rf"^{name}\.decode expects latent vectors of size 20, a tensor of shape "
            rf"\(N, 20\), but got \({z.shape[0]},( 2)?\) \(a single vector z needs "
            r"z\.unsqueeze\(0\)\)\.$",
        ):
            model.decode(z)
    with pytest.raises(
        ValueError,
        match=rf"{name} expects a batch of MNIST images of shape \(N, 1, 28, 28\), got "
        r"\(3, 784\); reshape flat rows with x\.view\(-1, 1, 28, 28\)\.",
    ):
        model(torch.zeros(3, 784))


def test_sample_draws_images_from_the_prior():
    model = MLPVAE(latent_dim=4)
    images = model.sample(6, generator=torch.Generator().manual_seed(0))
    assert images.shape == (6, 1, 28, 28) and images.min() >= 0 and images.max() <= 1
    z = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(images, torch.sigmoid(model.decode(z)))
    with pytest.raises(ValueError, match=r"^n must be a whole number of images, 1 or more; got 0\.$"):
        model.sample(0)


def test_estimate_log_likelihood_wires_the_model_into_importance_sampling():
    torch.manual_seed(0)
    model = MLPVAE(latent_dim=5, hidden=32)
    x = torch.rand(7, 1, 28, 28)
    ours = estimate_log_likelihood(model, x, k=4, batch_size=3, generator=torch.Generator().manual_seed(1))
    assert ours.shape == (7,) and model.training  # training mode restored
    model.eval()
    with torch.no_grad():
        mu, logvar = model.encode(x)
        g = torch.Generator().manual_seed(1)
        parts = [
            importance_sampled_log_likelihood(
                mu[s : s + 3],
                logvar[s : s + 3],
                lambda z, s=s: -bernoulli_nll_from_logits(model.decode(z), x[s : s + 3]),
                4,
                g,
            )
            for s in range(0, 7, 3)
        ]
    torch.testing.assert_close(ours, torch.cat(parts))
    with pytest.raises(TypeError, match="needs a VAE"):
        estimate_log_likelihood(Autoencoder(), x)


def test_the_importance_sampled_bound_is_tighter_than_the_elbo_on_average():
    torch.manual_seed(0)
    model = MLPVAE(latent_dim=5, hidden=32)
    x = torch.rand(2, 1, 28, 28).repeat(500, 1, 1, 1)
    with torch.no_grad():
        elbo = -vae_loss(model(x), x)["loss"]
    g = torch.Generator().manual_seed(0)
    k1 = estimate_log_likelihood(model, x, k=1, generator=g).mean()
    k20 = estimate_log_likelihood(model, x[:200], k=20, generator=g).mean()
    assert abs(float(k1 - elbo)) < 1.0  # k = 1 is an ELBO sample
    assert float(k20) > float(k1) + 1.0


@pytest.mark.slow
@pytest.mark.parametrize("make", [MLPVAE, lambda: ConvVAE(channels=(8, 16))], ids=["mlp", "conv"])
def test_vaes_learn_mnist(make):
    torch.manual_seed(0)
    x, _ = load_mnist(train=False, limit=256)
    model = make()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(15):
        parts = vae_loss(model(x), x)
        optimizer.zero_grad()
        parts["loss"].backward()
        optimizer.step()
        losses.append(float(parts["loss"].detach()))
    assert losses[-1] < 0.75 * losses[0]  # from 550-580 nats an image (logits near 0: 784 log 2 = 543, plus the KL)


def test_fit_and_evaluate_train_a_vae_and_record_the_elbos_parts():
    torch.manual_seed(0)
    x, _ = load_mnist(train=False, limit=512)
    model = MLPVAE(latent_dim=8, hidden=64)
    train, val = TensorBatchLoader(x[:384], x[:384], batch_size=64, shuffle=True), TensorBatchLoader(x[384:], x[384:])
    history = fit(
        model,
        train,
        vae_loss,
        torch.optim.Adam(model.parameters(), lr=3e-3),
        epochs=3,
        val_data=val,
        device="cpu",
        progress=False,
    )
    for split in ("train", "val"):
        loss, reconstruction, kl = (history[f"{split}_{name}"] for name in ("loss", "reconstruction", "kl"))
        assert loss[-1] < loss[0]
        for total, r, k in zip(loss, reconstruction, kl):
            assert total == pytest.approx(r + k, rel=1e-5)  # beta = 1: the loss is the negative ELBO
    result = evaluate(model, val, lambda out, target: vae_loss(out, target, beta=4.0))
    assert result["loss"] == pytest.approx(result["reconstruction"] + 4 * result["kl"], rel=1e-5)
    assert "accuracy" not in result
