"""Checkers for chapter 07 (convolutional networks): each spots the usual mistake and says how to fix it.

Use in a notebook: ``from course_lib.exercises import ch07_cnn as ex`` then ``ex.check_shapes(shapes)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..scratch import layers as scratch_layers
from ..scratch.layers import conv_output_size
from .core import (
    Exercise,
    Forbidden,
    Incorrect,
    call_learner,
    exercise,
    expect_finite,
    expect_shape,
    expect_whole_number,
    reject_none,
    torch_spellings,
)

__all__ = ["EXERCISES", "SHAPES_NETWORK", "check_shapes", "check_conv_parameters", "check_corr2d", "check_edge_kernel"]

# ----------------------------------------------------------------------------- 1. shapes through a stack
#: The stack the shapes exercise asks about, as (kind, settings), for a 1 x 28 x 28 input.
SHAPES_NETWORK = (
    ("Conv2d", dict(in_channels=1, out_channels=8, kernel_size=3, stride=2, padding=1)),
    ("MaxPool2d", dict(kernel_size=2)),
    ("Conv2d", dict(in_channels=8, out_channels=16, kernel_size=3, stride=1, padding=0)),
)


def _window(kind: str, cfg: dict[str, int]) -> tuple[int, int, int]:
    """(kernel, stride, padding) of one layer of SHAPES_NETWORK; pooling's stride defaults to its kernel size."""
    k = cfg["kernel_size"]
    return k, cfg.get("stride", k if kind == "MaxPool2d" else 1), cfg.get("padding", 0)


def _expected_shapes() -> list[tuple[int, int, int]]:
    c, n, shapes = 1, 28, []
    for kind, cfg in SHAPES_NETWORK:
        k, s, p = _window(kind, cfg)
        n = conv_output_size(n, k, stride=s, padding=p)
        c = cfg.get("out_channels", c)
        shapes.append((c, n, n))
    return shapes


@exercise("Shapes through a small CNN")
def check_shapes(shapes: Sequence[Sequence[int]]) -> str:
    """``shapes``: the (channels, height, width) after each of the three layers of ``SHAPES_NETWORK``."""
    expected = _expected_shapes()  # [(8, 14, 14), (8, 7, 7), (16, 5, 5)]
    example = "[(8, 14, 14), ...]"
    reject_none(shapes, "shapes", "Replace the `...` with your list of three shapes.")
    if isinstance(shapes, str) or not isinstance(shapes, (list, tuple)):
        raise Incorrect(f"give a list of three (channels, height, width) tuples, e.g. {example}; got {shapes!r}.")
    if len(shapes) != 3 or any(
        isinstance(shape, str) or not isinstance(shape, (list, tuple, torch.Size)) or len(shape) != 3
        for shape in shapes
    ):
        raise Incorrect(f"give three (channels, height, width) tuples, one per layer; got {shapes!r}.")
    given = [
        tuple(expect_whole_number(v, f"a size in layer {i + 1}'s shape") for v in shape)
        for i, shape in enumerate(shapes)
    ]
    channels_last = [(c, h, w) for (h, w, c) in given]
    if given != expected and channels_last == expected:
        raise Incorrect(
            f"you wrote the shapes as (height, width, channels), e.g. {given[0]}: the channels-last order "
            "of Keras and TensorFlow. PyTorch writes (channels, height, width): "
            f"{expected[0]} for the first layer."
        )
    layer_hints = [
        "Layer 1 is a 3x3 convolution with stride 2 and padding 1 on 28x28: floor((28 + 2*1 - 3) / 2) + 1 = 14. ",
        "Layer 2 is a 2x2 max pool; its stride defaults to its kernel size, 2, so it halves 14. ",
        "Layer 3 is a 3x3 convolution without padding: it loses kernel - 1 = 2 pixels. ",
    ]
    for i, (mine, right) in enumerate(zip(given, expected)):
        if mine == right:
            continue
        previous = 28 if i == 0 else expected[i - 1][1]
        if (mine[2], mine[0], mine[1]) == right:
            raise Incorrect(
                f"layer {i + 1} should give {right}, you wrote {mine}: that is (height, width, channels), "
                "the channels-last order of Keras. PyTorch writes (channels, height, width)."
            )
        if mine[0] != right[0]:
            raise Incorrect(
                f"layer {i + 1} has {mine[0]} channels in your answer, but {right[0]}: a convolution outputs "
                "out_channels feature maps (one per filter), and pooling keeps the number of channels."
            )
        k, s, p = _window(*SHAPES_NETWORK[i])
        wrong = mine[1] if mine[1] != right[1] else mine[2]
        causes = []
        if p and wrong == conv_output_size(previous, k, stride=s):
            causes.append("left out the padding, which adds 2*padding to the size")
        if s > 1 and wrong == conv_output_size(previous, k, padding=p):
            causes.append("left out the stride: divide by it (and round down) before adding 1")
        if wrong != right[1] and wrong == -(-(previous + 2 * p - k) // s) + 1:
            causes.append("rounded up; the formula rounds down (a window that does not fit is dropped)")
        if wrong == (previous + 2 * p - k) // s:
            causes.append("forgot the + 1 (the first window position counts too)")
        why = (
            ("you may have " + ", or ".join(causes) + ".")
            if causes
            else "use floor((n + 2*padding - kernel) / stride) + 1."
        )
        raise Incorrect(f"layer {i + 1} should give {right}, you wrote {mine}: {why} {layer_hints[i]}".strip())
    return f"{' -> '.join(str(s) for s in [(1, 28, 28)] + expected)}; flattening the last gives {16 * 5 * 5} features."


# ----------------------------------------------------------------------------- 2. parameters of a convolution
@exercise("Parameters of a convolution layer")
def check_conv_parameters(count: int) -> str:
    """``count``: the number of parameters of ``nn.Conv2d(16, 32, kernel_size=3)`` (with bias)."""
    right = 32 * 16 * 3 * 3 + 32
    count = expect_whole_number(count, "conv_parameters")
    if count == right:
        return (
            f"{right:,} = 32 filters x (16 x 3 x 3 weights) + 32 biases. A dense layer from a 16x28x28 input to "
            f"a 32x28x28 output would need {16 * 28 * 28 * 32 * 28 * 28 + 32 * 28 * 28:,}: sharing weights "
            "across positions is what makes convolutions cheap."
        )
    if count == 32 * 16 * 9:
        raise Incorrect(f"{count:,} counts the weights only: each of the 32 filters also has one bias.")
    if count == 32 * 9 + 32 or count == 32 * 9:
        raise Incorrect("each filter spans all 16 input channels: it has 16 x 3 x 3 weights, not 3 x 3.")
    if count == 16 * 9 + 16 or count == 16 * 9 * 32 + 16:
        raise Incorrect("there is one bias per output channel (per filter), and there are 32 filters.")
    if count == 32 * 16 * 3 + 32:
        raise Incorrect("a 3x3 kernel has 3 x 3 = 9 weights per input channel, not 3.")
    raise Incorrect(
        f"{count!r} is not it. Count per filter: in_channels x kernel height x kernel width weights, "
        "plus one bias; then multiply by the number of filters (out_channels). "
        "You can check with sum(p.numel() for p in nn.Conv2d(16, 32, 3).parameters())."
    )


# ----------------------------------------------------------------------------- 3. cross-correlation, one channel
def _reference_corr2d(image: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    return F.conv2d(image[None, None], kernel[None, None])[0, 0]


#: What the cross-correlation exercise asks the learner to write instead of calling.
BUILT_IN_CONVOLUTION = Forbidden(
    {
        **torch_spellings("conv2d", "conv_transpose2d", "convolution"),
        "nn.Conv2d": nn.Conv2d,
        "course_lib.scratch.layers.conv2d": scratch_layers.conv2d,
        "course_lib.scratch.layers.conv2d_loops": scratch_layers.conv2d_loops,
    },
    "corr2d calls {name}, which does the whole job. The exercise is to write the sliding window yourself: "
    "out[i, j] = (image[i:i+kH, j:j+kW] * kernel).sum(), with loops if you like.",
)


def _as_float64(value: Any, what: str, shape: tuple[int, ...]) -> torch.Tensor:
    reject_none(value, what, "Did you forget `return out`?")
    if isinstance(value, str):
        raise Incorrect(f"{what} is the text {value!r}; it should be a tensor of shape {shape}.")
    try:
        return torch.as_tensor(value, dtype=torch.float64)
    except Exception:
        raise Incorrect(
            f"{what} could not be read as numbers (it is a {type(value).__name__}); it should be a tensor "
            f"(or nested list) of shape {shape}."
        ) from None


@exercise("2-D cross-correlation for one channel")
def check_corr2d(corr2d: Callable[[torch.Tensor, torch.Tensor], Any]) -> str:
    """``corr2d(image (H, W), kernel (kH, kW)) -> (H - kH + 1, W - kW + 1)``: no padding, stride 1."""
    gen = torch.Generator().manual_seed(7)
    cases = [((5, 5), (3, 3)), ((6, 8), (2, 3)), ((7, 4), (3, 1)), ((4, 4), (4, 4))]
    for (h, w), (kh, kw) in cases:
        image = torch.randn(h, w, generator=gen, dtype=torch.float64)
        kernel = torch.randn(kh, kw, generator=gen, dtype=torch.float64)
        expected = _reference_corr2d(image, kernel)
        what = f"corr2d(image {h}x{w}, kernel {kh}x{kw})"
        got = _as_float64(
            call_learner(corr2d, image, kernel, forbidden=BUILT_IN_CONVOLUTION), what, tuple(expected.shape)
        )
        if tuple(got.shape) == (h, w) and (h, w) != tuple(expected.shape):
            raise Incorrect(
                f"{what} has the input's shape {(h, w)}, expected {tuple(expected.shape)}: without "
                "padding the kernel fits in only H - kH + 1 rows and W - kW + 1 columns."
            )
        if tuple(got.shape) == (h - kh, w - kw):
            raise Incorrect(
                f"{what} has shape {tuple(got.shape)}, one short in each direction, expected "
                f"{tuple(expected.shape)}: loop over range(H - kH + 1), not range(H - kH)."
            )
        if tuple(got.shape) != tuple(expected.shape) and tuple(got.shape) == tuple(expected.shape)[::-1]:
            raise Incorrect(
                f"{what} has shape {tuple(got.shape)}, expected {tuple(expected.shape)}: rows and "
                "columns are swapped. Index the output as out[i, j] with i the row (height)."
            )
        expect_shape(got, tuple(expected.shape), what)
        expect_finite(got, expected, what)
        if (
            expected.shape[0] == expected.shape[1] > 1
            and torch.allclose(got, expected.T, atol=1e-8)
            and not torch.allclose(got, expected, atol=1e-8)
        ):
            raise Incorrect(
                f"{what} has the right shape, but it is the transpose of the right answer: out[i, j] holds "
                "the patch at row j, column i. You swapped i and j somewhere: out[i, j] must come from "
                "image[i:i+kH, j:j+kW], i the row."
            )
        if torch.allclose(got, _reference_corr2d(image, kernel.flip(0, 1)), atol=1e-8) and not torch.allclose(
            expected, got, atol=1e-8
        ):
            raise Incorrect(
                "your result is a true convolution: you flipped the kernel. Deep-learning libraries "
                "compute a cross-correlation, out[i, j] = sum(image[i:i+kH, j:j+kW] * kernel), "
                "with the kernel as it is."
            )
        if not torch.allclose(got, expected, atol=1e-8):
            bad = torch.nonzero((got - expected).abs() > 1e-8)[0].tolist()
            raise Incorrect(
                f"{what}: the value at {tuple(bad)} is {float(got[tuple(bad)]):.4f}, expected "
                f"{float(expected[tuple(bad)]):.4f}. out[i, j] is the sum of image[i:i+kH, j:j+kW] "
                "multiplied element by element with the kernel."
            )
    return "it matches F.conv2d on every test case (square and non-square, kernel as large as the image)."


# ----------------------------------------------------------------------------- 4. an edge detector
def _edge_images() -> dict[str, torch.Tensor]:
    flat = torch.full((9, 9), 0.6)
    horizontal = torch.zeros(9, 9)
    horizontal[5:] = 1.0  # dark above, bright below
    vertical = torch.zeros(9, 9)
    vertical[:, 5:] = 1.0  # dark left, bright right
    return {"flat": flat, "horizontal": horizontal, "vertical": vertical}


@exercise("Design a horizontal-edge detector")
def check_edge_kernel(kernel: Any) -> str:
    """A 3x3 kernel: positive on a dark-above/bright-below edge, about 0 on flat areas and vertical edges."""
    k = expect_shape(_as_float64(kernel, "your kernel", (3, 3)), (3, 3), "your kernel")
    if not torch.isfinite(k).all():
        raise Incorrect("your kernel contains inf or NaN.")
    images = _edge_images()
    response = {name: _reference_corr2d(img.double(), k) for name, img in images.items()}
    edge = float(response["horizontal"].max())
    edge_min = float(response["horizontal"].min())
    flat = float(response["flat"].abs().max())
    vertical = float(response["vertical"].abs().max())
    if float(k.abs().max()) == 0:
        raise Incorrect("your kernel is all zeros, so it responds to nothing.")
    if flat > 1e-6:
        raise Incorrect(
            f"on a flat grey area your kernel gives {float(response['flat'][0, 0]):.3g} instead of 0: its "
            f"weights add up to {float(k.sum()):.3g}. Make them sum to 0 so only changes in "
            "brightness produce a response."
        )
    if edge <= 1e-6 and edge_min < -1e-6:
        raise Incorrect(
            "your kernel gives a negative response where the image goes from dark (above) to bright "
            "(below): it detects the opposite edge. Flip its sign (use -kernel)."
        )
    if edge <= 1e-6:
        raise Incorrect(
            "your kernel does not respond to a horizontal edge. Put negative weights in the top row "
            "and positive weights in the bottom row."
        )
    if vertical > 0.1 * edge:
        raise Incorrect(
            f"your kernel also responds to a vertical edge ({vertical:.3g}, against {edge:.3g} on the "
            "horizontal edge): it changes from left to right. Make each row constant (or "
            "symmetric left-right), so it only compares top with bottom."
        )
    return (
        f"it gives {edge:.3g} on the horizontal edge and 0 on flat areas and vertical edges. "
        "Sobel y, [[-1, -2, -1], [0, 0, 0], [1, 2, 1]], is the classic choice; a trained CNN learns "
        "filters like it in its first layer."
    )


#: This chapter's exercises in notebook order, for a grader: the checker and the notebook variables it reads.
EXERCISES = [
    Exercise(id="corr2d", checker=check_corr2d, names=("corr2d",)),
    Exercise(id="edge_kernel", checker=check_edge_kernel, names=("edge_kernel",)),
    Exercise(id="shapes", checker=check_shapes, names=("shapes",)),
    Exercise(id="conv_parameters", checker=check_conv_parameters, names=("conv_parameters",)),
]
