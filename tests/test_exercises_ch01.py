"""Chapter 01's checkers accept right answers, name the usual mistakes, and treat stubs as not attempted.

The root conftest sets COURSE_STRICT_EXERCISES=1, so a wrong answer raises ExerciseFailed.
"""

import numpy as np
import pytest
import torch

from course_lib.exercises import ExerciseFailed
from course_lib.exercises import ch01_tensors as ex


def fails(checker, answer, match):
    with pytest.raises(ExerciseFailed, match=match):
        checker(answer)


# ----------------------------------------------------------------------------- stubs
def stub_function(x): ...


def stub_with_pass(values, mask):
    pass


@pytest.mark.parametrize(
    "checker, stub",
    [
        (ex.check_grid_tensor, ...),
        (ex.check_flatten_per_example, stub_function),
        (ex.check_broadcast_predictions, ...),
        (ex.check_masked_mean, stub_with_pass),
        (ex.check_normalize_rows, stub_function),
    ],
)
def test_stubs_are_not_attempted(checker, stub, capsys):
    assert not checker(stub)
    assert "⏳" in capsys.readouterr().out


# ----------------------------------------------------------------------------- 1. build a tensor
def test_grid_tensor_accepts_the_idioms(capsys):
    assert ex.check_grid_tensor(torch.arange(12, dtype=torch.float32).reshape(3, 4))
    assert ex.check_grid_tensor(torch.arange(12.0).view(3, 4))
    assert ex.check_grid_tensor(torch.tensor([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]], dtype=torch.float32))
    assert "✅" in capsys.readouterr().out


@pytest.mark.parametrize(
    "answer, message",
    [
        (
            torch.arange(12).reshape(3, 4),
            r"dtype is torch\.int64.*torch\.arange with whole-number arguments gives int64",
        ),
        (torch.arange(12, dtype=torch.float64).reshape(3, 4), r"dtype is torch\.float64"),
        (torch.arange(12.0), r"holds 12 numbers but has shape \(12,\); reshape it to \(3, 4\)"),
        (torch.arange(12.0).reshape(4, 3), r"shape \(4, 3\): rows and columns are swapped"),
        (torch.arange(12.0).reshape(4, 3).T, r"run down the columns.*Did you transpose"),
        (torch.arange(1.0, 13.0).reshape(3, 4), r"run from 1 to 12; they should run from 0 to 11"),
        (torch.zeros(3, 4), r"right shape but wrong values.*Row i should hold"),
        (torch.zeros(2, 2), r"has shape \(2, 2\), expected \(3, 4\)"),
        ([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]], r"is a list, not a torch\.Tensor"),
        (np.arange(12.0).reshape(3, 4), r"is a ndarray, not a torch\.Tensor"),
        (None, r"answer is None"),
        (torch.full((3, 4), float("nan")), r"contains NaN in every entry \(all 12\)"),
        ("0 1 2 3", r"is a str, not a torch\.Tensor"),
    ],
)
def test_grid_tensor_names_the_mistake(answer, message):
    fails(ex.check_grid_tensor, answer, message)


def test_wrong_answer_prints_feedback_outside_strict_mode(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_STRICT_EXERCISES", "0")
    assert not ex.check_grid_tensor(torch.arange(12).reshape(3, 4))
    out = capsys.readouterr().out
    assert out.startswith("❌ Build a tensor:") and "int64" in out


# ----------------------------------------------------------------------------- 2. flatten
def test_flatten_accepts_correct_functions():
    assert ex.check_flatten_per_example(lambda x: x.flatten(start_dim=1))
    assert ex.check_flatten_per_example(lambda x: x.reshape(x.shape[0], -1))
    assert ex.check_flatten_per_example(lambda x: x.contiguous().view(len(x), -1))


@pytest.mark.parametrize(
    "fn, message",
    [
        (lambda x: x.view(x.shape[0], -1), r"non-contiguous.*\.view\(\) needs the tensor's memory laid out in order"),
        (lambda x: x.reshape(-1), r"batch axis included, became one long vector"),
        (lambda x: x.flatten(), r"batch axis included"),
        (lambda x: x.reshape(2, 12), r"invalid for input of size.*Do not write sizes into the code"),
        (lambda x: x.reshape(x.shape[0], -1, 2), r"expected \(2, 12\)"),
        (lambda x: x.transpose(1, -1).reshape(x.shape[0], -1), r"shape is right but the numbers are in another order"),
        (lambda x: x.squeeze().reshape(x.shape[0], -1) if x.shape[0] > 1 else x.squeeze(), r"single example"),
        (lambda x: x.resize_(x.shape[0], x[0].numel()), r"changed its input"),
        (lambda x: x.tolist(), r"is a list, not a torch\.Tensor"),
        (
            lambda x: x.reshape(len(x), -1) * float("nan"),
            r"for a \(2, 3, 4\) tensor your result contains NaN in every entry",
        ),
        (
            lambda x: x.reshape(len(x), -1).double(),
            r"a torch\.float32 input came back as torch\.float64: flattening moves",
        ),
    ],
)
def test_flatten_names_the_mistake(fn, message):
    fails(ex.check_flatten_per_example, fn, message)


# ----------------------------------------------------------------------------- 3. broadcasting
RIGHT_PREDICTIONS = [(8, 7, 6, 5), (5, 5), None, (2, 4, 3)]


def test_broadcast_predictions_match_torch():
    for (a, b), predicted in zip(ex.BROADCAST_QUESTIONS, RIGHT_PREDICTIONS):
        try:
            expected = tuple(torch.broadcast_shapes(a, b))
        except RuntimeError:
            expected = None
        assert expected == predicted


def test_broadcast_predictions_accept_tuples_lists_and_sizes():
    assert ex.check_broadcast_predictions(RIGHT_PREDICTIONS)
    assert ex.check_broadcast_predictions([torch.Size([8, 7, 6, 5]), [5, 5], None, np.array([2, 4, 3])])


@pytest.mark.parametrize(
    "answers, message",
    [
        (
            [(8, 7, 6, 5), (5, 1), None, (2, 4, 3)],
            r"pair 2, \(5,\) with \(5, 1\): you predicted \(5, 1\): that is what lining the shapes up on the LEFT",
        ),
        ([(8, 7, 6, 5), (5,), None, (2, 4, 3)], r"pair 2.*has 1 axes.*Pad the shorter shape"),
        ([(8, 7, 6, 5), (5, 5), (4, 3), (2, 4, 3)], r"pair 3.*do not broadcast \(the answer is None\)"),
        ([None, (5, 5), None, (2, 4, 3)], r"pair 1.*you predicted an error, but they do broadcast"),
        ([(8, 7, 6, 5), (5, 5), None, (4, 2, 3)], r"pair 4.*\(4, 2, 3\), which is not right"),
        ([(8, 7, 6, 5), (5, 5), None, (2, 4, 1)], r"pair 4.*\(2, 4, 1\), which is not right.*from the right"),
        ([(8, 7, 6, 5), (5, 5), "error", (2, 4, 3)], r"prediction 3 is the text 'error'.*None for an error"),
        ([(8, 7, 6, 5), (5, 5), None], r"a list of 4 predictions"),
        ((8, 7, 6, 5), r"prediction 1 is 8; write a tuple"),
        ({"pair 1": (8, 7, 6, 5)}, r"a list of 4 predictions"),
        ([(8, 7, 6, 5), 5, None, (2, 4, 3)], r"prediction 2 is 5"),
        ([("8", 7, 6, 5), (5, 5), None, (2, 4, 3)], r"a size in prediction 1 is the text '8', not a number"),
        ([(8.5, 7, 6, 5), (5, 5), None, (2, 4, 3)], r"a size in prediction 1 is 8\.5; it should be a whole number"),
    ],
)
def test_broadcast_predictions_name_the_mistake(answers, message):
    fails(ex.check_broadcast_predictions, answers, message)


# ----------------------------------------------------------------------------- 4. masked mean
def masked_mean_solution(values, mask):
    return (values * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)


def masked_mean_with_where(values, mask):
    total = torch.where(mask, values, torch.zeros_like(values)).sum(dim=1)
    return total / mask.sum(dim=1).clamp(min=1).to(values.dtype)


def masked_mean_in_place(values, mask):
    values[~mask] = 0
    return values.sum(dim=1) / mask.sum(dim=1).clamp(min=1)


def masked_mean_per_row(values, mask):
    return torch.stack([row[keep].mean() if keep.any() else row.new_zeros(()) for row, keep in zip(values, mask)])


def masked_mean_with_map(values, mask):
    return torch.stack(list(map(lambda row, keep: (row * keep).sum() / keep.sum().clamp(min=1), values, mask)))


def test_masked_mean_accepts_correct_functions():
    assert ex.check_masked_mean(masked_mean_solution)
    assert ex.check_masked_mean(masked_mean_with_where)


def test_masked_mean_reference_against_a_loop():
    for values, mask in ex._masked_mean_cases():
        expected = torch.stack(
            [row[keep].mean() if keep.any() else torch.zeros((), dtype=values.dtype) for row, keep in zip(values, mask)]
        )
        torch.testing.assert_close(masked_mean_solution(values, mask), expected)


@pytest.mark.parametrize(
    "fn, message",
    [
        (lambda v, m: v[m].mean(), r"one number; .*values\[mask\]\.mean\(\) throws the rows together"),
        (lambda v, m: v.mean(dim=1), r"plain mean of each row: the mask was ignored"),
        (lambda v, m: (v * m).mean(dim=1), r"divided by the row length.*mask\.sum\(dim=1\)"),
        (lambda v, m: (v * m).sum(dim=1) / m.sum(dim=1), r"row 5 has no True entry.*nan.*clamp\(min=1\)"),
        (
            lambda v, m: (v * m).sum(dim=1, keepdim=True) / m.sum(dim=1, keepdim=True).clamp(min=1),
            r"shape \(N, 1\) = \(4, 1\).*Drop keepdim=True",
        ),
        (lambda v, m: (v * m).sum(dim=0) / m.sum(dim=0).clamp(min=1), r"has shape \(6,\), expected \(4,\)"),
        (lambda v, m: (v * m).sum(dim=1) / m.sum(dim=1).clamp(min=2), r"right shape but wrong values"),
        (lambda v, m: None, r"result is None"),
        (masked_mean_in_place, r"changed its input `values` in place.*torch\.where\(mask, values, 0\)"),
        (masked_mean_per_row, r"numbers are right, but your function loops in Python.*the mask do the work"),
        (masked_mean_with_map, r"numbers are right, but your function loops in Python"),
        (lambda v, m: (v * m).sum(dim=1) / 0, r"contains inf"),
        (lambda v, m: [0.0] * len(v), r"is a list, not a torch\.Tensor"),
    ],
)
def test_masked_mean_names_the_mistake(fn, message):
    fails(ex.check_masked_mean, fn, message)


# ----------------------------------------------------------------------------- 5. normalise rows
def normalize_rows_solution(x):
    return x / x.norm(dim=1, keepdim=True)


def normalize_rows_with_a_loop(x):
    return torch.stack([row / row.norm() for row in x])


def normalize_rows_with_map(x):
    return torch.stack(list(map(lambda row: row / row.norm(), x)))


def _normalize_one(row):
    return row / row.norm()


def normalize_rows_with_a_helper(x):
    rows = []
    for row in x:
        rows.append(_normalize_one(row))
    return torch.stack(rows)


def normalize_rows_in_place(x):
    x /= x.norm(dim=1, keepdim=True)
    return x


def test_normalize_rows_accepts_vectorised_functions():
    assert ex.check_normalize_rows(normalize_rows_solution)
    assert ex.check_normalize_rows(lambda x: torch.nn.functional.normalize(x, dim=1))
    assert ex.check_normalize_rows(lambda x: x / (x**2).sum(dim=-1, keepdim=True).sqrt())


@pytest.mark.parametrize(
    "fn, message",
    [
        (lambda x: x / x.norm(dim=1), r"square input you divided column j by the length of row j.*keepdim=True"),
        (lambda x: x / x.norm(dim=0, keepdim=True), r"normalised the columns \(dim=0\)"),
        (lambda x: x / x.norm(), r"length of the whole matrix"),
        (normalize_rows_in_place, r"changed its input `x` in place"),
        (normalize_rows_with_a_loop, r"numbers are right, but your function loops in Python"),
        (normalize_rows_with_map, r"numbers are right, but your function loops in Python"),
        (normalize_rows_with_a_helper, r"numbers are right, but your function loops in Python"),
        (lambda x: torch.full_like(x, float("nan")), r"contains NaN in every entry"),
        (
            lambda x: (
                x / x.norm(dim=1, keepdim=True) * torch.tensor([1.0, float("nan"), 1.0, 1.0]) if x.shape[1] == 4 else x
            ),
            r"contains NaN at indices \(0, 1\), \(1, 1\), \(2, 1\) and 1 more",
        ),
        (lambda x: (x / x.norm(dim=1, keepdim=True)).float(), r"torch\.float64 input came back as torch\.float32"),
        (lambda x: x / x.abs().sum(dim=1, keepdim=True), r"right shape but wrong values.*sqrt\(sum of its squares\)"),
        (lambda x: (x / x.norm(dim=1, keepdim=True))[:, :2], r"expected \(4, 4\)"),
    ],
)
def test_normalize_rows_names_the_mistake(fn, message):
    fails(ex.check_normalize_rows, fn, message)


def test_missing_keepdim_on_a_non_square_input_is_explained(monkeypatch):
    cases = ex._normalize_cases()
    monkeypatch.setattr(ex, "_normalize_cases", lambda: cases[1:])  # start with (3, 5), where the bug raises
    fails(
        ex.check_normalize_rows,
        lambda x: x / x.norm(dim=1),
        r"your function\(x: \(3, 5\) float64 tensor\) raised RuntimeError: The size of tensor a.*"
        r"\(in your line .*\)\. x\.norm\(dim=1\) has shape \(N,\).*keepdim=True",
    )


def test_the_loop_check_is_exact_not_timed():
    """The same verdicts however busy the machine is: the checker counts steps, it does not time them."""
    for _ in range(3):
        assert ex.check_normalize_rows(normalize_rows_solution)
        fails(ex.check_normalize_rows, normalize_rows_with_a_loop, r"loops in Python")
