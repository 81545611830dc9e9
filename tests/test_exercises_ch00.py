"""Chapter 00's first exercise: accepts 55 in any form, explains the usual off-by-one mistakes."""

import numpy as np
import pytest
import torch

from course_lib.exercises import ExerciseFailed
from course_lib.exercises import ch00_start_here as ex


@pytest.mark.parametrize(
    "answer",
    [
        torch.arange(1, 11).sum(),
        torch.arange(1.0, 11.0).sum(),
        55,
        55.0,
        torch.tensor([55]),
        np.int64(55),
        np.float32(55.0),
        np.array(55),
    ],
)
def test_accepts_55(answer, capsys):
    assert ex.check_sum_one_to_ten(answer)
    assert "✅" in capsys.readouterr().out


@pytest.mark.parametrize(
    "answer, message",
    [
        (torch.arange(10).sum(), r"45: the 10 is missing.*stops BEFORE its end"),
        (torch.arange(1, 10).sum(), r"45: the 10 is missing \(45 = 1 \+ \.\.\. \+ 9, or 0 \+ 1"),
        (torch.arange(1, 12).sum(), r"66 = 1 \+ \.\.\. \+ 11"),
        (torch.arange(1, 11), r"tensor of shape \(10,\).*\.sum\(\)"),
        (torch.tensor(10), r"how many numbers there are"),
        (torch.arange(1, 11).prod(), r"answer is 3628800, but 1 \+ 2 \+ \.\.\. \+ 10 = 55"),
        ("55", r"answer is the text '55', not a number: write the number without quotes"),
        (True, r"answer should be a number, got a bool"),
        (float("nan"), r"answer is NaN"),
        (torch.tensor(float("nan")), r"answer is NaN"),
        ([1, 2], r"answer should be a number, got a list"),
        (None, r"answer is None"),
    ],
)
def test_names_the_mistake(answer, message):
    with pytest.raises(ExerciseFailed, match=message):
        ex.check_sum_one_to_ten(answer)


def test_stub_is_not_attempted(capsys):
    assert not ex.check_sum_one_to_ten(...)
    assert "⏳ Your first tensor: not attempted yet" in capsys.readouterr().out
