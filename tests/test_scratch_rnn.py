"""Scratch RNN, LSTM and GRU cells against torch.nn (values and gradients) and Keras' GRU and LSTM."""

import numpy as np
import pytest
import torch
from torch import nn

from course_lib.keras_charlm import torch_gru_to_keras, torch_lstm_to_keras
from course_lib.scratch.rnn import cell_weights, gru_cell, lstm_cell, rnn_cell, run_sequence
from course_lib.tensorflow_setup import load_tensorflow

DTYPES = [torch.float32, torch.float64]
TOL = {torch.float32: {"rtol": 1e-5, "atol": 1e-5}, torch.float64: {"rtol": 1e-10, "atol": 1e-12}}
INPUT, HIDDEN, BATCH, TIME = 5, 4, 3, 7

# kind -> (our cell, its options, torch's cell class, torch's sequence class and options)
KINDS = {
    "rnn_tanh": (rnn_cell, {}, nn.RNNCell, nn.RNN, {}),
    "rnn_relu": (rnn_cell, {"nonlinearity": "relu"}, nn.RNNCell, nn.RNN, {"nonlinearity": "relu"}),
    "lstm": (lstm_cell, {}, nn.LSTMCell, nn.LSTM, {}),
    "gru": (gru_cell, {}, nn.GRUCell, nn.GRU, {}),
}


def _randomise(module, gen, dtype):
    """Weights far from zero, so a swapped gate or a misplaced reset gate cannot hide."""
    module.to(dtype)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=dtype) * 0.6)
    return module


def _state(kind, shape, gen, dtype):
    def make():
        return torch.randn(shape, generator=gen, dtype=dtype, requires_grad=True)

    return (make(), make()) if kind == "lstm" else make()


def _flat(state):
    return list(state) if isinstance(state, (tuple, list)) else [state]


def _assert_same_values_and_gradients(ours, theirs, inputs, gen, dtype):
    ours, theirs = _flat(ours), _flat(theirs)
    for a, b in zip(ours, theirs):
        assert a.dtype == dtype and a.shape == b.shape
        torch.testing.assert_close(a, b, **TOL[dtype])
    upstream = [torch.randn(t.shape, generator=gen, dtype=dtype) for t in theirs]
    grads_ours = torch.autograd.grad(ours, inputs, upstream)
    grads_theirs = torch.autograd.grad(theirs, inputs, upstream)
    for g_ours, g_theirs in zip(grads_ours, grads_theirs):
        torch.testing.assert_close(g_ours, g_theirs, **TOL[dtype])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("batched", [True, False], ids=["batch", "one_example"])
def test_cell_matches_torch_cell(kind, dtype, bias, batched):
    ours_fn, options, torch_cell, _, _ = KINDS[kind]
    for seed in range(2):
        gen = torch.Generator().manual_seed(seed)
        module = _randomise(torch_cell(INPUT, HIDDEN, bias=bias, **options), gen, dtype)
        weights = cell_weights(module)
        assert (weights[2] is None) == (not bias)
        shape = (BATCH,) if batched else ()
        x = torch.randn((*shape, INPUT), generator=gen, dtype=dtype, requires_grad=True)
        state = _state(kind, (*shape, HIDDEN), gen, dtype)
        ours = ours_fn(x, state, *weights, **options)
        theirs = module(x, state)
        inputs = [x, *_flat(state), *(w for w in weights if w is not None)]
        _assert_same_values_and_gradients(ours, theirs, inputs, gen, dtype)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch_first", [False, True], ids=["time_first", "batch_first"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
def test_run_sequence_matches_torch_sequence_module(kind, dtype, batch_first, bias):
    cell, options, _, torch_seq, seq_options = KINDS[kind]
    gen = torch.Generator().manual_seed(1)
    module = _randomise(torch_seq(INPUT, HIDDEN, bias=bias, batch_first=batch_first, **seq_options), gen, dtype)
    weights = cell_weights(module)
    shape = (BATCH, TIME, INPUT) if batch_first else (TIME, BATCH, INPUT)
    xs = torch.randn(shape, generator=gen, dtype=dtype, requires_grad=True)
    state = _state(kind, (BATCH, HIDDEN), gen, dtype)
    outputs, final = run_sequence(cell, xs, state, *weights, batch_first=batch_first, **options)
    # torch's state has a leading (layers x directions) axis of 1
    torch_state = tuple(s.unsqueeze(0) for s in state) if kind == "lstm" else state.unsqueeze(0)
    torch_outputs, torch_final = module(xs, torch_state)
    torch_final = tuple(s.squeeze(0) for s in torch_final) if kind == "lstm" else torch_final.squeeze(0)
    inputs = [xs, *_flat(state), *(w for w in weights if w is not None)]
    _assert_same_values_and_gradients(
        [outputs, *_flat(final)], [torch_outputs, *_flat(torch_final)], inputs, gen, dtype
    )


@pytest.mark.parametrize("kind", KINDS)
def test_run_sequence_starts_from_zeros_and_handles_one_sequence(kind):
    cell, options, _, torch_seq, seq_options = KINDS[kind]
    gen = torch.Generator().manual_seed(2)
    module = _randomise(torch_seq(INPUT, HIDDEN, **seq_options), gen, torch.float64)
    xs = torch.randn(TIME, BATCH, INPUT, generator=gen, dtype=torch.float64)
    outputs, _ = run_sequence(cell, xs, None, *cell_weights(module), **options)
    torch.testing.assert_close(outputs, module(xs)[0])
    one = xs[:, 0]  # (time, input): one sequence, no batch dimension
    outputs_one, final = run_sequence(cell, one, None, *cell_weights(module), **options)
    assert outputs_one.shape == (TIME, HIDDEN) and _flat(final)[0].shape == (HIDDEN,)
    torch.testing.assert_close(outputs_one, outputs[:, 0])


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_two_stacked_layers_are_two_sequences_run_one_after_the_other(kind):
    cell, _, _, torch_seq, _ = KINDS[kind]
    gen = torch.Generator().manual_seed(3)
    module = _randomise(torch_seq(INPUT, HIDDEN, num_layers=2), gen, torch.float64)
    xs = torch.randn(TIME, BATCH, INPUT, generator=gen, dtype=torch.float64)
    first, _ = run_sequence(cell, xs, None, *cell_weights(module, layer=0))
    second, final = run_sequence(cell, first, None, *cell_weights(module, layer=1))
    torch_outputs, torch_final = module(xs)
    torch.testing.assert_close(second, torch_outputs)
    torch.testing.assert_close(_flat(final)[0], _flat(torch_final)[0][1])


def test_lstm_gates_follow_torchs_i_f_g_o_order():
    # Only the forget gate's bias is large: the cell keeps c and ignores the candidate.
    hidden = 2
    w_ih, w_hh = torch.zeros(4 * hidden, 1), torch.zeros(4 * hidden, hidden)
    b = torch.tensor([-50.0] * 2 + [50.0] * 2 + [0.0] * 2 + [50.0] * 2)  # i shut, f open, g 0, o open
    c = torch.tensor([[0.5, -0.25]])
    h_new, c_new = lstm_cell(torch.ones(1, 1), (torch.zeros(1, hidden), c), w_ih, w_hh, b, None)
    torch.testing.assert_close(c_new, c)
    torch.testing.assert_close(h_new, torch.tanh(c))


def test_gru_reset_gate_scales_the_hidden_product_including_its_bias():
    # r = sigmoid(-50) ~ 0 closes the reset gate: torch's n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
    # drops b_hn, while the reset-before variant keeps it: tanh(W_in x + b_in + W_hn (r * h) + b_hn).
    hidden = 1
    w_ih, w_hh = torch.zeros(3, 1), torch.zeros(3, hidden)
    b_ih = torch.tensor([-50.0, -50.0, 0.0])  # r shut, z shut (take the candidate)
    b_hh = torch.tensor([0.0, 0.0, 2.0])  # b_hn
    x, h = torch.ones(1, 1), torch.ones(1, 1)
    torch.testing.assert_close(gru_cell(x, h, w_ih, w_hh, b_ih, b_hh), torch.zeros(1, 1))
    torch.testing.assert_close(
        gru_cell(x, h, w_ih, w_hh, b_ih, b_hh, reset_after=False), torch.tanh(torch.tensor([[2.0]]))
    )


# ----------------------------------------------------------------------------- Keras
def _keras_sequence(layer_class, weights, xs, h0, **options):
    tf = load_tensorflow()
    layer = layer_class(HIDDEN, return_sequences=True, return_state=True, **options)
    layer.build((None, None, INPUT))
    layer.set_weights(weights)
    outputs = layer(tf.constant(xs.numpy()), initial_state=[tf.constant(h.numpy()) for h in h0])
    return [np.asarray(o) for o in outputs]


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
def test_keras_gru_with_reset_after_is_torchs_gru_with_reordered_gates(bias):
    keras = load_tensorflow().keras
    gen = torch.Generator().manual_seed(4)
    module = _randomise(nn.GRU(INPUT, HIDDEN, batch_first=True, bias=bias), gen, torch.float32)
    w_ih, w_hh, b_ih, b_hh = cell_weights(module)
    weights = torch_gru_to_keras(w_ih, w_hh, b_ih, b_hh, reset_after=True)
    # The layout, written out: Keras' kernel is (input, 3 x units) in the order z, r, h; the bias is two rows.
    np.testing.assert_array_equal(weights[0][:, :HIDDEN], w_ih[HIDDEN : 2 * HIDDEN].detach().numpy().T)  # z
    np.testing.assert_array_equal(weights[1][:, HIDDEN : 2 * HIDDEN], w_hh[:HIDDEN].detach().numpy().T)  # r
    if bias:
        assert weights[2].shape == (2, 3 * HIDDEN)
        np.testing.assert_array_equal(weights[2][1, 2 * HIDDEN :], b_hh[2 * HIDDEN :].detach().numpy())  # b_hn
    xs = torch.randn(BATCH, TIME, INPUT, generator=gen)
    h0 = torch.randn(BATCH, HIDDEN, generator=gen)
    keras_out, keras_h = _keras_sequence(keras.layers.GRU, weights, xs, [h0], reset_after=True, use_bias=bias)
    with torch.no_grad():
        torch_out, torch_h = module(xs, h0.unsqueeze(0))
    np.testing.assert_allclose(keras_out, torch_out.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(keras_h, torch_h[0].numpy(), rtol=1e-5, atol=1e-5)
    layer = keras.layers.GRU(HIDDEN, use_bias=bias)
    layer.build((None, None, INPUT))
    assert sum(int(np.prod(w.shape)) for w in layer.weights) == sum(p.numel() for p in module.parameters())


def test_keras_gru_without_reset_after_is_the_reset_before_variant_not_torchs():
    keras = load_tensorflow().keras
    gen = torch.Generator().manual_seed(5)
    module = _randomise(nn.GRU(INPUT, HIDDEN, batch_first=True), gen, torch.float32)
    weights = cell_weights(module)
    keras_weights = torch_gru_to_keras(*weights, reset_after=False)
    assert keras_weights[2].shape == (3 * HIDDEN,)  # one bias: b_ih + b_hh
    xs = torch.randn(BATCH, TIME, INPUT, generator=gen)
    h0 = torch.randn(BATCH, HIDDEN, generator=gen)
    keras_out, _ = _keras_sequence(keras.layers.GRU, keras_weights, xs, [h0], reset_after=False)
    with torch.no_grad():
        ours, _ = run_sequence(gru_cell, xs, h0, *weights, batch_first=True, reset_after=False)
        torch_out, _ = module(xs, h0.unsqueeze(0))
    np.testing.assert_allclose(keras_out, ours.numpy(), rtol=1e-5, atol=1e-5)
    assert np.abs(keras_out - torch_out.numpy()).max() > 0.05  # a different function, not a rounding difference


def test_keras_lstm_is_torchs_lstm_with_one_bias():
    keras = load_tensorflow().keras
    gen = torch.Generator().manual_seed(6)
    module = _randomise(nn.LSTM(INPUT, HIDDEN, batch_first=True), gen, torch.float32)
    weights = torch_lstm_to_keras(*cell_weights(module))
    assert weights[2].shape == (4 * HIDDEN,)
    xs = torch.randn(BATCH, TIME, INPUT, generator=gen)
    h0, c0 = torch.randn(BATCH, HIDDEN, generator=gen), torch.randn(BATCH, HIDDEN, generator=gen)
    keras_out, keras_h, keras_c = _keras_sequence(keras.layers.LSTM, weights, xs, [h0, c0])
    with torch.no_grad():
        torch_out, (torch_h, torch_c) = module(xs, (h0.unsqueeze(0), c0.unsqueeze(0)))
    np.testing.assert_allclose(keras_out, torch_out.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(keras_h, torch_h[0].numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(keras_c, torch_c[0].numpy(), rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------- errors
def _weights(gates, hidden=HIDDEN, inputs=INPUT):
    return torch.randn(gates * hidden, inputs), torch.randn(gates * hidden, hidden)


def test_bad_nonlinearity_is_refused_by_name():
    with pytest.raises(ValueError, match="""nonlinearity must be "tanh" or "relu", got 'sigmoid'"""):
        rnn_cell(torch.randn(2, INPUT), torch.randn(2, HIDDEN), *_weights(1), nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="nonlinearity must be"):
        run_sequence(rnn_cell, torch.randn(TIME, 2, INPUT), None, *_weights(1), nonlinearity="Tanh")


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: lstm_cell(torch.randn(2, INPUT), (torch.randn(2, HIDDEN),) * 2, *_weights(3)),
            r"w_hh has shape \(12, 4\).*4 gate blocks \(i, f, g, o\)",
        ),
        (
            lambda: gru_cell(torch.randn(2, INPUT + 1), torch.randn(2, HIDDEN), *_weights(3)),
            r"w_ih has shape \(12, 5\), but x has 6 features.*must be \(12, 6\)",
        ),
        (
            lambda: gru_cell(torch.randn(2, INPUT), torch.randn(3, HIDDEN), *_weights(3)),
            r"h has shape \(3, 4\), but x is \(2, 5\).*must be \(2, 4\)",
        ),
        (
            lambda: lstm_cell(torch.randn(2, INPUT), (torch.randn(2, HIDDEN), torch.randn(2, 5)), *_weights(4)),
            r"c has shape \(2, 5\)",
        ),
        (
            lambda: rnn_cell(torch.randn(2, INPUT), torch.randn(2, HIDDEN), *_weights(1), torch.randn(8)),
            r"b_ih has shape \(8,\), but it must be \(4,\)",
        ),
        (
            lambda: rnn_cell(torch.randn(2, 1, INPUT), torch.randn(2, HIDDEN), *_weights(1)),
            r"x must be \(batch, input\)",
        ),
    ],
    ids=["w_hh_gates", "w_ih_inputs", "h_batch", "c_hidden", "bias", "x_3d"],
)
def test_shape_mismatches_name_the_tensor_and_the_shape_it_needs(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_wrong_types_and_dtypes_are_refused():
    w_ih, w_hh = _weights(1)
    with pytest.raises(TypeError, match=r"same dtype.*x torch.float64.*w_ih torch.float32"):
        rnn_cell(torch.randn(2, INPUT, dtype=torch.float64), torch.randn(2, HIDDEN), w_ih, w_hh)
    with pytest.raises(TypeError, match="x must hold floating-point numbers"):
        rnn_cell(torch.ones(2, INPUT, dtype=torch.int64), torch.randn(2, HIDDEN), w_ih, w_hh)
    with pytest.raises(TypeError, match="h must be a torch.Tensor, got a list"):
        rnn_cell(torch.randn(2, INPUT), [[0.0] * HIDDEN] * 2, w_ih, w_hh)
    with pytest.raises(TypeError, match=r"state must be the pair \(h, c\)"):
        lstm_cell(torch.randn(2, INPUT), torch.randn(2, HIDDEN), *_weights(4))


def test_run_sequence_refuses_bad_sequences_and_needs_a_state_for_a_cell_of_your_own():
    w_ih, w_hh = _weights(1)
    with pytest.raises(ValueError, match=r"xs must be \(time, batch, input\).*got \(5,\)"):
        run_sequence(rnn_cell, torch.randn(INPUT), None, w_ih, w_hh)
    with pytest.raises(ValueError, match="empty"):
        run_sequence(rnn_cell, torch.randn(0, 2, INPUT), None, w_ih, w_hh)
    with pytest.raises(ValueError, match="needs the initial state for a cell of your own"):
        run_sequence(lambda x, h, *w: rnn_cell(x, h, *w), torch.randn(TIME, 2, INPUT), None, w_ih, w_hh)
    outputs, _ = run_sequence(
        lambda x, h, *w: rnn_cell(x, h, *w), torch.randn(TIME, 2, INPUT), torch.zeros(2, HIDDEN), w_ih, w_hh
    )
    assert outputs.shape == (TIME, 2, HIDDEN)
    with pytest.raises(TypeError, match="cell must be a function"):
        run_sequence("lstm", torch.randn(TIME, 2, INPUT), None, w_ih, w_hh)


def test_cell_weights_reads_layers_and_refuses_other_modules():
    lstm = nn.LSTM(INPUT, HIDDEN, num_layers=2, bias=False)
    w_ih, w_hh, b_ih, b_hh = cell_weights(lstm, layer=1)
    assert w_ih is lstm.weight_ih_l1 and w_hh.shape == (4 * HIDDEN, HIDDEN) and b_ih is None and b_hh is None
    with pytest.raises(ValueError, match="layer must be between 0 and 1"):
        cell_weights(lstm, layer=2)
    with pytest.raises(TypeError, match="got Linear"):
        cell_weights(nn.Linear(2, 2))
