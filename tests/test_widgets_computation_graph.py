"""The computation-graph explorer: its expressions, their gradients (checked by torch), and the widget."""

import math

import matplotlib.pyplot as plt
import pytest
import torch

from course_lib.widgets import computation_graph as module
from course_lib.widgets.computation_graph import (
    EXPRESSIONS,
    computation_graph_explorer,
    evaluate_expression,
    numerical_gradients,
    plot_expression,
)


def _torch_gradients(name, values):
    """Run the expression's build function on float64 torch tensors (they have .tanh(), .exp(), ...)."""
    expression = EXPRESSIONS[name]
    point = {**expression.defaults, **values}
    leaves = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in point.items()}
    root = expression.build(leaves)
    root.backward()
    return root.item(), {k: 0.0 if t.grad is None else t.grad.item() for k, t in leaves.items()}


@pytest.mark.parametrize("name", sorted(EXPRESSIONS))
@pytest.mark.parametrize("shift", [0.0, -0.7, 1.3])
def test_every_expression_agrees_with_torch_and_with_finite_differences(name, shift):
    values = {k: v + shift for k, v in EXPRESSIONS[name].defaults.items()}
    root, leaves = evaluate_expression(name, values)
    expected, grads = _torch_gradients(name, values)
    assert root.data == pytest.approx(expected, rel=1e-12)
    assert {k: leaf.grad for k, leaf in leaves.items()} == pytest.approx(grads, rel=1e-10, abs=1e-12)
    assert numerical_gradients(name, values) == pytest.approx(grads, rel=1e-5, abs=1e-6)


def test_the_hand_example_has_the_numbers_the_chapter_works_out():
    root, leaves = evaluate_expression("hand example")
    assert root.data == -8.0
    assert {k: v.grad for k, v in leaves.items()} == {"a": 6.0, "b": -4.0, "c": -2.0, "f": 4.0}
    assert root.label == "L"


def test_unknown_names_are_refused_with_the_choices():
    with pytest.raises(ValueError, match=r"unknown expression 'nope'; choose one of \['hand example'"):
        evaluate_expression("nope")
    with pytest.raises(ValueError, match=r"has inputs \['x'\], not \['y'\]"):
        evaluate_expression("reuse", {"y": 1.0})


def test_plot_expression_labels_inputs_and_closes_cleanly():
    fig = plot_expression("neuron", {"b": 6.0})
    texts = [t.get_text() for t in fig.axes[0].texts if type(t).__name__ != "Annotation"]
    assert any(t.startswith("b\ndata 6\n") for t in texts)
    assert "tanh" in texts and fig.axes[0].get_title() == EXPRESSIONS["neuron"].formula
    plt.close(fig)


def test_explorer_redraws_when_a_slider_or_the_expression_changes(monkeypatch):
    drawn = []
    real_plot = module.plot_expression

    def counting_plot(name, values):
        drawn.append((name, dict(values)))
        return real_plot(name, values)

    monkeypatch.setattr(module, "plot_expression", counting_plot)
    explorer = computation_graph_explorer("reuse")
    choice, sliders, table, drawing = explorer.children
    assert drawn == [("reuse", {"x": 1.5})]
    assert "y = 3.75000" in table.value and "∂y/∂x</td><td>4.00000</td><td>4.00000" in table.value
    sliders.children[0].value = -0.5
    assert drawn[-1] == ("reuse", {"x": -0.5})
    assert "∂y/∂x</td><td>0.00000" in table.value  # 2x + 1 = 0 at x = -0.5: a flat spot
    choice.value = "neuron"
    assert [s.description for s in sliders.children] == ["x1", "x2", "w1", "w2", "b"]
    assert drawn[-1] == ("neuron", dict(EXPRESSIONS["neuron"].defaults))
    assert len(drawn) == 3, "changing the expression draws once"
    slider_b = sliders.children[-1]
    slider_b.value = 0.0
    o = math.tanh(2.0 * -3.0 + 0.0)
    assert f"o = {o:.5f}" in table.value
    assert plt.get_fignums() == []


def test_importing_the_module_does_not_import_tensorflow_or_widgets():
    import subprocess
    import sys

    code = (
        "import sys, course_lib.widgets.computation_graph as g; g.evaluate_expression('neuron'); "
        "print('tensorflow' in sys.modules, 'ipywidgets' in sys.modules, 'matplotlib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False", "False"]
