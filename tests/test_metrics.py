import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from course_lib.metrics import accuracy, confusion_matrix, precision_recall_f1


def _random_labels(seed, n=200, num_classes=7, missing=(5,)):
    """Random labels in which some classes never appear as true labels, and one is never predicted."""
    g = torch.Generator().manual_seed(seed)
    allowed = torch.tensor([c for c in range(num_classes) if c not in missing])
    y_true = allowed[torch.randint(0, len(allowed), (n,), generator=g)]
    y_pred = torch.where(torch.rand(n, generator=g) < 0.6, y_true, torch.randint(0, num_classes, (n,), generator=g))
    y_pred[y_pred == 2] = 3  # class 2 is never predicted: its precision is 0/0
    return y_true, y_pred


@pytest.mark.parametrize("seed", range(5))
def test_confusion_matrix_and_accuracy_match_sklearn(seed):
    y_true, y_pred = _random_labels(seed)
    expected = skm.confusion_matrix(y_true.numpy(), y_pred.numpy(), labels=list(range(7)))
    matrix = confusion_matrix(y_true, y_pred, 7)
    assert matrix.dtype == torch.int64
    np.testing.assert_array_equal(matrix.numpy(), expected)
    assert matrix.sum(dim=1)[5] == 0 and matrix.sum(dim=0)[2] == 0
    assert accuracy(y_true, y_pred) == pytest.approx(skm.accuracy_score(y_true.numpy(), y_pred.numpy()))


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("average", ["macro", "micro", "weighted", None])
def test_precision_recall_f1_match_sklearn_with_zero_division_0(seed, average):
    y_true, y_pred = _random_labels(seed)
    expected = skm.precision_recall_fscore_support(
        y_true.numpy(), y_pred.numpy(), labels=list(range(7)), average=average, zero_division=0
    )[:3]
    got = precision_recall_f1(y_true, y_pred, 7, average=average)
    for name, value, want in zip(("precision", "recall", "f1"), got, expected):
        if average is None:
            assert isinstance(value, torch.Tensor) and value.shape == (7,)
            np.testing.assert_allclose(value.numpy(), want, rtol=1e-12, atol=1e-12, err_msg=name)
        else:
            assert isinstance(value, float)
            assert value == pytest.approx(want, abs=1e-12), name
    if average is None:
        assert got.precision[2] == 0 and got.recall[5] == 0 and got.f1[5] == 0


def test_micro_average_equals_accuracy_and_named_fields():
    y_true, y_pred = _random_labels(1)
    result = precision_recall_f1(y_true, y_pred, 7, average="micro")
    assert result.precision == result.recall == result.f1 == pytest.approx(accuracy(y_true, y_pred))


def test_scores_are_turned_into_classes():
    logits = torch.tensor([[2.0, 0.1, 0.3], [0.0, -1.0, 5.0], [0.2, 0.9, 0.1]], dtype=torch.float64)
    y_true = torch.tensor([0, 1, 1])
    assert accuracy(y_true, logits) == pytest.approx(2 / 3)
    assert confusion_matrix(y_true, logits, 3).tolist() == [[1, 0, 0], [0, 1, 1], [0, 0, 0]]
    with pytest.raises(ValueError, match="scores for 3 classes, but num_classes is 4"):
        confusion_matrix(y_true, logits, 4)


def test_perfect_and_all_wrong_predictions():
    y = torch.tensor([0, 1, 2, 2])
    assert precision_recall_f1(y, y, 3) == (1.0, 1.0, 1.0)
    assert precision_recall_f1(y, (y + 1) % 3, 3) == (0.0, 0.0, 0.0)


def test_errors_say_what_is_wrong():
    y = torch.tensor([0, 1, 2])
    with pytest.raises(ValueError, match="same length.*3 true labels and 2 predictions"):
        accuracy(y, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="y_pred contains the label 3, outside 0..2"):
        confusion_matrix(y, torch.tensor([0, 1, 3]), 3)
    with pytest.raises(ValueError, match="y_true contains the label -1"):
        precision_recall_f1(torch.tensor([-1, 1, 2]), y, 3)
    with pytest.raises(TypeError, match="y_true must hold whole-number class indices.*float32"):
        accuracy(y.float(), y)
    with pytest.raises(TypeError, match="y_pred must hold whole-number"):
        confusion_matrix(y, torch.tensor([0.0, 1.0, 2.0]), 3)
    with pytest.raises(ValueError, match="average must be one of"):
        precision_recall_f1(y, y, 3, average="samples")
    with pytest.raises(ValueError, match="empty"):
        accuracy(torch.tensor([], dtype=torch.long), torch.tensor([], dtype=torch.long))
    with pytest.raises(ValueError, match="1-D tensor"):
        accuracy(y.reshape(3, 1), y.reshape(3, 1))


def test_plot_confusion_matrix_counts_and_normalised():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from course_lib.plots import plot_confusion_matrix

    matrix = torch.tensor([[5, 1, 0], [2, 2, 0], [0, 0, 0]])
    fig = plot_confusion_matrix(matrix, class_names=["a", "b", "c"])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    assert [t.get_text() for t in ax.texts][:3] == ["5", "1", "0"]
    plt.close(fig)
    fig = plot_confusion_matrix(matrix, normalize=True)
    data = fig.axes[0].images[0].get_array()
    np.testing.assert_allclose(np.asarray(data)[0], [5 / 6, 1 / 6, 0])
    np.testing.assert_allclose(np.asarray(data)[2], [0, 0, 0])  # an empty row stays 0, no division by zero
    plt.close(fig)
    with pytest.raises(ValueError, match="square"):
        plot_confusion_matrix(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="2 names, but the matrix has 3 classes"):
        plot_confusion_matrix(matrix, class_names=["a", "b"])
