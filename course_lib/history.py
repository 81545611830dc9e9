"""``History``: the numbers ``fit`` records, one value an epoch, to print, plot, save and resume from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["History"]


@dataclass
class History:
    """Per-epoch numbers from ``fit``: ``history["val_loss"]`` is a list with one value an epoch.

    ``steps`` counts the optimizer steps of all epochs, so a resumed run numbers its steps on from
    there. ``state_dict()`` and ``load_state_dict()`` turn it into plain lists and numbers for a
    checkpoint (loadable with ``torch.load(..., weights_only=True)``).
    """

    metrics: dict[str, list[float]] = field(default_factory=dict)
    stopped_early: bool = False
    steps: int = 0

    def add(self, **values: float) -> None:
        for name, value in values.items():
            self.metrics.setdefault(name, []).append(float(value))

    def __getitem__(self, name: str) -> list[float]:
        if name not in self.metrics:
            raise KeyError(f"No metric {name!r} in this history; it has: {', '.join(self.metrics) or 'nothing yet'}.")
        return self.metrics[name]

    def __contains__(self, name: object) -> bool:
        return name in self.metrics

    def keys(self) -> list[str]:
        return list(self.metrics)

    @property
    def epochs(self) -> int:
        return len(self.metrics.get("train_loss", []))

    def last(self) -> dict[str, float]:
        """The numbers of the last epoch, e.g. ``{'train_loss': 0.1, 'val_accuracy': 0.98}``."""
        return {name: values[-1] for name, values in self.metrics.items() if values}

    def state_dict(self) -> dict[str, Any]:
        """Everything in the history as plain Python values (for a checkpoint)."""
        return {
            "metrics": {name: list(values) for name, values in self.metrics.items()},
            "stopped_early": self.stopped_early,
            "steps": self.steps,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Replace this history's contents with a saved ``state_dict()``."""
        self.metrics = {name: [float(v) for v in values] for name, values in state["metrics"].items()}
        self.stopped_early = bool(state.get("stopped_early", False))
        self.steps = int(state.get("steps", 0))
