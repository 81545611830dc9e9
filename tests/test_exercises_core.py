"""The feedback machinery every checker shares: verdicts, learner calls, forbidden built-ins, loops, answers."""

import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.exercises import core
from course_lib.exercises.core import (
    FAILED,
    NOT_ATTEMPTED,
    PASSED,
    ExerciseFailed,
    Forbidden,
    Incorrect,
    Result,
    call_learner,
    exercise,
    expect_close,
    expect_equal,
    expect_number,
    expect_numbers,
    expect_results,
    expect_shape,
    expect_whole_number,
    python_steps,
    run_checker,
    torch_spellings,
)
from course_lib.scratch import activations as scratch_activations


@exercise("Double it")
def check_double(fn):
    result = call_learner(fn, torch.tensor([1.0, -2.0]))
    expect_close(result, torch.tensor([2.0, -4.0]), what="double([1, -2])", hint="Multiply by 2.")
    return "well done."


def _stub(x): ...  # your code here


def _pass_stub(x):
    """A docstring is not an attempt."""
    pass


def test_stubs_are_not_attempted(capsys, monkeypatch):
    monkeypatch.setenv("COURSE_STRICT_EXERCISES", "1")
    for stub in (..., _stub, _pass_stub):
        assert not check_double(stub)
        assert "⏳ Double it: not attempted yet" in capsys.readouterr().out


def test_right_answer(capsys):
    assert check_double(lambda x: 2 * x)
    assert "✅ Double it: well done." in capsys.readouterr().out


def test_wrong_answer_prints_feedback_without_raising_for_a_learner(capsys, monkeypatch):
    monkeypatch.setenv("COURSE_STRICT_EXERCISES", "0")
    assert not check_double(lambda x: x + 2)
    out = capsys.readouterr().out
    assert "❌ Double it: double([1, -2]) has the right shape but wrong values" in out and "Multiply by 2." in out


def test_wrong_answer_raises_in_strict_mode(monkeypatch):
    monkeypatch.setenv("COURSE_STRICT_EXERCISES", "1")
    with pytest.raises(ExerciseFailed, match="Double it: double"):
        check_double(lambda x: x * 3)


def test_learner_code_that_raises_is_one_sentence_with_the_call_and_the_line(capsys, monkeypatch):
    monkeypatch.setenv("COURSE_STRICT_EXERCISES", "0")

    def broken(x):
        doubled = x @ torch.zeros(3, 3)  # shapes do not fit
        return doubled

    assert not check_double(broken)
    out = capsys.readouterr().out
    assert out.startswith("❌ Double it: broken(x: (2,) float32 tensor) raised RuntimeError: ")
    assert "(in your line `doubled = x @ torch.zeros(3, 3)  # shapes do not fit`)" in out
    assert "Traceback" not in out and out.count("\n") == 1


def test_strict_mode_keeps_the_learners_exception_as_the_cause(monkeypatch):
    monkeypatch.setenv("COURSE_STRICT_EXERCISES", "1")
    with pytest.raises(ExerciseFailed, match=r"raised ZeroDivisionError") as caught:
        check_double(lambda x: 1 / 0)
    assert isinstance(caught.value.__cause__, ZeroDivisionError)


def test_an_answer_the_checker_did_not_foresee_is_still_one_sentence(capsys, monkeypatch):
    monkeypatch.setenv("COURSE_STRICT_EXERCISES", "0")

    @exercise("Reads a shape")
    def check_shape(answer):
        return f"{answer.shape}"  # a checker that forgot to check the type first

    assert not check_shape(3)
    assert "the checker could not use your answer (AttributeError" in capsys.readouterr().out


# ----------------------------------------------------------------------------- results without printing
def test_run_checker_returns_a_result_and_prints_nothing(capsys, monkeypatch):
    monkeypatch.setenv("COURSE_STRICT_EXERCISES", "1")  # even in strict mode: a grader never gets an exception
    assert run_checker(check_double, lambda x: 2 * x) == Result(PASSED, "well done.")
    wrong = run_checker(check_double, lambda x: x + 2)
    assert wrong.status == FAILED and wrong.message.startswith("double([1, -2]) has the right shape but wrong values")
    assert run_checker(check_double, _stub).status == NOT_ATTEMPTED
    crashed = run_checker(check_double, lambda x: 1 / 0)
    assert crashed.status == FAILED and "raised ZeroDivisionError" in crashed.message
    assert not wrong.passed and run_checker(check_double, lambda x: x * 2).passed
    assert capsys.readouterr().out == ""


def test_run_checker_refuses_a_plain_function():
    with pytest.raises(TypeError, match="not a checker made with @exercise"):
        run_checker(lambda answer: True, 1)


# ----------------------------------------------------------------------------- forbidden built-ins
SOFTMAX = Forbidden(
    {**torch_spellings("softmax"), "nn.Softmax": nn.Softmax, "scratch softmax": scratch_activations.softmax},
    "you called {name}",
)
ALIAS = F.softmax
MODULE_BUILT_BEFORE = nn.Softmax(dim=-1)


def _helper(x):
    return torch.softmax(x, dim=-1)


def _swallows_the_error(x):
    try:
        return torch.softmax(x, dim=-1)
    except Exception:
        return torch.exp(x) / torch.exp(x).sum(dim=-1, keepdim=True)


def _own_softmax(x):
    e = torch.exp(x - x.amax(dim=-1, keepdim=True))
    return e / e.sum(dim=-1, keepdim=True)


@pytest.mark.parametrize(
    "fn, name",
    [
        (lambda x: torch.softmax(x, -1), "torch.softmax"),
        (lambda x: F.softmax(x, dim=-1), "F.softmax"),
        (lambda x: x.softmax(-1), "x.softmax()"),
        (lambda x: torch.special.softmax(x, -1), "torch.special.softmax"),
        (lambda x: ALIAS(x, dim=-1), "F.softmax"),
        (MODULE_BUILT_BEFORE, "nn.Softmax"),
        (lambda x: nn.Softmax(dim=-1)(x), "nn.Softmax"),
        (_helper, "torch.softmax"),
        (_swallows_the_error, "torch.softmax"),
        (scratch_activations.softmax, "scratch softmax"),
        (lambda x: torch.ops.aten._softmax(x, -1, False), "torch.ops.aten._softmax"),
        (lambda x: torch.ops.aten.softmax.int(x, -1), "torch.ops.aten.softmax"),
    ],
)
def test_a_forbidden_function_is_refused_however_it_is_reached(fn, name):
    with pytest.raises(Incorrect, match=f"^you called {name.replace('(', '[(]').replace(')', '[)]')}$"):
        call_learner(fn, torch.randn(3, 4), forbidden=SOFTMAX)


def test_allowed_code_runs_and_everything_is_restored_afterwards():
    sentinel = []

    def tracer(frame, event, arg):
        sentinel.append(event)
        return None

    x = torch.randn(3, 4)
    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        out = call_learner(_own_softmax, x, forbidden=SOFTMAX)
        with pytest.raises(Incorrect):
            call_learner(_helper, x, forbidden=SOFTMAX)
        with pytest.raises(Incorrect, match="raised ZeroDivisionError"):
            call_learner(lambda t: 1 / 0, x, forbidden=SOFTMAX)
        assert sys.gettrace() is tracer
    finally:
        sys.settrace(previous)
    torch.testing.assert_close(out, torch.softmax(x, dim=-1))
    torch.testing.assert_close(MODULE_BUILT_BEFORE(x), torch.softmax(x, dim=-1))  # nothing left patched
    assert not torch._C._is_torch_function_mode_enabled()


def test_torch_spellings_lists_every_public_spelling():
    names = set(torch_spellings("softmax", "sigmoid"))
    assert {
        "torch.softmax",
        "F.softmax",
        "torch.special.softmax",
        "x.softmax()",
        "torch.sigmoid",
        "F.sigmoid",
        "x.sigmoid()",
        "x.sigmoid_()",
    } <= names


# ----------------------------------------------------------------------------- inputs left unchanged
def test_an_in_place_change_to_an_input_is_refused_by_name():
    def masks_in_place(values, mask):
        values[~mask] = 0
        return values.sum(dim=1)

    with pytest.raises(Incorrect, match=r"changed its input `values` in place"):
        call_learner(masks_in_place, torch.randn(3, 4), torch.rand(3, 4) > 0.5)

    def nudges_a_list(f, xs):
        xs[0] += 1
        return xs

    with pytest.raises(Incorrect, match=r"changed its input `xs` in place.*list\(xs\)"):
        call_learner(nudges_a_list, abs, [1.0, 2.0])
    assert call_learner(nudges_a_list, abs, [1.0, 2.0], may_change={1}) == [2.0, 2.0]


def test_an_input_with_nan_left_alone_counts_as_unchanged():
    x = torch.tensor([1.0, float("nan")])
    assert call_learner(lambda t: t + 1, x)[0] == 2.0  # no complaint, although nan != nan


# ----------------------------------------------------------------------------- loops, counted not timed
def _loop(x):
    return torch.stack([row / row.norm() for row in x])


def _map_with_a_builtin(x):
    return torch.stack(list(map(torch.nn.functional.normalize, x.unsqueeze(1)))).squeeze(1)


def _loop_in_a_helper(x):
    return _rows(x)


def _rows(x):
    out = torch.empty_like(x)
    for i in range(len(x)):
        out[i] = x[i] / x[i].norm()
    return out


def _python_numbers(x):
    return torch.tensor([[v / sum(w * w for w in r) ** 0.5 for v in r] for r in x.tolist()])


@pytest.mark.parametrize("fn", [_loop, _map_with_a_builtin, _loop_in_a_helper, _python_numbers])
def test_python_steps_grow_with_the_input_when_the_code_loops(fn):
    small, large = python_steps(fn, torch.randn(4, 3)), python_steps(fn, torch.randn(40, 30))
    assert large > small + core.LOOP_ALLOWANCE


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: x / x.norm(dim=1, keepdim=True),
        lambda x: F.normalize(x, dim=1),
        lambda x: x / (x**2).sum(dim=-1, keepdim=True).sqrt(),
    ],
)
def test_python_steps_do_not_grow_for_vectorised_code(fn):
    counts = {python_steps(fn, torch.randn(n, n)) for n in (3, 30, 300)}
    assert len(counts) == 1


# ----------------------------------------------------------------------------- reading answers
def test_expect_helpers_messages():
    with pytest.raises(Incorrect, match=r"has shape \(2, 3\), expected \(3, 2\)"):
        expect_shape(torch.zeros(2, 3), (3, 2))
    with pytest.raises(Incorrect, match="is None. Did you forget a `return`"):
        expect_close(None, torch.zeros(1))
    with pytest.raises(Incorrect, match=r"largest difference is 0\.5 at index \(1,\)"):
        expect_close(torch.tensor([1.0, 2.5, 3.0]), torch.tensor([1.0, 2.0, 3.0]))
    with pytest.raises(Incorrect, match="should be a tensor"):
        expect_close(object(), torch.zeros(1))
    with pytest.raises(Incorrect, match="should be a tensor .*the text '6'"):
        expect_close("6", torch.zeros(1))
    with pytest.raises(Incorrect, match="is 3, which is not right. Count again."):
        expect_equal(3, 4, hint="Count again.")
    expect_close([1.0, 2.0], torch.tensor([1.0, 2.0]))
    expect_equal((2, 3), (2, 3))


@pytest.mark.parametrize(
    "answer, message",
    [
        (torch.tensor([[1.0, 2.0], [float("nan"), 4.0]]), r"contains NaN at index \(1, 0\)\. NaN comes from 0/0"),
        (torch.full((2, 2), float("nan")), r"contains NaN in every entry \(all 4\)"),
        (torch.tensor(float("nan")), r"your answer contains NaN\. NaN comes from"),
        (
            torch.tensor([[1.0, float("inf")], [3.0, 4.0]]),
            r"contains inf at index \(0, 1\), where the right answer is finite",
        ),
    ],
)
def test_nan_and_inf_are_named_not_reported_as_a_difference(answer, message):
    expected = torch.tensor([[1.0, 2.0], [3.0, 4.0]]) if answer.dim() else torch.tensor(1.0)
    with pytest.raises(Incorrect, match=message):
        expect_close(answer, expected)


@pytest.mark.parametrize(
    "value",
    [3, 3.0, np.float32(3.0), np.float64(3.0), np.int64(3), np.array(3.0), torch.tensor(3.0), torch.tensor([3])],
)
def test_expect_number_accepts_every_kind_of_number(value):
    assert expect_number(value) == 3.0
    assert expect_whole_number(value) == 3


@pytest.mark.parametrize(
    "value, message",
    [
        (None, r"is None"),
        ("6", r"is the text '6', not a number: write the number without quotes"),
        (torch.tensor([1.0, 2.0]), r"should be a number, got a tensor of shape \(2,\)"),
        (np.array([1.0, 2.0]), r"should be a number, got an array of shape \(2,\)"),
        ([1, 2], r"should be a number, got a list"),
        (True, r"should be a number, got a bool"),
        (float("nan"), r"is NaN \(not a number\)"),
    ],
)
def test_expect_number_names_what_it_got(value, message):
    with pytest.raises(Incorrect, match=message):
        expect_number(value)


def test_expect_whole_number_and_numbers():
    with pytest.raises(Incorrect, match=r"is 2\.5; it should be a whole number"):
        expect_whole_number(2.5)
    assert expect_numbers(torch.tensor([1.0, 2.0]), ("x", "y")) == (1.0, 2.0)
    assert expect_numbers(np.array([8, 6]), ("stop_epoch", "best_epoch"), whole=True) == (8, 6)
    with pytest.raises(Incorrect, match=r"should be 2 numbers \(x, y\), got 1: \(1\.0,\)"):
        expect_numbers((1.0,), ("x", "y"))
    with pytest.raises(Incorrect, match=r"best_epoch is the text '6', not a number"):
        expect_numbers((8, "6"), ("stop_epoch", "best_epoch"), whole=True)
    with pytest.raises(Incorrect, match=r"is the text '1, 2'; it should be 2 numbers \(x, y\), without quotes"):
        expect_numbers("1, 2", ("x", "y"))


def test_expect_results():
    assert expect_results((1, 2), ("a", "b")) == (1, 2)
    with pytest.raises(Incorrect, match=r"should return 2 things, \(a, b\); it returned a tensor of shape \(3,\)"):
        expect_results(torch.zeros(3), ("a", "b"))
    with pytest.raises(Incorrect, match=r"should return 2 things, \(a, b\); it returned 3"):
        expect_results([1, 2, 3], ("a", "b"))


def test_a_checker_returns_a_verdict_that_a_notebook_does_not_echo(monkeypatch):
    """A cell ending in `ex.check_...(answer)` used to show `True`/`False` under the ✅/❌ line."""
    from course_lib.exercises.core import Verdict, exercise

    @exercise("Two")
    def check_two(value):
        if value != 2:
            raise Incorrect("not two")
        return "two"

    monkeypatch.setenv("COURSE_STRICT_EXERCISES", "0")  # a wrong answer returns instead of raising
    passed, failed = check_two(2), check_two(3)
    assert isinstance(passed, Verdict) and bool(passed) and passed == True and passed.passed  # noqa: E712
    assert isinstance(failed, Verdict) and not failed and failed == False  # noqa: E712
    assert passed._ipython_display_() is None  # IPython calls this instead of printing a repr
    assert repr(Verdict(False)) == "Verdict(passed=False)"
