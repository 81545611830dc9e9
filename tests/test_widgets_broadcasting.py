"""The broadcasting explorer: shapes typed by a learner, the drawing of the stretch, and the widget redrawing."""

import matplotlib

from course_lib.scratch.broadcasting import broadcast_shapes_explained
from course_lib.widgets.broadcasting import (
    EXAMPLES,
    broadcasting_explorer,
    parse_shape,
    plot_broadcast,
)

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402


@pytest.mark.parametrize(
    "text, shape",
    [
        ("3, 1", (3, 1)),
        ("(3, 1)", (3, 1)),
        ("[3 1]", (3, 1)),
        ("3,", (3,)),
        ("", ()),
        ("()", ()),
        ("torch.Size([2, 3])", (2, 3)),
        (" 8 ,3, 32,32 ", (8, 3, 32, 32)),
        ("0", (0,)),
    ],
)
def test_parse_shape(text, shape):
    assert parse_shape(text) == shape


@pytest.mark.parametrize("text", ["3, x", "3.5", "-1, 2", "3;4"])
def test_parse_shape_rejects_what_is_not_a_shape(text):
    with pytest.raises(ValueError, match="Cannot read .* as a shape"):
        parse_shape(text)


def test_every_example_parses_and_behaves_as_its_name_says():
    for name, (a, b) in EXAMPLES.items():
        explained = broadcast_shapes_explained(parse_shape(a), parse_shape(b))
        assert explained.ok == ("does not broadcast" not in name), name


def _stored_and_repeated_cells(ax):
    faces = [tuple(round(c, 3) for c in patch.get_facecolor()[:3]) for patch in ax.patches]
    dark = matplotlib.colors.to_rgb("#3b75af")
    dark = tuple(round(c, 3) for c in dark)
    stored = sum(face == dark for face in faces)
    return stored, len(faces) - stored


def test_plot_marks_stored_and_repeated_cells():
    fig = plot_broadcast((3, 1), (4,))
    try:
        a_axes, b_axes, result_axes = fig.axes
        assert _stored_and_repeated_cells(a_axes) == (3, 9)  # one stored column stretched to four
        assert _stored_and_repeated_cells(b_axes) == (4, 8)  # one stored row stretched to three
        assert _stored_and_repeated_cells(result_axes) == (12, 0)
        assert "result (3, 4)" in fig._suptitle.get_text()
    finally:
        plt.close(fig)


def test_plot_of_shapes_that_do_not_broadcast_says_so():
    fig = plot_broadcast((4, 3), (4,))
    try:
        assert "do not broadcast" in fig._suptitle.get_text()
        assert _stored_and_repeated_cells(fig.axes[0]) == (12, 0)
    finally:
        plt.close(fig)


def test_plot_of_large_and_high_rank_shapes_stays_small():
    fig = plot_broadcast((8, 3, 32, 32), (3, 1, 1))
    try:
        assert len(fig.axes[0].patches) == 36  # at most 6 x 6 cells drawn per operand
        assert "leading axes (1, 3) -> (8, 3)" in fig.axes[1].get_title()
    finally:
        plt.close(fig)


def test_explorer_redraws_when_shapes_change(monkeypatch):
    import course_lib.widgets.broadcasting as module

    drawn = []

    def counting_plot(a, b):
        drawn.append((a, b))
        return plot_broadcast(a, b)

    monkeypatch.setattr(module, "plot_broadcast", counting_plot)
    explorer = broadcasting_explorer("3, 1", "4")
    examples, boxes, steps, drawing = explorer.children
    box_a, box_b = boxes.children
    assert "broadcasts to (3, 4)" in steps.value
    assert drawn == [((3, 1), (4,))]
    box_a.value = "4, 3"
    assert "does not broadcast" in steps.value
    assert drawn[-1] == ((4, 3), (4,))
    box_b.value = "4, 1"
    assert "broadcasts to (4, 3)" in steps.value
    box_a.value = "3, x"
    assert "Cannot read" in steps.value and "is not a whole number" in steps.value
    assert len(drawn) == 3  # nothing drawn for a shape that cannot be read
    examples.value = EXAMPLES["the classic bug: (N,) vs (N, 1)"]
    assert (box_a.value, box_b.value) == ("5", "5, 1")
    assert "broadcasts to (5, 5)" in steps.value
    assert drawn[3:] == [((5,), (5, 1))]  # choosing an example redraws once, not once per box
    assert plt.get_fignums() == []  # every figure drawn was closed


@pytest.mark.parametrize(
    "module, call",
    [
        ("course_lib.scratch.broadcasting", "broadcast_shapes_explained((3, 1), (4,))"),
        ("course_lib.widgets.broadcasting", "parse_shape('3, 1')"),
    ],
)
def test_importing_imports_no_tensorflow_plotting_or_widgets(module, call):
    import subprocess
    import sys

    code = (
        f"import sys, {module} as b; b.{call}; "
        "print('tensorflow' in sys.modules, 'ipywidgets' in sys.modules, 'matplotlib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False", "False"]
