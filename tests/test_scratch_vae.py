"""course_lib.scratch.vae against torch.distributions, torch.nn.functional and closed forms."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Bernoulli, MultivariateNormal, Normal, kl_divergence

from course_lib.scratch import vae as V

DTYPES = [torch.float32, torch.float64]
TOL = {torch.float32: dict(rtol=1e-5, atol=1e-4), torch.float64: dict(rtol=1e-12, atol=1e-10)}


def gen(seed):
    return torch.Generator().manual_seed(seed)


def gaussian(seed, n=6, d=4, dtype=torch.float64):
    g = gen(seed)
    mu = (torch.randn(n, d, generator=g, dtype=torch.float64) * 2).to(dtype)
    logvar = (torch.randn(n, d, generator=g, dtype=torch.float64) * 1.5).to(dtype)
    return mu, logvar


# ----------------------------------------------------------------------------- reparameterize
def test_reparameterize_is_mu_plus_sigma_times_the_generators_noise():
    mu, logvar = gaussian(0)
    z = V.reparameterize(mu, logvar, generator=gen(7))
    eps = torch.randn(mu.shape, generator=gen(7), dtype=mu.dtype)
    torch.testing.assert_close(z, mu + torch.exp(0.5 * logvar) * eps)
    torch.testing.assert_close(V.reparameterize(mu, logvar, generator=gen(7)), z)  # repeatable
    assert not torch.equal(V.reparameterize(mu, logvar, generator=gen(8)), z)


def test_reparameterize_samples_have_the_right_moments_and_gradients():
    mu = torch.tensor([[1.5, -2.0, 0.0]], dtype=torch.float64).expand(200_000, 3).clone()
    logvar = torch.tensor([[0.0, math.log(4.0), math.log(0.01)]], dtype=torch.float64).expand(200_000, 3).clone()
    z = V.reparameterize(mu, logvar, generator=gen(1))
    torch.testing.assert_close(z.mean(0), mu[0], atol=0.02, rtol=0)
    torch.testing.assert_close(z.std(0), torch.exp(0.5 * logvar[0]), atol=0.02, rtol=0.01)
    m, lv = mu[:3].clone().requires_grad_(), logvar[:3].clone().requires_grad_()
    z = V.reparameterize(m, lv, generator=gen(2))
    z.sum().backward()
    eps = torch.randn((3, 3), generator=gen(2), dtype=torch.float64)
    torch.testing.assert_close(m.grad, torch.ones_like(m))  # dz/dmu = 1: the gradient passes through sampling
    torch.testing.assert_close(lv.grad, 0.5 * torch.exp(0.5 * lv.detach()) * eps)


def test_reparameterize_refuses_mismatched_or_unbatched_inputs():
    with pytest.raises(ValueError, match=r"same shape.*mu \(4, 2\) and logvar \(4, 3\)"):
        V.reparameterize(torch.zeros(4, 2), torch.zeros(4, 3))
    with pytest.raises(ValueError, match=r"\(batch, latent_dim\), got \(2,\).*unsqueeze\(0\)"):
        V.reparameterize(torch.zeros(2), torch.zeros(2))
    with pytest.raises(TypeError, match="floating-point"):
        V.reparameterize(torch.zeros(4, 2, dtype=torch.long), torch.zeros(4, 2))
    with pytest.raises(TypeError, match="torch.Tensor, got a list"):
        V.reparameterize([[0.0]], torch.zeros(1, 1))


# ----------------------------------------------------------------------------- KL
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kl_matches_torch_distributions(dtype, seed):
    mu, logvar = gaussian(seed, dtype=dtype)
    ours = V.kl_to_standard_normal(mu, logvar)
    q = Normal(mu, torch.exp(0.5 * logvar))
    theirs = kl_divergence(q, Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(dim=1)
    assert ours.shape == (6,) and ours.dtype == dtype
    torch.testing.assert_close(ours, theirs, **TOL[dtype])
    torch.testing.assert_close(V.kl_per_dimension(mu, logvar), kl_divergence(q, Normal(0.0, 1.0)).mean(0), **TOL[dtype])


def test_kl_matches_a_monte_carlo_estimate():
    mu, logvar = gaussian(3, n=3, d=2)
    mu, logvar = mu / 2, logvar / 2
    q = Normal(mu, torch.exp(0.5 * logvar))
    z = q.sample((200_000,))  # (S, N, D)
    estimate = (q.log_prob(z) - Normal(0.0, 1.0).log_prob(z)).sum(-1).mean(0)
    exact = V.kl_to_standard_normal(mu, logvar)
    torch.testing.assert_close(estimate, exact, rtol=0.02, atol=0.01)


def test_kl_is_zero_only_at_the_prior_and_its_gradient_matches_autograd_of_torch():
    assert V.kl_to_standard_normal(torch.zeros(2, 5), torch.zeros(2, 5)).abs().max() == 0
    assert (V.kl_to_standard_normal(torch.full((1, 5), 0.1), torch.zeros(1, 5)) > 0).all()
    mu, logvar = gaussian(4)
    a = (mu.clone().requires_grad_(), logvar.clone().requires_grad_())
    b = (mu.clone().requires_grad_(), logvar.clone().requires_grad_())
    V.kl_to_standard_normal(*a).sum().backward()
    kl_divergence(Normal(b[0], torch.exp(0.5 * b[1])), Normal(0.0, 1.0)).sum().backward()
    torch.testing.assert_close(a[0].grad, b[0].grad)
    torch.testing.assert_close(a[1].grad, b[1].grad)


def test_active_units_counts_dimensions_whose_mean_varies():
    mu = torch.zeros(100, 4)
    mu[:, 0] = torch.linspace(-2, 2, 100)  # variance about 1.4: active
    mu[:, 1] = torch.linspace(-0.1, 0.1, 100)  # variance about 0.0034: not active
    assert V.active_units(mu) == 1
    assert V.active_units(mu, threshold=0.001) == 2
    with pytest.raises(ValueError, match="at least 2 examples"):
        V.active_units(torch.zeros(1, 4))


# ----------------------------------------------------------------------------- reconstruction
@pytest.mark.parametrize("dtype", DTYPES)
def test_bernoulli_nll_matches_bce_with_logits_on_grey_levels(dtype):
    g = gen(5)
    logits = (torch.randn(5, 1, 28, 28, generator=g, dtype=torch.float64) * 4).to(dtype)
    x = torch.rand(5, 1, 28, 28, generator=g, dtype=torch.float64).to(dtype)
    ours = V.bernoulli_nll_from_logits(logits, x)
    theirs = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
    assert ours.shape == (5,) and ours.dtype == dtype
    torch.testing.assert_close(ours, theirs, **TOL[dtype])
    a, b = logits.clone().requires_grad_(), logits.clone().requires_grad_()
    V.bernoulli_nll_from_logits(a, x).sum().backward()
    F.binary_cross_entropy_with_logits(b, x, reduction="sum").backward()
    torch.testing.assert_close(a.grad, b.grad, **TOL[dtype])


def test_bernoulli_nll_is_minus_bernoulli_log_prob_on_binary_pixels():
    g = gen(6)
    logits = torch.randn(4, 784, generator=g, dtype=torch.float64) * 5
    x = (torch.rand(4, 784, generator=g, dtype=torch.float64) > 0.5).double()
    theirs = -Bernoulli(logits=logits).log_prob(x).sum(1)
    torch.testing.assert_close(V.bernoulli_nll_from_logits(logits, x), theirs)


def test_bernoulli_nll_is_finite_for_huge_logits():
    logits = torch.tensor([[1000.0, -1000.0, 1000.0, -1000.0]], requires_grad=True)
    x = torch.tensor([[1.0, 0.0, 0.0, 1.0]])
    nll = V.bernoulli_nll_from_logits(logits, x)
    torch.testing.assert_close(nll, torch.tensor([2000.0]))  # right pixels cost 0, wrong ones cost 1000 each
    nll.sum().backward()
    torch.testing.assert_close(logits.grad, torch.tensor([[0.0, 0.0, 1.0, -1.0]]))  # sigmoid(l) - x
    naive = F.binary_cross_entropy(torch.sigmoid(logits.detach()), x, reduction="sum")  # clamps log at -100
    assert float(naive) == pytest.approx(200.0)  # sigmoid-then-log loses the information


def test_bernoulli_nll_refuses_bad_inputs():
    with pytest.raises(ValueError, match=r"same shape.*logits \(2, 784\) and x \(2, 1, 28, 28\)"):
        V.bernoulli_nll_from_logits(torch.zeros(2, 784), torch.zeros(2, 1, 28, 28))
    with pytest.raises(ValueError, match=r"from 0 to 255.*dividing by 255"):
        V.bernoulli_nll_from_logits(torch.zeros(2, 3), torch.tensor([[0.0, 255.0, 1.0]] * 2))
    with pytest.raises(ValueError, match=r"expected a batch.*unsqueeze\(0\)"):
        V.bernoulli_nll_from_logits(torch.zeros(784), torch.zeros(784))
    with pytest.raises(TypeError, match=r"x should be a floating-point tensor \(float32 or float64\), got torch.uint8"):
        V.bernoulli_nll_from_logits(torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.uint8))


# ----------------------------------------------------------------------------- the loss
def _output(seed, n=8, d=3):
    g = gen(seed)
    logits = torch.randn(n, 1, 28, 28, generator=g) * 3
    x = torch.rand(n, 1, 28, 28, generator=g)
    mu, logvar = torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)
    return V.VAEOutput(logits, mu, logvar), x


def test_vae_loss_sums_over_pixels_and_latents_and_averages_over_the_batch():
    out, x = _output(0)
    parts = V.vae_loss(out, x)
    assert set(parts) == {"loss", "reconstruction", "kl"} and all(p.dim() == 0 for p in parts.values())
    bce = F.binary_cross_entropy_with_logits(out.logits, x, reduction="sum") / len(x)
    kld = -0.5 * torch.sum(1 + out.logvar - out.mu.pow(2) - out.logvar.exp()) / len(x)  # PyTorch's examples/vae
    torch.testing.assert_close(parts["reconstruction"], bce)
    torch.testing.assert_close(parts["kl"], kld)
    torch.testing.assert_close(parts["loss"], bce + kld)
    beta4 = V.vae_loss(tuple(out), x, beta=4.0)  # a plain tuple works too
    torch.testing.assert_close(beta4["loss"], bce + 4 * kld)
    torch.testing.assert_close(beta4["reconstruction"], bce)
    torch.testing.assert_close(V.vae_loss(out, x, beta=0)["loss"], bce)


def test_vae_loss_is_differentiable_in_every_input():
    out, x = _output(1)
    out = V.VAEOutput(*(t.clone().requires_grad_() for t in out))
    V.vae_loss(out, x)["loss"].backward()
    assert all(t.grad is not None and torch.isfinite(t.grad).all() for t in out)


def test_pixel_mean_bug_shrinks_only_the_reconstruction():
    out, x = _output(2)
    right, wrong = V.vae_loss(out, x), V.vae_loss_pixel_mean(out, x)
    torch.testing.assert_close(wrong["reconstruction"], right["reconstruction"] / 784)
    torch.testing.assert_close(wrong["kl"], right["kl"])
    torch.testing.assert_close(wrong["loss"], right["reconstruction"] / 784 + right["kl"])
    # the same as weighting the KL 784 times more, up to the overall scale
    torch.testing.assert_close(wrong["loss"] * 784, V.vae_loss(out, x, beta=784.0)["loss"])


@pytest.mark.parametrize("loss", [V.vae_loss, V.vae_loss_pixel_mean])
def test_vae_loss_refuses_bad_input(loss):
    out, x = _output(3)
    for beta in (-0.5, float("nan"), "1", True):
        with pytest.raises(ValueError, match=r"^beta, the weight of the KL term, must be a number 0 or more; got"):
            loss(out, x, beta=beta)
    with pytest.raises(TypeError, match=r"\(logits, mu, logvar\), got a single tensor.*autoencoder"):
        loss(out.logits, x)
    with pytest.raises(ValueError, match=r"same shape.*mu \(8, 3\) and logvar \(8, 2\)"):
        loss(V.VAEOutput(out.logits, out.mu, out.logvar[:, :2]), x)
    with pytest.raises(ValueError, match="8 images but 4 latent codes"):
        loss(V.VAEOutput(out.logits, out.mu[:4], out.logvar[:4]), x)
    with pytest.raises(ValueError, match="logits and x must have the same shape"):
        loss(V.VAEOutput(out.logits.flatten(1), out.mu, out.logvar), x)


# ----------------------------------------------------------------------------- importance sampling
class LinearGaussian:
    """z ~ N(0, I_2), x | z ~ N(W z + b, s^2 I_3) with orthogonal columns in W: the exact posterior is diagonal."""

    def __init__(self):
        q, _ = torch.linalg.qr(torch.randn(3, 2, generator=gen(10), dtype=torch.float64))
        self.W = q * torch.tensor([1.5, 0.7], dtype=torch.float64)
        self.b = torch.tensor([0.3, -0.2, 0.5], dtype=torch.float64)
        self.s2 = 0.25

    def log_px(self, x):
        cov = self.W @ self.W.T + self.s2 * torch.eye(3, dtype=torch.float64)
        return MultivariateNormal(self.b, cov).log_prob(x)

    def log_likelihood(self, x):
        return lambda z: -0.5 * ((x - z @ self.W.T - self.b) ** 2 / self.s2 + math.log(2 * math.pi * self.s2)).sum(1)

    def posterior(self, x):
        precision = 1 + (self.W**2).sum(0) / self.s2  # diagonal of I + W^T W / s^2
        var = 1 / precision
        mu = ((x - self.b) @ self.W) / self.s2 * var
        return mu, torch.log(var).expand_as(mu).clone()


def test_importance_sampling_is_exact_when_q_is_the_true_posterior():
    model = LinearGaussian()
    x = torch.randn(5, 3, generator=gen(11), dtype=torch.float64) * 2
    mu, logvar = model.posterior(x)
    for k in (1, 7):
        estimate = V.importance_sampled_log_likelihood(mu, logvar, model.log_likelihood(x), k, generator=gen(k))
        torch.testing.assert_close(estimate, model.log_px(x), rtol=1e-10, atol=1e-10)


def test_importance_sampling_rises_with_k_towards_log_px_from_the_elbo():
    model = LinearGaussian()
    x = torch.randn(4, 3, generator=gen(12), dtype=torch.float64) * 2
    mu, logvar = model.posterior(x)
    mu_q, logvar_q = mu + 0.6, logvar + 0.8  # a poor q: the bound has a visible gap
    exact = model.log_px(x)
    true_post = Normal(mu, torch.exp(0.5 * logvar))
    gap = kl_divergence(Normal(mu_q, torch.exp(0.5 * logvar_q)), true_post).sum(1)
    elbo = exact - gap  # log p(x) - KL(q || p(z|x))
    means = {}
    # k = 1 estimates spread by about 3.5 here: the mean of 20,000 is within 0.1 (4 standard errors)
    for k, repeats in ((1, 20_000), (5, 2000), (50, 2000)):
        est = V.importance_sampled_log_likelihood(
            mu_q.repeat(repeats, 1), logvar_q.repeat(repeats, 1), model.log_likelihood(x.repeat(repeats, 1)), k, gen(k)
        )
        means[k] = est.view(repeats, 4).mean(0)
    torch.testing.assert_close(means[1], elbo, atol=0.1, rtol=0)  # k = 1: an ELBO sample on average
    assert (means[1] < means[5]).all() and (means[5] < means[50]).all()  # rises with k
    assert (means[50] < exact + 0.01).all()  # still a lower bound on average
    assert ((exact - means[50]) < 0.25 * (exact - means[1])).all()  # most of the gap is gone


def test_importance_sampling_is_stable_for_very_negative_log_likelihoods():
    mu, logvar = torch.zeros(2, 3), torch.zeros(2, 3)
    very_unlikely = lambda z: torch.full((2,), -5000.0)  # noqa: E731  (exp(-5000) is 0 in any float)
    estimate = V.importance_sampled_log_likelihood(mu, logvar, very_unlikely, k=10, generator=gen(0))
    assert torch.isfinite(estimate).all() and (estimate > -5001).all()


def test_importance_sampling_refuses_bad_input():
    mu, logvar = torch.zeros(2, 3), torch.zeros(2, 3)
    for k in (0, 2.5, True):
        with pytest.raises(ValueError, match=r"^k must be a whole number of samples, 1 or more; got"):
            V.importance_sampled_log_likelihood(mu, logvar, lambda z: z.sum(1), k)
    with pytest.raises(ValueError, match=r"one log p\(x\|z\) per example, shape \(2,\), got \(2, 3\)"):
        V.importance_sampled_log_likelihood(mu, logvar, lambda z: z, 3)
    with pytest.raises(ValueError, match="mu and logvar must have the same shape"):
        V.importance_sampled_log_likelihood(mu, logvar[:, :1], lambda z: z.sum(1), 3)
