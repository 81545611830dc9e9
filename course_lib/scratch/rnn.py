r"""Recurrent cells from scratch: one time step of a plain RNN, an LSTM and a GRU, then a loop over time.

Each cell is a few lines that read like its equations, with PyTorch's weight layout, so the
weights of ``nn.RNN``/``nn.LSTM``/``nn.GRU`` (and their ``...Cell`` versions) can be passed in
unchanged and the results agree (tests/test_scratch_rnn.py checks values and gradients):

- ``w_ih`` has shape ``(gates * hidden, input)`` and ``w_hh`` ``(gates * hidden, hidden)``: the
  gates' weights stacked one block under the other, in torch's order: one block for the plain RNN,
  ``i, f, g, o`` for the LSTM, ``r, z, n`` for the GRU. ``b_ih`` and ``b_hh`` have ``gates * hidden``
  entries each (two biases where one would do: that is torch's, and cuDNN's, convention).
- ``x`` is ``(batch, input)`` and the hidden state ``(batch, hidden)``; one example without a
  batch dimension (``(input,)`` and ``(hidden,)``) works too.

The equations, with :math:`W_{i\cdot}` the input block and :math:`W_{h\cdot}` the hidden block of a gate:

.. math::

    \text{RNN:}\quad h' = \tanh(W_{ih} x + b_{ih} + W_{hh} h + b_{hh})

    \text{LSTM:}\quad i = \sigma(W_{ii} x + b_{ii} + W_{hi} h + b_{hi}),\;
    f = \sigma(\dots),\; g = \tanh(\dots),\; o = \sigma(\dots),\quad
    c' = f \odot c + i \odot g,\quad h' = o \odot \tanh(c')

    \text{GRU:}\quad r = \sigma(W_{ir} x + b_{ir} + W_{hr} h + b_{hr}),\;
    z = \sigma(W_{iz} x + b_{iz} + W_{hz} h + b_{hz}),\;
    n = \tanh(W_{in} x + b_{in} + r \odot (W_{hn} h + b_{hn})),\quad
    h' = (1 - z) \odot n + z \odot h

The GRU applies the reset gate *after* the matrix product :math:`W_{hn} h + b_{hn}`, as torch
documents and as Keras does with ``reset_after=True`` (its default). Cho et al.'s original GRU, and
Keras with ``reset_after=False``, apply it *before*: :math:`W_{hn} (r \odot h) + b_{hn}`;
``gru_cell(..., reset_after=False)`` computes that variant so the two can be compared.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ..arguments import check_choice

__all__ = ["rnn_cell", "lstm_cell", "gru_cell", "run_sequence", "cell_weights"]

LSTMState = tuple[torch.Tensor, torch.Tensor]
State = torch.Tensor | LSTMState

_NONLINEARITIES = {"tanh": torch.tanh, "relu": torch.relu}


# ----------------------------------------------------------------------------- shape checks
def _shape(t: torch.Tensor) -> str:
    return str(tuple(t.shape))


def _check_cell_inputs(
    cell: str,
    gates: str,
    x: torch.Tensor,
    states: dict[str, torch.Tensor],
    w_ih: torch.Tensor,
    w_hh: torch.Tensor,
    b_ih: torch.Tensor | None,
    b_hh: torch.Tensor | None,
) -> None:
    """Check every shape and dtype against torch's layout; the error says which tensor and what it needs.

    ``gates`` names the stacked blocks in torch's order (``"i, f, g, o"``); the hidden size is read
    from ``w_hh``, which must be square per gate.
    """
    tensors = {"x": x, **states, "w_ih": w_ih, "w_hh": w_hh, "b_ih": b_ih, "b_hh": b_hh}
    for name, tensor in tensors.items():
        if tensor is not None and not isinstance(tensor, torch.Tensor):
            raise TypeError(f"{cell}: {name} must be a torch.Tensor, got a {type(tensor).__name__}.")
        if tensor is not None and not torch.is_floating_point(tensor):
            raise TypeError(
                f"{cell}: {name} must hold floating-point numbers (float32 or float64), got {tensor.dtype}."
            )
    dtypes = {name: t.dtype for name, t in tensors.items() if t is not None}
    if len(set(dtypes.values())) > 1:
        listed = ", ".join(f"{name} {dtype}" for name, dtype in dtypes.items())
        raise TypeError(f"{cell}: all tensors must have the same dtype, got {listed}; convert them, e.g. x.double().")

    n_gates = len(gates.split(","))
    layout = f"{n_gates} gate block{'s' if n_gates > 1 else ''} ({gates}) stacked, torch's layout"
    if w_hh.ndim != 2 or w_hh.shape[0] != n_gates * w_hh.shape[1]:
        raise ValueError(
            f"{cell}: w_hh has shape {_shape(w_hh)}, but it must be (gates x hidden, hidden) with {layout}, "
            f"e.g. ({n_gates * 4}, 4) for hidden size 4."
        )
    hidden = w_hh.shape[1]
    if x.ndim not in (1, 2):
        raise ValueError(f"{cell}: x must be (batch, input) or one example (input,), got shape {_shape(x)}.")
    want_w_ih = (n_gates * hidden, x.shape[-1])
    if tuple(w_ih.shape) != want_w_ih:
        raise ValueError(
            f"{cell}: w_ih has shape {_shape(w_ih)}, but x has {x.shape[-1]} features and the hidden size is {hidden} "
            f"(from w_hh), so it must be {want_w_ih}: {layout}."
        )
    for name, bias in (("b_ih", b_ih), ("b_hh", b_hh)):
        if bias is not None and tuple(bias.shape) != (n_gates * hidden,):
            raise ValueError(
                f"{cell}: {name} has shape {_shape(bias)}, but it must be ({n_gates * hidden},): "
                f"{n_gates} x hidden size {hidden}, one entry per row of the weights."
            )
    want_state = (*x.shape[:-1], hidden)
    for name, state in states.items():
        if tuple(state.shape) != want_state:
            raise ValueError(
                f"{cell}: {name} has shape {_shape(state)}, but x is {_shape(x)} and the hidden size is {hidden}, "
                f"so it must be {want_state} (one row of {hidden} numbers per example)."
            )


def _affine(v: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    """``v W^T + b``: every gate's pre-activation at once, one block of columns per gate."""
    out = v @ w.T
    return out if b is None else out + b


# ----------------------------------------------------------------------------- cells
def rnn_cell(
    x: torch.Tensor,
    h: torch.Tensor,
    w_ih: torch.Tensor,
    w_hh: torch.Tensor,
    b_ih: torch.Tensor | None = None,
    b_hh: torch.Tensor | None = None,
    nonlinearity: str = "tanh",
) -> torch.Tensor:
    r"""One step of a plain (Elman) RNN, like ``nn.RNNCell``: :math:`h' = \tanh(W_{ih} x + b_{ih} + W_{hh} h + b_{hh})`."""
    check_choice("nonlinearity", nonlinearity, tuple(_NONLINEARITIES), why="These are the two nn.RNN offers.")
    _check_cell_inputs("rnn_cell", "h", x, {"h": h}, w_ih, w_hh, b_ih, b_hh)
    return _NONLINEARITIES[nonlinearity](_affine(x, w_ih, b_ih) + _affine(h, w_hh, b_hh))


def lstm_cell(
    x: torch.Tensor,
    state: LSTMState,
    w_ih: torch.Tensor,
    w_hh: torch.Tensor,
    b_ih: torch.Tensor | None = None,
    b_hh: torch.Tensor | None = None,
) -> LSTMState:
    r"""One LSTM step, like ``nn.LSTMCell``: the gates decide what the cell state forgets, writes and shows.

    ``state`` is the pair ``(h, c)``: the hidden state the next layer sees and the cell state
    that carries memory. Returns the new pair ``(h', c')``.
    """
    if not isinstance(state, (tuple, list)) or len(state) != 2:
        raise TypeError(f"lstm_cell: state must be the pair (h, c), got {type(state).__name__}.")
    h, c = state
    _check_cell_inputs("lstm_cell", "i, f, g, o", x, {"h": h, "c": c}, w_ih, w_hh, b_ih, b_hh)
    x_i, x_f, x_g, x_o = _affine(x, w_ih, b_ih).chunk(4, dim=-1)
    h_i, h_f, h_g, h_o = _affine(h, w_hh, b_hh).chunk(4, dim=-1)
    i = torch.sigmoid(x_i + h_i)  # input gate: how much of the candidate to write
    f = torch.sigmoid(x_f + h_f)  # forget gate: how much of the old cell state to keep
    g = torch.tanh(x_g + h_g)  # candidate values
    o = torch.sigmoid(x_o + h_o)  # output gate: how much of the cell state to show
    c_new = f * c + i * g
    h_new = o * torch.tanh(c_new)
    return h_new, c_new


def gru_cell(
    x: torch.Tensor,
    h: torch.Tensor,
    w_ih: torch.Tensor,
    w_hh: torch.Tensor,
    b_ih: torch.Tensor | None = None,
    b_hh: torch.Tensor | None = None,
    *,
    reset_after: bool = True,
) -> torch.Tensor:
    r"""One GRU step, like ``nn.GRUCell``: :math:`h' = (1 - z) \odot n + z \odot h`.

    The reset gate ``r`` scales :math:`W_{hn} h + b_{hn}` (torch's definition, and Keras'
    ``reset_after=True``). ``reset_after=False`` gives the original GRU of Cho et al. (2014),
    :math:`n = \tanh(W_{in} x + b_{in} + W_{hn}(r \odot h) + b_{hn})`, which torch does not offer.
    """
    _check_cell_inputs("gru_cell", "r, z, n", x, {"h": h}, w_ih, w_hh, b_ih, b_hh)
    x_r, x_z, x_n = _affine(x, w_ih, b_ih).chunk(3, dim=-1)
    h_r, h_z, h_n = _affine(h, w_hh, b_hh).chunk(3, dim=-1)
    r = torch.sigmoid(x_r + h_r)  # reset gate: how much of the past feeds the candidate
    z = torch.sigmoid(x_z + h_z)  # update gate: how much of the old state to keep
    if reset_after:
        n = torch.tanh(x_n + r * h_n)
    else:
        w_hn = w_hh.chunk(3, dim=0)[2]
        b_hn = None if b_hh is None else b_hh.chunk(3)[2]
        n = torch.tanh(x_n + _affine(r * h, w_hn, b_hn))
    return (1 - z) * n + z * h


# ----------------------------------------------------------------------------- over time
_KNOWN_CELLS = (rnn_cell, lstm_cell, gru_cell)


def _zero_state(cell: Callable, batch_shape: tuple[int, ...], w_hh: torch.Tensor) -> State:
    if cell not in _KNOWN_CELLS:
        raise ValueError(
            "run_sequence needs the initial state for a cell of your own: pass state= (zeros of shape "
            "(batch, hidden) are the usual start; the pair (h, c) for an LSTM-like cell)."
        )
    zeros = w_hh.new_zeros((*batch_shape, w_hh.shape[1]))
    return (zeros, zeros.clone()) if cell is lstm_cell else zeros


def run_sequence(
    cell: Callable[..., State],
    xs: torch.Tensor,
    state: State | None,
    w_ih: torch.Tensor,
    w_hh: torch.Tensor,
    b_ih: torch.Tensor | None = None,
    b_hh: torch.Tensor | None = None,
    *,
    batch_first: bool = False,
    **cell_options: Any,
) -> tuple[torch.Tensor, State]:
    """Unroll ``cell`` over time: the same weights at every step, the state passed from one step to the next.

    ``xs`` is ``(time, batch, input)``, or ``(batch, time, input)`` with ``batch_first=True``
    (or ``(time, input)`` for one sequence). ``state=None`` starts from zeros, as torch does.
    Returns ``(outputs, state)``: the hidden state after every step, stacked like ``nn.RNN``'s
    output, and the final state (``(h, c)`` for the LSTM), like one layer of ``h_n``.
    ``cell_options`` go to every call of the cell, e.g. ``nonlinearity="relu"``.
    """
    if not callable(cell):
        raise TypeError(f"run_sequence: cell must be a function such as rnn_cell, lstm_cell or gru_cell, got {cell!r}.")
    if not isinstance(xs, torch.Tensor) or xs.ndim not in (2, 3):
        shape = _shape(xs) if isinstance(xs, torch.Tensor) else type(xs).__name__
        raise ValueError(
            f"run_sequence: xs must be (time, batch, input), (batch, time, input) with batch_first=True, "
            f"or (time, input) for one sequence; got {shape}."
        )
    if xs.ndim == 3 and batch_first:
        xs = xs.transpose(0, 1)
    if xs.shape[0] == 0:
        raise ValueError("run_sequence: the sequence is empty (0 time steps); give at least one step.")
    if state is None:
        state = _zero_state(cell, tuple(xs.shape[1:-1]), w_hh)
    outputs = []
    for x in xs.unbind(0):  # one time step after another: step t needs the state of step t-1
        state = cell(x, state, w_ih, w_hh, b_ih, b_hh, **cell_options)
        outputs.append(state[0] if isinstance(state, tuple) else state)
    stacked = torch.stack(outputs, dim=0)
    if xs.ndim == 3 and batch_first:
        stacked = stacked.transpose(0, 1)
    return stacked, state


def cell_weights(
    module: torch.nn.Module, layer: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """``(w_ih, w_hh, b_ih, b_hh)`` of one layer of an ``nn.RNN``/``LSTM``/``GRU`` or of a ``...Cell``.

    The biases are None for a module built with ``bias=False``. Only one direction is read.
    """
    if not isinstance(module, (torch.nn.RNNBase, torch.nn.RNNCellBase)):
        raise TypeError(
            f"cell_weights reads nn.RNN, nn.LSTM, nn.GRU and their Cell versions, got {type(module).__name__}."
        )
    suffix = "" if isinstance(module, torch.nn.RNNCellBase) else f"_l{layer}"
    if isinstance(module, torch.nn.RNNBase) and not 0 <= layer < module.num_layers:
        raise ValueError(
            f"layer must be between 0 and {module.num_layers - 1} for this {module.num_layers}-layer module, got {layer}."
        )
    if getattr(module, "proj_size", 0):
        raise ValueError("cell_weights does not read an LSTM with proj_size > 0 (its w_hh has another shape).")
    names = [f"{kind}{suffix}" for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    w_ih, w_hh, b_ih, b_hh = (getattr(module, name, None) for name in names)
    return w_ih, w_hh, b_ih, b_hh
