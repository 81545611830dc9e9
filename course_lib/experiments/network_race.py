"""The optimizer race on a real network: one model, the same start and the same batches, one optimizer each.

Before each run the seed is reset and the loader's shuffling generator rewound, so every optimizer
starts from the same weights and sees the batches in the same order: the curves differ only by the
optimizer. The training loop is ``course_lib.train.fit``; the loss of every batch is recorded. The
chapter builds the model and loads the data; this module only races; ``widgets.optimizer_race``
draws the result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from torch import nn

from ..reproducibility import seed_everything
from ..train import Callback, evaluate, fit

if TYPE_CHECKING:
    from ..train import History
    from .optimizer_race import MakeOptimizer

__all__ = ["NetworkRace", "BatchLosses", "compare_on_network"]


@dataclass
class NetworkRace:
    """What ``compare_on_network`` measured, per optimizer name."""

    batch_losses: dict[str, list[float]] = field(default_factory=dict)
    histories: dict[str, History] = field(default_factory=dict)
    test: dict[str, dict[str, float]] = field(default_factory=dict)

    def table(self) -> str:
        """A plain-text table: final training loss, test loss and accuracy.

        No time column: each optimizer's extra work is a few element-wise operations per weight, far below
        the forward and backward passes, so wall times differ by whatever else the machine was doing.
        """
        rows = [f"{'optimizer':<12}{'last train loss':>16}{'test loss':>11}{'test acc':>10}"]
        for name, losses in self.batch_losses.items():
            tail = losses[-20:]  # the mean of the last batches: one batch alone is noisy
            test = self.test.get(name, {})
            rows.append(
                f"{name:<12}{sum(tail) / len(tail):>16.4f}{test.get('loss', float('nan')):>11.4f}"
                f"{test.get('accuracy', float('nan')):>10.4f}"
            )
        return "\n".join(rows)


class BatchLosses(Callback):
    """Keeps the training loss of every batch, in order, for curves per optimizer step."""

    def __init__(self) -> None:
        self.values: list[float] = []

    def on_batch_end(self, loss: float) -> None:
        self.values.append(float(loss))


def compare_on_network(
    optimizers: Mapping[str, MakeOptimizer],
    make_model: Callable[[], nn.Module],
    train_data: Iterable,
    test_data: Iterable | None = None,
    *,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = nn.functional.cross_entropy,
    epochs: int = 1,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: bool = False,
) -> NetworkRace:
    """Train ``make_model()`` with each optimizer of ``{name: make_optimizer}`` on ``train_data``.

    ``train_data`` is a loader (``TensorBatchLoader``, ``DataLoader``); it is iterated once per epoch
    per optimizer. Before each run ``seed_everything(seed)`` makes ``make_model()`` build the same
    weights, and a shuffling ``generator`` the loader owns is set back to where it stood, so every run
    sees the same batches. ``test_data``, if given, is evaluated after each run.
    """
    if not optimizers:
        raise ValueError("compare_on_network() needs at least one optimizer, e.g. standard_optimizers(lr=0.1).")
    if not callable(make_model) or isinstance(make_model, nn.Module):
        raise TypeError(
            "make_model builds a fresh model for each optimizer: pass a function, e.g. "
            f"lambda: MLP(hidden=(128,)), not a {type(make_model).__name__}."
        )
    if isinstance(train_data, Iterator):
        raise TypeError(
            "train_data is a one-shot iterator: each optimizer needs every epoch again. "
            "Pass a loader such as TensorBatchLoader(x, y, batch_size=128, shuffle=True)."
        )
    generator = getattr(train_data, "generator", None)
    start_state = generator.get_state() if isinstance(generator, torch.Generator) else None
    result = NetworkRace()
    for name, make_optimizer in optimizers.items():
        seed_everything(seed)
        if start_state is not None:
            generator.set_state(start_state)
        model = make_model()
        optimizer = make_optimizer(list(model.parameters()))
        batch_losses = BatchLosses()
        result.histories[name] = fit(
            model,
            train_data,
            loss_fn,
            optimizer,
            epochs=epochs,
            device=device,
            callbacks=[batch_losses],
            progress=progress,
        )
        result.batch_losses[name] = batch_losses.values
        if test_data is not None:  # evaluate runs where fit put the model
            result.test[name] = evaluate(model, test_data, loss_fn)
    return result
