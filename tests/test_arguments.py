"""course_lib.arguments: the shared argument checks, and that the scratch modules use them."""

import ast
import inspect
import re

import numpy as np
import pytest
import torch

from course_lib import arguments as A
from course_lib.config import PROJECT_ROOT


@pytest.mark.parametrize(
    "value, ok",
    [
        (1, True),
        (2.5, True),
        (np.float32(0.5), True),
        (np.int64(3), True),
        (True, False),
        (float("nan"), False),
        (float("inf"), False),
        ("1", False),
        (None, False),
        (torch.tensor(1.0), False),
    ],
)
def test_is_number(value, ok):
    assert A.is_number(value) is ok


@pytest.mark.parametrize(
    "kwargs, good, bad, rule",
    [
        (dict(at_least=0, below=1), [0, 0.5, 0.999], [1, -0.1, 1.5], "in [0, 1)"),
        (dict(above=0, at_most=1), [1e-9, 1], [0, 1.01], "in (0, 1]"),
        (dict(at_least=0), [0, 1e9], [-1e-12], "0 or more"),
        (dict(above=0), [1e-12], [0, -3], "above 0"),
        (dict(below=2), [1.9, -5], [2], "below 2"),
        (dict(at_most=2), [2, -5], [2.1], "2 or less"),
        ({}, [-7, 3.5], [float("nan"), float("inf"), True, "0.1", None], ""),
    ],
)
def test_check_number_bounds_and_message(kwargs, good, bad, rule):
    for value in good:
        A.check_number("x", value, **kwargs)
    for value in bad:
        expected = re.escape(f"x must be a number{' ' + rule if rule else ''}; got {value!r}. Why.")
        with pytest.raises(ValueError, match=f"^{expected}$"):
            A.check_number("x", value, why="Why.", **kwargs)


def test_check_whole_number():
    assert A.check_whole_number("n", np.int64(3), 1) == 3 and type(A.check_whole_number("n", np.int64(3))) is int
    for bad in (0, 2.0, True, "3", None, -1):
        with pytest.raises(ValueError, match=re.escape(f"n must be a whole number of items, 1 or more; got {bad!r}.")):
            A.check_whole_number("n", bad, 1, unit="items")


def test_check_learning_rate():
    A.check_learning_rate(0)
    A.check_learning_rate(np.float32(1e-3))
    for bad in (-0.1, float("nan"), "0.1", True, float("inf")):
        with pytest.raises(ValueError, match=r"^base_lr must be a learning rate, a number 0 or more.*climb the loss"):
            A.check_learning_rate(bad, "base_lr")


def test_check_bool_choice_and_pairs():
    A.check_bool("flag", np.bool_(True))
    for bad in ("False", 0, 1, None):
        with pytest.raises(TypeError, match=r"^flag must be True or False, got"):
            A.check_bool("flag", bad)
    A.check_choice("mode", None, ("a", None))
    with pytest.raises(ValueError, match=r'^mode must be "a", "b" or None, got \'c\'\. Pick one\.$'):
        A.check_choice("mode", "c", ("a", "b", None), why="Pick one.")
    with pytest.raises(ValueError, match=r'^mode must be "a", got \[\]\.$'):
        A.check_choice("mode", [], ("a",))
    assert A.check_int_pair("k", 3, 1) == (3, 3) and A.check_int_pair("k", [2, np.int64(5)], 1) == (2, 5)
    for bad in (2.0, None, "3", (1, 2, 3), (1, 2.0), True):
        with pytest.raises(TypeError, match=r"^k must be an int or a pair of ints \(height, width\), got"):
            A.check_int_pair("k", bad, 1)
    with pytest.raises(ValueError, match=r"^k must be at least 1, got \(0, 2\)"):
        A.check_int_pair("k", (0, 2), 1)


def test_check_float_tensor_and_dim():
    A.check_float_tensor(torch.zeros(2, dtype=torch.float16), "x", "f")
    with pytest.raises(TypeError, match=r"^f: x should be a torch\.Tensor, got a list\. Wrap it"):
        A.check_float_tensor([1.0], "x", "f")
    with pytest.raises(
        TypeError, match=r"^f: w should be a floating-point tensor .* got torch\.int64\. Convert it with w\.float\(\)"
    ):
        A.check_float_tensor(torch.zeros(2, dtype=torch.int64), "w", "f")
    for dim in (-2, -1, 0, 1):
        A.check_dim(torch.zeros(2, 3), dim, "f")
    A.check_dim(torch.tensor(1.0), -1, "f")  # torch accepts dim 0 and -1 on a 0-d tensor
    for bad in (2, -3, 1.0, None, True):
        with pytest.raises(ValueError, match=r"^f: dim must be an axis of the input"):
            A.check_dim(torch.zeros(2, 3), bad, "f")


def test_no_scratch_module_keeps_a_private_copy_of_a_shared_check():
    """Issue 9: _check_lr, _check_float, ... lived in several scratch modules with different messages."""
    shared = {"_check_lr", "_check_float", "_check_range", "_check_non_negative", "_pair", "_check_bool"}
    for path in sorted((PROJECT_ROOT / "course_lib" / "scratch").glob("*.py")):
        defined = {node.name for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.FunctionDef)}
        assert not defined & shared, f"{path.name} defines {sorted(defined & shared)}: use course_lib.arguments"
    assert inspect.getmodule(A.check_number).__name__ == "course_lib.arguments"
