"""Checkers for chapter 01 (tensors): each spots the usual mistake and says how to fix it.

Use in a notebook: ``from course_lib.exercises import ch01_tensors as ex`` then
``ex.check_grid_tensor(answer)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from ..scratch.broadcasting import broadcast_shapes_explained
from .core import (
    Exercise,
    Incorrect,
    call_learner,
    close_tensors,
    exercise,
    expect_close,
    expect_finite,
    expect_no_python_loop,
    expect_shape,
    expect_whole_number,
    require_tensor,
)

__all__ = [
    "EXERCISES",
    "BROADCAST_QUESTIONS",
    "check_grid_tensor",
    "check_flatten_per_example",
    "check_broadcast_predictions",
    "check_masked_mean",
    "check_normalize_rows",
]


def _require_tensor(value: Any, what: str) -> torch.Tensor:
    return require_tensor(
        value, what, "Wrap numbers with torch.tensor(...) or build it with a torch function such as torch.arange."
    )


def _random_rows(rows: int, cols: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Values and a mask of ``rows`` x ``cols``: the inputs of the loop checks, small and large."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(rows, cols, generator=gen), torch.rand(rows, cols, generator=gen) < 0.6


# ----------------------------------------------------------------------------- 1. creation
@exercise("Build a tensor")
def check_grid_tensor(answer: Any) -> str:
    """The 3x4 float32 tensor holding 0, 1, ..., 11 row by row."""
    expected = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    tensor = _require_tensor(answer, "answer")
    if tensor.numel() == 12 and tuple(tensor.shape) != (3, 4):
        if tuple(tensor.shape) == (4, 3):
            raise Incorrect(
                "answer has shape (4, 3): rows and columns are swapped. You need 3 rows of 4: .reshape(3, 4)."
            )
        raise Incorrect(f"answer holds 12 numbers but has shape {tuple(tensor.shape)}; reshape it to (3, 4).")
    expect_shape(tensor, (3, 4), "answer")
    values = tensor.double()
    if close_tensors(values, expected.double() + 1):
        raise Incorrect(
            "the values run from 1 to 12; they should run from 0 to 11. torch.arange(12) starts at 0 "
            "and stops before 12."
        )
    if close_tensors(values, expected.reshape(4, 3).T.double()):
        raise Incorrect(
            "the numbers run down the columns (0, 1, 2 in the first column); they should run along "
            "the rows (0, 1, 2, 3 in the first row). Did you transpose? reshape fills row by row."
        )
    expect_close(values, expected, "answer", hint="Row i should hold 4*i, 4*i + 1, 4*i + 2, 4*i + 3.")
    if tensor.dtype != torch.float32:
        hint = (
            "torch.arange with whole-number arguments gives int64; pass dtype=torch.float32 (or call .float())."
            if not tensor.is_floating_point()
            else "pass dtype=torch.float32 (or call .float()): float32 is what neural networks compute in."
        )
        raise Incorrect(f"the values are right but the dtype is {tensor.dtype}, not torch.float32; {hint}")
    return "torch.arange(12, dtype=torch.float32).reshape(3, 4) is the idiom."


# ----------------------------------------------------------------------------- 2. reshape
def _flatten_cases() -> list[tuple[str, torch.Tensor]]:
    gen = torch.Generator().manual_seed(1)
    images = torch.randn(5, 1, 28, 28, generator=gen)
    return [
        ("a (2, 3, 4) tensor", torch.arange(24.0).reshape(2, 3, 4)),
        ("a batch of 5 MNIST-sized images (5, 1, 28, 28)", images),
        ("a single example (1, 3, 2)", torch.randn(1, 3, 2, generator=gen)),
        ("a transposed, non-contiguous (3, 4, 2) tensor", torch.randn(3, 2, 4, generator=gen).transpose(1, 2)),
    ]


def _explain_flatten_error(error: Exception) -> str | None:
    if "view size is not compatible" in str(error) or "contiguous" in str(error):
        return (
            "The checker passes a transposed, non-contiguous tensor: .view() needs the tensor's memory laid out "
            "in order. Use x.reshape(x.shape[0], -1) or x.flatten(start_dim=1), which copy only when they must."
        )
    if "is invalid for input of size" in str(error):
        return "Do not write sizes into the code: read them from x (x.shape[0]) or let -1 work them out."
    return None


@exercise("Flatten each example")
def check_flatten_per_example(fn: Callable[[torch.Tensor], torch.Tensor]) -> str:
    """``fn(x)`` turns shape ``(N, d1, d2, ...)`` into ``(N, d1 * d2 * ...)``, keeping each example's order."""
    for description, x in _flatten_cases():
        out = _require_tensor(call_learner(fn, x, explain=_explain_flatten_error), "your function's result")
        expected = x.reshape(x.shape[0], -1)
        if out.dim() == 1 and out.numel() == x.numel():
            raise Incorrect(
                f"for {description} you returned shape {tuple(out.shape)}: everything, batch axis included, became "
                "one long vector. Keep the first axis: x.reshape(x.shape[0], -1) or x.flatten(start_dim=1)."
            )
        if tuple(out.shape) != tuple(expected.shape):
            raise Incorrect(
                f"for {description} you returned shape {tuple(out.shape)}, expected {tuple(expected.shape)}. "
                "Do not write sizes into the code: read them from x (x.shape[0]) or let -1 work them out."
            )
        expect_finite(out, expected, f"for {description} your result")
        if out.dtype != x.dtype:
            raise Incorrect(
                f"for {description} a {x.dtype} input came back as {out.dtype}: flattening moves numbers, "
                "it should not convert them (no .float() or .double())."
            )
        if not torch.equal(out, expected):
            raise Incorrect(
                f"for {description} the shape is right but the numbers are in another order. Flatten without "
                "permuting or transposing first: each row must hold its example's numbers in their original order."
            )
    return "x.flatten(start_dim=1) (or x.reshape(len(x), -1)) works for any batch, contiguous or not."


# ----------------------------------------------------------------------------- 3. broadcasting
#: The pairs of shapes whose broadcast result the learner predicts (None: they do not broadcast).
BROADCAST_QUESTIONS: list[tuple[tuple[int, ...], tuple[int, ...]]] = [
    ((8, 1, 6, 1), (7, 1, 5)),
    ((5,), (5, 1)),
    ((4, 3), (4,)),
    ((2, 1, 3), (4, 1)),
]


def _left_aligned(a: Sequence[int], b: Sequence[int]) -> tuple[int, ...] | None:
    """What a learner gets by (wrongly) lining the shapes up on the left."""
    rank = max(len(a), len(b))
    a, b = tuple(a) + (1,) * (rank - len(a)), tuple(b) + (1,) * (rank - len(b))
    out = []
    for x, y in zip(a, b):
        if x != y and 1 not in (x, y):
            return None
        out.append(max(x, y) if 1 in (x, y) else x)
    return tuple(out)


def _as_prediction(value: Any, number: int) -> tuple[int, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        raise Incorrect(
            f"prediction {number} is the text {value!r}; write a tuple such as (2, 3), or None for an error."
        )
    if isinstance(value, torch.Tensor):
        value = value.tolist()
    try:
        sizes = list(value)
    except TypeError:
        raise Incorrect(
            f"prediction {number} is {value!r}; write a tuple such as (2, 3), or None for an error."
        ) from None
    return tuple(expect_whole_number(size, f"a size in prediction {number}") for size in sizes)


@exercise("Predict broadcast shapes")
def check_broadcast_predictions(answers: Sequence[Any]) -> str:
    """One prediction per pair in ``BROADCAST_QUESTIONS``: the result shape, or None if it does not broadcast."""
    if not isinstance(answers, (list, tuple)) or len(answers) != len(BROADCAST_QUESTIONS):
        raise Incorrect(
            f"answers should be a list of {len(BROADCAST_QUESTIONS)} predictions, one per pair of shapes "
            f"(got {answers!r})."
        )
    for number, ((a, b), given) in enumerate(zip(BROADCAST_QUESTIONS, answers), start=1):
        predicted = _as_prediction(given, number)
        right = broadcast_shapes_explained(a, b).result
        if predicted == right:
            continue
        where = f"pair {number}, {a} with {b}:"
        if right is None:
            raise Incorrect(
                f"{where} you predicted {predicted}, but these shapes do not broadcast (the answer is None). "
                "Line the shapes up on the right and compare the last sizes first."
            )
        if predicted is None:
            raise Incorrect(
                f"{where} you predicted an error, but they do broadcast. Pad the shorter shape on the left with 1s, "
                "then every pair of sizes that are equal or include a 1 is fine."
            )
        if predicted == _left_aligned(a, b):
            raise Incorrect(
                f"{where} you predicted {predicted}: that is what lining the shapes up on the LEFT gives. "
                "Broadcasting lines shapes up on the RIGHT and pads the shorter one on the left with 1s."
            )
        if len(predicted) != len(right):
            raise Incorrect(
                f"{where} your shape {predicted} has {len(predicted)} axes; the result has as many axes as the "
                "longer shape. Pad the shorter shape on the left with 1s."
            )
        raise Incorrect(
            f"{where} you predicted {predicted}, which is not right. Compare the sizes from the right: equal sizes "
            "stay, a 1 is stretched to the other size."
        )
    return "you can now read broadcasting the way PyTorch does. Pair 2 is the classic (N,) vs (N, 1) bug."


# ----------------------------------------------------------------------------- 4. masked mean
def _masked_mean_reference(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    counts = mask.sum(dim=1).clamp(min=1)
    return (values * mask).sum(dim=1) / counts


def _masked_mean_cases() -> list[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(3)
    cases = []
    for rows, cols, dtype in ((4, 6, torch.float32), (3, 5, torch.float64), (6, 6, torch.float32)):
        values = torch.randn(rows, cols, generator=gen, dtype=dtype)
        mask = torch.rand(rows, cols, generator=gen) < 0.6
        mask[0, :2] = True  # the first row always has a valid entry
        mask[1] = False
        mask[1, -1] = True  # a row with exactly one valid entry
        cases.append((values, mask))
    cases[-1][1][-1] = False  # a row with no valid entry at all (an all-padding sequence)
    return cases


@exercise("Masked mean")
def check_masked_mean(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> str:
    """``fn(values, mask)`` is each row's mean over the entries where ``mask`` is True; 0 for an empty row."""
    for values, mask in _masked_mean_cases():
        expected = _masked_mean_reference(values, mask)
        out = _require_tensor(call_learner(fn, values, mask), "your function's result")
        rows = values.shape[0]
        if out.dim() == 0:
            raise Incorrect(
                "you returned one number; the task wants one mean per row, shape (N,). values[mask].mean() "
                "throws the rows together: sum along dim=1 instead."
            )
        if tuple(out.shape) == (rows, 1):
            raise Incorrect(
                f"you returned shape (N, 1) = {tuple(out.shape)}; the expected shape is (N,) = ({rows},). "
                "Drop keepdim=True, or .squeeze(1) at the end."
            )
        expect_shape(out, (rows,), "your function's result")
        if close_tensors(out, values.mean(dim=1)):
            raise Incorrect("your result is the plain mean of each row: the mask was ignored.")
        if close_tensors(out, (values * mask).mean(dim=1)):
            raise Incorrect(
                "you divided by the row length, so masked entries still count as zeros in the mean. Divide by the "
                "number of True entries in each row: mask.sum(dim=1)."
            )
        empty = ~mask.any(dim=1)
        if empty.any() and torch.isnan(out[empty]).any():
            row = int(torch.nonzero(empty)[0])
            raise Incorrect(
                f"row {row} has no True entry, and you returned nan there (0 / 0). Clamp the count first: "
                "mask.sum(dim=1).clamp(min=1), so an empty row gives 0."
            )
        expect_close(
            out,
            expected,
            "your function's result",
            rtol=1e-5,
            atol=1e-6,
            hint="Each row: the sum of values where mask is True, divided by how many are True.",
        )
    expect_no_python_loop(
        fn,
        _random_rows(4, 3, seed=0),
        _random_rows(40, 30, seed=1),
        (
            "the numbers are right, but your function loops in Python (a for loop, a comprehension, map, or a helper "
            "called per row): on a 40 x 30 input it takes many more steps than on a 4 x 3 one. Let the mask do the work "
            "on the whole tensor: True counts as 1 and False as 0 in arithmetic, and .sum(dim=1) adds up each row."
        ),
    )
    return (
        "sum of masked values / count of True per row, with the count clamped at 1, is how padded batches are averaged."
    )


# ----------------------------------------------------------------------------- 5. normalise rows
def _normalize_cases() -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(5)
    return [
        torch.randn(4, 4, generator=gen),  # square: the keepdim bug runs without an error here
        torch.randn(3, 5, generator=gen, dtype=torch.float64),
        torch.randn(6, 2, generator=gen) * 100,
    ]


def _explain_keepdim_error(error: Exception) -> str | None:
    if "must match the size" in str(error):
        return (
            "x.norm(dim=1) has shape (N,), and broadcasting lines it up with the LAST axis of x. Keep the axis: "
            "x.norm(dim=1, keepdim=True) has shape (N, 1)."
        )
    return None


@exercise("Normalise rows without loops")
def check_normalize_rows(fn: Callable[[torch.Tensor], torch.Tensor]) -> str:
    """``fn(x)`` divides each row of ``x`` by its Euclidean (L2) length, with no Python loop."""
    for x in _normalize_cases():
        out = _require_tensor(call_learner(fn, x, explain=_explain_keepdim_error), "your function's result")
        expect_shape(out, tuple(x.shape), "your function's result")
        expected = x / x.norm(dim=1, keepdim=True)
        if x.shape[0] == x.shape[1] and close_tensors(out, x / x.norm(dim=1)):
            raise Incorrect(
                "on a square input you divided column j by the length of row j: x.norm(dim=1) has shape (N,) and "
                "broadcasting lines it up with the last axis. Use x.norm(dim=1, keepdim=True) (shape (N, 1)). "
                "No error warned you, because the shapes happened to fit: the most dangerous broadcasting bug."
            )
        if close_tensors(out, x / x.norm(dim=0, keepdim=True)):
            raise Incorrect("you normalised the columns (dim=0). Each ROW should have length 1: use dim=1.")
        if close_tensors(out, x / x.norm()):
            raise Incorrect("you divided by the length of the whole matrix. Each row needs its own length: dim=1.")
        if out.dtype != x.dtype:
            raise Incorrect(f"a {x.dtype} input came back as {out.dtype}; keep the input's dtype (no .float()).")
        expect_close(
            out,
            expected,
            "your function's result",
            rtol=1e-5,
            atol=1e-6,
            hint="Each row should be divided by sqrt(sum of its squares).",
        )
    expect_no_python_loop(
        fn,
        (_random_rows(4, 3, seed=0)[0],),
        (_random_rows(40, 30, seed=1)[0],),
        (
            "the numbers are right, but your function loops in Python (a for loop, a comprehension, map, or a helper "
            "called per row): on a 40 x 30 input it takes many more steps than on a 4 x 3 one. Do it in one broadcasting "
            "expression on the whole matrix: on big tensors that is many times faster."
        ),
    )
    return "x / x.norm(dim=1, keepdim=True): keepdim=True is what makes the broadcasting line up."


#: This chapter's exercises in notebook order, for a grader: the checker and the notebook variables it reads.
EXERCISES = [
    Exercise(id="grid_tensor", checker=check_grid_tensor, names=("answer",)),
    Exercise(id="flatten_per_example", checker=check_flatten_per_example, names=("flatten_per_example",)),
    Exercise(id="masked_mean", checker=check_masked_mean, names=("masked_mean",)),
    Exercise(id="broadcast_predictions", checker=check_broadcast_predictions, names=("predictions_of_shapes",)),
    Exercise(id="normalize_rows", checker=check_normalize_rows, names=("normalize_rows",)),
]
