"""The models the MNIST chapters train: an MLP, a LeNet-style CNN and a small modern CNN.

Every model takes MNIST images ``(N, 1, 28, 28)`` (values in [0, 1]) and returns logits
``(N, num_classes)``: no softmax at the end, because ``nn.CrossEntropyLoss`` applies
log-softmax itself (and does it in a numerically stable way). Their Keras twins, with the
same layer sizes and parameter counts, live in ``course_lib.keras_models``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

__all__ = [
    "MLP",
    "LeNet5",
    "SmallCNN",
    "count_parameters",
    "init_std",
    "init_weights",
    "INIT_SCHEMES",
    "activation_stats",
]


class MLP(nn.Module):
    """A multilayer perceptron: flatten, then ``Linear -> ReLU -> Dropout`` per hidden layer, then ``Linear``.

    ``MLP()`` is 784 -> 256 -> 128 -> 10 (235,146 parameters). ``hidden=()`` gives
    multinomial logistic regression (a single linear layer).
    """

    def __init__(
        self, in_features: int = 784, hidden: Sequence[int] = (256, 128), num_classes: int = 10, dropout: float = 0.0
    ) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout is the probability of zeroing a unit, from 0 (off) to below 1; got {dropout!r}.")
        if isinstance(hidden, int):
            hidden = (hidden,)
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = size
        layers.append(nn.Linear(width, num_classes))
        self.in_features = in_features
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x[0].numel() != self.in_features:
            raise ValueError(
                f"MLP expects inputs with {self.in_features} values each (e.g. (N, 1, 28, 28) images), "
                f"got a batch of shape {tuple(x.shape)}."
            )
        return self.net(x)


class LeNet5(nn.Module):
    """LeNet-5 (LeCun et al., 1998) in its common modern form: ReLU and max pooling.

    conv 5x5 (6) -> pool -> conv 5x5 (16) -> pool -> 120 -> 84 -> classes; 61,706 parameters.
    The first convolution pads by 2 so 28x28 MNIST images get the 32x32 the original saw.
    """

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, kernel_size=5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 6 x 14 x 14
            nn.Conv2d(6, 16, kernel_size=5),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 16 x 5 x 5
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120),
            nn.ReLU(),
            nn.Linear(120, 84),
            nn.ReLU(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def _conv_bn_relu(c_in: int, c_out: int) -> nn.Sequential:
    # No bias in the convolution: batch norm's shift (beta) already plays that role.
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())


class SmallCNN(nn.Module):
    """A small modern CNN: three ``conv 3x3 -> batch norm -> ReLU -> max pool`` blocks, dropout, one linear layer.

    28x28 -> 14x14 -> 7x7 -> 3x3, then flatten, dropout and a linear layer. With the default
    ``channels=(16, 32, 64)`` it has 29,178 parameters and needs about 2 million multiply-adds
    per image, six times fewer than PyTorch's examples/mnist network, yet it passes 99.2% on the
    MNIST test set after a few epochs of one-cycle training.
    """

    def __init__(self, num_classes: int = 10, dropout: float = 0.1, channels: Sequence[int] = (16, 32, 64)) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout is the probability of zeroing a unit, from 0 (off) to below 1; got {dropout!r}.")
        if len(channels) != 3:
            raise ValueError(
                f"channels gives the width of the 3 convolution blocks, e.g. (16, 32, 64); got {channels!r}."
            )
        c1, c2, c3 = channels
        self.features = nn.Sequential(
            _conv_bn_relu(1, c1),
            nn.MaxPool2d(2),  # c1 x 14 x 14
            _conv_bn_relu(c1, c2),
            nn.MaxPool2d(2),  # c2 x 7 x 7
            _conv_bn_relu(c2, c3),
            nn.MaxPool2d(2),  # c3 x 3 x 3
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(c3 * 3 * 3, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """How many numbers training adjusts (batch norm's running statistics are buffers, not counted)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


INIT_SCHEMES = ("kaiming", "xavier", "normal-0.01", "normal-1", "zeros", "pytorch-default")


def init_std(scheme: str, fan_in: int, fan_out: int | None = None) -> float:
    """The standard deviation of the normal distribution ``scheme`` draws a layer's weights from.

    - ``"kaiming"``: sqrt(2 / fan_in), right for ReLU (He et al., 2015): it makes up for ReLU zeroing half its inputs.
    - ``"xavier"``: sqrt(2 / (fan_in + fan_out)), right for tanh (Glorot & Bengio, 2010); for a square
      layer (``fan_out`` left out, taken equal to ``fan_in``) that is sqrt(1 / fan_in).
    - ``"normal-<std>"``, e.g. ``"normal-0.01"``: that std, whatever the layer size.
    - ``"zeros"``: 0.

    ``init_weights`` and chapter 03's vanishing-gradient experiment both draw from this one definition.
    ``"pytorch-default"`` has no entry: ``nn.Linear`` draws its weights from a uniform distribution.
    """
    if isinstance(fan_in, bool) or not isinstance(fan_in, int) or fan_in < 1:
        raise ValueError(f"fan_in is the number of inputs of one unit (1 or more), got {fan_in!r}.")
    fan_out = fan_in if fan_out is None else fan_out
    if isinstance(fan_out, bool) or not isinstance(fan_out, int) or fan_out < 1:
        raise ValueError(f"fan_out is the number of units a layer feeds (1 or more), got {fan_out!r}.")
    if scheme == "kaiming":
        return math.sqrt(2.0 / fan_in)
    if scheme == "xavier":
        return math.sqrt(2.0 / (fan_in + fan_out))
    if scheme == "zeros":
        return 0.0
    if isinstance(scheme, str) and scheme.startswith("normal-"):
        try:
            std = float(scheme.split("-", 1)[1])
        except ValueError:
            std = -1.0
        if not 0 < std < math.inf:
            raise ValueError(
                f"In {scheme!r} the part after 'normal-' must be a positive standard deviation, e.g. 'normal-0.01'."
            )
        return std
    if scheme == "pytorch-default":
        raise ValueError(
            "'pytorch-default' is not a normal distribution: nn.Linear and nn.Conv2d draw their weights "
            "from a uniform one. Use init_weights(model, 'pytorch-default'), or a normal scheme here."
        )
    choices = ", ".join(s for s in INIT_SCHEMES if s != "pytorch-default")
    raise ValueError(f"Unknown initialisation scheme {scheme!r}; choose one of {choices} (or 'normal-<std>').")


@torch.no_grad()
def init_weights(model: nn.Module, scheme: str = "kaiming", seed: int | None = None) -> nn.Module:
    """Re-initialise every Linear and Conv2d layer of ``model`` and return it.

    ``scheme`` is one of ``init_std``'s (``"kaiming"``, ``"xavier"``, ``"normal-<std>"``, ``"zeros"``):
    weights from a normal distribution with that std, biases 0. ``"zeros"`` makes every unit of a
    layer identical for ever: a classic mistake, shown on purpose. ``"pytorch-default"`` draws weights
    and biases as ``nn.Linear``/``nn.Conv2d`` do by themselves (uniform, Kaiming-style).

    ``seed`` draws every layer from one ``torch.Generator`` seeded once: the same model twice, each
    layer different from the next, and torch's global random numbers left untouched.
    """
    if scheme != "pytorch-default":
        init_std(scheme, 1)  # refuse an unknown scheme before touching any layer
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    for module in model.modules():
        if not isinstance(module, (nn.Linear, nn.Conv2d)):
            continue
        weight = module.weight
        fan_in = weight[0].numel()
        if scheme == "pytorch-default":  # what reset_parameters() does, drawn from our generator
            nn.init.kaiming_uniform_(weight, a=math.sqrt(5), generator=generator)
            if module.bias is not None:
                bound = 1 / math.sqrt(fan_in)
                nn.init.uniform_(module.bias, -bound, bound, generator=generator)
            continue
        fan_out = weight.shape[0] * weight[0, 0].numel()  # a convolution's unit feeds its kernel's positions
        std = init_std(scheme, fan_in, fan_out)
        if std == 0:
            weight.zero_()
        else:
            weight.copy_(torch.randn(weight.shape, generator=generator) * std)
        if module.bias is not None:
            module.bias.zero_()
    return model


@torch.no_grad()
def activation_stats(model: nn.Module, x: torch.Tensor) -> list[dict[str, float | str]]:
    """Mean and standard deviation of every ReLU's output for one batch, first layer first.

    The initialisation section plots these: with a good initialisation the spread stays
    about the same from layer to layer; with a bad one it shrinks towards 0 or explodes.
    """
    stats: list[dict[str, float | str]] = []

    def record(name: str):
        def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            out = output.detach().float()
            stats.append(
                {
                    "layer": name,
                    "mean": float(out.mean()),
                    "std": float(out.std()),
                    "dead_fraction": float((out == 0).float().mean()),
                }
            )

        return hook

    handles = [m.register_forward_hook(record(n)) for n, m in model.named_modules() if isinstance(m, nn.ReLU)]
    if not handles:
        raise ValueError("activation_stats looks at the outputs of nn.ReLU modules, and this model has none.")
    was_training = model.training
    model.eval()
    try:
        model(x)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return stats
