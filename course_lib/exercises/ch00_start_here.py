"""Checker for chapter 00 (start here): a first exercise that shows how feedback works.

Use in a notebook: ``from course_lib.exercises import ch00_start_here as ex`` then
``ex.check_sum_one_to_ten(answer)``.
"""

from __future__ import annotations

from typing import Any

import torch

from .core import Exercise, Incorrect, exercise, expect_number, reject_none

__all__ = ["EXERCISES", "check_sum_one_to_ten"]


@exercise("Your first tensor")
def check_sum_one_to_ten(answer: Any) -> str:
    """The sum 1 + 2 + ... + 10 computed with torch: a 0-d tensor (or a number) equal to 55."""
    reject_none(answer, "answer", "Did the last line of your cell assign the sum to `answer`?")
    if isinstance(answer, torch.Tensor) and answer.numel() != 1:
        raise Incorrect(
            f"answer is a tensor of shape {tuple(answer.shape)} (the numbers themselves?). "
            "Add them up into one number with .sum()."
        )
    value = expect_number(answer, "answer")
    if value == 45:
        raise Incorrect(
            "you got 45: the 10 is missing (45 = 1 + ... + 9, or 0 + 1 + ... + 9). torch.arange stops BEFORE its "
            "end, like Python's range: torch.arange(1, 10) gives 1, ..., 9. Use torch.arange(1, 11)."
        )
    if value == 66:
        raise Incorrect(
            "you got 66 = 1 + ... + 11: the end of torch.arange is excluded, so torch.arange(1, 11) stops at 10."
        )
    if value == 10:
        raise Incorrect("you got 10: that is how many numbers there are, not their sum. Call .sum() on the tensor.")
    if value != 55:
        raise Incorrect(
            f"answer is {value:.10g}, but 1 + 2 + ... + 10 = 55. Build the numbers with "
            "torch.arange(1, 11), then .sum()."
        )
    return "55. Note that torch.arange, like range, stops before its end."


#: This chapter's exercises in notebook order, for a grader: the checker and the notebook variables it reads.
EXERCISES = [Exercise(id="sum_one_to_ten", checker=check_sum_one_to_ten, names=("answer",))]
