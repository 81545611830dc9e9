"""The scratch engine against torch.autograd (and tf.GradientTape) on hundreds of random expressions.

Each random expression is built three times from the same recipe: with Values, with float64
torch tensors and (for a sample) with float64 TensorFlow tensors; the outputs and the gradients
of every leaf must agree.
"""

import math
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib.scratch.autograd import (
    MAX_DRAWN_NODES,
    MLP,
    Layer,
    Neuron,
    Value,
    cross_entropy,
    draw_graph,
    topological_order,
)


# ----------------------------------------------------------------------------- random expressions
class ValueOps:
    tanh = staticmethod(lambda a: a.tanh())
    relu = staticmethod(lambda a: a.relu())
    sigmoid = staticmethod(lambda a: a.sigmoid())
    exp = staticmethod(lambda a: a.exp())
    log = staticmethod(lambda a: a.log())


class TorchOps:
    tanh, relu, sigmoid, exp, log = torch.tanh, torch.relu, torch.sigmoid, torch.exp, torch.log


def _tf_ops():
    from course_lib.tensorflow_setup import load_tensorflow

    tf = load_tensorflow()

    class TFOps:
        tanh, relu, sigmoid, exp, log = tf.math.tanh, tf.nn.relu, tf.math.sigmoid, tf.math.exp, tf.math.log

    return tf, TFOps


#: (name, arity, recipe). Every recipe is written once and runs on Values, torch and TF tensors alike.
#: Denominators, log arguments and fractional-power bases are kept positive by construction.
RECIPES = [
    ("add", 2, lambda o, a, b: a + b),
    ("sub", 2, lambda o, a, b: a - b),
    ("mul", 2, lambda o, a, b: a * b),
    ("div", 2, lambda o, a, b: a / (b * b + 0.5)),
    ("div_by_value", 2, lambda o, a, b: a / (o.exp(b) + 0.1)),
    ("radd", 1, lambda o, a: 0.7 + a),
    ("rsub", 1, lambda o, a: 2.0 - a),
    ("rmul", 1, lambda o, a: -1.5 * a),
    ("rtruediv", 1, lambda o, a: 3.0 / (a * a + 1.0)),
    ("sub_number", 1, lambda o, a: a - 0.25),
    ("div_number", 1, lambda o, a: a / 4.0),
    ("neg", 1, lambda o, a: -a),
    ("square", 1, lambda o, a: a**2),
    ("cube", 1, lambda o, a: a**3),
    ("pow_int_negative", 1, lambda o, a: (a * a + 0.5) ** -1),
    ("pow_half", 1, lambda o, a: (a * a + 0.1) ** 0.5),
    ("pow_negative_fraction", 1, lambda o, a: (o.exp(a) + 0.2) ** -1.5),
    ("pow_fraction", 1, lambda o, a: (a * a + 0.3) ** 1.7),
    ("tanh", 1, lambda o, a: o.tanh(a)),
    ("relu", 1, lambda o, a: o.relu(a)),
    ("sigmoid", 1, lambda o, a: o.sigmoid(a)),
    ("exp", 1, lambda o, a: o.exp(o.tanh(a))),
    ("log", 1, lambda o, a: o.log(a * a + 0.2)),
    ("reuse", 1, lambda o, a: a * a + a),
]


def random_recipe(seed: int, n_leaves: int = 4, n_steps: int = 12):
    """A reproducible random program: leaf values and (recipe, operand indices) steps over a growing pool."""
    rng = random.Random(seed)
    leaves = [rng.uniform(-2.0, 2.0) for _ in range(n_leaves)]
    steps = []
    for step in range(n_steps):
        name, arity, _ = rng.choice(RECIPES)
        pool = n_leaves + step
        # prefer recent results (deep graphs) but reuse old ones too (shared subexpressions)
        operands = [max(0, pool - 1 - int(rng.expovariate(0.5))) for _ in range(arity)]
        steps.append((name, operands))
    return leaves, steps


def run_recipe(leaves, steps, ops):
    """Run the program on already-built leaf objects; the root sums the last three results."""
    recipes = {name: fn for name, _, fn in RECIPES}
    pool = list(leaves)
    for name, operands in steps:
        result = recipes[name](ops, *(pool[i] for i in operands))
        pool.append(ops.tanh(result) * 3.0)  # keep magnitudes moderate so tolerances stay meaningful
    return pool[-1] + pool[-2] * pool[-3]


def value_result(leaf_data, steps):
    leaves = [Value(x) for x in leaf_data]
    root = run_recipe(leaves, steps, ValueOps)
    root.backward()
    return root.data, [leaf.grad for leaf in leaves]


def torch_result(leaf_data, steps, dtype=torch.float64):
    leaves = [torch.tensor(x, dtype=dtype, requires_grad=True) for x in leaf_data]
    root = run_recipe(leaves, steps, TorchOps)
    root.backward()
    return root.item(), [0.0 if leaf.grad is None else leaf.grad.item() for leaf in leaves]


@pytest.mark.parametrize("seed_block", range(10))
def test_random_expressions_match_torch_float64(seed_block):
    for seed in range(seed_block * 40, seed_block * 40 + 40):  # 400 expressions in all
        leaves, steps = random_recipe(seed)
        ours, our_grads = value_result(leaves, steps)
        theirs, their_grads = torch_result(leaves, steps)
        assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-12), f"seed {seed}: {steps}"
        assert our_grads == pytest.approx(their_grads, rel=1e-7, abs=1e-9), f"seed {seed}: {steps}"


def test_random_expressions_match_torch_float32_loosely():
    """float32 torch agrees to float32 precision: the engine computes in float64 (Python floats)."""
    for seed in range(1000, 1060):
        leaves, steps = random_recipe(seed, n_steps=8)
        ours, our_grads = value_result(leaves, steps)
        theirs, their_grads = torch_result(leaves, steps, dtype=torch.float32)
        assert ours == pytest.approx(theirs, rel=1e-4, abs=1e-4)
        assert our_grads == pytest.approx(their_grads, rel=1e-3, abs=1e-3)


def test_every_recipe_is_exercised():
    used = {name for seed in range(400) for name, _ in random_recipe(seed)[1]}
    assert used == {name for name, _, _ in RECIPES}


@pytest.mark.slow
def test_random_expressions_match_tensorflow_gradient_tape():
    tf, TFOps = _tf_ops()
    for seed in range(2000, 2040):
        leaf_data, steps = random_recipe(seed)
        leaves = [tf.Variable(x, dtype=tf.float64) for x in leaf_data]
        with tf.GradientTape() as tape:
            root = run_recipe(leaves, steps, TFOps)
        grads = [0.0 if g is None else float(g) for g in tape.gradient(root, leaves)]
        ours, our_grads = value_result(leaf_data, steps)
        assert ours == pytest.approx(float(root), rel=1e-9, abs=1e-12)
        assert our_grads == pytest.approx(grads, rel=1e-7, abs=1e-9), f"seed {seed}"


# ----------------------------------------------------------------------------- hand cases
def test_a_node_used_twice_collects_both_contributions():
    x = Value(3.0)
    y = x * x  # dy/dx = 2x
    y.backward()
    assert x.grad == 6.0
    a, b, c = Value(2.0), Value(-1.0), Value(4.0)
    shared = a * b
    z = shared + shared * c  # dz/da = b (1 + c), dz/db = a (1 + c), dz/dc = a b
    z.backward()
    assert (a.grad, b.grad, c.grad) == (-5.0, 10.0, -2.0)
    assert shared.grad == 5.0


def test_a_leaf_used_as_both_operands_of_every_binary_op():
    for op, expected in [(lambda v: v + v, 2.0), (lambda v: v - v, 0.0), (lambda v: v / v, 0.0)]:
        x = Value(1.7)
        op(x).backward()
        assert x.grad == pytest.approx(expected)


def test_division_by_a_value_and_reflected_operators():
    a, b = Value(3.0), Value(-2.0)
    (a / b).backward()
    assert a.grad == pytest.approx(-0.5) and b.grad == pytest.approx(-0.75)  # 1/b and -a/b^2
    x = Value(4.0)
    y = 10 - x  # rsub
    assert y.data == 6.0
    y.backward()
    assert x.grad == -1.0
    x = Value(4.0)
    y = 2 / x  # rtruediv: d(2/x)/dx = -2/x^2
    y.backward()
    assert (y.data, x.grad) == (0.5, -0.125)
    x = Value(4.0)
    y = 3 + x * 2 - 1 + 0.5 * x
    y.backward()
    assert (y.data, x.grad) == (12.0, 2.5)


@pytest.mark.parametrize(
    "base, exponent",
    [(2.0, -1), (2.0, -2.5), (0.3, 0.5), (5.0, 1 / 3), (-2.0, 3), (-2.0, -2), (1.5, 0), (0.7, 1), (3.0, 2.0)],
)
def test_pow_matches_torch(base, exponent):
    x = Value(base)
    y = x**exponent
    y.backward()
    t = torch.tensor(base, dtype=torch.float64, requires_grad=True)
    (t**exponent).backward()
    assert y.data == pytest.approx(float(t.detach() ** exponent), rel=1e-12)
    assert x.grad == pytest.approx(t.grad.item(), rel=1e-12)
    assert y.op == f"**{float(exponent):g}"


def test_sqrt_at_zero_has_an_infinite_slope_like_torch():
    x = Value(0.0)
    (x**0.5).backward()
    t = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
    (t**0.5).backward()
    assert x.grad == t.grad.item() == math.inf


def test_relu_at_zero_has_gradient_zero_like_torch():
    x = Value(0.0)
    x.relu().backward()
    t = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
    torch.relu(t).backward()
    assert x.grad == t.grad.item() == 0.0
    x = Value(1e-300)
    x.relu().backward()
    assert x.grad == 1.0


def test_extreme_inputs_follow_torch():
    for v in [-800.0, -30.0, 30.0, 800.0]:
        x = Value(v)
        x.sigmoid().backward()
        t = torch.tensor(v, dtype=torch.float64, requires_grad=True)
        torch.sigmoid(t).backward()
        assert x.sigmoid().data == pytest.approx(torch.sigmoid(t).item(), rel=1e-12, abs=1e-300)
        assert x.grad == pytest.approx(t.grad.item(), rel=1e-12, abs=1e-300)
        x = Value(v)
        x.tanh().backward()
        assert x.grad == pytest.approx(1 - math.tanh(v) ** 2, abs=1e-300)
    assert Value(1000.0).exp().data == math.inf  # torch.exp(1000.) is inf too, not an error
    assert (Value(1e200) ** 2).data == math.inf


NAN_CASES = [  # (name, on Values, on torch tensors); the first argument holds NaN
    ("tanh", lambda a, b: a.tanh(), lambda a, b: torch.tanh(a)),
    ("relu", lambda a, b: a.relu(), lambda a, b: torch.relu(a)),
    ("sigmoid", lambda a, b: a.sigmoid(), lambda a, b: torch.sigmoid(a)),
    ("exp", lambda a, b: a.exp(), lambda a, b: torch.exp(a)),
    ("log", lambda a, b: a.log(), lambda a, b: torch.log(a)),
    ("neg", lambda a, b: -a, lambda a, b: -a),
    ("square", lambda a, b: a**2, lambda a, b: a**2),
    ("sqrt", lambda a, b: a**0.5, lambda a, b: a**0.5),
    ("pow0", lambda a, b: a**0, lambda a, b: a**0),
    ("add", lambda a, b: a + b, lambda a, b: a + b),
    ("sub", lambda a, b: b - a, lambda a, b: b - a),
    ("mul", lambda a, b: a * b, lambda a, b: a * b),
    ("div", lambda a, b: a / b, lambda a, b: a / b),
    ("rdiv", lambda a, b: b / a, lambda a, b: b / a),
]


@pytest.mark.parametrize("name, ours, theirs", NAN_CASES, ids=[c[0] for c in NAN_CASES])
def test_nan_passes_through_every_operation_like_torch(name, ours, theirs):
    """Value(nan).relu() once gave 0.0: a NaN (a diverged training run) silently became a clean number."""
    a, b = Value(float("nan")), Value(1.5)
    out = ours(a, b)
    out.backward()
    ta = torch.tensor(float("nan"), dtype=torch.float64, requires_grad=True)
    tb = torch.tensor(1.5, dtype=torch.float64, requires_grad=True)
    expected = theirs(ta, tb)
    expected.backward()
    for mine, reference in (
        (out.data, expected.item()),
        (a.grad, ta.grad.item()),
        (b.grad, 0.0 if tb.grad is None else tb.grad.item()),
    ):
        assert (math.isnan(mine) and math.isnan(reference)) or mine == pytest.approx(reference), (name, mine, reference)


def test_backward_twice_accumulates_in_leaves_exactly_like_torch():
    a, b = Value(1.5), Value(-0.5)
    hidden = (a * b).tanh()
    y = hidden * a + b
    y.backward()
    first = (a.grad, b.grad, hidden.grad)
    y.backward()
    ta = torch.tensor(1.5, dtype=torch.float64, requires_grad=True)
    tb = torch.tensor(-0.5, dtype=torch.float64, requires_grad=True)
    ty = torch.tanh(ta * tb) * ta + tb
    ty.backward(retain_graph=True)
    ty.backward()
    assert (a.grad, b.grad) == pytest.approx((ta.grad.item(), tb.grad.item()), rel=1e-12)
    assert (a.grad, b.grad) == pytest.approx((2 * first[0], 2 * first[1]))
    assert hidden.grad == first[2], "an intermediate node's gradient is recomputed, not doubled"
    y_leaf = Value(2.0)
    y_leaf.backward()
    y_leaf.backward()
    assert y_leaf.grad == 2.0


def test_leaves_that_do_not_reach_the_root_keep_gradient_zero():
    a, unused = Value(2.0), Value(5.0)
    (a * 3).backward()
    assert unused.grad == 0.0 and a.grad == 3.0


def test_a_deep_graph_does_not_hit_the_recursion_limit():
    x = Value(1.0)
    y = x
    for _ in range(5000):
        y = y + x * 0.001
    y.backward()
    assert x.grad == pytest.approx(1 + 5000 * 0.001)


def test_topological_order_puts_every_node_after_its_inputs():
    leaves, steps = random_recipe(7)
    root = run_recipe([Value(x) for x in leaves], steps, ValueOps)
    order = topological_order(root)
    position = {id(node): i for i, node in enumerate(order)}
    assert order[-1] is root and len(position) == len(order)
    assert all(position[id(parent)] < position[id(node)] for node in order for parent in node.inputs)


def test_accepted_numbers_and_labels():
    assert Value(3).data == 3.0 and isinstance(Value(3).data, float)
    assert Value(np.float32(0.5)).data == 0.5
    assert Value(torch.tensor(2.5)).data == 2.5
    assert Value(np.array([[4.0]])).data == 4.0
    x = Value(1.0, label="x")
    assert repr(x) == "Value(data=1, grad=0, label='x')"
    y = x.tanh()
    assert (y.op, y.inputs, y.is_leaf, x.is_leaf) == ("tanh", (x,), False, True)


# ----------------------------------------------------------------------------- beginner errors
@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda: Value("a"), ValueError, r"Value holds a real number, got 'a' of type str.*Value\(float\(s\)\)"),
        (lambda: Value(None), ValueError, r"got None of type NoneType"),
        (lambda: Value([1.0, 2.0]), ValueError, r"got \[1.0, 2.0\] of type list"),
        (lambda: Value(torch.ones(3)), ValueError, r"Tensor of shape \(3,\).*one Value per number"),
        (lambda: Value(2.0) ** Value(3.0), ValueError, r"Value \*\* Value is not supported.*plain number"),
        (lambda: 2 ** Value(3.0), ValueError, r"2 \*\* Value is not supported.*\(x \* math.log\(c\)\).exp\(\)"),
        (lambda: Value(0.0).log(), ValueError, r"log\(0\) is undefined: the natural log needs a positive number"),
        (lambda: Value(-1.0).log(), ValueError, r"log\(-1\) is undefined"),
        (lambda: Value(-8.0) ** (1 / 3), ValueError, r"\(-8\) \*\* 0.333333 is not a real number.*whole-number"),
        (lambda: Value(0.0) ** -1, ZeroDivisionError, r"0 \*\* -1 is infinite"),
        (lambda: Value(1.0) / 0, ZeroDivisionError, r"division by zero: 1 / 0.*epsilon"),
        (lambda: 1.0 / Value(0.0), ZeroDivisionError, r"division by zero"),
        (lambda: Value(1.0) + "2", TypeError, r"unsupported operand"),
        (lambda: "2" * Value(1.0), TypeError, r"can't multiply|unsupported operand"),
        (
            lambda: Neuron(2, activation="sigmoid"),
            ValueError,
            r'activation must be "tanh", "relu" or None, got \'sigmoid\'. None means linear',
        ),
        (lambda: Neuron(2)([1.0, 2.0, 3.0]), ValueError, r"this neuron takes 2 inputs, got 3"),
        (lambda: cross_entropy([Value(1.0), Value(2.0)], 2), ValueError, r"class index from 0 to 1, got 2"),
        (lambda: cross_entropy([Value(1.0), Value(2.0)], 0.5), ValueError, r"class index from 0 to 1, got 0\.5"),
        (lambda: cross_entropy([Value(1.0), Value(2.0)], True), ValueError, r"class index from 0 to 1, got True"),
        (lambda: Neuron(0), ValueError, r"n_inputs must be a whole number, 1 or more; got 0"),
        (lambda: MLP(2, []), ValueError, r"layer_sizes must be a list with the size of every layer.*got \[\]"),
        (lambda: MLP(2, 3), ValueError, r"layer_sizes must be a list.*\[8, 8, 3\]\); got 3"),
        (lambda: MLP(2, [4, 0]), ValueError, r"every layer size must be a whole number, 1 or more; got 0"),
        (lambda: draw_graph(3.0), ValueError, r"draw_graph expects a Value.*got float"),
    ],
)
def test_beginner_errors_say_what_and_why(make, error, message):
    with pytest.raises(error, match=message):
        make()


# ----------------------------------------------------------------------------- network and loss
def test_cross_entropy_matches_torch_including_huge_logits():
    rng = random.Random(0)
    for scale in [1.0, 10.0, 1000.0]:
        for _ in range(10):
            logits_data = [rng.uniform(-scale, scale) for _ in range(4)]
            target = rng.randrange(4)
            logits = [Value(z) for z in logits_data]
            loss = cross_entropy(logits, target)
            loss.backward()
            t = torch.tensor(logits_data, dtype=torch.float64, requires_grad=True)
            expected = F.cross_entropy(t[None], torch.tensor([target]))
            expected.backward()
            assert math.isfinite(loss.data)
            assert loss.data == pytest.approx(expected.item(), rel=1e-10, abs=1e-12)
            assert [z.grad for z in logits] == pytest.approx(t.grad.tolist(), rel=1e-8, abs=1e-12)


def _torch_twin(net: MLP) -> list[torch.nn.Linear]:
    layers = []
    for layer in net.layers:
        linear = torch.nn.Linear(len(layer.neurons[0].weights), len(layer.neurons)).double()
        with torch.no_grad():
            linear.weight.copy_(torch.tensor([[w.data for w in n.weights] for n in layer.neurons], dtype=torch.float64))
            linear.bias.copy_(torch.tensor([n.bias.data for n in layer.neurons], dtype=torch.float64))
        layers.append(linear)
    return layers


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_mlp_loss_and_gradients_match_the_same_torch_network(activation):
    from course_lib.data import make_spirals

    x, y = make_spirals(n_per_class=8, n_classes=3, seed=1)
    net = MLP(2, [6, 5, 3], activation=activation, seed=3)
    assert len(net.parameters()) == (2 * 6 + 6) + (6 * 5 + 5) + (5 * 3 + 3)
    loss = sum(cross_entropy(net(row), int(label)) for row, label in zip(x.tolist(), y)) / len(y)
    net.zero_grad()
    loss.backward()

    layers = _torch_twin(net)
    h = x.double()
    for i, linear in enumerate(layers):
        h = linear(h)
        if i < len(layers) - 1:
            h = torch.tanh(h) if activation == "tanh" else torch.relu(h)
    expected = F.cross_entropy(h, y)
    expected.backward()
    assert loss.data == pytest.approx(expected.item(), rel=1e-10)
    ours = [p.grad for p in net.parameters()]
    theirs = []
    for linear in layers:
        for row, bias in zip(linear.weight.grad, linear.bias.grad):
            theirs += [*row.tolist(), bias.item()]
    assert ours == pytest.approx(theirs, rel=1e-8, abs=1e-12)


def test_mlp_init_is_seeded_and_bounded_like_torch_linear():
    a, b, c = MLP(4, [3, 2], seed=0), MLP(4, [3, 2], seed=0), MLP(4, [3, 2], seed=1)
    assert [p.data for p in a.parameters()] == [p.data for p in b.parameters()]
    assert [p.data for p in a.parameters()] != [p.data for p in c.parameters()]
    assert all(abs(p.data) <= 1 / math.sqrt(4) for p in a.layers[0].parameters())
    assert all(n.activation == "tanh" for n in a.layers[0].neurons)
    assert all(n.activation is None for n in a.layers[-1].neurons), "the output layer is linear"
    assert len(Layer(3, 4).parameters()) == 16


def test_a_few_gradient_descent_steps_lower_the_loss():
    from course_lib.data import make_spirals

    x, y = make_spirals(n_per_class=10, n_classes=2, seed=0)
    net = MLP(2, [8, 2], seed=0)
    losses = []
    for _ in range(15):
        loss = sum(cross_entropy(net(row), int(label)) for row, label in zip(x.tolist(), y)) / len(y)
        net.zero_grad()
        loss.backward()
        for p in net.parameters():
            p.data -= 0.5 * p.grad
        losses.append(loss.data)
    assert losses[-1] < losses[0] - 0.05


# ----------------------------------------------------------------------------- drawing
def test_draw_graph_shows_every_value_and_operation():
    import matplotlib.pyplot as plt

    x = Value(3.0, label="x")
    y = x * x + x
    y.backward()
    fig = draw_graph(y, title="x*x + x")
    texts = [t.get_text() for t in fig.axes[0].texts if type(t).__name__ != "Annotation"]
    assert len(texts) == 3 + 2  # three Values (x, x*x, y) and two operations
    assert "x\ndata 3\ngrad 7" in texts and "*" in texts and "+" in texts
    assert "data 12\ngrad 1" in texts
    arrows = [t for t in fig.axes[0].texts if type(t).__name__ == "Annotation"]
    assert len(arrows) == 6, "one arrow per edge: x->* twice, *->(x*x), x->+, (x*x)->+, +->y"
    assert fig.axes[0].get_title() == "x*x + x"
    plt.close(fig)
    fig = draw_graph(y, show_grad=False)
    assert not any("grad" in t.get_text() for t in fig.axes[0].texts)
    plt.close(fig)


def test_draw_graph_refuses_a_graph_too_big_to_read():
    net = MLP(2, [4, 2])
    loss = cross_entropy(net([0.1, 0.2]), 0)
    with pytest.raises(ValueError, match=rf"too many to draw readably \(the limit is {MAX_DRAWN_NODES}\).*one neuron"):
        draw_graph(loss)


def test_importing_the_engine_does_not_import_matplotlib_or_tensorflow():
    import subprocess
    import sys

    code = (
        "import sys, course_lib.scratch.autograd as a; (a.Value(2.0) * 3).backward(); "
        "print(sorted(m for m in ('tensorflow', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_engine_is_its_own_small_module_and_the_old_names_still_work():
    """Chapter 02 and the widgets import everything from course_lib.scratch.autograd; the engine itself is
    engine.py, which needs nothing beyond the standard library (like micrograd's engine.py)."""
    import ast
    import inspect

    from course_lib.scratch import autograd, engine, graph_drawing, value_network

    assert autograd.Value is engine.Value and autograd.topological_order is engine.topological_order
    assert autograd.MLP is value_network.MLP and autograd.draw_graph is graph_drawing.draw_graph
    assert set(autograd.__all__) == {
        "Value",
        "topological_order",
        "Neuron",
        "Layer",
        "MLP",
        "cross_entropy",
        "draw_graph",
        "MAX_DRAWN_NODES",
    }
    tree = ast.parse(inspect.getsource(engine))
    imported = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    imported |= {
        node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level == 0
    }
    assert imported <= {"__future__", "collections", "math", "numbers", "typing"}  # the standard library only
    assert not any(isinstance(node, ast.ImportFrom) and node.level > 0 for node in ast.walk(tree))
