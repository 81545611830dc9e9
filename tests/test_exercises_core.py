import pytest
import torch

from course_lib.exercises.core import ExerciseFailed, Incorrect, exercise, expect_close, expect_equal, expect_shape


@exercise("Double it")
def check_double(fn):
    result = fn(torch.tensor([1.0, -2.0]))
    expect_close(result, torch.tensor([2.0, -4.0]), what="double([1, -2])", hint="Multiply by 2.")
    return "well done."


def _stub(x):
    ...  # your code here


def _pass_stub(x):
    """A docstring is not an attempt."""
    pass


def test_stubs_are_not_attempted(capsys, monkeypatch):
    monkeypatch.setenv("COURSE_STRICT_EXERCISES", "1")
    for stub in (..., _stub, _pass_stub):
        assert check_double(stub) is False
        assert "⏳ Double it: not attempted yet" in capsys.readouterr().out


def test_right_answer(capsys):
    assert check_double(lambda x: 2 * x) is True
    assert "✅ Double it: well done." in capsys.readouterr().out


def test_wrong_answer_prints_feedback_without_raising_for_a_learner(capsys, monkeypatch):
    monkeypatch.setenv("COURSE_STRICT_EXERCISES", "0")
    assert check_double(lambda x: x + 2) is False
    out = capsys.readouterr().out
    assert "❌ Double it: double([1, -2]) has the right shape but wrong values" in out and "Multiply by 2." in out


def test_wrong_answer_raises_in_strict_mode(monkeypatch):
    monkeypatch.setenv("COURSE_STRICT_EXERCISES", "1")
    with pytest.raises(ExerciseFailed, match="Double it: double"):
        check_double(lambda x: x * 3)


def test_learner_code_that_raises_is_reported(capsys, monkeypatch):
    monkeypatch.setenv("COURSE_STRICT_EXERCISES", "0")

    def broken(x):
        return x @ torch.zeros(3, 3)  # shapes do not fit

    assert check_double(broken) is False
    assert "your code raised RuntimeError" in capsys.readouterr().out


def test_expect_helpers_messages():
    with pytest.raises(Incorrect, match=r"has shape \(2, 3\), expected \(3, 2\)"):
        expect_shape(torch.zeros(2, 3), (3, 2))
    with pytest.raises(Incorrect, match="is None. Did you forget a `return`"):
        expect_close(None, torch.zeros(1))
    with pytest.raises(Incorrect, match=r"largest difference is 0\.5 at index \(1,\)"):
        expect_close(torch.tensor([1.0, 2.5, 3.0]), torch.tensor([1.0, 2.0, 3.0]))
    with pytest.raises(Incorrect, match="should be a tensor"):
        expect_close(object(), torch.zeros(1))
    with pytest.raises(Incorrect, match="is 3, which is not right. Count again."):
        expect_equal(3, 4, hint="Count again.")
    expect_close([1.0, 2.0], torch.tensor([1.0, 2.0]))
    expect_equal((2, 3), (2, 3))
