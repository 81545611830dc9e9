"""The broadcasting rule from scratch agrees with PyTorch, NumPy and TensorFlow, and explains every step."""

import random

import numpy as np
import pytest
import torch

from course_lib.scratch.broadcasting import broadcast_shapes_explained, format_shape
from course_lib.tensorflow_setup import load_tensorflow


def random_shape_pair(rng: random.Random) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Two shapes that often, but not always, broadcast: sizes from {0, 1, 2, 3, 4}, ranks 0 to 4."""
    rank_a, rank_b = rng.randint(0, 4), rng.randint(0, 4)
    base = [rng.choice([0, 1, 2, 3, 4]) for _ in range(max(rank_a, rank_b))]

    def derive(rank: int) -> tuple[int, ...]:
        dims = base[len(base) - rank :]
        # Keep a size, replace it by 1 (still broadcasts) or by a random size (may clash).
        return tuple(d if rng.random() < 0.5 else (1 if rng.random() < 0.6 else rng.randint(0, 4)) for d in dims)

    return derive(rank_a), derive(rank_b)


def torch_result(a, b):
    try:
        return tuple(torch.broadcast_shapes(a, b))
    except RuntimeError:
        return None


@pytest.mark.parametrize("seed", range(5))
def test_agrees_with_torch_broadcast_shapes_on_random_pairs(seed):
    rng = random.Random(seed)
    failing = passing = 0
    for _ in range(400):
        a, b = random_shape_pair(rng)
        explained = broadcast_shapes_explained(a, b)
        expected = torch_result(a, b)
        assert explained.result == expected, (a, b, explained.steps)
        assert explained.ok == (expected is not None)
        assert (explained.error is None) == explained.ok
        if expected is None:
            failing += 1
        else:
            passing += 1
            # Broadcasting is symmetric, and the aligned shapes are the inputs padded with 1s on the left.
            assert broadcast_shapes_explained(b, a).result == expected
            rank = len(expected)
            assert explained.aligned_a == (1,) * (rank - len(a)) + a
            assert explained.aligned_b == (1,) * (rank - len(b)) + b
    assert failing > 20 and passing > 20, "the random pairs must exercise both outcomes"


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_result_is_the_shape_of_real_tensor_arithmetic(seed, dtype):
    rng = random.Random(100 + seed)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(60):
        a, b = random_shape_pair(rng)
        x, y = torch.randn(a, dtype=dtype, generator=gen), torch.randn(b, dtype=dtype, generator=gen)
        explained = broadcast_shapes_explained(a, b)
        if explained.ok:
            assert tuple((x + y).shape) == explained.result
            assert np.broadcast_shapes(a, b) == explained.result
        else:
            with pytest.raises(RuntimeError, match="must match the size|broadcast"):
                x + y
            with pytest.raises(ValueError):
                np.broadcast_shapes(a, b)


def test_agrees_with_tensorflow():
    tf = load_tensorflow()
    rng = random.Random(7)
    for _ in range(100):
        a, b = random_shape_pair(rng)
        explained = broadcast_shapes_explained(a, b)
        if explained.ok:
            assert tuple(tf.broadcast_static_shape(tf.TensorShape(a), tf.TensorShape(b)).as_list()) == explained.result
        else:
            with pytest.raises(ValueError, match="Incompatible shapes"):
                tf.broadcast_static_shape(tf.TensorShape(a), tf.TensorShape(b))


@pytest.mark.parametrize(
    "a, b, result",
    [
        ((3, 1), (4,), (3, 4)),
        ((5,), (5, 1), (5, 5)),  # the classic (N,) vs (N, 1) bug: a silent (N, N)
        ((8, 1, 6, 1), (7, 1, 5), (8, 7, 6, 5)),  # NumPy's documented example
        ((), (2, 3), (2, 3)),  # a scalar broadcasts with anything
        ((), (), ()),
        ((0,), (1,), (0,)),  # size 1 stretches to size 0: an empty result
        ((2, 0), (2, 1), (2, 0)),
        (torch.Size([4, 3]), torch.Size([3]), (4, 3)),
        (4, (3, 1), (3, 4)),  # a bare int is a 1-D shape
    ],
)
def test_known_examples(a, b, result):
    explained = broadcast_shapes_explained(a, b)
    assert explained.result == result
    assert explained.steps[-1] == f"4. Result shape: {result}."


def test_steps_say_which_operand_is_stretched_and_how_it_is_padded():
    explained = broadcast_shapes_explained((3, 1), (4,))
    text = str(explained)
    assert "pad B on the left with 1s: B -> (1, 4)" in text
    assert "dim -1 (axis 1 of the result): 1 vs 4 -> A is stretched from 1 to 4" in text
    assert "dim -2 (axis 0 of the result): 3 vs 1 -> B is stretched from 1 to 3" in text
    assert "Same rank: nothing to pad." in str(broadcast_shapes_explained((2, 3), (2, 1)))


def test_failure_names_the_clashing_dimension_and_the_fix():
    explained = broadcast_shapes_explained((4, 3), (4,))
    assert explained.result is None and not explained.ok
    assert explained.error.startswith("Shapes (4, 3) and (4,) do not broadcast")
    assert "clash at dim -1: 3 vs 4" in explained.error
    assert "unsqueeze(-1)" in explained.error and "keepdim=True" in explained.error
    assert "ERROR: the sizes differ and neither is 1" in str(explained)
    several = broadcast_shapes_explained((2, 3, 4), (5, 3, 6))
    assert "dim -1: 4 vs 6; dim -3: 2 vs 5" in several.error
    assert broadcast_shapes_explained((0,), (3,)).error is not None  # 0 is not 1: it does not stretch


@pytest.mark.parametrize(
    "bad, error, message",
    [
        ((3, -1), ValueError, "sizes cannot be negative"),
        ((2.0, 3), TypeError, "every size must be a whole number"),
        ((True, 3), TypeError, "every size must be a whole number"),
        ("3, 1", TypeError, "every size must be a whole number"),
        (None, TypeError, "must be a shape such as"),
    ],
)
def test_bad_shapes_are_rejected_with_a_clear_message(bad, error, message):
    with pytest.raises(error, match=message):
        broadcast_shapes_explained(bad, (3,))


def test_numpy_integers_are_accepted_as_sizes():
    assert broadcast_shapes_explained(np.array([3, 1]), (np.int64(4),)).result == (3, 4)


def test_format_shape_writes_python_tuples():
    assert format_shape((3,)) == "(3,)" and format_shape(()) == "()" and format_shape(torch.Size([2, 3])) == "(2, 3)"
