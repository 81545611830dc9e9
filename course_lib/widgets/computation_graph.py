"""Computational-graph explorer: pick an expression, move its inputs, watch data and gradients flow.

Each slider is one leaf of the graph. After every move the expression is rebuilt with the
scratch engine (``course_lib.scratch.autograd``), ``backward()`` runs, and the drawing shows
every node's ``data`` and ``grad``. A table puts each input's gradient next to a finite-difference
estimate, so a learner sees that backpropagation gives the slope a nudge would measure.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..scratch.autograd import Value, draw_graph
from . import clear_figure, one_at_a_time, show_figure

if TYPE_CHECKING:
    import ipywidgets
    from matplotlib.figure import Figure

__all__ = [
    "EXPRESSIONS",
    "Expression",
    "evaluate_expression",
    "numerical_gradients",
    "plot_expression",
    "computation_graph_explorer",
]


@dataclass(frozen=True)
class Expression:
    """An expression of named inputs: their starting values and how to build the graph from Values."""

    formula: str  # how it reads, for the drop-down
    defaults: Mapping[str, float]  # input name -> starting value
    build: Callable[[Mapping[str, Value]], Value]


def _neuron(v: Mapping[str, Value]) -> Value:
    n = v["x1"] * v["w1"] + v["x2"] * v["w2"] + v["b"]
    n.label = "n"
    return n.tanh()


def _hand_example(v: Mapping[str, Value]) -> Value:
    e = v["a"] * v["b"]
    e.label = "e"
    d = e + v["c"]
    d.label = "d"
    return d * v["f"]


EXPRESSIONS: dict[str, Expression] = {
    "hand example": Expression("L = (a·b + c)·f", {"a": 2.0, "b": -3.0, "c": 10.0, "f": -2.0}, _hand_example),
    "neuron": Expression(
        "o = tanh(x1·w1 + x2·w2 + b)", {"x1": 2.0, "x2": 0.0, "w1": -3.0, "w2": 1.0, "b": 6.9}, _neuron
    ),
    "reuse": Expression("y = x·x + x  (x is used three times)", {"x": 1.5}, lambda v: v["x"] * v["x"] + v["x"]),
    "sigmoid": Expression(
        "p = sigmoid(w·x + b)", {"w": 1.0, "x": 0.5, "b": -1.0}, lambda v: (v["w"] * v["x"] + v["b"]).sigmoid()
    ),
    "softplus": Expression("s = log(1 + exp(x))", {"x": 0.5}, lambda v: (1 + v["x"].exp()).log()),
    "ratio": Expression("r = x / (1 + x²)", {"x": 0.5}, lambda v: v["x"] / (1 + v["x"] ** 2)),
    "relu": Expression(
        "y = relu(a·x) + relu(-x)", {"a": 2.0, "x": 1.0}, lambda v: (v["a"] * v["x"]).relu() + (-v["x"]).relu()
    ),
}


def _expression(name: str) -> Expression:
    if name not in EXPRESSIONS:
        raise ValueError(f"unknown expression {name!r}; choose one of {sorted(EXPRESSIONS)}.")
    return EXPRESSIONS[name]


def evaluate_expression(name: str, values: Mapping[str, float] | None = None) -> tuple[Value, dict[str, Value]]:
    """Build expression ``name`` at ``values`` (defaults for inputs not given), run backward; return root, leaves."""
    expression = _expression(name)
    given = dict(values or {})
    unknown = set(given) - set(expression.defaults)
    if unknown:
        raise ValueError(f"{expression.formula} has inputs {list(expression.defaults)}, not {sorted(unknown)}.")
    leaves = {key: Value(given.get(key, default), label=key) for key, default in expression.defaults.items()}
    root = expression.build(leaves)
    root.label = root.label or expression.formula.split("=")[0].strip()
    root.backward()
    return root, leaves


def numerical_gradients(name: str, values: Mapping[str, float] | None = None, h: float = 1e-6) -> dict[str, float]:
    """Central differences ``(f(x+h) - f(x-h)) / 2h`` for each input: what backpropagation should match."""
    point = {**_expression(name).defaults, **dict(values or {})}
    slopes = {}
    for key in point:
        up, _ = evaluate_expression(name, {**point, key: point[key] + h})
        down, _ = evaluate_expression(name, {**point, key: point[key] - h})
        slopes[key] = (up.data - down.data) / (2 * h)
    return slopes


def plot_expression(name: str, values: Mapping[str, float] | None = None) -> Figure:
    """The graph of expression ``name`` at ``values`` after backward: every node's data and grad."""
    root, _ = evaluate_expression(name, values)
    return draw_graph(root, title=_expression(name).formula)


def _gradient_table(name: str, values: Mapping[str, float]) -> str:
    root, leaves = evaluate_expression(name, values)
    numerical = numerical_gradients(name, values)
    rows = "".join(
        f"<tr><td>∂{html.escape(root.label)}/∂{key}</td><td>{leaf.grad:.5f}</td><td>{numerical[key]:.5f}</td></tr>"
        for key, leaf in leaves.items()
    )
    return (
        f"<b>{html.escape(root.label)} = {root.data:.5f}</b>"
        "<table><tr><th>gradient</th><th>backprop</th><th>nudge each input by ±1e-6</th></tr>"
        f"{rows}</table>"
    )


def computation_graph_explorer(name: str = "neuron") -> ipywidgets.VBox:
    """A drop-down of expressions and one slider per input; the graph and the gradient table follow them."""
    import ipywidgets as widgets

    choice = widgets.Dropdown(
        options=[(e.formula, key) for key, e in EXPRESSIONS.items()],
        value=name,
        description="expression",
        layout=widgets.Layout(width="460px"),
    )
    sliders = widgets.HBox(layout=widgets.Layout(flex_flow="row wrap"))
    table = widgets.HTML()
    drawing = widgets.Output()

    def current_values() -> dict[str, float]:
        return {slider.description: slider.value for slider in sliders.children}

    @one_at_a_time
    def redraw(*_: object) -> None:
        values = current_values()
        try:
            table.value = _gradient_table(choice.value, values)
        except (ValueError, ZeroDivisionError) as error:  # e.g. a log of a non-positive number
            table.value = f"<b style='color:#b22222'>{html.escape(str(error))}</b>"
            clear_figure(drawing)
            return
        show_figure(drawing, plot_expression(choice.value, values))

    @one_at_a_time
    def make_sliders(*_: object) -> None:
        new = []
        for key, default in _expression(choice.value).defaults.items():
            slider = widgets.FloatSlider(
                value=default,
                min=-4.0,
                max=8.0 if key == "b" else 4.0,
                step=0.1,
                description=key,
                continuous_update=False,
                layout=widgets.Layout(width="300px"),
            )
            slider.observe(redraw, names="value")
            new.append(slider)
        sliders.children = new
        redraw()

    choice.observe(make_sliders, names="value")
    make_sliders()
    return widgets.VBox([choice, sliders, table, drawing])
