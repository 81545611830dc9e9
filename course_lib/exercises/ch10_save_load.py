"""Checkers for chapter 10 (saving, resuming and shipping a model): each spots the usual mistake and says how to fix it.

Use in a notebook: ``from course_lib.exercises import ch10_save_load as ex`` then ``ex.check_save_and_reload(f)``.
Every checker runs the learner's function on models and files it makes itself, in a temporary folder.
"""

from __future__ import annotations

import copy
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..checkpoint import save_checkpoint
from ..models import MLP, SmallCNN
from .core import Exercise, Incorrect, call_learner, exercise, expect_number

__all__ = ["EXERCISES", "check_export_matches", "check_mismatched_keys", "check_resume", "check_save_and_reload"]


def _expect_function(fn: Any, name: str, signature: str) -> None:
    if not callable(fn):
        raise Incorrect(f"`{name}` should be a function, `def {name}({signature}): ...`; got a {type(fn).__name__}.")


@contextmanager
def _folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="course_ch10_") as name:
        yield Path(name)


def _trained_mlp(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    model = MLP(in_features=6, hidden=(8,), num_classes=3, dropout=0.0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter))  # far from any fresh initialisation
    return model


@contextmanager
def _watch_torch_load() -> Iterator[list[dict]]:
    """Record the keyword arguments of every torch.load call (to spot weights_only=False)."""
    calls: list[dict] = []
    original = torch.load

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return original(*args, **kwargs)

    torch.load = spy
    try:
        yield calls
    finally:
        torch.load = original


def _pickles_a_module(path: Path) -> bool:
    """True for a torch.save file of a whole model (it names the model's class, which only unpickling rebuilds)."""
    try:
        with zipfile.ZipFile(path) as archive:
            data = next((archive.read(n) for n in archive.namelist() if n.endswith("data.pkl")), b"")
    except (zipfile.BadZipFile, OSError):
        return False
    return b"torch.nn.modules" in data or b"course_lib.models" in data


# ----------------------------------------------------------------------------- 1. save and reload
@exercise("Save the weights and load them into a new model")
def check_save_and_reload(save_and_reload: Callable) -> str:
    """``save_and_reload(model, path, make_model)``: save ``model``'s weights to ``path``, build a new model with
    ``make_model()``, load the weights into it and return it."""
    _expect_function(save_and_reload, "save_and_reload", "model, path, make_model")
    made: list[nn.Module] = []

    def make_model() -> nn.Module:
        made.append(_trained_mlp(seed=100 + len(made)))
        return made[-1]

    original = _trained_mlp(seed=0)
    expected = {name: tensor.clone() for name, tensor in original.state_dict().items()}
    with _folder() as folder, _watch_torch_load() as loads:
        path = folder / "model.pt"
        loaded = call_learner(save_and_reload, original, path, make_model)
        if not path.exists():
            raise Incorrect(
                f"nothing was written to `path` ({path.name}): save the weights there, e.g. "
                "torch.save(model.state_dict(), path) or save_weights(path, model)."
            )
        whole_model = _pickles_a_module(path)
    if any(call.get("weights_only") is False for call in loads):
        raise Incorrect(
            "you loaded with torch.load(..., weights_only=False), which unpickles, that is runs, "
            "whatever code the file asks for. A state_dict needs no such thing: drop weights_only=False."
        )
    if whole_model:
        raise Incorrect(
            "the file holds the whole pickled model (torch.save(model, path)), which only loads where "
            "its class is importable and only by unpickling code. Save model.state_dict() instead."
        )
    if loaded is None:
        raise Incorrect("your function returned None: return the new model, with the weights loaded into it.")
    if isinstance(loaded, dict):
        raise Incorrect(
            "you returned the state_dict (a dict of tensors): load it into the new model with "
            "new_model.load_state_dict(state) and return the model."
        )
    if not isinstance(loaded, nn.Module):
        raise Incorrect(f"return the new model (an nn.Module), not a {type(loaded).__name__}.")
    if loaded is original:
        raise Incorrect(
            "you returned the model you were given: build a new one with make_model(), load the saved "
            "weights into it and return that."
        )
    if not made or all(loaded is not m for m in made):
        raise Incorrect("return the model that make_model() built (it is the one the test can trust to be fresh).")
    state = loaded.state_dict()
    if state.keys() != expected.keys():
        raise Incorrect("the returned model has other weight names than the saved one.")
    differing = [name for name in expected if not torch.equal(state[name], expected[name])]
    if differing:
        raise Incorrect(
            f"the new model's weights differ from the saved ones ({', '.join(differing)}): load the file "
            "into the new model with new_model.load_state_dict(torch.load(path, weights_only=True))."
        )
    if any(a.data_ptr() == b.data_ptr() for a, b in zip(state.values(), original.state_dict().values())):
        raise Incorrect(
            "the new model shares its tensors with the old one: it must read them back from the file "
            "(torch.load), not from the model you were given."
        )
    return "the new model holds the saved weights, read back from the file without unpickling any code."


# ----------------------------------------------------------------------------- 2. resume a run
@exercise("Resume a run from its checkpoint")
def check_resume(resume: Callable) -> str:
    """``resume(path, model, optimizer)``: restore the checkpoint into ``model`` and ``optimizer`` and return the
    number of the next epoch to train (the file was saved with ``epoch=`` the last finished epoch)."""
    _expect_function(resume, "resume", "path, model, optimizer")

    def setup(seed: int) -> tuple[nn.Module, torch.optim.Optimizer]:
        model = _trained_mlp(seed)
        optimizer = torch.optim.AdamW(model.parameters(), lr=0.01)
        return model, optimizer

    saved_model, saved_optimizer = setup(0)
    for _ in range(3):  # a few steps, so Adam's moving averages are not zero
        loss = saved_model(torch.randn(8, 6, generator=torch.Generator().manual_seed(_))).pow(2).mean()
        saved_optimizer.zero_grad()
        loss.backward()
        saved_optimizer.step()
    with _folder() as folder:
        path = save_checkpoint(folder / "run.ckpt", saved_model, saved_optimizer, epoch=7)
        model, optimizer = setup(1)
        next_epoch = call_learner(resume, path, model, optimizer, may_change=(1, 2))
    if next_epoch is None:
        raise Incorrect("your function returned None: return the epoch to train next.")
    if isinstance(next_epoch, dict):
        raise Incorrect("you returned the dict load_checkpoint gives back; return the next epoch, extra['epoch'] + 1.")
    if isinstance(next_epoch, bool) or not isinstance(next_epoch, (int, np.integer)):
        raise Incorrect(f"return the next epoch as a whole number, not a {type(next_epoch).__name__}.")
    if not all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), saved_model.state_dict().values())):
        raise Incorrect("the model does not hold the saved weights: pass it to load_checkpoint(path, model, ...).")
    if not optimizer.state:
        raise Incorrect(
            "the optimizer's state was not restored: AdamW would restart its moving averages from zero "
            "and the run would not continue as before. Pass the optimizer too: "
            "load_checkpoint(path, model, optimizer)."
        )
    ours = [s["exp_avg"] for s in optimizer.state.values()]
    theirs = [s["exp_avg"] for s in saved_optimizer.state.values()]
    if not all(torch.equal(a, b) for a, b in zip(ours, theirs)):
        raise Incorrect("the optimizer's moving averages differ from the saved ones: load them from the file.")
    if next_epoch == 7:
        raise Incorrect("7 is the epoch the checkpoint finished; the next one to train is one more.")
    if next_epoch != 8:
        raise Incorrect(f"{next_epoch} is not the next epoch: the file says epoch=7 was the last one finished.")
    return "model and optimizer restored, training continues with epoch 8."


# ----------------------------------------------------------------------------- 3. the mismatched keys
def _reference_mismatched(a: dict, b: dict) -> list[str]:
    return sorted(name for name in a if name in b and tuple(a[name].shape) != tuple(b[name].shape))


@exercise("Find the weights whose shapes do not match")
def check_mismatched_keys(mismatched_keys: Callable) -> str:
    """``mismatched_keys(saved, model_state)``: the sorted names present in both state dicts whose shapes differ."""
    _expect_function(mismatched_keys, "mismatched_keys", "saved, model_state")
    cases = [
        (
            "hidden layer 8 vs 16",
            MLP(6, hidden=(8,), num_classes=3).state_dict(),
            MLP(6, hidden=(16,), num_classes=3).state_dict(),
        ),
        (
            "10 classes vs 3, a layer more",
            MLP(6, hidden=(8, 8), num_classes=10).state_dict(),
            MLP(6, hidden=(8,), num_classes=3).state_dict(),
        ),
        ("the same model", SmallCNN().state_dict(), SmallCNN().state_dict()),
        (
            "batch norm with other channels",
            SmallCNN(channels=(8, 32, 64)).state_dict(),
            SmallCNN(channels=(16, 32, 64)).state_dict(),
        ),
    ]
    cases.append(("keys in another order", dict(reversed(list(cases[0][1].items()))), cases[0][2]))
    for label, saved, own in cases:
        saved_keys, own_keys = list(saved), list(own)
        answer = call_learner(mismatched_keys, saved, own)
        if list(saved) != saved_keys or list(own) != own_keys:
            raise Incorrect(
                "your function removed or added keys in a dict it was given (pop, del): work on the "
                "names without changing the dicts."
            )
        expected = _reference_mismatched(saved, own)
        if answer is None:
            raise Incorrect("your function returned None: return the list of names.")
        if isinstance(answer, (str, bytes)) or not isinstance(answer, (list, tuple)):
            raise Incorrect(f"return a list of names (strings), not a {type(answer).__name__}.")
        answer = list(answer)
        if not all(isinstance(name, str) for name in answer):
            raise Incorrect("return the names (the dict keys as strings), not the tensors or shapes.")
        if answer == expected:
            continue
        if sorted(answer) == expected:
            raise Incorrect(f"for {label} you found the right names, but return them sorted (sorted(...)).")
        only_one_side = [name for name in answer if name not in saved or name not in own]
        if only_one_side:
            raise Incorrect(
                f"for {label} you listed {only_one_side[0]!r}, which is in only one of the two dicts: "
                "that is a missing or unexpected key, not a mismatched one. Keep the names found in both."
            )
        if set(expected) - set(answer):
            missed = sorted(set(expected) - set(answer))[0]
            hint = (
                " Pairing the two dicts with zip compares keys by position, which goes wrong when the models "
                "have different layers or another order; look each name up in the other dict."
            )
            raise Incorrect(
                f"for {label} you missed {missed!r}: {tuple(saved[missed].shape)} in the file, "
                f"{tuple(own[missed].shape)} in the model.{hint}"
            )
        extra = sorted(set(answer) - set(expected))[0]
        raise Incorrect(
            f"for {label} you listed {extra!r}, whose shapes are the same in both ({tuple(own[extra].shape)})."
        )
    return (
        "you found them in every case; load_checkpoint lists exactly these, with their shapes, when a model "
        "does not fit its file."
    )


# ----------------------------------------------------------------------------- 4. export and compare
@exercise("Compare the exported model with PyTorch")
def check_export_matches(max_difference: Callable) -> str:
    """``max_difference(model, onnx_path, images)``: the largest absolute difference between PyTorch's outputs and
    ONNX Runtime's for the same ``images``, as a Python float."""
    from ..export import export_onnx, run_onnx

    _expect_function(max_difference, "max_difference", "model, onnx_path, images")
    torch.manual_seed(0)
    model = SmallCNN(dropout=0.5)
    with torch.no_grad():
        for _ in range(3):  # move the batch-norm statistics away from 0 and 1
            model(torch.randn(16, 1, 28, 28) * 2 + 1)
    model.train()  # as a model is after fit: the learner must switch to evaluation mode
    images = torch.randn(5, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    with _folder() as folder:
        path = export_onnx(model, images[:1], folder / "cnn.onnx", dynamo=False)
        onnx_out = run_onnx(path, images)
        reference = copy.deepcopy(model).eval()
        with torch.no_grad():
            right = float(np.abs(reference(images).numpy() - onnx_out).max())
        answer = call_learner(max_difference, model, path, images, may_change=(0,))
    if isinstance(answer, torch.Tensor) and answer.numel() == 1:
        raise Incorrect("you returned a tensor: return a Python number, e.g. float(difference).")
    value = expect_number(answer, "max_difference's result")
    if value < 0:
        raise Incorrect("a largest absolute difference cannot be negative: take abs() before max().")
    if model.training and value > 1e-3:
        raise Incorrect(
            f"you got {value:.3g}: PyTorch ran in training mode (batch statistics, dropout), while the "
            "export ran in evaluation mode. Call model.eval() before computing PyTorch's outputs."
        )
    if value == 0.0 and right > 0:
        raise Incorrect(
            "0 exactly: did you compare ONNX Runtime's output with itself? Compute one side with the "
            "PyTorch model and the other with ONNX Runtime (run_onnx(onnx_path, images))."
        )
    if abs(value - right) > 0.01 * right + 1e-12:  # the same model and session: the same numbers
        raise Incorrect(
            f"you got {value:.3g}, the difference is {right:.3g}: take the largest absolute difference "
            "over every output, np.abs(pytorch - onnx).max()."
        )
    return f"{value:.2g}, well within 1e-5: the exported graph computes what the PyTorch model computes."


#: This chapter's exercises in notebook order, for a grader: the checker and the notebook variables it reads.
EXERCISES = [
    Exercise(id="save_and_reload", checker=check_save_and_reload, names=("save_and_reload",)),
    Exercise(id="resume", checker=check_resume, names=("resume",)),
    Exercise(id="mismatched_keys", checker=check_mismatched_keys, names=("mismatched_keys",)),
    Exercise(id="export_matches", checker=check_export_matches, names=("max_difference",)),
]
