"""Chapter 05's network race: one model and the same batches per optimizer, trained by fit."""

import pytest
import torch

from course_lib.data import TensorBatchLoader, load_mnist
from course_lib.experiments.network_race import compare_on_network
from course_lib.experiments.optimizer_race import standard_optimizers
from course_lib.models import MLP


def _loaders(seed=0):
    x, y = load_mnist(train=True, limit=512)
    x_test, y_test = load_mnist(train=False, limit=200)
    train = TensorBatchLoader(x, y, batch_size=64, shuffle=True, generator=torch.Generator().manual_seed(seed))
    return train, TensorBatchLoader(x_test, y_test, batch_size=100)


def test_compare_on_network_gives_each_optimizer_the_same_start_and_batches():
    train, test = _loaders()
    makers = standard_optimizers(lr=0.05, momentum=0.9, adaptive_lr=1e-3, names=["SGD", "momentum", "Adam"])
    result = compare_on_network(makers, lambda: MLP(hidden=(32,)), train, test, epochs=2, device="cpu")
    assert list(result.batch_losses) == ["SGD", "momentum", "Adam"]
    firsts = [losses[0] for losses in result.batch_losses.values()]
    assert firsts[0] == firsts[1] == firsts[2], "same weights and same first batch: the same first loss"
    assert all(len(losses) == 2 * 8 for losses in result.batch_losses.values())
    for name, history in result.histories.items():
        assert history.epochs == 2 and history["train_loss"][-1] < history["train_loss"][0]
        assert set(result.test[name]) == {"loss", "accuracy"} and 0.1 < result.test[name]["accuracy"] <= 1
    # a fresh loader with the same seed, one optimizer alone: exactly the same run
    again = compare_on_network(
        {"Adam": makers["Adam"]}, lambda: MLP(hidden=(32,)), _loaders()[0], epochs=2, device="cpu"
    )
    assert again.batch_losses["Adam"] == result.batch_losses["Adam"] and again.test == {}
    table = result.table()
    assert table.splitlines()[0].split() == ["optimizer", "last", "train", "loss", "test", "loss", "test", "acc"]
    assert len(table.splitlines()) == 4


def test_the_race_is_what_fit_does_with_each_optimizer_by_hand():
    from course_lib.reproducibility import seed_everything
    from course_lib.train import fit

    train, _ = _loaders(seed=3)
    makers = standard_optimizers(lr=0.05, momentum=0.9, names=["momentum"])
    result = compare_on_network(makers, lambda: MLP(hidden=(16,)), train, seed=1, device="cpu")
    seed_everything(1)
    model = MLP(hidden=(16,))
    by_hand = fit(
        model,
        _loaders(seed=3)[0],
        torch.nn.functional.cross_entropy,
        makers["momentum"](list(model.parameters())),
        epochs=1,
        device="cpu",
        progress=False,
    )
    assert result.histories["momentum"]["train_loss"] == pytest.approx(by_hand["train_loss"])


def test_compare_on_network_explains_wrong_arguments():
    train, _ = _loaders()
    sgd = standard_optimizers(names=["SGD"])
    with pytest.raises(ValueError, match=r"needs at least one optimizer"):
        compare_on_network({}, lambda: MLP(), train)
    with pytest.raises(TypeError, match=r"make_model builds a fresh model for each optimizer: pass a function.*MLP"):
        compare_on_network(sgd, MLP(), train)
    with pytest.raises(TypeError, match=r"train_data is a one-shot iterator"):
        compare_on_network(sgd, lambda: MLP(), iter(train))
