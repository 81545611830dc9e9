import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.data import load_mnist
from course_lib.models import (
    INIT_SCHEMES,
    MLP,
    LeNet5,
    SmallCNN,
    activation_stats,
    count_parameters,
    init_std,
    init_weights,
)


def _images(n=8, seed=0):
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize(
    "model, params",
    [
        (MLP(), 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10),
        (MLP(hidden=()), 7850),
        (MLP(hidden=64, num_classes=3), 784 * 64 + 64 + 64 * 3 + 3),
        (LeNet5(), (6 * 25 + 6) + (16 * 6 * 25 + 16) + (400 * 120 + 120) + (120 * 84 + 84) + (84 * 10 + 10)),
        # conv weights (no bias) + batch-norm gamma and beta, then the linear layer on 64 x 3 x 3
        (SmallCNN(), (16 * 9 + 32) + (32 * 16 * 9 + 64) + (64 * 32 * 9 + 128) + (576 * 10 + 10)),
    ],
)
def test_output_shapes_and_parameter_counts(model, params):
    assert count_parameters(model) == params
    out = model(_images(5))
    assert out.shape == (5, model(_images(1)).shape[1])
    assert out.dtype == torch.float32 and torch.isfinite(out).all()


def test_num_classes_and_count_of_frozen_parameters():
    model = SmallCNN(num_classes=3)
    assert model(_images(2)).shape == (2, 3)
    model.features[0][0].weight.requires_grad_(False)
    assert count_parameters(model) == count_parameters(SmallCNN(num_classes=3)) - 16 * 9
    assert count_parameters(model, trainable_only=False) == count_parameters(SmallCNN(num_classes=3))
    # batch norm running statistics are buffers, never parameters
    assert sum(b.numel() for n, b in model.named_buffers() if "running" in n) == 2 * (16 + 32 + 64)


def test_mlp_flattens_and_rejects_wrong_sizes():
    model = MLP()
    x = _images(3)
    assert torch.equal(model(x), model(x.reshape(3, 784)))
    with pytest.raises(ValueError, match="expects inputs with 784 values"):
        model(torch.rand(3, 1, 32, 32))
    with pytest.raises(ValueError, match="dropout"):
        MLP(dropout=1.0)
    with pytest.raises(ValueError, match="channels"):
        SmallCNN(channels=(8, 16))


def test_dropout_is_active_only_in_training_mode():
    torch.manual_seed(0)
    model = MLP(dropout=0.5)
    x = _images(4)
    model.train()
    assert not torch.equal(model(x), model(x))
    model.eval()
    assert torch.equal(model(x), model(x))


@pytest.mark.parametrize("make", [MLP, LeNet5, SmallCNN])
def test_a_few_training_steps_reduce_the_loss(make):
    torch.manual_seed(0)
    model = make()
    x, y = load_mnist(train=False, limit=128)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.eval()
    with torch.no_grad():
        first = float(F.cross_entropy(model(x), y))
    model.train()
    for _ in range(20):
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        assert float(F.cross_entropy(model(x), y)) < 0.5 * first


def test_init_weights_standard_deviations():
    model = nn.Sequential(nn.Linear(400, 300), nn.ReLU(), nn.Conv2d(8, 16, 3))
    init_weights(model, "kaiming", seed=0)
    assert model[0].weight.std().item() == pytest.approx(math.sqrt(2 / 400), rel=0.02)
    assert model[2].weight.std().item() == pytest.approx(math.sqrt(2 / 72), rel=0.1)
    assert torch.count_nonzero(model[0].bias) == 0
    init_weights(model, "xavier", seed=0)
    assert model[0].weight.std().item() == pytest.approx(math.sqrt(2 / 700), rel=0.02)
    assert model[2].weight.std().item() == pytest.approx(math.sqrt(2 / (72 + 144)), rel=0.1)
    init_weights(model, "normal-0.01", seed=0)
    assert model[0].weight.std().item() == pytest.approx(0.01, rel=0.02)
    init_weights(model, "zeros")
    assert torch.count_nonzero(model[0].weight) == 0


def test_init_weights_is_seeded_and_checks_its_scheme():
    a = init_weights(MLP(), "kaiming", seed=3)
    b = init_weights(MLP(), "kaiming", seed=3)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert "pytorch-default" in INIT_SCHEMES and init_weights(MLP(), "pytorch-default") is not None
    with pytest.raises(ValueError, match="Unknown initialisation scheme 'he'"):
        init_weights(MLP(), "he")
    with pytest.raises(ValueError, match="positive standard deviation"):
        init_weights(MLP(), "normal-abc")


def test_activation_stats_show_what_bad_init_does():
    x = _images(256)
    deep = MLP(hidden=(256,) * 6)
    tiny = activation_stats(init_weights(deep, "normal-0.01", seed=0), x)
    good = activation_stats(init_weights(deep, "kaiming", seed=0), x)
    assert [s["layer"] for s in good] == [f"net.{2 * i + 2}" for i in range(6)]
    assert (
        tiny[-1]["std"] < 1e-4 * tiny[0]["std"] and good[-1]["std"] > 0.1
    )  # too small: the signal vanishes layer after layer
    assert 0.2 < good[-1]["std"] / good[0]["std"] < 5  # Kaiming keeps the spread about constant
    assert deep.training  # restored
    with pytest.raises(ValueError, match="has none"):
        activation_stats(nn.Linear(3, 2), torch.rand(1, 3))


def test_init_std_is_the_one_definition_of_each_scheme():
    assert init_std("kaiming", 50) == pytest.approx(math.sqrt(2 / 50))
    assert init_std("xavier", 400, 300) == pytest.approx(math.sqrt(2 / 700))
    assert init_std("xavier", 64) == pytest.approx(1 / 8)  # a square layer: sqrt(1 / n)
    assert init_std("normal-0.01", 10) == 0.01 and init_std("normal-1", 10) == 1.0 and init_std("zeros", 3) == 0.0
    with pytest.raises(ValueError, match=r"Unknown initialisation scheme 'he'; choose one of kaiming, xavier"):
        init_std("he", 10)
    with pytest.raises(ValueError, match=r"'normal-' must be a positive standard deviation"):
        init_std("normal--1", 10)
    with pytest.raises(ValueError, match=r"not a normal distribution"):
        init_std("pytorch-default", 10)
    with pytest.raises(ValueError, match=r"fan_in is the number of inputs of one unit \(1 or more\), got 0"):
        init_std("xavier", 0)
    with pytest.raises(ValueError, match=r"fan_out .* got -2"):
        init_std("xavier", 3, -2)


def test_init_weights_draws_from_init_std():
    layer = nn.Linear(300, 200)
    init_weights(layer, "xavier", seed=1)
    expected = torch.randn(200, 300, generator=torch.Generator().manual_seed(1)) * init_std("xavier", 300, 200)
    assert torch.equal(layer.weight, expected)


def _square_layers(model):
    return [m.weight.detach() for m in model.modules() if isinstance(m, nn.Linear) and m.weight.shape == (256, 256)]


def test_seeded_pytorch_default_gives_each_layer_its_own_weights():
    deep = init_weights(MLP(hidden=(256,) * 8), "pytorch-default", seed=0)
    square = _square_layers(deep)
    assert len(square) == 7
    for i in range(len(square)):
        for j in range(i + 1, len(square)):
            assert not torch.equal(square[i], square[j]), f"layers {i} and {j} got the same weights"
    again = init_weights(MLP(hidden=(256,) * 8), "pytorch-default", seed=0)
    assert all(torch.equal(p, q) for p, q in zip(deep.parameters(), again.parameters()))
    bound = 1 / math.sqrt(256)  # nn.Linear's uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)), for weights and biases
    assert float(square[0].abs().max()) <= bound
    assert square[0].std().item() == pytest.approx(bound / math.sqrt(3), rel=0.02)


def test_seeded_init_weights_leaves_the_global_random_numbers_alone():
    for scheme in ("pytorch-default", "kaiming"):
        model = MLP(hidden=(16,))  # building it draws from the global generator: do that first
        torch.manual_seed(5)
        expected = torch.rand(3)
        torch.manual_seed(5)
        init_weights(model, scheme, seed=0)
        assert torch.equal(torch.rand(3), expected), scheme


def test_unseeded_pytorch_default_is_what_nn_linear_does():
    model = nn.Sequential(nn.Linear(20, 30), nn.Conv2d(3, 4, 3))
    reference = nn.Sequential(nn.Linear(20, 30), nn.Conv2d(3, 4, 3))
    torch.manual_seed(7)
    init_weights(model, "pytorch-default")
    torch.manual_seed(7)
    for layer in reference:
        layer.reset_parameters()
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), reference.parameters()))
