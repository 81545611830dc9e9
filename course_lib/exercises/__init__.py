"""Exercise checkers: each chapter's module holds ``check_*`` functions that give specific feedback.

A learner's cell holds a stub (``...``) and a call to its checker; the solution sits in a
cell tagged ``solution`` that a student edition drops. Each chapter module lists its exercises
in ``EXERCISES``; ``run_checker`` gives a checker's verdict as data. See ``core`` for how it works.
"""

from .core import (
    Exercise,
    ExerciseFailed,
    Incorrect,
    Result,
    exercise,
    expect_close,
    expect_equal,
    expect_shape,
    run_checker,
)

__all__ = [
    "Exercise",
    "ExerciseFailed",
    "Incorrect",
    "Result",
    "exercise",
    "expect_close",
    "expect_equal",
    "expect_shape",
    "run_checker",
]
