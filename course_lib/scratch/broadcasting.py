"""Broadcasting (广播) from scratch: the rule PyTorch, NumPy and TensorFlow share, every step written down.

``broadcast_shapes_explained(a, b)`` gives the same result as ``torch.broadcast_shapes`` (tested
against it, NumPy and TensorFlow) and says why: how the shapes are aligned, which operand is
stretched along which axis, and, when they clash, which dimension and how to fix it. Chapter 01's
exercises check answers with it; ``widgets.broadcasting`` draws it.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["Shape", "BroadcastExplanation", "broadcast_shapes_explained", "format_shape"]

Shape = tuple[int, ...]


@dataclass
class BroadcastExplanation:
    """The outcome of broadcasting two shapes, and every step that led to it."""

    shape_a: Shape
    shape_b: Shape
    aligned_a: Shape  # padded on the left with 1s to the same rank
    aligned_b: Shape
    result: Shape | None  # None when the shapes do not broadcast
    steps: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.result is not None

    def __str__(self) -> str:
        return "\n".join(self.steps)


def format_shape(shape: Sequence[int]) -> str:
    """``(3,)`` and ``()`` written the way Python writes tuples, so learners see familiar text."""
    return str(tuple(int(d) for d in shape))


def _as_shape(value: Sequence[int] | int, name: str) -> Shape:
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value,)
    try:
        shape = tuple(value)
    except TypeError:
        raise TypeError(f"{name} must be a shape such as (3, 1) or torch.Size([3, 1]); got {value!r}.") from None
    sizes = []
    for dim in shape:
        try:
            if isinstance(dim, bool):
                raise TypeError
            size = operator.index(dim)  # int, numpy integer, 0-d integer tensor; not 2.0 or "3"
        except TypeError:
            raise TypeError(f"{name} = {value!r}: every size must be a whole number, got {dim!r}.") from None
        if size < 0:
            raise ValueError(f"{name} = {value!r}: sizes cannot be negative ({size}).")
        sizes.append(size)
    return tuple(sizes)


def broadcast_shapes_explained(a: Sequence[int] | int, b: Sequence[int] | int) -> BroadcastExplanation:
    """Broadcast shape ``a`` with shape ``b`` and explain each step; never raises for a mismatch.

    The rule: line the shapes up on the right, pad the shorter one on the left with 1s, then
    compare each position. Equal sizes stay; a size 1 is stretched (repeated, without copying)
    to the other size; any other pair is an error. ``result`` agrees with
    ``torch.broadcast_shapes(a, b)``; when that would raise, ``result`` is None and ``error``
    says which dimension clashed and how to fix the usual causes.
    """
    shape_a, shape_b = _as_shape(a, "a"), _as_shape(b, "b")
    rank = max(len(shape_a), len(shape_b))
    aligned_a = (1,) * (rank - len(shape_a)) + shape_a
    aligned_b = (1,) * (rank - len(shape_b)) + shape_b
    steps = [
        f"1. Shapes: A {format_shape(shape_a)} (rank {len(shape_a)}), B {format_shape(shape_b)} (rank {len(shape_b)})."
    ]
    if len(shape_a) == len(shape_b):
        steps.append("2. Same rank: nothing to pad.")
    else:
        shorter, padded = ("A", aligned_a) if len(shape_a) < len(shape_b) else ("B", aligned_b)
        steps.append(
            f"2. Align on the right; pad {shorter} on the left with 1s: {shorter} -> {format_shape(padded)}. "
            f"Aligned: A {format_shape(aligned_a)}, B {format_shape(aligned_b)}."
        )
    steps.append("3. Compare sizes position by position, from the right:")
    result: list[int] = []
    clashes: list[str] = []
    for position in range(rank - 1, -1, -1):
        size_a, size_b = aligned_a[position], aligned_b[position]
        label = f"   dim {position - rank} (axis {position} of the result): {size_a} vs {size_b}"
        if size_a == size_b:
            result.append(size_a)
            steps.append(f"{label} -> equal, keep {size_a}")
        elif size_a == 1 or size_b == 1:
            stretched, size = ("A", size_b) if size_a == 1 else ("B", size_a)
            result.append(size)
            if size == 0:
                steps.append(f"{label} -> {stretched}'s size 1 broadcasts to 0: the result is empty along this axis")
            else:
                steps.append(f"{label} -> {stretched} is stretched from 1 to {size}")
        else:
            clashes.append(f"dim {position - rank}: {size_a} vs {size_b}")
            steps.append(f"{label} -> ERROR: the sizes differ and neither is 1")
    result.reverse()
    if not clashes:
        steps.append(f"4. Result shape: {format_shape(result)}.")
        return BroadcastExplanation(shape_a, shape_b, aligned_a, aligned_b, tuple(result), steps)

    error = (
        f"Shapes {format_shape(shape_a)} and {format_shape(shape_b)} do not broadcast: after aligning on the right "
        f"({format_shape(aligned_a)} vs {format_shape(aligned_b)}) the sizes clash at {'; '.join(clashes)}, and only a size of 1 "
        "can be stretched. If you meant to line up a different axis, add a size-1 axis where it belongs, "
        "e.g. x[:, None] or x.unsqueeze(-1) turns (N,) into (N, 1); a reduction with keepdim=True keeps that axis."
    )
    steps.append(f"4. No result: {error}")
    return BroadcastExplanation(shape_a, shape_b, aligned_a, aligned_b, None, steps, error)
