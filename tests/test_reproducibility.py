import os
import random
import subprocess
import sys

import numpy as np
import pytest
import torch

from course_lib import seed_everything


def _draw():
    return random.random(), float(np.random.rand()), torch.rand(3).tolist()


def test_same_seed_same_numbers_everywhere():
    seed_everything(123)
    first = _draw()
    seed_everything(123)
    assert _draw() == first
    seed_everything(124)
    assert _draw() != first


@pytest.mark.parametrize("bad", [-1, 1.5, "42", 2**32])
def test_bad_seed_is_explained(bad):
    with pytest.raises((ValueError, TypeError), match="seed"):
        seed_everything(bad)


def test_seeding_does_not_import_tensorflow():
    code = "import sys, course_lib; course_lib.seed_everything(0); print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_pythonhashseed_reaches_child_processes_but_not_this_one(monkeypatch):
    """What setting PYTHONHASHSEED at run time really does (the docstring says so)."""
    monkeypatch.setenv("PYTHONHASHSEED", "random")  # restored after the test
    before = hash("the running interpreter")
    seed_everything(7)
    assert os.environ["PYTHONHASHSEED"] == "7"
    assert hash("the running interpreter") == before  # this process's seed was fixed at start-up
    child = [sys.executable, "-c", "print(hash('a string'))"]
    first, second = (subprocess.run(child, capture_output=True, text=True, check=True).stdout for _ in range(2))
    assert first == second  # every child started now hashes 'a string' the same way
    seed_everything(8)
    assert subprocess.run(child, capture_output=True, text=True, check=True).stdout != first
    assert "PYTHONHASHSEED" in seed_everything.__doc__ and "running" in seed_everything.__doc__
