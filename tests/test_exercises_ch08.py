"""Chapter 08's checkers accept right answers, name the usual mistakes, refuse the built-ins and treat stubs as not
attempted. The root conftest sets COURSE_STRICT_EXERCISES=1, so a wrong answer raises ExerciseFailed."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib import charlm
from course_lib.exercises import ExerciseFailed
from course_lib.exercises import ch08_rnn as ex
from course_lib.scratch import rnn as scratch_rnn


def fails(checker, answer, match):
    with pytest.raises(ExerciseFailed, match=match):
        checker(answer)


def stub(*args): ...


@pytest.mark.parametrize(
    "checker", [ex.check_lstm_step, ex.check_train_window, ex.check_clip_by_norm, ex.check_temperature_probabilities]
)
def test_stubs_are_not_attempted(checker, capsys):
    assert not checker(stub)
    assert not checker(...)
    assert "⏳" in capsys.readouterr().out


# ----------------------------------------------------------------------------- 1. LSTM step
def lstm_step(x, h, c, w_ih, w_hh, b_ih, b_hh):
    gates = x @ w_ih.T + b_ih + h @ w_hh.T + b_hh
    i, f, g, o = gates.chunk(4, dim=-1)
    c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c_new), c_new


def variant(
    order="ifgo",
    g_act=torch.tanh,
    tanh_c=True,
    input_gate=True,
    b_hh_used=True,
    swap=False,
    sig=None,
    tanh=None,
    in_place=False,
):
    sig = sig or torch.sigmoid
    tanh = tanh or torch.tanh

    def step(x, h, c, w_ih, w_hh, b_ih, b_hh):
        gates = x @ w_ih.T + b_ih + h @ w_hh.T + (b_hh if b_hh_used else 0)
        blocks = dict(zip(order, gates.chunk(4, dim=-1)))
        i, f, g, o = sig(blocks["i"]), sig(blocks["f"]), g_act(blocks["g"]), sig(blocks["o"])
        if in_place:
            c.mul_(f)
            c_new = c + i * g
        else:
            c_new = f * c + (i * g if input_gate else g)
        h_new = o * (tanh(c_new) if tanh_c else c_new)
        return (c_new, h_new) if swap else (h_new, c_new)

    return step


def exp_tanh(z):
    return (torch.exp(z) - torch.exp(-z)) / (torch.exp(z) + torch.exp(-z))


def test_lstm_step_right_answers():
    assert ex.check_lstm_step(lstm_step)
    assert ex.check_lstm_step(variant())
    assert ex.check_lstm_step(variant(sig=lambda z: 0.5 * (1 + torch.tanh(z / 2))))


@pytest.mark.parametrize(
    "answer, match",
    [
        (variant(order="ifog"), "order i, f, o, g"),
        (variant(order="figo"), "swapped the input and forget gates"),
        (variant(g_act=torch.sigmoid), "candidate g goes through tanh"),
        (variant(tanh_c=False), "left out the tanh of the new cell state"),
        (variant(input_gate=False), "without the input gate"),
        (variant(b_hh_used=False), "left out b_hh"),
        (variant(swap=True), r"you returned \(c_new, h_new\)"),
        (variant(g_act=exp_tanh, tanh=exp_tanh), "NaN"),
        (variant(in_place=True), "changed its input `c` in place"),
        (
            lambda x, h, c, w_ih, w_hh, b_ih, b_hh: scratch_rnn.lstm_cell(x, (h, c), w_ih, w_hh, b_ih, b_hh),
            "calls course_lib.scratch.rnn.lstm_cell",
        ),
        (
            lambda x, h, c, w_ih, w_hh, b_ih, b_hh: torch.lstm_cell(x, (h, c), w_ih, w_hh, b_ih, b_hh),
            "calls torch.lstm_cell",
        ),
        (
            lambda x, h, c, *w: (lambda cell: cell(x, (h, c)))(nn.LSTMCell(x.shape[1], h.shape[1]).to(x.dtype)),
            "calls nn.LSTMCell",
        ),
        (lambda x, h, c, w_ih, w_hh, b_ih, b_hh: (x @ w_ih + h, c), "layout|shape"),
        (lambda *args: None, "None"),
        (lambda *args: lstm_step(*args)[0], r"h_new, c_new|two|2"),
        (42, "should be a function"),
    ],
)
def test_lstm_step_wrong_answers(answer, match):
    fails(ex.check_lstm_step, answer, match)


def test_lstm_step_helper_reached_through_an_alias_is_refused():
    cell = scratch_rnn.lstm_cell

    def helper(*args):
        return cell(args[0], (args[1], args[2]), *args[3:])

    fails(ex.check_lstm_step, lambda *args: helper(*args), "calls course_lib.scratch.rnn.lstm_cell")


# ----------------------------------------------------------------------------- 2. clip by norm
def clip_by_norm(grads, max_norm):
    total = torch.sqrt(sum((g.double() ** 2).sum() for g in grads))
    scale = min(1.0, max_norm / (float(total) + 1e-6))
    return [g * scale for g in grads]


def scaled_by_largest(grads, max_norm):
    largest = max(float(g.abs().max()) for g in grads)
    total = largest * float(torch.sqrt(sum(((g / largest) ** 2).sum() for g in grads)))
    return [g * min(1.0, max_norm / (total + 1e-6)) for g in grads]


def float32_norm(grads, max_norm):
    total = torch.sqrt(sum((g**2).sum() for g in grads))
    return [g * min(1.0, max_norm / (float(total) + 1e-6)) for g in grads]


def per_tensor(grads, max_norm):
    return [g * min(1.0, max_norm / (float(g.norm()) + 1e-6)) for g in grads]


def by_value(grads, max_norm):
    return [g.clamp(-max_norm, max_norm) for g in grads]


def always_scaled(grads, max_norm):
    total = float(torch.sqrt(sum((g.double() ** 2).sum() for g in grads)))
    return [g * (max_norm / total) for g in grads]


def no_sqrt(grads, max_norm):
    total = float(sum((g.double() ** 2).sum() for g in grads))
    return [g * min(1.0, max_norm / total) for g in grads]


def in_place_clip(grads, max_norm):
    total = float(torch.sqrt(sum((g.double() ** 2).sum() for g in grads)))
    for g in grads:
        g.mul_(min(1.0, max_norm / (total + 1e-6)))
    return grads


def with_torch(grads, max_norm):
    params = [nn.Parameter(torch.zeros_like(g)) for g in grads]
    for p, g in zip(params, grads):
        p.grad = g.clone()
    torch.nn.utils.clip_grad_norm_(params, max_norm)
    return [p.grad for p in params]


def with_total_norm(grads, max_norm):
    total = float(torch.nn.utils.get_total_norm(grads))
    return [g * min(1.0, max_norm / (total + 1e-6)) for g in grads]


def test_clip_right_answers():
    assert ex.check_clip_by_norm(clip_by_norm)
    assert ex.check_clip_by_norm(scaled_by_largest)


@pytest.mark.parametrize(
    "answer, match",
    [
        (float32_norm, "overflowed to inf in float32"),
        (per_tensor, "each gradient by its own norm"),
        (by_value, "clipping by value"),
        (always_scaled, "scaled them up"),
        (no_sqrt, "square root"),
        (in_place_clip, "changed its input `grads` in place"),
        (with_torch, "calls torch.nn.utils.clip_grad_norm_"),
        (with_total_norm, "calls torch.nn.utils.get_total_norm"),
        (lambda grads, max_norm: torch.cat([g.flatten() for g in grads]), "list of"),
        (lambda grads, max_norm: None, "None"),
    ],
)
def test_clip_wrong_answers(answer, match):
    fails(ex.check_clip_by_norm, answer, match)


def test_torch_itself_overflows_where_the_checker_expects_the_right_answer():
    huge = [torch.full((3,), 3e19), torch.full((2, 2), -4e19)]
    assert torch.isinf(torch.nn.utils.get_total_norm(huge))
    clipped = clip_by_norm(huge, 1.0)
    assert float(torch.sqrt(sum((g.double() ** 2).sum() for g in clipped))) == pytest.approx(1.0, rel=1e-5)


# ----------------------------------------------------------------------------- 3. detach between windows
def train_window(model, x, y, state, optimizer):
    logits, state = model(x, state)
    loss = charlm.char_lm_loss(logits, y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return charlm.detach_state(state)


def detaching_at_the_start(model, x, y, state, optimizer):
    if state is not None:
        state = tuple(s.detach() for s in state)
    logits, new_state = model(x, state)
    optimizer.zero_grad()
    F.cross_entropy(logits.flatten(0, 1), y.flatten()).backward()
    optimizer.step()
    return tuple(s.detach() for s in new_state)


def no_detach(model, x, y, state, optimizer):
    logits, state = model(x, state)
    optimizer.zero_grad()
    charlm.char_lm_loss(logits, y).backward()
    optimizer.step()
    return state


def retain_graph(model, x, y, state, optimizer):
    logits, state = model(x, state)
    optimizer.zero_grad()
    charlm.char_lm_loss(logits, y).backward(retain_graph=True)
    optimizer.step()
    return state


def detached_logits(model, x, y, state, optimizer):
    logits, state = model(x, state)
    optimizer.zero_grad()
    charlm.char_lm_loss(logits.detach(), y).backward()
    optimizer.step()
    return charlm.detach_state(state)


def reset_every_window(model, x, y, state, optimizer):
    return train_window(model, x, y, None, optimizer)


def no_zero_grad(model, x, y, state, optimizer):
    logits, state = model(x, state)
    charlm.char_lm_loss(logits, y).backward()
    optimizer.step()
    return charlm.detach_state(state)


def returns_old_state(model, x, y, state, optimizer):
    train_window(model, x, y, state, optimizer)
    return state


def with_stateful(model, x, y, state, optimizer):
    wrapper = charlm.StatefulLM(model)
    logits = wrapper(x)
    optimizer.zero_grad()
    charlm.char_lm_loss(logits, y).backward()
    optimizer.step()
    return wrapper.state


def test_train_window_right_answers():
    assert ex.check_train_window(train_window)
    assert ex.check_train_window(detaching_at_the_start)


@pytest.mark.parametrize(
    "answer, match",
    [
        (no_detach, "still attached to this window's graph.*Trying to backward through the graph a second time"),
        (retain_graph, "still attached to this window's graph"),
        (detached_logits, "never the logits or the loss"),
        (reset_every_window, "restarted every window from zeros"),
        (no_zero_grad, "did not clear the gradients"),
        (returns_old_state, "None|unchanged"),
        (with_stateful, "uses course_lib.charlm.StatefulLM"),
        (lambda model, x, y, state, optimizer: None, "None"),
        ("train", "should be a function"),
    ],
)
def test_train_window_wrong_answers(answer, match):
    fails(ex.check_train_window, answer, match)


# ----------------------------------------------------------------------------- 4. temperature
def temperature_probabilities(logits, temperature):
    if temperature == 0:
        return F.one_hot(logits.argmax(dim=-1), logits.shape[-1]).to(logits.dtype)
    z = logits / temperature
    e = (z - z.max(dim=-1, keepdim=True).values).exp()
    return e / e.sum(dim=-1, keepdim=True)


def naive(logits, temperature):
    if temperature == 0:
        return temperature_probabilities(logits, 0)
    e = (logits / temperature).exp()
    return e / e.sum(dim=-1, keepdim=True)


def multiplied(logits, temperature):
    return temperature_probabilities(logits * temperature, 1.0) if temperature else temperature_probabilities(logits, 0)


def no_zero_case(logits, temperature):
    z = logits / temperature
    e = (z - z.max(dim=-1, keepdim=True).values).exp()
    return e / e.sum(dim=-1, keepdim=True)


def after_softmax(logits, temperature):
    p = temperature_probabilities(logits, 1.0)
    if temperature == 0:
        return temperature_probabilities(logits, 0)
    p = p / temperature
    return p / p.sum(dim=-1, keepdim=True)


def unnormalised(logits, temperature):
    if temperature == 0:
        return temperature_probabilities(logits, 0)
    z = logits / temperature
    return (z - z.max(dim=-1, keepdim=True).values).exp()


def whole_batch(logits, temperature):
    if temperature == 0:
        return temperature_probabilities(logits, 0)
    z = logits / temperature
    e = (z - z.max()).exp()
    return e / e.sum()


def in_place_division(logits, temperature):
    if temperature == 0:
        return temperature_probabilities(logits, 0)
    logits /= temperature
    return temperature_probabilities(logits, 1.0)


def test_temperature_right_answers():
    assert ex.check_temperature_probabilities(temperature_probabilities)


@pytest.mark.parametrize(
    "answer, match",
    [
        (naive, "exp of a large score overflows"),
        (multiplied, "multiplied the scores by the temperature"),
        (no_zero_case, "Temperature 0 means greedy"),
        (after_softmax, "the temperature had no effect"),
        (unnormalised, "add up to"),
        (whole_batch, "over the whole batch"),
        (in_place_division, "changed its input `logits` in place"),
        (
            lambda logits, t: F.softmax(logits / t, dim=-1) if t else temperature_probabilities(logits, 0),
            "calls F.softmax",
        ),
        (lambda logits, t: (logits / t).softmax(-1) if t else temperature_probabilities(logits, 0), "calls x.softmax"),
        (
            lambda logits, t: nn.Softmax(dim=-1)(logits / t) if t else temperature_probabilities(logits, 0),
            "calls nn.Softmax",
        ),
        (lambda logits, t: charlm.sampling_probabilities(logits, t), "calls course_lib.charlm.sampling_probabilities"),
        (
            lambda logits, t: (logits / t).log_softmax(-1).exp() if t else temperature_probabilities(logits, 0),
            "calls x.log_softmax",
        ),
        (lambda logits, t: logits.tolist(), "is a list, not a torch.Tensor"),
    ],
)
def test_temperature_wrong_answers(answer, match):
    fails(ex.check_temperature_probabilities, answer, match)


def test_exercises_registry_names_every_checker_once():
    assert [e.id for e in ex.EXERCISES] == ["lstm_step", "clip_by_norm", "train_window", "temperature_probabilities"]
    assert all(callable(e.checker) and e.title for e in ex.EXERCISES)


def test_a_decorated_torch_function_written_in_python_is_refused_by_name():
    # clip_grad_norm_ is wrapped by torch's @_no_grad, so torch's dispatch never sees it: the watch reads its body.
    from course_lib.exercises import Incorrect
    from course_lib.exercises.core import Forbidden, call_learner

    forbidden = Forbidden({"clip_grad_norm_": torch.nn.utils.clip_grad_norm_}, "uses {name}")
    param = nn.Parameter(torch.ones(3))
    param.grad = torch.ones(3)
    with pytest.raises(Incorrect, match="uses clip_grad_norm_"):
        call_learner(lambda p: torch.nn.utils.clip_grad_norm_([p], 1.0), param, forbidden=forbidden)
    assert call_learner(lambda p: torch.nn.utils.clip_grad_value_([p], 1.0), param, forbidden=forbidden) is None
