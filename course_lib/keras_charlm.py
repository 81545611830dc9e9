"""The Keras twin of ``CharLM``, and how torch's recurrent weights map onto Keras' layers.

TensorFlow is imported inside each function (through ``load_tensorflow``), so importing this
module costs nothing until a chapter's Keras section calls it.

Where the two frameworks agree and differ (tests/test_scratch_rnn.py and test_keras_charlm.py check it):

- Keras stores ``kernel`` as ``(input, gates * units)`` and ``recurrent_kernel`` as ``(units, gates * units)``:
  torch's ``weight_ih``/``weight_hh`` transposed.
- LSTM: the same gate order (i, f, g, o; Keras calls g "c") and the same equations, but Keras has one
  bias per gate where torch has two (``bias_ih + bias_hh`` is Keras' ``bias``), so the torch model has
  ``4 * hidden`` more parameters per layer. Keras starts the forget-gate bias at 1 (``unit_forget_bias``).
- GRU: Keras orders the gates z, r, h (update, reset, candidate); torch r, z, n. Both mix the new
  state as ``z * h + (1 - z) * candidate``. With ``reset_after=True`` (Keras' default, and cuDNN's
  convention) the reset gate multiplies ``W_hn h + b_hn`` exactly as in torch, and the bias is
  ``(2, 3 * units)``: row 0 torch's ``bias_ih``, row 1 its ``bias_hh``, so the two GRUs compute the
  same function with the same parameter count. With ``reset_after=False`` (the original GRU of
  Cho et al., Keras' default before TensorFlow 2) the reset gate multiplies ``h`` before the matrix,
  ``W_hn (r * h)``, and there is a single bias: torch has no such GRU
  (``course_lib.scratch.rnn.gru_cell(..., reset_after=False)`` computes it).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .arguments import check_choice
from .scratch.rnn import cell_weights
from .tensorflow_setup import load_tensorflow
from .text import StreamLoader

__all__ = [
    "keras_char_lm",
    "keras_stream_arrays",
    "reset_states_callback",
    "reset_keras_states",
    "torch_lstm_to_keras",
    "torch_gru_to_keras",
    "copy_char_lm_to_keras",
]


def _keras() -> Any:
    return load_tensorflow().keras


def _numpy(t: torch.Tensor | None) -> np.ndarray | None:
    return None if t is None else t.detach().cpu().numpy()


def torch_lstm_to_keras(
    w_ih: torch.Tensor, w_hh: torch.Tensor, b_ih: torch.Tensor | None = None, b_hh: torch.Tensor | None = None
) -> list[np.ndarray]:
    """torch LSTM weights as ``[kernel, recurrent_kernel, bias]`` for a Keras ``LSTM`` layer's ``set_weights``.

    Same gate order, transposed matrices, the two biases summed into one (omitted when there are none).
    """
    weights = [_numpy(w_ih).T, _numpy(w_hh).T]
    if b_ih is not None or b_hh is not None:
        weights.append(sum(_numpy(b) for b in (b_ih, b_hh) if b is not None))
    return [np.ascontiguousarray(w) for w in weights]


def _zrn(rows: np.ndarray) -> np.ndarray:
    """torch's r, z, n blocks (along the first axis) in Keras' order z, r, n."""
    r, z, n = np.split(rows, 3, axis=0)
    return np.concatenate([z, r, n], axis=0)


def torch_gru_to_keras(
    w_ih: torch.Tensor,
    w_hh: torch.Tensor,
    b_ih: torch.Tensor | None = None,
    b_hh: torch.Tensor | None = None,
    reset_after: bool = True,
) -> list[np.ndarray]:
    """torch GRU weights as ``[kernel, recurrent_kernel, bias]`` for a Keras ``GRU`` layer with this ``reset_after``.

    The blocks are reordered (r, z, n -> z, r, h) and transposed. With ``reset_after=True`` the bias
    is ``[bias_ih; bias_hh]`` and the Keras layer computes exactly torch's GRU; with ``False`` the
    biases are summed (Keras has one), and the layer computes the reset-before variant instead.
    """
    weights = [_zrn(_numpy(w_ih)).T, _zrn(_numpy(w_hh)).T]
    if b_ih is not None or b_hh is not None:
        zeros = np.zeros(w_ih.shape[0], dtype=weights[0].dtype)
        b_i = _zrn(_numpy(b_ih) if b_ih is not None else zeros)
        b_h = _zrn(_numpy(b_hh) if b_hh is not None else zeros)
        weights.append(np.stack([b_i, b_h]) if reset_after else b_i + b_h)
    return [np.ascontiguousarray(w) for w in weights]


def keras_char_lm(
    vocab_size: int,
    embed: int = 64,
    hidden: int = 256,
    layers: int = 2,
    cell: str = "lstm",
    dropout: float = 0.0,
    *,
    stateful: bool = False,
    batch_size: int | None = None,
    compile: bool = True,
    learning_rate: float = 2e-3,
    clipnorm: float | None = 1.0,
) -> Any:
    """The twin of ``CharLM``: ``Embedding -> layers x LSTM/GRU (return_sequences) -> Dense`` logits per step.

    Input ``(batch, time)`` ids, output ``(batch, time, vocab_size)`` logits. ``stateful=True`` carries
    each layer's state from one batch to the next (Keras needs a fixed ``batch_size`` for that, and
    ``reset_keras_states(model)`` between passes). Compiled with Adam and gradient clipping by norm
    (``clipnorm``), like the torch model's training.
    """
    keras = _keras()
    L = keras.layers
    check_choice("cell", cell, ("lstm", "gru"))
    if stateful and batch_size is None:
        raise ValueError("A stateful Keras model needs a fixed batch_size (the number of streams), e.g. batch_size=64.")
    recurrent = L.LSTM if cell == "lstm" else L.GRU
    stack: list[Any] = [keras.Input(batch_shape=(batch_size, None), dtype="int32"), L.Embedding(vocab_size, embed)]
    for layer in range(layers):
        stack.append(recurrent(hidden, return_sequences=True, stateful=stateful, name=f"{cell}_{layer}"))
        if dropout > 0:
            stack.append(L.Dropout(dropout))
    stack.append(L.Dense(vocab_size))
    model = keras.Sequential(stack, name=f"char_lm_{cell}")
    if compile:
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate, clipnorm=clipnorm),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
    return model


def reset_keras_states(keras_model: Any) -> None:
    """Zero the carried state of every recurrent layer of a stateful Keras model (Keras 3 models have no such method)."""
    keras = _keras()
    for layer in keras_model.layers:
        if isinstance(layer, keras.layers.RNN) and layer.stateful:
            layer.reset_state()


def reset_states_callback() -> Any:
    """A Keras callback that zeroes the carried state at the start of every epoch and around every evaluation.

    Keras 3's ``fit`` never resets a stateful layer by itself: without this, each epoch would start
    from the state the last one ended with, and validation from the training streams' state.
    """
    keras = _keras()

    class ResetStates(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            reset_keras_states(self.model)

        def on_test_begin(self, logs: Any = None) -> None:
            reset_keras_states(self.model)

        def on_test_end(self, logs: Any = None) -> None:
            reset_keras_states(self.model)

    return ResetStates()


def keras_stream_arrays(loader: StreamLoader) -> tuple[np.ndarray, np.ndarray]:
    """A ``StreamLoader``'s windows, in order, as the ``(x, y)`` arrays a stateful Keras model's ``fit`` takes.

    Window after window stacked on the first axis, so that ``fit(x, y, batch_size=loader.batch_size,
    shuffle=False)`` sees the same batches, in the same order, as a loop over the loader. Needs
    ``drop_last=True`` (Keras wants every batch the same shape).
    """
    if not isinstance(loader, StreamLoader) or not loader.drop_last:
        raise ValueError("keras_stream_arrays takes a StreamLoader made with drop_last=True (equal windows for Keras).")
    xs, ys = zip(*((x.cpu().numpy(), y.cpu().numpy()) for x, y in loader))
    return np.concatenate(xs).astype(np.int32), np.concatenate(ys).astype(np.int32)


def copy_char_lm_to_keras(model: torch.nn.Module, keras_model: Any) -> Any:
    """Copy a torch ``CharLM``'s weights into its Keras twin (same sizes): both then give the same logits."""
    keras = _keras()
    embedding = [layer for layer in keras_model.layers if isinstance(layer, keras.layers.Embedding)]
    recurrent = [layer for layer in keras_model.layers if isinstance(layer, (keras.layers.LSTM, keras.layers.GRU))]
    dense = [layer for layer in keras_model.layers if isinstance(layer, keras.layers.Dense)]
    if len(embedding) != 1 or len(dense) != 1 or len(recurrent) != model.num_layers:
        raise ValueError(
            f"The Keras model does not have CharLM's layers: {len(embedding)} Embedding, {len(recurrent)} recurrent "
            f"(the torch model has {model.num_layers}) and {len(dense)} Dense; build it with keras_char_lm(...)."
        )
    embedding[0].set_weights([_numpy(model.embedding.weight)])
    for index, layer in enumerate(recurrent):
        w_ih, w_hh, b_ih, b_hh = cell_weights(model.rnn, index)
        if model.cell == "lstm":
            layer.set_weights(torch_lstm_to_keras(w_ih, w_hh, b_ih, b_hh))
        else:
            layer.set_weights(torch_gru_to_keras(w_ih, w_hh, b_ih, b_hh, reset_after=layer.reset_after))
    dense[0].set_weights([_numpy(model.head.weight).T, _numpy(model.head.bias)])
    return keras_model
