"""Keras twins of ``course_lib.models``: the same layers, sizes and parameter counts.

TensorFlow is imported inside each function (through ``load_tensorflow``), so importing
this module costs nothing until a chapter's Keras section calls it.

Two differences a learner should know about when comparing the frameworks:
- Keras images are channels-last ``(N, 28, 28, 1)``; PyTorch's are ``(N, 1, 28, 28)``.
  ``to_keras_images`` converts. (Flattening therefore visits pixels in a different order,
  which changes nothing about what the models can learn.)
- Keras' ``BatchNormalization`` defaults to ``momentum=0.99, epsilon=1e-3``; PyTorch's
  ``BatchNorm2d`` to ``momentum=0.1`` (meaning the opposite: weight of the new batch) and
  ``eps=1e-5``. The twins use the PyTorch values so both behave the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .tensorflow_setup import load_tensorflow

__all__ = ["keras_mlp", "keras_lenet5", "keras_small_cnn", "compile_classifier", "to_keras_images", "keras_mnist"]


def _keras() -> Any:
    return load_tensorflow().keras


def compile_classifier(model: Any, learning_rate: float = 1e-3, optimizer: Any = None) -> Any:
    """Compile for integer class labels and logits outputs: Adam, cross-entropy, accuracy.

    ``from_logits=True`` matters: the models end without a softmax, like their PyTorch twins.
    """
    keras = _keras()
    model.compile(
        optimizer=optimizer or keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def keras_mlp(
    in_features: int = 784,
    hidden: Sequence[int] = (256, 128),
    num_classes: int = 10,
    dropout: float = 0.0,
    input_shape: tuple[int, ...] = (28, 28, 1),
    compile: bool = True,
    learning_rate: float = 1e-3,
) -> Any:
    """The twin of ``MLP``: Flatten, ``Dense(relu) -> Dropout`` per hidden layer, ``Dense`` logits."""
    keras = _keras()
    if int(np.prod(input_shape)) != in_features:
        raise ValueError(
            f"input_shape {input_shape} holds {int(np.prod(input_shape))} values, but in_features is {in_features}."
        )
    if isinstance(hidden, int):
        hidden = (hidden,)
    layers: list[Any] = [keras.Input(shape=input_shape), keras.layers.Flatten()]
    for size in hidden:
        layers.append(keras.layers.Dense(size, activation="relu"))
        if dropout > 0:
            layers.append(keras.layers.Dropout(dropout))
    layers.append(keras.layers.Dense(num_classes))
    model = keras.Sequential(layers, name="mlp")
    return compile_classifier(model, learning_rate) if compile else model


def keras_lenet5(num_classes: int = 10, compile: bool = True, learning_rate: float = 1e-3) -> Any:
    """The twin of ``LeNet5``: conv 5x5 (6, same padding) -> pool -> conv 5x5 (16) -> pool -> 120 -> 84."""
    keras = _keras()
    L = keras.layers
    model = keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            L.Conv2D(6, 5, padding="same", activation="relu"),
            L.MaxPooling2D(2),
            L.Conv2D(16, 5, activation="relu"),
            L.MaxPooling2D(2),
            L.Flatten(),
            L.Dense(120, activation="relu"),
            L.Dense(84, activation="relu"),
            L.Dense(num_classes),
        ],
        name="lenet5",
    )
    return compile_classifier(model, learning_rate) if compile else model


def keras_small_cnn(
    num_classes: int = 10,
    dropout: float = 0.1,
    channels: Sequence[int] = (16, 32, 64),
    compile: bool = True,
    learning_rate: float = 1e-3,
) -> Any:
    """The twin of ``SmallCNN``: three ``conv 3x3 (no bias) -> batch norm -> ReLU -> max pool`` blocks, dropout, Dense."""
    keras = _keras()
    L = keras.layers
    if len(channels) != 3:
        raise ValueError(f"channels gives the width of the 3 convolution blocks, e.g. (16, 32, 64); got {channels!r}.")

    def block(width: int) -> list[Any]:
        return [
            L.Conv2D(width, 3, padding="same", use_bias=False),
            L.BatchNormalization(momentum=0.9, epsilon=1e-5),
            L.ReLU(),
        ]

    c1, c2, c3 = channels
    model = keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            *block(c1),
            L.MaxPooling2D(2),
            *block(c2),
            L.MaxPooling2D(2),
            *block(c3),
            L.MaxPooling2D(2),
            L.Flatten(),
            L.Dropout(dropout),
            L.Dense(num_classes),
        ],
        name="small_cnn",
    )
    return compile_classifier(model, learning_rate) if compile else model


def to_keras_images(images: torch.Tensor | np.ndarray) -> np.ndarray:
    """PyTorch's channels-first images ``(N, C, H, W)`` as Keras' channels-last float32 ``(N, H, W, C)``."""
    array = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if array.ndim != 4:
        raise ValueError(f"to_keras_images expects a batch of images (N, C, H, W), got shape {array.shape}.")
    return np.ascontiguousarray(array.transpose(0, 2, 3, 1), dtype=np.float32)


def keras_mnist(images: torch.Tensor, labels: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """``load_mnist`` tensors as the NumPy arrays ``model.fit`` takes: NHWC float32 images, int64 labels."""
    if len(images) != len(labels):
        raise ValueError(f"images and labels differ in length: {len(images)} images, {len(labels)} labels.")
    return to_keras_images(images), labels.detach().cpu().numpy().astype(np.int64)
