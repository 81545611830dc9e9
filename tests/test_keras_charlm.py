"""The Keras twin of CharLM: same layers, same logits once the weights are copied, and it learns."""

import numpy as np
import pytest
import torch

from course_lib.charlm import CharLM
from course_lib.keras_charlm import (
    copy_char_lm_to_keras,
    keras_char_lm,
    keras_stream_arrays,
    reset_keras_states,
    reset_states_callback,
)
from course_lib.models import count_parameters
from course_lib.tensorflow_setup import load_tensorflow
from course_lib.text import CharVocabulary, StreamLoader

TEXT = "to be, or not to be: that is the question.\n" * 40


def _trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_twin_gives_the_same_logits_once_the_weights_are_copied(cell):
    torch.manual_seed(0)
    model = CharLM(CharVocabulary(TEXT), embed=8, hidden=12, layers=2, cell=cell)
    twin = keras_char_lm(model.vocab.size, embed=8, hidden=12, layers=2, cell=cell, compile=False)
    # GRU: the same parameter count (Keras' reset_after bias has two rows); LSTM: Keras has one bias, not two.
    missing = 0 if cell == "gru" else 2 * 4 * 12
    assert _trainable(twin) == count_parameters(model) - missing
    copy_char_lm_to_keras(model, twin)
    x = torch.randint(0, model.vocab.size, (3, 9))
    with torch.no_grad():
        expected, _ = model(x)
    np.testing.assert_allclose(np.asarray(twin(x.numpy().astype(np.int32))), expected.numpy(), rtol=1e-4, atol=1e-5)


def test_stateful_twin_carries_the_state_between_calls_and_resets():
    torch.manual_seed(1)
    model = CharLM(CharVocabulary(TEXT), embed=8, hidden=12, layers=1, cell="gru")
    twin = copy_char_lm_to_keras(
        model, keras_char_lm(model.vocab.size, 8, 12, 1, "gru", stateful=True, batch_size=2, compile=False)
    )
    x = torch.randint(0, model.vocab.size, (2, 10))
    with torch.no_grad():
        expected, _ = model(x)
    first, second = np.asarray(twin(x[:, :5].numpy())), np.asarray(twin(x[:, 5:].numpy()))
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), expected.numpy(), rtol=1e-4, atol=1e-5)
    reset_keras_states(twin)
    np.testing.assert_allclose(np.asarray(twin(x[:, :5].numpy())), first, rtol=1e-5, atol=1e-6)


def test_compiled_twin_learns_and_clips_gradients():
    tf = load_tensorflow()
    tf.keras.utils.set_random_seed(0)
    vocab = CharVocabulary(TEXT)
    ids = vocab.encode(TEXT).numpy()
    n = (len(ids) - 1) // 32 * 32
    x, y = ids[:n].reshape(-1, 32), ids[1 : n + 1].reshape(-1, 32)
    twin = keras_char_lm(vocab.size, embed=8, hidden=32, layers=1, cell="lstm", learning_rate=1e-2)
    assert twin.optimizer.clipnorm == 1.0
    before = twin.evaluate(x, y, verbose=0)
    assert abs(before - np.log(vocab.size)) < 0.1
    twin.fit(x, y, epochs=15, batch_size=8, verbose=0)
    assert twin.evaluate(x, y, verbose=0) < 0.5 * before


def test_stream_arrays_feed_a_stateful_twin_the_loaders_windows_in_order():
    tf = load_tensorflow()
    tf.keras.utils.set_random_seed(0)
    vocab = CharVocabulary(TEXT)
    loader = StreamLoader(vocab.encode(TEXT), batch_size=4, window=16, drop_last=True)
    x, y = keras_stream_arrays(loader)
    assert x.shape == y.shape == (len(loader) * 4, 16) and x.dtype == np.int32
    for index, (wx, wy) in enumerate(loader):
        np.testing.assert_array_equal(x[index * 4 : (index + 1) * 4], wx.numpy())
        np.testing.assert_array_equal(y[index * 4 : (index + 1) * 4], wy.numpy())
    with pytest.raises(ValueError, match="drop_last=True"):
        keras_stream_arrays(StreamLoader(vocab.encode(TEXT), batch_size=4, window=16))

    twin = keras_char_lm(vocab.size, 8, 32, 1, "gru", stateful=True, batch_size=4, learning_rate=1e-2)
    reset = reset_states_callback()
    history = twin.fit(
        x, y, batch_size=4, shuffle=False, epochs=8, validation_data=(x[:8], y[:8]), callbacks=[reset], verbose=0
    )
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    state = twin.layers[1].states[0]
    assert np.abs(np.asarray(state)).max() == 0  # reset after the last validation
    twin(x[:4])
    assert np.abs(np.asarray(state)).max() > 0  # reading carries a state ...
    reset.on_epoch_begin(0)
    assert np.abs(np.asarray(state)).max() == 0  # ... which the callback zeroes


def test_twin_refuses_bad_settings():
    with pytest.raises(ValueError, match='cell must be "lstm" or "gru"'):
        keras_char_lm(10, cell="rnn")
    with pytest.raises(ValueError, match="needs a fixed batch_size"):
        keras_char_lm(10, stateful=True)
    model = CharLM("abc", embed=4, hidden=4, layers=2)
    with pytest.raises(ValueError, match="1 recurrent .*the torch model has 2"):
        copy_char_lm_to_keras(model, keras_char_lm(3, 4, 4, layers=1, compile=False))
