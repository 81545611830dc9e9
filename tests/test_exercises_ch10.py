"""Chapter 10's checkers accept right answers, name the usual mistakes, and treat stubs as not attempted.

The root conftest sets COURSE_STRICT_EXERCISES=1, so a wrong answer raises ExerciseFailed.
"""

import copy

import numpy as np
import pytest
import torch

from course_lib.checkpoint import load_checkpoint, load_weights, save_weights
from course_lib.exercises import ExerciseFailed
from course_lib.exercises import ch10_save_load as ex
from course_lib.export import run_onnx


def fails(checker, answer, match):
    with pytest.raises(ExerciseFailed, match=match):
        checker(answer)


def stub(*args): ...


@pytest.mark.parametrize(
    "checker", [ex.check_save_and_reload, ex.check_resume, ex.check_mismatched_keys, ex.check_export_matches]
)
def test_stubs_are_not_attempted_and_other_types_are_named(checker, capsys):
    assert not checker(stub)
    assert "⏳" in capsys.readouterr().out
    fails(checker, 3, "should be a function")


# ----------------------------------------------------------------------------- 1. save and reload
def good_save_and_reload(model, path, make_model):
    torch.save(model.state_dict(), path)
    new = make_model()
    new.load_state_dict(torch.load(path, weights_only=True))
    return new


def safetensors_save_and_reload(model, path, make_model):
    save_weights(path, model)
    new = make_model()
    load_weights(path, new)
    return new


def test_save_and_reload_accepts_state_dicts_and_safetensors():
    assert ex.check_save_and_reload(good_save_and_reload)
    assert ex.check_save_and_reload(safetensors_save_and_reload)


def test_save_and_reload_names_each_mistake():
    def pickled(model, path, make_model):
        torch.save(model, path)
        return torch.load(path, weights_only=False)

    def unsafe_load(model, path, make_model):
        torch.save(model.state_dict(), path)
        new = make_model()
        new.load_state_dict(torch.load(path, weights_only=False))
        return new

    def same_model(model, path, make_model):
        torch.save(model.state_dict(), path)
        return model

    def returns_state(model, path, make_model):
        torch.save(model.state_dict(), path)
        return torch.load(path, weights_only=True)

    def forgets_to_load(model, path, make_model):
        torch.save(model.state_dict(), path)
        return make_model()

    def never_saves(model, path, make_model):
        return copy.deepcopy(model)

    def shares(model, path, make_model):
        torch.save(model.state_dict(), path)
        new = make_model()
        new.load_state_dict(model.state_dict(), assign=True)
        return new

    fails(ex.check_save_and_reload, pickled, "weights_only=False")
    fails(ex.check_save_and_reload, unsafe_load, "weights_only=False")
    fails(ex.check_save_and_reload, same_model, "returned the model you were given")
    fails(ex.check_save_and_reload, returns_state, "returned the state_dict")
    fails(ex.check_save_and_reload, forgets_to_load, "weights differ from the saved ones")
    fails(ex.check_save_and_reload, never_saves, "nothing was written")
    fails(ex.check_save_and_reload, shares, "shares its tensors")
    fails(ex.check_save_and_reload, lambda model, path, make_model: None, "nothing was written")


def test_a_whole_pickled_model_is_named_even_when_loaded_safely_elsewhere():
    def whole(model, path, make_model):
        torch.save(model, path)
        new = make_model()
        new.load_state_dict(model.state_dict())
        return new

    fails(ex.check_save_and_reload, whole, "whole pickled model")


# ----------------------------------------------------------------------------- 2. resume
def good_resume(path, model, optimizer):
    extra = load_checkpoint(path, model, optimizer)
    return extra["epoch"] + 1


def test_resume_accepts_the_right_answer_and_names_each_mistake():
    assert ex.check_resume(good_resume)

    def model_only(path, model, optimizer):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return load_checkpoint(path, model)["epoch"] + 1

    fails(ex.check_resume, model_only, "optimizer's state was not restored")
    fails(
        ex.check_resume,
        lambda path, model, optimizer: load_checkpoint(path, model, optimizer)["epoch"],
        "7 is the epoch the checkpoint finished",
    )
    fails(ex.check_resume, lambda path, model, optimizer: load_checkpoint(path, model, optimizer), "returned the dict")
    fails(ex.check_resume, lambda path, model, optimizer: 8, "does not hold the saved weights")
    fails(ex.check_resume, lambda path, model, optimizer: torch.load(path, weights_only=True), "raised")
    fails(
        ex.check_resume,
        lambda path, model, optimizer: float(load_checkpoint(path, model, optimizer)["epoch"] + 1),
        "whole number, not a float",
    )


# ----------------------------------------------------------------------------- 3. mismatched keys
def good_mismatched(saved, model_state):
    return sorted(name for name in saved if name in model_state and saved[name].shape != model_state[name].shape)


def test_mismatched_keys_accepts_the_right_answer_and_names_each_mistake():
    assert ex.check_mismatched_keys(good_mismatched)

    def unsorted(saved, model_state):
        return list(reversed(good_mismatched(saved, model_state)))

    def zipped(saved, model_state):
        return sorted(a for (a, x), (b, y) in zip(saved.items(), model_state.items()) if a == b and x.shape != y.shape)

    def every_difference(saved, model_state):
        names = set(saved) ^ set(model_state)
        return sorted(names | set(good_mismatched(saved, model_state)))

    def pops(saved, model_state):
        for name in list(saved):
            if name not in model_state:
                saved.pop(name)
        return good_mismatched(saved, model_state)

    def every_name(saved, model_state):
        return sorted(name for name in saved if name in model_state)

    def shapes(saved, model_state):
        return [saved[name].shape for name in good_mismatched(saved, model_state)]

    fails(ex.check_mismatched_keys, unsorted, "return them sorted")
    fails(ex.check_mismatched_keys, zipped, "zip compares keys by position")
    fails(ex.check_mismatched_keys, every_difference, "in only one of the two dicts")
    fails(ex.check_mismatched_keys, pops, "removed or added keys")
    fails(ex.check_mismatched_keys, every_name, "whose shapes are the same")
    fails(ex.check_mismatched_keys, shapes, "return the names")
    fails(ex.check_mismatched_keys, lambda saved, model_state: "fc.weight", "not a str")


# ----------------------------------------------------------------------------- 4. export and compare
def good_max_difference(model, onnx_path, images):
    model.eval()
    with torch.no_grad():
        ours = model(images).numpy()
    return float(np.abs(ours - run_onnx(onnx_path, images)).max())


def test_export_matches_accepts_the_right_answer_and_names_each_mistake():
    assert ex.check_export_matches(good_max_difference)

    def training_mode(model, onnx_path, images):
        with torch.no_grad():
            return float(np.abs(model(images).numpy() - run_onnx(onnx_path, images)).max())

    def as_tensor(model, onnx_path, images):
        return torch.tensor(good_max_difference(model, onnx_path, images))

    def with_itself(model, onnx_path, images):
        out = run_onnx(onnx_path, images)
        return float(np.abs(out - out).max())

    def signed(model, onnx_path, images):
        model.eval()
        with torch.no_grad():
            return float((model(images).numpy() - run_onnx(onnx_path, images)).min())  # the most negative

    fails(ex.check_export_matches, training_mode, "training mode")
    fails(ex.check_export_matches, as_tensor, "returned a tensor")
    fails(ex.check_export_matches, with_itself, "compare ONNX Runtime's output with itself")
    fails(ex.check_export_matches, signed, "largest absolute difference|cannot be negative")
    fails(ex.check_export_matches, lambda model, onnx_path, images: "small", "number")

    def mean_difference(model, onnx_path, images):
        model.eval()
        with torch.no_grad():
            return float(np.abs(model(images).numpy() - run_onnx(onnx_path, images)).mean())

    fails(ex.check_export_matches, mean_difference, "largest absolute difference over every output")
