"""The character language model: shapes, its starting loss, carrying state through fit, sampling and bad input."""

import math

import pytest
import torch
import torch.nn.functional as F

from course_lib.charlm import (
    CharLM,
    StatefulLM,
    char_lm_loss,
    detach_state,
    evaluate_char_lm,
    sampling_probabilities,
)
from course_lib.text import CharVocabulary, StreamLoader, UnknownCharacterError, load_shakespeare_chars
from course_lib.train import evaluate, fit

TEXT = "to be, or not to be: that is the question.\n" * 40


@pytest.fixture(scope="module")
def corpus():
    return load_shakespeare_chars()


@pytest.fixture(autouse=True)
def one_thread():
    """nn.LSTM's small steps run many times faster on one thread when the machine is busy (up to 600x measured here)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def small_model(cell="lstm", seed=0, vocab=TEXT, **sizes):
    torch.manual_seed(seed)
    return CharLM(CharVocabulary(vocab), **{"embed": 8, "hidden": 16, "layers": 2, "cell": cell, **sizes})


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_forward_shapes_and_state(cell):
    model = small_model(cell)
    x = torch.randint(0, model.vocab.size, (3, 7))
    logits, state = model(x)
    assert logits.shape == (3, 7, model.vocab.size)
    h = state[0] if cell == "lstm" else state
    assert h.shape == (2, 3, 16)  # (layers, batch, hidden)
    if cell == "lstm":
        assert state[1].shape == (2, 3, 16)
    # Two windows with the state carried give what one long window gives.
    first, state = model(x[:, :4])
    second, _ = model(x[:, 4:], state)
    torch.testing.assert_close(torch.cat([first, second], dim=1), logits)
    assert model.config == {
        "chars": model.vocab.chars,
        "embed": 8,
        "hidden": 16,
        "layers": 2,
        "cell": cell,
        "dropout": 0.0,
    }


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_initial_validation_loss_is_near_ln_65(corpus, cell):
    # An untrained model should be unsure of every character: 65 equal odds cost ln 65 = 4.174 nats each.
    torch.manual_seed(0)
    model = CharLM(corpus.vocab, embed=64, hidden=256, layers=2, cell=cell)
    loss = evaluate_char_lm(model, corpus.val[:20_000], batch_size=16, window=256)
    assert abs(loss - math.log(65)) < 0.03


def test_evaluate_char_lm_is_the_mean_cross_entropy_of_one_pass():
    model = small_model()
    ids = model.vocab.encode(TEXT[:301])
    with torch.no_grad():
        logits, _ = model(ids[:-1].unsqueeze(0))
        expected = F.cross_entropy(logits[0], ids[1:]).item()
    assert evaluate_char_lm(model, ids, batch_size=1, window=64) == pytest.approx(expected, rel=1e-5)
    assert model.training  # left as it was
    with pytest.raises(TypeError, match="takes a CharLM"):
        evaluate_char_lm(StatefulLM(model), ids)


def test_char_lm_loss_is_cross_entropy_over_every_character():
    logits, targets = torch.randn(2, 5, 7), torch.randint(0, 7, (2, 5))
    torch.testing.assert_close(char_lm_loss(logits, targets), F.cross_entropy(logits.transpose(1, 2), targets))
    with pytest.raises(ValueError, match=r"logits \(batch, time, vocab\) and targets \(batch, time\)"):
        char_lm_loss(logits, targets[:, :4])


# ----------------------------------------------------------------------------- carrying the state
def test_a_loop_without_detach_fails_with_the_classic_error_and_detach_fixes_it():
    model = small_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    loader = StreamLoader(model.vocab.encode(TEXT), batch_size=4, window=16)

    def train(carry):
        state = None
        for x, y in loader:
            logits, state = model(x, state)
            loss = char_lm_loss(logits, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            state = carry(state)

    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        train(lambda state: state)
    train(detach_state)
    assert detach_state(None) is None


def test_stateful_lm_carries_detached_state_and_resets_at_each_pass():
    model = small_model()
    wrapped = StatefulLM(model)
    x = torch.randint(0, model.vocab.size, (3, 10))
    first = wrapped(x[:, :5])
    assert wrapped.state[0].requires_grad is False  # kept detached
    second = wrapped(x[:, 5:])
    full, _ = model(x)
    torch.testing.assert_close(torch.cat([first, second], dim=1), full)
    wrapped.reset_state()  # fit, evaluate and predict do this at the start of every pass
    assert wrapped.state is None
    torch.testing.assert_close(wrapped(x[:, 5:]), model(x[:, 5:])[0])
    wrapped(x[:2, :5])  # another batch size: the old state does not fit, start afresh
    torch.testing.assert_close(wrapped(x[:, :5]), model(x[:, :5])[0])
    fresh = StatefulLM(model, carry_state=False)
    fresh(x[:, :5])
    assert fresh.state is None
    torch.testing.assert_close(fresh(x[:, 5:]), model(x[:, 5:])[0])


def test_fit_trains_a_stateful_model_and_evaluates_it_on_another_batch_size():
    model = small_model(hidden=32)
    ids = model.vocab.encode(TEXT)
    train_ids, val_ids = ids[: int(0.9 * len(ids))], ids[int(0.9 * len(ids)) :]
    before = evaluate_char_lm(model, val_ids, batch_size=2, window=32)
    wrapped = StatefulLM(model)
    history = fit(
        wrapped,
        StreamLoader(train_ids, 8, 32),
        char_lm_loss,
        torch.optim.Adam(model.parameters(), 1e-2),
        epochs=6,
        val_data=StreamLoader(val_ids, 2, 32),
        device="cpu",
        grad_clip=1.0,
        progress=False,
    )
    after = evaluate_char_lm(model, val_ids, batch_size=2, window=32)
    assert after < 0.5 * before
    assert history["val_loss"][-1] == pytest.approx(
        evaluate(wrapped, StreamLoader(val_ids, 2, 32), char_lm_loss)["loss"], rel=1e-5
    )


# ----------------------------------------------------------------------------- sampling
def test_sampling_probabilities_temperature_and_top_k():
    logits = torch.tensor([2.0, 1.0, 0.0, -1.0])
    torch.testing.assert_close(sampling_probabilities(logits), logits.softmax(-1))
    torch.testing.assert_close(sampling_probabilities(logits, temperature=0.5), (logits / 0.5).softmax(-1))
    assert sampling_probabilities(logits, temperature=0).tolist() == [1.0, 0.0, 0.0, 0.0]
    assert sampling_probabilities(torch.tensor([1.0, 3.0, 3.0]), temperature=0).tolist() == [0.0, 1.0, 0.0]
    top2 = sampling_probabilities(logits, top_k=2)
    torch.testing.assert_close(top2, torch.tensor([math.e / (math.e + 1), 1 / (math.e + 1), 0.0, 0.0]))
    assert sampling_probabilities(logits, top_k=1).tolist() == [1.0, 0.0, 0.0, 0.0]
    hot = sampling_probabilities(logits, temperature=100.0)
    assert float(hot.max() - hot.min()) < 0.03  # a high temperature flattens towards uniform
    batch = sampling_probabilities(torch.randn(3, 5, 7), temperature=0.8, top_k=3)
    torch.testing.assert_close(batch.sum(-1), torch.ones(3, 5))
    assert ((batch > 0).sum(-1) == 3).all()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"temperature": -0.5}, r"temperature must be a number 0 or more; got -0.5. 0 always takes the likeliest"),
        ({"temperature": float("nan")}, "temperature must be a number 0 or more; got nan"),
        ({"temperature": "hot"}, "temperature must be a number"),
        ({"top_k": 0}, r"top_k must be a whole number from 1 to 4 .*got 0"),
        ({"top_k": 5}, r"top_k must be a whole number from 1 to 4"),
        ({"top_k": 2.0}, "top_k must be a whole number"),
    ],
)
def test_sampling_probabilities_refuses_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        sampling_probabilities(torch.zeros(4), **kwargs)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_generate_is_reproducible_and_greedy_at_temperature_zero(cell):
    model = small_model(cell)
    model.train()
    text = model.generate("to be", 40, generator=torch.Generator().manual_seed(1))
    assert len(text) == 40 and set(text) <= set(model.vocab.chars)
    assert model.generate("to be", 40, generator=torch.Generator().manual_seed(1)) == text
    assert model.training  # the mode is restored
    # Greedy: the argmax of each step, the same as top_k=1, whatever the generator.
    greedy = model.generate("to be", 20, temperature=0)
    assert model.generate("to be", 20, top_k=1, generator=torch.Generator().manual_seed(5)) == greedy
    ids = model.vocab.encode("to be")
    with torch.no_grad():
        for char in greedy:
            logits, _ = model(ids.unsqueeze(0))
            assert model.vocab.chars[int(logits[0, -1].argmax())] == char
            ids = torch.cat([ids, model.vocab.encode(char)])
    assert model.generate("to be", 0) == ""
    probs = model.next_char_probabilities("to be", temperature=0.7, top_k=5)
    assert probs.shape == (model.vocab.size,) and (probs > 0).sum() == 5
    assert float(probs.sum()) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "args, kwargs, error, message",
    [
        (("", 10), {}, ValueError, "The prompt is empty"),
        (("to be!", 10), {}, UnknownCharacterError, r"The character '!' \(position 5\) is not one of"),
        ((42, 10), {}, TypeError, "The prompt must be text"),
        (("to be", -1), {}, ValueError, "length must be a whole number of characters, 0 or more; got -1"),
        (("to be", 10), {"temperature": -1.0}, ValueError, "temperature must be a number 0 or more"),
        (("to be", 10), {"top_k": 0}, ValueError, "top_k must be a whole number from 1 to"),
        (("to be", 10), {"top_k": 1000}, ValueError, "got 1000"),
        (("to be", 10), {"generator": 0}, TypeError, "generator must be a CPU torch.Generator"),
    ],
)
def test_generate_bad_input_gets_one_clear_sentence(args, kwargs, error, message):
    with pytest.raises(error, match=message):
        small_model().generate(*args, **kwargs)


def test_bad_model_arguments_and_inputs_are_refused():
    vocab = CharVocabulary(TEXT)
    with pytest.raises(ValueError, match="""cell must be "lstm" or "gru", got 'rnn'"""):
        CharLM(vocab, cell="rnn")
    with pytest.raises(ValueError, match="hidden must be a whole number, 1 or more; got 0"):
        CharLM(vocab, hidden=0)
    with pytest.raises(ValueError, match=r"dropout must be a number in \[0, 1\); got 1.0"):
        CharLM(vocab, dropout=1.0)
    with pytest.raises(TypeError, match="StatefulLM wraps a CharLM, got Linear"):
        StatefulLM(torch.nn.Linear(2, 2))
    with pytest.raises(TypeError, match="carry_state must be True or False"):
        StatefulLM(CharLM(vocab), carry_state="no")
    with pytest.raises(TypeError, match="vocab must be a CharVocabulary"):
        CharLM(65)
    model = CharLM("abc", embed=4, hidden=4, layers=1)
    assert model.vocab.size == 3
    with pytest.raises(ValueError, match=r"ids must be between 0 and 2, got 0 to 3"):
        model(torch.tensor([[0, 3]]))
    with pytest.raises(ValueError, match=r"\(batch, time\) tensor of character ids, got shape \(2,\)"):
        model(torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="torch.float32"):
        model(torch.zeros(1, 2))
