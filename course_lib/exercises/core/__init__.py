"""The machinery every chapter's checkers share (one home for each helper).

- ``verdicts``: ``@exercise`` turns a checker body into what a notebook calls (it prints ✅/❌/⏳ and returns
  a bool; a wrong answer never raises at a learner, but does in the tests, ``COURSE_STRICT_EXERCISES=1``);
  ``run_checker`` gives the same verdict as a ``Result`` without printing, for a grader; ``Exercise`` is one
  entry of a chapter's ``EXERCISES`` list.
- ``answers``: read an answer, type before value, with a sentence for each kind of wrong answer.
- ``learner_calls``: ``call_learner`` runs the learner's function watched (forbidden built-ins, inputs left
  unchanged, errors as one sentence); ``expect_no_python_loop`` counts steps to find loops.
"""

from .answers import (
    close_numbers,
    close_tensors,
    expect_close,
    expect_equal,
    expect_finite,
    expect_number,
    expect_numbers,
    expect_results,
    expect_shape,
    expect_whole_number,
    reject_none,
    require_tensor,
)
from .learner_calls import (
    LOOP_ALLOWANCE,
    Forbidden,
    ForbiddenCall,
    call_learner,
    expect_no_python_loop,
    python_steps,
    torch_spellings,
)
from .verdicts import (
    FAILED,
    NOT_ATTEMPTED,
    PASSED,
    Exercise,
    ExerciseFailed,
    Incorrect,
    Result,
    Verdict,
    exercise,
    run_checker,
)

__all__ = [
    "Incorrect",
    "ExerciseFailed",
    "Result",
    "Verdict",
    "Exercise",
    "exercise",
    "run_checker",
    "PASSED",
    "FAILED",
    "NOT_ATTEMPTED",
    "reject_none",
    "expect_number",
    "expect_whole_number",
    "expect_numbers",
    "expect_results",
    "expect_equal",
    "close_numbers",
    "close_tensors",
    "require_tensor",
    "expect_shape",
    "expect_finite",
    "expect_close",
    "Forbidden",
    "ForbiddenCall",
    "torch_spellings",
    "call_learner",
    "python_steps",
    "expect_no_python_loop",
    "LOOP_ALLOWANCE",
]
