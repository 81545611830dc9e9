"""Checkers for chapter 08 (recurrent networks): each spots the usual mistake and says how to fix it.

Use in a notebook: ``from course_lib.exercises import ch08_rnn as ex`` then ``ex.check_lstm_step(lstm_step)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from .. import charlm
from ..scratch import rnn as scratch_rnn
from .core import (
    Exercise,
    Forbidden,
    Incorrect,
    call_learner,
    exercise,
    expect_finite,
    expect_results,
    expect_shape,
    reject_none,
    require_tensor,
    torch_spellings,
)

__all__ = [
    "EXERCISES",
    "check_lstm_step",
    "check_train_window",
    "check_clip_by_norm",
    "check_temperature_probabilities",
]


def _close(a: torch.Tensor, b: torch.Tensor, rtol: float = 1e-5, atol: float = 1e-7) -> bool:
    return tuple(a.shape) == tuple(b.shape) and torch.allclose(
        a.detach().double(), b.detach().double(), rtol=rtol, atol=atol
    )


# ----------------------------------------------------------------------------- 1. one LSTM step
BUILT_IN_LSTM = Forbidden(
    {
        **torch_spellings("lstm_cell", "lstm"),
        "nn.LSTMCell": nn.LSTMCell,
        "nn.LSTM": nn.LSTM,
        "course_lib.scratch.rnn.lstm_cell": scratch_rnn.lstm_cell,
        "course_lib.scratch.rnn.run_sequence": scratch_rnn.run_sequence,
    },
    "lstm_step calls {name}, which computes the whole LSTM step. The exercise is to write the gates yourself: "
    "split W_ih x + b_ih + W_hh h + b_hh into i, f, g, o, then c' = f * c + i * g and h' = o * tanh(c').",
)


def _lstm_reference(
    x,
    h,
    c,
    w_ih,
    w_hh,
    b_ih,
    b_hh,
    *,
    order="ifgo",
    g_act=torch.tanh,
    with_tanh=True,
    with_input_gate=True,
    with_b_hh=True,
):
    """One LSTM step, optionally with one of the usual mistakes (to recognise it in an answer)."""
    gates = x @ w_ih.T + b_ih + h @ w_hh.T + (b_hh if with_b_hh else 0)
    blocks = dict(zip(order, gates.chunk(4, dim=-1)))
    i, f, g, o = torch.sigmoid(blocks["i"]), torch.sigmoid(blocks["f"]), g_act(blocks["g"]), torch.sigmoid(blocks["o"])
    c_new = f * c + (i * g if with_input_gate else g)
    return o * (torch.tanh(c_new) if with_tanh else c_new), c_new


def _lstm_cases() -> list[tuple[str, tuple[torch.Tensor, ...]]]:
    gen = torch.Generator().manual_seed(8)
    cases = []
    for name, batch, inputs, hidden, scale, dtype in [
        ("a batch of 3", 3, 4, 5, 0.5, torch.float64),
        ("one example", 1, 2, 3, 0.5, torch.float32),
        ("large weights (pre-activations of about +-1000)", 2, 3, 4, 400.0, torch.float64),
    ]:

        def rand(*shape: int, s: float = scale, dtype: torch.dtype = dtype) -> torch.Tensor:
            return (torch.randn(*shape, generator=gen, dtype=torch.float64) * s).to(dtype)

        cases.append(
            (
                name,
                (
                    rand(batch, inputs, s=1.0),
                    rand(batch, hidden, s=1.0),
                    rand(batch, hidden, s=1.0),
                    rand(4 * hidden, inputs),
                    rand(4 * hidden, hidden),
                    rand(4 * hidden),
                    rand(4 * hidden),
                ),
            )
        )
    return cases


def _explain_lstm_error(error: Exception) -> str | None:
    if "shape" in str(error) or "size" in str(error):
        return (
            "w_ih has torch's layout (4 * hidden, input): the pre-activations are x @ w_ih.T + b_ih + "
            "h @ w_hh.T + b_hh, shape (batch, 4 * hidden)."
        )
    return None


@exercise("One LSTM step by hand")
def check_lstm_step(lstm_step: Callable[..., Any]) -> str:
    """``lstm_step(x, h, c, w_ih, w_hh, b_ih, b_hh) -> (h_new, c_new)`` in torch's layout and gate order i, f, g, o."""
    if not callable(lstm_step):
        raise Incorrect(
            f"lstm_step should be a function (def lstm_step(x, h, c, w_ih, w_hh, b_ih, b_hh): ...), "
            f"got {type(lstm_step).__name__}."
        )
    for name, args in _lstm_cases():
        expected_h, expected_c = scratch_rnn.lstm_cell(args[0], (args[1], args[2]), *args[3:])
        result = call_learner(lstm_step, *args, forbidden=BUILT_IN_LSTM, explain=_explain_lstm_error)
        h_new, c_new = expect_results(result, ("h_new", "c_new"), "lstm_step")
        h_new = require_tensor(h_new, "h_new")
        c_new = require_tensor(c_new, "c_new")
        what = f"lstm_step on {name}"
        if _close(h_new, expected_c) and _close(c_new, expected_h) and not _close(h_new, expected_h):
            raise Incorrect(
                f"{what}: you returned (c_new, h_new); return the hidden state first: (h_new, c_new), "
                "as nn.LSTMCell does."
            )
        expect_shape(h_new, tuple(expected_h.shape), f"h_new ({what})")
        expect_shape(c_new, tuple(expected_c.shape), f"c_new ({what})")
        expect_finite(h_new, expected_h, f"h_new ({what})")
        expect_finite(c_new, expected_c, f"c_new ({what})")
        if h_new.dtype != expected_h.dtype:
            raise Incorrect(
                f"{what}: h_new is {h_new.dtype}, but the inputs are {expected_h.dtype}; keep their dtype "
                "(do not build new tensors with torch.tensor(...) or a fixed dtype)."
            )
        if _close(c_new, expected_c) and _close(h_new, expected_h):
            continue
        mistakes = [
            (
                dict(order="ifog"),
                "your gates are in the order i, f, o, g; torch stacks them i, f, g, o (the candidate "
                "g third, the output gate o last).",
            ),
            (dict(order="figo"), "you swapped the input and forget gates: torch's order is i, f, g, o."),
            (
                dict(g_act=torch.sigmoid),
                "the candidate g goes through tanh, not sigmoid: it is a proposed new value "
                "between -1 and 1, while i, f, o are gates between 0 and 1.",
            ),
            (dict(with_tanh=False), "h' = o * tanh(c'): you left out the tanh of the new cell state."),
            (dict(with_input_gate=False), "c' = f * c + i * g: you added the candidate g without the input gate i."),
            (
                dict(with_b_hh=False),
                "you left out b_hh: torch has two biases, and both are added, x @ w_ih.T + b_ih + h @ w_hh.T + b_hh.",
            ),
        ]
        for variant, message in mistakes:
            wrong_h, wrong_c = _lstm_reference(*args, **variant)
            if _close(h_new, wrong_h) and (_close(c_new, wrong_c) or variant.get("with_tanh") is False):
                raise Incorrect(f"{what}: {message}")
        if _close(h_new, expected_h) and not _close(c_new, expected_c):
            raise Incorrect(f"{what}: h_new is right but c_new is not: return the new cell state c' = f * c + i * g.")
        if "large" in name:
            raise Incorrect(
                f"{what}: wrong values, although the small cases were right: with pre-activations "
                "of about 1000, a sigmoid or tanh written with exp loses precision; use torch.sigmoid "
                "and torch.tanh, which are computed stably."
            )
        worst = float((h_new.double() - expected_h.double()).abs().max())
        raise Incorrect(
            f"{what}: h_new differs from nn.LSTMCell's by up to {worst:.3g}. Check each step: gates = "
            "x @ w_ih.T + b_ih + h @ w_hh.T + b_hh; i, f, g, o = gates.chunk(4, dim=-1); sigmoid for i, f, o "
            "and tanh for g; c' = f * c + i * g; h' = o * tanh(c')."
        )
    return (
        "it matches nn.LSTMCell (via course_lib.scratch.rnn.lstm_cell) in float32 and float64, also with "
        "pre-activations of about 1000."
    )


# ----------------------------------------------------------------------------- 2. where detach goes
_TOY_TEXT = "abcdefgh"


def _toy_model() -> charlm.CharLM:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(5)
        return charlm.CharLM(_TOY_TEXT, embed=4, hidden=6, layers=1)


def _toy_windows() -> list[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(6)
    ids = torch.randint(0, len(_TOY_TEXT), (2, 4 * 5 + 1), generator=gen)
    return [(ids[:, t : t + 5], ids[:, t + 1 : t + 6]) for t in range(0, 20, 5)]


def _reference_train(windows, *, zero_grad=True, carry=True, detach_after=True):
    model = _toy_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    state = None
    for x, y in windows:
        logits, new_state = model(x, state)
        loss = charlm.char_lm_loss(logits, y)
        if zero_grad:
            optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        state = charlm.detach_state(new_state) if carry else None
    return model, state


DOES_IT_FOR_YOU = Forbidden(
    {"course_lib.charlm.StatefulLM": charlm.StatefulLM},
    "train_window uses {name}, which carries and detaches the state for you; the exercise is to place the detach "
    "yourself: run the model with the state, take the step, and return the new state detached.",
)


def _explain_window_error(error: Exception) -> str | None:
    text = str(error)
    if "backward through the graph a second time" in text:
        return (
            "This is the classic symptom: the state you returned is still attached to the previous window's "
            "graph, whose buffers backward() already freed. Return the new state detached: (h.detach(), "
            "c.detach()) for an LSTM, or course_lib.charlm.detach_state(state)."
        )
    if "does not require grad" in text:
        return (
            "The loss is cut from the weights: detach only the state you pass on to the next window, never the "
            "logits or the loss."
        )
    return None


def _state_parts(state: Any) -> list[torch.Tensor]:
    return list(state) if isinstance(state, (tuple, list)) else [state]


@exercise("Detach the state between windows")
def check_train_window(train_window: Callable[..., Any]) -> str:
    """``train_window(model, x, y, state, optimizer) -> state``: one step of truncated BPTT, the state to carry returned."""
    if not callable(train_window):
        raise Incorrect(
            f"train_window should be a function (def train_window(model, x, y, state, optimizer): ...), "
            f"got {type(train_window).__name__}."
        )
    windows = _toy_windows()
    model = _toy_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    state = None
    for number, (x, y) in enumerate(windows, start=1):
        previous = state
        state = call_learner(
            train_window,
            model,
            x,
            y,
            state,
            optimizer,
            forbidden=DOES_IT_FOR_YOU,
            may_change=(0, 3, 4),
            explain=_explain_window_error,
        )
        reject_none(
            state,
            f"the state train_window returned after window {number}",
            "Return the new (h, c) state for the next window (None would start it from zeros).",
        )
        parts = _state_parts(state)
        if len(parts) != 2 or not all(isinstance(p, torch.Tensor) for p in parts):
            raise Incorrect(
                f"after window {number} train_window returned {type(state).__name__}; return the LSTM's "
                "new state, the pair (h, c) that model(x, state) gave back."
            )
        if any(p.requires_grad for p in parts):
            raise Incorrect(
                f"after window {number} the state you returned is still attached to this window's graph "
                "(it requires grad): the next window's backward() would run back into this one, already "
                "freed ('Trying to backward through the graph a second time'). Return it detached."
            )
        if previous is not None and all(torch.equal(a, b) for a, b in zip(parts, _state_parts(previous))):
            raise Incorrect(
                f"after window {number} you returned the state you were given, unchanged: return the new "
                "state that model(x, state) computed, so the next window continues from it."
            )
    right_model, right_state = _reference_train(windows)
    weights = dict(model.named_parameters())
    same = all(torch.allclose(weights[name], value) for name, value in right_model.named_parameters())
    if not same:
        variants = [
            (
                dict(carry=False),
                "you restarted every window from zeros: pass the state you were given to "
                "model(x, state), so the window starts where the last one ended.",
            ),
            (
                dict(zero_grad=False),
                "you did not clear the gradients: call optimizer.zero_grad() before backward(), "
                "or each step adds the previous windows' gradients.",
            ),
        ]
        for variant, message in variants:
            wrong_model, _ = _reference_train(windows, **variant)
            if all(torch.allclose(weights[n], v) for n, v in wrong_model.named_parameters()):
                raise Incorrect(message)
        raise Incorrect(
            "after four windows the weights differ from the reference training step: run "
            "logits, state = model(x, state); loss = char_lm_loss(logits, y); optimizer.zero_grad(); "
            "loss.backward(); optimizer.step(); then return the new state detached."
        )
    if not all(torch.allclose(a, b) for a, b in zip(_state_parts(state), _state_parts(right_state))):
        raise Incorrect(
            "the weights are right, but the state you return is not the one model(x, state) computed in "
            "this window: return that new state, detached."
        )
    return (
        "four windows trained, the state carried and detached between them: the gradient stops at each "
        "window's start, the memory does not."
    )


# ----------------------------------------------------------------------------- 3. clipping by norm
BUILT_IN_CLIPPING = Forbidden(
    {
        "torch.nn.utils.clip_grad_norm_": torch.nn.utils.clip_grad_norm_,
        "torch.nn.utils.clip_grad_norm": torch.nn.utils.clip_grad_norm,
        "torch.nn.utils.clip_grads_with_norm_": torch.nn.utils.clip_grads_with_norm_,
        "torch.nn.utils.get_total_norm": torch.nn.utils.get_total_norm,
        "torch.nn.utils.clip_grad_value_": torch.nn.utils.clip_grad_value_,
    },
    "clip_by_norm calls {name}, which does the clipping (or the total norm) for you. Compute the norm of all "
    "gradients together yourself: the square root of the sum of every entry squared.",
)


def _reference_clip(grads: list[torch.Tensor], max_norm: float) -> list[torch.Tensor]:
    """torch's rule, computed in float64 (so a total norm above float32's range is still right)."""
    total = (
        math.sqrt(sum(float((g.double() ** 2).sum()) for g in grads))
        if all(math.isfinite(float(g.double().abs().max())) for g in grads)
        else math.inf
    )
    scale = min(1.0, max_norm / (total + 1e-6))
    return [(g.double() * scale).to(g.dtype) for g in grads]


def _clip_cases() -> list[tuple[str, list[torch.Tensor], float]]:
    gen = torch.Generator().manual_seed(9)
    big = [torch.randn(3, 4, generator=gen) * 5, torch.randn(4, generator=gen) * 5, torch.randn(2, 2, generator=gen)]
    small = [torch.randn(3, generator=gen) * 0.01, torch.randn(2, 2, generator=gen) * 0.01]
    huge = [torch.full((3,), 3e19), torch.full((2, 2), -4e19)]  # squares near 1e39: beyond float32 (3.4e38)
    return [
        ("gradients with a total norm above max_norm", big, 1.0),
        ("gradients already below max_norm", small, 1.0),
        ("float64 gradients, max_norm 2.5", [g.double() for g in big], 2.5),
        ("float32 gradients of about 1e19 (their squares overflow float32)", huge, 1.0),
    ]


@exercise("Clip gradients by their total norm")
def check_clip_by_norm(clip_by_norm: Callable[..., Any]) -> str:
    """``clip_by_norm(grads, max_norm) -> new list``: all scaled by ``min(1, max_norm / (total norm + 1e-6))``."""
    if not callable(clip_by_norm):
        raise Incorrect(
            f"clip_by_norm should be a function (def clip_by_norm(grads, max_norm): ...), got "
            f"{type(clip_by_norm).__name__}."
        )
    for what, grads, max_norm in _clip_cases():
        expected = _reference_clip(grads, max_norm)
        result = call_learner(clip_by_norm, grads, max_norm, forbidden=BUILT_IN_CLIPPING)
        reject_none(result, "clip_by_norm's result", "Return the list of clipped gradients.")
        if isinstance(result, torch.Tensor) or not isinstance(result, (list, tuple)) or len(result) != len(grads):
            raise Incorrect(
                f"for {what}, return a list of {len(grads)} tensors, one per gradient, in the same order; "
                f"got {type(result).__name__}."
            )
        for index, (mine, right) in enumerate(zip(result, expected)):
            mine = require_tensor(mine, f"clipped gradient {index}")
            expect_shape(mine, tuple(right.shape), f"clipped gradient {index} ({what})")
            if "overflow" in what and not torch.isfinite(mine).all() or "overflow" in what and bool((mine == 0).all()):
                raise Incorrect(
                    f"for {what}, your result is {mine.flatten()[0].item():g} instead of about "
                    f"{right.flatten()[0].item():.3g}: the sum of squares, about 1e39, overflowed to inf in "
                    "float32. Compute the norm in float64 (g.double()), or divide by the largest "
                    "absolute value first and multiply it back after the square root."
                )
            expect_finite(mine, right, f"clipped gradient {index} ({what})")
        if all(_close(m, r, rtol=1e-5, atol=1e-9) for m, r in zip(result, expected)):
            continue
        per_tensor = [g * min(1.0, max_norm / (float(g.double().norm()) + 1e-6)) for g in grads]
        if all(_close(m, r) for m, r in zip(result, per_tensor)):
            raise Incorrect(
                f"for {what}, you clipped each gradient by its own norm. Clipping by norm uses one norm "
                "for all of them together, sqrt(sum of every entry squared over every tensor), and scales "
                "all by the same factor, so the update keeps its direction."
            )
        if all(_close(m, g.clamp(-max_norm, max_norm)) for m, g in zip(result, grads)):
            raise Incorrect(
                f"for {what}, you clipped each entry to [-max_norm, max_norm]: that is clipping by value, "
                "which changes the direction. Scale all gradients by max_norm / total_norm instead."
            )
        total = math.sqrt(sum(float((g.double() ** 2).sum()) for g in grads))
        if all(_close(m, g * (max_norm / total)) for m, g in zip(result, grads)) and total < max_norm:
            raise Incorrect(
                f"for {what} (total norm {total:.3g}, below max_norm {max_norm}), you scaled them up: "
                "clipping only ever shrinks. Use the factor min(1, max_norm / total_norm)."
            )
        if all(_close(m, g * min(1.0, max_norm / total**2)) for m, g in zip(result, grads)):
            raise Incorrect(
                f"for {what}, you divided by the sum of squares: take its square root first, that is the norm."
            )
        worst = max(float((m.double() - r.double()).abs().max()) for m, r in zip(result, expected))
        raise Incorrect(
            f"for {what}, your gradients differ from the clipped ones by up to {worst:.3g}. The rule: "
            "total = sqrt(sum over all tensors of (g ** 2).sum()); every g times "
            "min(1, max_norm / (total + 1e-6))."
        )
    return (
        "it matches torch.nn.utils.clip_grad_norm_, leaves small gradients alone, and stays right where "
        "float32 squares overflow (where torch's own float32 norm gives inf)."
    )


# ----------------------------------------------------------------------------- 4. temperature
BUILT_IN_SOFTMAX = Forbidden(
    {
        **torch_spellings("softmax", "log_softmax", "_softmax", "_log_softmax"),
        "nn.Softmax": nn.Softmax,
        "nn.LogSoftmax": nn.LogSoftmax,
        "course_lib.charlm.sampling_probabilities": charlm.sampling_probabilities,
    },
    "temperature_probabilities calls {name}, which computes the softmax for you. Write it: subtract the largest "
    "score, exponentiate, divide by the sum.",
)


def _temperature_cases() -> list[tuple[str, torch.Tensor, float]]:
    gen = torch.Generator().manual_seed(10)
    scores = torch.randn(6, generator=gen, dtype=torch.float64) * 2
    batch = torch.randn(3, 5, generator=gen) * 2
    return [
        ("temperature 1", scores, 1.0),
        ("temperature 0.5", scores, 0.5),
        ("temperature 2", scores, 2.0),
        ("a (3, 5) batch at temperature 0.7", batch, 0.7),
        ("large scores [1000, 999, 990] at temperature 1", torch.tensor([1000.0, 999.0, 990.0]), 1.0),
        ("scores of about 2 at temperature 0.001", torch.tensor([2.0, 1.5, -1.0]), 0.001),
        ("temperature 0 (greedy)", scores, 0.0),
    ]


def _explain_temperature_error(error: Exception) -> str | None:
    if isinstance(error, ZeroDivisionError):
        return "Temperature 0 means greedy: all the probability on the largest score; handle it before dividing."
    return None


@exercise("Sampling probabilities with a temperature")
def check_temperature_probabilities(temperature_probabilities: Callable[..., Any]) -> str:
    """``temperature_probabilities(logits, temperature) -> probabilities``: softmax(logits / T) on the last axis; T=0 greedy."""
    if not callable(temperature_probabilities):
        raise Incorrect(
            "temperature_probabilities should be a function (def temperature_probabilities(logits, "
            f"temperature): ...), got {type(temperature_probabilities).__name__}."
        )
    for what, logits, temperature in _temperature_cases():
        expected = charlm.sampling_probabilities(logits, temperature)
        got = call_learner(
            temperature_probabilities,
            logits,
            temperature,
            forbidden=BUILT_IN_SOFTMAX,
            explain=_explain_temperature_error,
        )
        got = require_tensor(got, f"the probabilities for {what}")
        expect_shape(got, tuple(expected.shape), f"the probabilities for {what}")
        if not torch.isfinite(got).all():
            if temperature == 0:
                raise Incorrect(
                    f"for {what} your probabilities hold NaN or inf: dividing by 0. Temperature 0 means "
                    "greedy: probability 1 on the largest score (the first, on a tie), 0 elsewhere."
                )
            raise Incorrect(
                f"for {what} your probabilities hold NaN or inf: exp of a large score overflows. "
                "Subtract the largest score (of each row) before exp; the result does not change."
            )
        if _close(got, expected, rtol=1e-5, atol=1e-8):
            continue
        if logits.ndim == 2 and temperature > 0:
            z = logits.double() / temperature
            whole = (z - z.max()).exp() / (z - z.max()).exp().sum()
            if _close(got, whole):
                raise Incorrect(
                    f"for {what} you normalised over the whole batch: take the max and the sum over the "
                    "last axis (dim=-1, keepdim=True), one distribution per row."
                )
        sums = got.double().sum(dim=-1)
        if not torch.allclose(sums, torch.ones_like(sums), atol=1e-6):
            raise Incorrect(
                f"for {what} your probabilities add up to {float(sums.flatten()[0]):.4g}, not 1: divide "
                "the exponentials by their sum (over the last axis)."
            )
        if temperature > 0 and _close(got, charlm.sampling_probabilities(logits * temperature, 1.0)):
            raise Incorrect(
                f"for {what} you multiplied the scores by the temperature; divide them by it: a high "
                "temperature flattens the distribution, a low one sharpens it."
            )
        if temperature != 1 and _close(got, charlm.sampling_probabilities(logits, 1.0)):
            raise Incorrect(
                f"for {what} the temperature had no effect: divide the scores by it before the "
                "softmax (dividing the probabilities after it and renormalising changes nothing)."
            )
        worst = float((got.double() - expected.double()).abs().max())
        raise Incorrect(
            f"for {what} your probabilities differ from softmax(logits / temperature) by up to {worst:.3g}."
        )
    return (
        "it matches the sampler of course_lib.charlm: sharper below 1, flatter above, greedy at 0, and "
        "stable for scores of 1000."
    )


#: This chapter's exercises in notebook order, for a grader: the checker and the notebook variables it reads.
EXERCISES = [
    Exercise(id="lstm_step", checker=check_lstm_step, names=("lstm_step",)),
    Exercise(id="clip_by_norm", checker=check_clip_by_norm, names=("clip_by_norm",)),
    Exercise(id="train_window", checker=check_train_window, names=("train_window",)),
    Exercise(
        id="temperature_probabilities", checker=check_temperature_probabilities, names=("temperature_probabilities",)
    ),
]
