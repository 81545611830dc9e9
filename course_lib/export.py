"""Ship a trained model outside the training code: ONNX, ONNX Runtime, ``torch.export``, and a prediction.

Model deployment (模型部署) means running the model where its Python class and training loop
are not: a server, a phone, a browser. Two portable forms of one PyTorch model:

- **ONNX** (``export_onnx``): the computation graph and weights in an open format that ONNX
  Runtime (``onnx_session``, ``run_onnx``) and many other engines run, from C++, C#, Java or
  JavaScript, without PyTorch.
- **torch.export** (``export_program``, ``load_program``): a ``.pt2`` file holding the graph
  PyTorch traced, loadable by PyTorch without the model's Python class.

``predict_image`` is what a deployed digit classifier does: read an image file, prepare it
exactly as the training data was prepared, run the exported model, return the class.
"""

from __future__ import annotations

import io
import os
import warnings
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from .data import MNIST_MEAN, MNIST_STD

__all__ = [
    "Prediction",
    "export_onnx",
    "export_program",
    "load_program",
    "onnx_session",
    "prepare_digit_image",
    "predict_image",
    "run_onnx",
]

PathLike = str | os.PathLike
INPUT_NAME, OUTPUT_NAME = "images", "logits"


def _check_model_and_example(model: Any, example: Any, function: str) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"{function} needs a torch.nn.Module, got {type(model).__name__}.")
    if not isinstance(example, torch.Tensor):
        raise TypeError(
            f"{function} needs an example input tensor (e.g. torch.zeros(1, 1, 28, 28)) to trace the "
            f"model with, got {type(example).__name__}."
        )


def _traceable(example: torch.Tensor, dynamic_batch: bool) -> torch.Tensor:
    """An example of 2 or more: the tracer treats a size of 1 as a constant, which a dynamic batch cannot be."""
    return example.repeat(2, *[1] * (example.ndim - 1)) if dynamic_batch and example.shape[0] == 1 else example


def export_onnx(
    model: nn.Module, example: torch.Tensor, path: PathLike, *, dynamic_batch: bool = True, dynamo: bool = True
) -> Path:
    """Export ``model`` in evaluation mode to an ONNX file at ``path``; return the path.

    ``example`` is one input batch of the right shape; with ``dynamic_batch`` the file accepts any
    batch size. ``dynamo=True`` uses PyTorch's ``torch.export``-based exporter (the default since
    PyTorch 2.9); ``dynamo=False`` the older TorchScript tracer. The input is named ``images`` and
    the output ``logits``. The model's training mode is put back afterwards.
    """
    _check_model_and_example(model, example, "export_onnx")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    model.eval()
    parameter = next(model.parameters(), None)
    example = _traceable(example if parameter is None else example.to(parameter.device), dynamic_batch)
    try:
        with warnings.catch_warnings(), redirect_stdout(io.StringIO()):  # the exporter's progress lines
            warnings.simplefilter("ignore")
            if dynamo:
                batch = torch.export.Dim("batch", min=1, max=65536) if dynamic_batch else None
                shapes = ({0: batch},) if dynamic_batch else None
                program = torch.onnx.export(
                    model,
                    (example,),
                    dynamo=True,
                    input_names=[INPUT_NAME],
                    output_names=[OUTPUT_NAME],
                    dynamic_shapes=shapes,
                    verbose=False,
                )
                program.save(str(target))
            else:
                axes = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}} if dynamic_batch else None
                torch.onnx.export(
                    model,
                    (example,),
                    str(target),
                    dynamo=False,
                    input_names=[INPUT_NAME],
                    output_names=[OUTPUT_NAME],
                    dynamic_axes=axes,
                    opset_version=18,
                )
    finally:
        model.train(was_training)
    return target


def onnx_session(path: PathLike, threads: int | None = None) -> Any:
    """An ONNX Runtime ``InferenceSession`` for the file, on the CPU; ``threads`` caps its thread pool."""
    import onnxruntime as ort

    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(
            f"There is no ONNX file at {source}: export one first with export_onnx(model, example, {str(source)!r})."
        )
    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return ort.InferenceSession(str(source), sess_options=options, providers=["CPUExecutionProvider"])


def run_onnx(session: Any, inputs: torch.Tensor | np.ndarray) -> np.ndarray:
    """Run an ONNX Runtime session (or an ONNX file's path) on one batch; return its first output."""
    if isinstance(session, (str, os.PathLike)):
        session = onnx_session(session)
    array = inputs.detach().cpu().numpy() if isinstance(inputs, torch.Tensor) else np.asarray(inputs)
    name = session.get_inputs()[0].name
    return session.run(None, {name: np.ascontiguousarray(array, dtype=np.float32)})[0]


def export_program(model: nn.Module, example: torch.Tensor, path: PathLike, *, dynamic_batch: bool = True) -> Path:
    """Trace ``model`` (in evaluation mode) with ``torch.export`` and save it as a ``.pt2`` file."""
    _check_model_and_example(model, example, "export_program")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    example = _traceable(example, dynamic_batch)
    was_training = model.training
    model.eval()
    try:
        shapes = ({0: torch.export.Dim("batch", min=1, max=65536)},) if dynamic_batch else None
        program = torch.export.export(model, (example,), dynamic_shapes=shapes)
        torch.export.save(program, str(target))
    finally:
        model.train(was_training)
    return target


def load_program(path: PathLike) -> nn.Module:
    """Load a ``.pt2`` file from ``export_program`` as a callable module: no Python class needed."""
    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"There is no exported program at {source}: save one with export_program(...).")
    return torch.export.load(str(source)).module()


# ----------------------------------------------------------------------------- a deployed classifier
class Prediction(NamedTuple):
    """What ``predict_image`` returns: the class, its probability, and all the probabilities."""

    label: int
    probability: float
    probabilities: np.ndarray


def prepare_digit_image(image: PathLike | np.ndarray) -> np.ndarray:
    """A digit image as the model's input: shape (1, 1, 28, 28), float32, normalised like MNIST.

    Reads a file (PNG, JPEG...) or takes an array of pixels; converts to grey, resizes to 28x28,
    scales to [0, 1], makes the digit light on a dark background as in MNIST (a dark digit on
    white paper is inverted), then subtracts ``MNIST_MEAN`` and divides by ``MNIST_STD``: the
    same preparation as in training, without which the model sees other numbers than it learned.
    """
    from PIL import Image

    if isinstance(image, (str, os.PathLike)):
        source = Path(image)
        if not source.is_file():
            raise FileNotFoundError(f"There is no image file at {source}.")
        picture = Image.open(source).convert("L")
    else:
        array = np.asarray(image)
        if array.ndim != 2:
            raise ValueError(f"Pass one grey image (height x width), got an array of shape {array.shape}.")
        scale = 255.0 if array.dtype != np.uint8 and array.max() <= 1.0 else 1.0
        picture = Image.fromarray(np.clip(array * scale, 0, 255).astype(np.uint8), mode="L")
    if picture.size != (28, 28):
        picture = picture.resize((28, 28), Image.Resampling.BILINEAR)
    pixels = np.asarray(picture, dtype=np.float32) / 255.0
    if pixels.mean() > 0.5:  # dark ink on a light background: MNIST is the other way round
        pixels = 1.0 - pixels
    return ((pixels - MNIST_MEAN) / MNIST_STD)[None, None].astype(np.float32)


def predict_image(model: PathLike | Any, image: PathLike | np.ndarray) -> Prediction:
    """Classify one digit image with an exported ONNX model (a file path or an ONNX Runtime session).

    This is all a deployed model needs: ONNX Runtime, NumPy and Pillow, no PyTorch and no
    course code beyond these few lines.
    """
    session = onnx_session(model) if isinstance(model, (str, os.PathLike)) else model
    logits = run_onnx(session, prepare_digit_image(image))[0].astype(np.float64)
    probabilities = np.exp(logits - logits.max())
    probabilities /= probabilities.sum()
    label = int(probabilities.argmax())
    return Prediction(label, float(probabilities[label]), probabilities)
