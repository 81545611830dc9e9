"""Exercise checkers: each chapter's module holds ``check_*`` functions that give specific feedback.

A learner's cell holds a stub (``...``) and a call to its checker; the solution sits in a
cell tagged ``solution`` that a student edition drops. See ``core`` for how feedback works.
"""
from .core import ExerciseFailed, Incorrect, exercise, expect_close, expect_equal, expect_shape

__all__ = ["ExerciseFailed", "Incorrect", "exercise", "expect_close", "expect_equal", "expect_shape"]
