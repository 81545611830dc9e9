"""A character-level language model: embedding, a stacked LSTM or GRU, and a linear head over the characters.

``CharLM`` is a plain function of its inputs and state: ``model(x, state) -> (logits, state)``, so
a loop written by hand can carry, detach or reset the state wherever it likes (the chapter shows
why ``detach`` is needed). Two helpers connect it to the rest of the course:

- ``StatefulLM`` wraps it for ``fit`` and ``evaluate``, which call ``model(x)`` and expect only the
  outputs: it keeps the hidden state between windows (detached, so back-propagation stops at the
  window's start: truncated back-propagation through time), and its ``reset_state()``, which
  ``fit`` calls at the start of every pass, starts again from zeros.
- ``char_lm_loss`` is cross-entropy over every character of a ``(batch, time)`` window.

``generate`` samples text (temperature 0 is greedy; ``top_k`` keeps the k likeliest characters);
``sampling_probabilities`` is the distribution it samples from, for plots and exercises.
``evaluate_char_lm`` gives the validation loss in nats per character, every character counted once.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .arguments import check_bool, check_choice, check_number, check_whole_number
from .device import model_device
from .text import CharVocabulary, StreamLoader

__all__ = [
    "CharLM",
    "StatefulLM",
    "char_lm_loss",
    "detach_state",
    "sampling_probabilities",
    "evaluate_char_lm",
    "SHIPPED_CHAR_LM",
    "load_shipped_char_lm",
]

State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]
CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}

#: The model chapter 08 ships and how ``tools/train_charlm.py`` trains it (its weights are
#: ``checkpoint.SHIPPED_WEIGHTS[SHIPPED_CHAR_LM["name"]]``). Change a number here and the file must be rebuilt.
SHIPPED_CHAR_LM: dict = {
    "name": "ch08_char_lstm",
    "seed": 0,
    "embed": 64,
    "hidden": 384,
    "layers": 2,
    "cell": "lstm",
    "dropout": 0.25,
    "batch_size": 64,
    "window": 64,
    "epochs": 10,
    "lr": 4e-3,
    "warmup_steps": 100,
    "half_life_steps": 800,
    "weight_decay": 0.01,
    "grad_clip": 1.0,
    "threads": 1,
}


def detach_state(state: State | None) -> State | None:
    """The same state cut from the graph that made it (``(h, c)`` for an LSTM, ``h`` for a GRU).

    Without this, the next window's ``backward`` would run back into the previous window's graph,
    whose buffers are already freed: "Trying to backward through the graph a second time".
    """
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)  # type: ignore[return-value]
    return state.detach()


class CharLM(nn.Module):
    """Embedding -> ``layers`` LSTM or GRU layers -> linear head: a score for every next character.

    ``vocab`` is a ``CharVocabulary`` (or the string of its characters); the model keeps it so
    that ``generate`` can take and return text. ``dropout`` applies between the recurrent layers
    and before the head.
    """

    def __init__(
        self,
        vocab: CharVocabulary | str,
        embed: int = 64,
        hidden: int = 256,
        layers: int = 2,
        cell: str = "lstm",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if isinstance(vocab, str):
            vocab = CharVocabulary(vocab)
        if not isinstance(vocab, CharVocabulary):
            raise TypeError(f"vocab must be a CharVocabulary (or a string of characters), got {type(vocab).__name__}.")
        check_choice("cell", cell, tuple(CELLS))
        for name, value in (("embed", embed), ("hidden", hidden), ("layers", layers)):
            check_whole_number(name, value, 1)
        check_number("dropout", dropout, at_least=0, below=1, why="It is the probability of zeroing a unit.")
        self.vocab = vocab
        self.cell, self.hidden_size, self.num_layers = cell, hidden, layers
        self.embedding = nn.Embedding(vocab.size, embed)
        self.rnn = CELLS[cell](
            embed, hidden, num_layers=layers, batch_first=True, dropout=dropout if layers > 1 else 0.0
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, vocab.size)
        self.config = {
            "chars": vocab.chars,
            "embed": embed,
            "hidden": hidden,
            "layers": layers,
            "cell": cell,
            "dropout": float(dropout),
        }

    def forward(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """``x`` ``(batch, time)`` ids -> ``(logits (batch, time, vocab), state)``; ``state=None`` starts from zeros."""
        if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.dtype.is_floating_point:
            described = f"shape {tuple(x.shape)}, {x.dtype}" if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"CharLM takes a (batch, time) tensor of character ids, got {described}.")
        if x.numel() and (int(x.min()) < 0 or int(x.max()) >= self.vocab.size):
            raise ValueError(
                f"Character ids must be between 0 and {self.vocab.size - 1}, got {int(x.min())} to {int(x.max())}."
            )
        output, state = self.rnn(self.embedding(x), state)
        return self.head(self.dropout(output)), state

    @torch.no_grad()
    def next_char_probabilities(self, prompt: str, temperature: float = 1.0, top_k: int | None = None) -> torch.Tensor:
        """The distribution ``generate`` would draw the character after ``prompt`` from, shape ``(vocab,)``."""
        logits, _ = self._read_prompt(prompt)
        return sampling_probabilities(logits, temperature, top_k)

    @torch.no_grad()
    def generate(
        self,
        prompt: str,
        length: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        generator: torch.Generator | None = None,
    ) -> str:
        """``length`` new characters that follow ``prompt``, drawn one at a time (the prompt is not repeated).

        ``temperature`` divides the scores before the softmax: below 1 sharpens, above 1 flattens,
        0 always takes the likeliest character (greedy). ``top_k`` samples only among the k likeliest.
        Pass a seeded ``torch.Generator`` to get the same text every time.
        """
        check_whole_number("length", length, 0, unit="characters")
        _check_sampling(temperature, top_k, self.vocab.size)
        if generator is not None and (not isinstance(generator, torch.Generator) or generator.device.type != "cpu"):
            raise TypeError("generator must be a CPU torch.Generator, e.g. torch.Generator().manual_seed(0), or None.")
        was_training = self.training
        self.eval()
        try:
            logits, state = self._read_prompt(prompt)
            device = model_device(self)
            new_ids = []
            for _ in range(length):
                probs = sampling_probabilities(logits, temperature, top_k)
                if temperature == 0:
                    next_id = int(probs.argmax())
                else:
                    next_id = int(torch.multinomial(probs, 1, generator=generator))
                new_ids.append(next_id)
                out, state = self(torch.tensor([[next_id]], device=device), state)
                logits = out[0, -1].float().cpu()
        finally:
            self.train(was_training)
        return self.vocab.decode(new_ids)

    def _read_prompt(self, prompt: str) -> tuple[torch.Tensor, State]:
        """Run the prompt through the model in one call: the scores for the next character, and the state."""
        if not isinstance(prompt, str):
            raise TypeError(f"The prompt must be text (a str), got {type(prompt).__name__}.")
        if not prompt:
            raise ValueError("The prompt is empty: give at least one character to continue from, e.g. 'ROMEO:'.")
        ids = self.vocab.encode(prompt).to(model_device(self))
        out, state = self(ids.unsqueeze(0))
        return out[0, -1].float().cpu(), state


def _check_sampling(temperature: float, top_k: int | None, vocab_size: int) -> None:
    check_number(
        "temperature",
        temperature,
        at_least=0,
        why="0 always takes the likeliest character (greedy), 1 samples with the model's own odds.",
    )
    if top_k is not None and (not isinstance(top_k, int) or isinstance(top_k, bool) or not 1 <= top_k <= vocab_size):
        raise ValueError(
            f"top_k must be a whole number from 1 to {vocab_size} (the vocabulary size), or None to keep every "
            f"character; got {top_k!r}."
        )


def sampling_probabilities(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None) -> torch.Tensor:
    """The distribution to sample the next character from: ``softmax(logits / temperature)`` over the top k.

    ``logits`` is ``(..., vocab)``. Temperature 0 puts all the probability on the likeliest
    character (the first, on a tie). With ``top_k``, every character scoring below the k-th best
    gets probability 0 (ties with the k-th are kept).
    """
    if not isinstance(logits, torch.Tensor) or not logits.is_floating_point() or logits.ndim == 0:
        raise TypeError("logits must be a floating-point tensor whose last dimension runs over the vocabulary.")
    _check_sampling(temperature, top_k, logits.shape[-1])
    if temperature == 0:
        return F.one_hot(logits.argmax(dim=-1), logits.shape[-1]).to(logits.dtype)
    scaled = logits / temperature
    if top_k is not None:
        kth_best = scaled.topk(top_k, dim=-1).values[..., -1:]
        scaled = scaled.masked_fill(scaled < kth_best, -math.inf)
    return scaled.softmax(dim=-1)


def char_lm_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over every character: ``logits`` ``(batch, time, vocab)``, ``targets`` ``(batch, time)``."""
    if logits.ndim != 3 or targets.shape != logits.shape[:2]:
        raise ValueError(
            f"char_lm_loss takes logits (batch, time, vocab) and targets (batch, time); got {tuple(logits.shape)} "
            f"and {tuple(targets.shape)}."
        )
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten())


class StatefulLM(nn.Module):
    """``CharLM`` for ``fit``/``evaluate``: returns only the logits and carries the state between windows.

    After each window the state is kept, detached, for the next one (feed it a ``StreamLoader``):
    the next window starts where this one ended, but back-propagation stops at its start. It
    follows ``fit``'s protocol for stateful models: ``fit``, ``evaluate`` and ``predict`` call
    ``reset_state()`` at the start of every pass, so every epoch and every validation starts from
    zeros (call it yourself at the start of each pass in a loop of your own). A batch of another
    size also starts from zeros. ``carry_state=False`` starts every window from zeros: what
    tutorials that sample random windows do.
    """

    def __init__(self, model: CharLM, carry_state: bool = True) -> None:
        super().__init__()
        if not isinstance(model, CharLM):
            raise TypeError(f"StatefulLM wraps a CharLM, got {type(model).__name__}.")
        check_bool("carry_state", carry_state)
        self.model, self.carry_state = model, carry_state
        self.state: State | None = None

    def reset_state(self) -> None:
        """Forget the carried state: the next window starts from zeros (``fit`` calls this at the start of every pass)."""
        self.state = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        state = self.state if self.carry_state else None
        if state is not None and _batch_size(state) != x.shape[0]:
            state = None
        logits, new_state = self.model(x, state)
        self.state = detach_state(new_state) if self.carry_state else None
        return logits


def _batch_size(state: State) -> int:
    return (state[0] if isinstance(state, tuple) else state).shape[1]


def load_shipped_char_lm(device: torch.device | str = "cpu") -> CharLM:
    """The character model the course ships, trained by ``tools/train_charlm.py``, in evaluation mode.

    Built from ``SHIPPED_CHAR_LM`` on Tiny Shakespeare's 65 characters, its weights checked against
    the SHA-256 recorded in ``course_lib.checkpoint.SHIPPED_WEIGHTS``: a missing or damaged file
    raises the same ``MissingDataError``/``CorruptDataError`` as a data file, naming the fix.
    """
    from .checkpoint import load_shipped_weights
    from .data import load_tiny_shakespeare

    recipe = SHIPPED_CHAR_LM
    model = CharLM(
        CharVocabulary(load_tiny_shakespeare()),
        embed=recipe["embed"],
        hidden=recipe["hidden"],
        layers=recipe["layers"],
        cell=recipe["cell"],
        dropout=recipe["dropout"],
    )
    load_shipped_weights(recipe["name"], model)
    return model.to(device).eval()


@torch.no_grad()
def evaluate_char_lm(model: CharLM, ids: torch.Tensor, batch_size: int = 16, window: int = 256) -> float:
    """Mean loss in nats per character over ``ids``, read as ``batch_size`` streams with the state carried.

    Every character but the first (and a few at the end, fewer than ``batch_size``) is predicted
    exactly once, from everything before it in its stream. Divide by ln 2 for bits per character;
    ``exp`` of it is the perplexity.
    """
    if not isinstance(model, CharLM):
        raise TypeError(f"evaluate_char_lm takes a CharLM, got {type(model).__name__}.")
    loader = StreamLoader(ids, batch_size, window, device=model_device(model))
    was_training = model.training
    model.eval()
    total, state = 0.0, None
    try:
        for x, y in loader:
            logits, state = model(x, state)
            total += float(F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum"))
    finally:
        model.train(was_training)
    return total / loader.characters_per_pass
