"""Chapter 07's checkers accept right answers, name the usual mistakes, and treat stubs as not attempted.

The root conftest sets COURSE_STRICT_EXERCISES=1, so a wrong answer raises ExerciseFailed.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.exercises import ExerciseFailed
from course_lib.exercises import ch07_cnn as ex
from course_lib.scratch.layers import conv2d as scratch_conv2d


def fails(checker, answer, match):
    with pytest.raises(ExerciseFailed, match=match):
        checker(answer)


def stub_corr2d(image, kernel): ...


@pytest.mark.parametrize(
    "checker, stub",
    [
        (ex.check_shapes, ...),
        (ex.check_conv_parameters, ...),
        (ex.check_corr2d, stub_corr2d),
        (ex.check_edge_kernel, ...),
    ],
)
def test_stubs_are_not_attempted(checker, stub, capsys):
    assert not checker(stub)
    assert "⏳" in capsys.readouterr().out


# ----------------------------------------------------------------------------- 1. shapes
def test_shapes_right_answer_matches_torch(capsys):
    layers = [getattr(nn, kind)(**cfg) for kind, cfg in ex.SHAPES_NETWORK]
    x, shapes = torch.zeros(1, 1, 28, 28), []
    for layer in layers:
        x = layer(x)
        shapes.append(tuple(x.shape[1:]))
    assert ex.check_shapes(shapes)
    assert ex.check_shapes([[8, 14, 14], [8, 7, 7], [16, 5, 5]])
    assert "flattening the last gives 400 features" in capsys.readouterr().out


@pytest.mark.parametrize(
    "answer, match",
    [
        (
            [(8, 13, 13), (8, 6, 6), (16, 4, 4)],
            r"layer 1 should give \(8, 14, 14\).*left out the padding.*or forgot the \+ 1",
        ),
        ([(8, 28, 28), (8, 14, 14), (16, 12, 12)], "layer 1 .*left out the stride"),
        ([(8, 15, 15), (8, 7, 7), (16, 5, 5)], "layer 1 .*rounded up"),
        ([(8, 14, 14), (8, 13, 13), (16, 11, 11)], "layer 2 .*left out the stride.*stride defaults to its kernel size"),
        ([(8, 14, 14), (8, 7, 7), (16, 4, 4)], r"layer 3 .*forgot the \+ 1"),
        ([(8, 14, 14), (8, 7, 7), (16, 7, 7)], r"layer 3 .*use floor.*loses kernel - 1 = 2 pixels"),
        ([(8, 14, 14), (8, 7, 6), (16, 5, 5)], r"layer 2 should give \(8, 7, 7\), you wrote \(8, 7, 6\)"),
        ([(1, 14, 14), (1, 7, 7), (16, 5, 5)], "layer 1 has 1 channels .* but 8: a convolution outputs out_channels"),
        ([(8, 14, 14), (16, 7, 7), (16, 5, 5)], "layer 2 .*pooling keeps the number of channels"),
        ([(8, 14, 14), (8, 7, 7)], "three"),
        ([(8, 14), (8, 7, 7), (16, 5, 5)], "three"),
        (42, "list of three"),
        (
            [(14, 14, 8), (7, 7, 8), (5, 5, 16)],
            r"you wrote the shapes as \(height, width, channels\), e\.g\. \(14, 14, 8\): the channels-last order of Keras",
        ),
        (
            [(8, 14, 14), (7, 7, 8), (16, 5, 5)],
            r"layer 2 should give \(8, 7, 7\), you wrote \(7, 7, 8\): that is \(height, "
            r"width, channels\)",
        ),
        ([("8", 14, 14), (8, 7, 7), (16, 5, 5)], r"a size in layer 1's shape is the text '8', not a number"),
        ([(8, 14.5, 14), (8, 7, 7), (16, 5, 5)], r"is 14\.5; it should be a whole number"),
        ("8, 14, 14", r"list of three"),
        (None, r"shapes is None"),
    ],
)
def test_shapes_wrong_answers(answer, match):
    fails(ex.check_shapes, answer, match)


# ----------------------------------------------------------------------------- 2. parameters
def test_conv_parameters():
    assert ex.check_conv_parameters(sum(p.numel() for p in nn.Conv2d(16, 32, 3).parameters()))
    fails(ex.check_conv_parameters, 4608, "weights only: each of the 32 filters also has one bias")
    fails(ex.check_conv_parameters, 320, "16 x 3 x 3 weights, not 3 x 3")
    fails(ex.check_conv_parameters, 4624, "one bias per output channel")
    fails(ex.check_conv_parameters, 32 * 16 * 3 + 32, "9 weights per input channel, not 3")
    fails(ex.check_conv_parameters, 1000, "not it. Count per filter")
    fails(
        ex.check_conv_parameters,
        "4640",
        r"conv_parameters is the text '4640', not a number: write the number without quotes",
    )
    fails(ex.check_conv_parameters, 4640.5, r"is 4640\.5; it should be a whole number")
    fails(ex.check_conv_parameters, torch.tensor([4608, 32]), r"should be a number, got a tensor of shape \(2,\)")
    assert ex.check_conv_parameters(np.int64(4640))
    assert ex.check_conv_parameters(4640.0)
    assert ex.check_conv_parameters(torch.tensor(4640))


# ----------------------------------------------------------------------------- 3. corr2d
def good_corr2d(image, kernel):
    kh, kw = kernel.shape
    out = torch.zeros(image.shape[0] - kh + 1, image.shape[1] - kw + 1, dtype=image.dtype)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = (image[i : i + kh, j : j + kw] * kernel).sum()
    return out


def vectorised_corr2d(image, kernel):
    windows = image.unfold(0, kernel.shape[0], 1).unfold(1, kernel.shape[1], 1)
    return (windows * kernel).sum(dim=(-2, -1))


def flipped(image, kernel):
    return good_corr2d(image, kernel.flip(0, 1))


def padded_same(image, kernel):
    kh, kw = kernel.shape
    padded = F.pad(image, ((kw - 1) // 2, kw // 2, (kh - 1) // 2, kh // 2))
    return good_corr2d(padded, kernel)


def off_by_one(image, kernel):
    return good_corr2d(image, kernel)[:-1, :-1]


def transposed(image, kernel):
    return good_corr2d(image, kernel).T


def i_and_j_swapped(image, kernel):  # out[j, i] on a square output: the shape cannot tell
    kh, kw = kernel.shape
    out = torch.zeros(image.shape[0] - kh + 1, image.shape[1] - kw + 1, dtype=image.dtype)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[j, i] = (image[i : i + kh, j : j + kw] * kernel).sum()
    return out


def transposed_when_not_square(image, kernel):
    out = good_corr2d(image, kernel)
    return out if out.shape[0] == out.shape[1] else out.T.contiguous()


def wrong_values(image, kernel):
    out = good_corr2d(image, kernel)
    out[-1, -1] += 1.0
    return out


def forgot_return(image, kernel):
    good_corr2d(image, kernel)


def crashes(image, kernel):
    return image @ kernel  # shapes do not match for matrix multiplication


def test_corr2d_accepts_loops_and_vectorised():
    assert ex.check_corr2d(good_corr2d)
    assert ex.check_corr2d(vectorised_corr2d)


@pytest.mark.parametrize(
    "answer, match",
    [
        (flipped, "true convolution: you flipped the kernel"),
        (padded_same, r"input's shape \(5, 5\).*H - kH \+ 1"),
        (off_by_one, r"one short in each direction.*range\(H - kH \+ 1\)"),
        (transposed, r"has the right shape, but it is the transpose of the right answer.*You swapped i and j"),
        (i_and_j_swapped, r"corr2d\(image 5x5, kernel 3x3\) has the right shape, but it is the transpose"),
        (transposed_when_not_square, r"kernel 2x3\) has shape \(6, 5\).*rows and columns are swapped"),
        (wrong_values, r"the value at \(2, 2\) is"),
        (forgot_return, r"is None\. Did you forget `return out`"),
        (
            lambda image, kernel: F.conv2d(image[None, None], kernel[None, None])[0, 0],
            r"corr2d calls torch\.conv2d \(also spelled F\.conv2d\)",
        ),
        (
            lambda image, kernel: torch.conv2d(image[None, None], kernel[None, None])[0, 0],
            r"corr2d calls torch\.conv2d",
        ),
        (
            lambda image, kernel: scratch_conv2d(image[None, None], kernel[None, None])[0, 0],
            r"corr2d calls course_lib\.scratch\.layers\.conv2d",
        ),
        (lambda image, kernel: good_corr2d(image, kernel) * float("nan"), r"contains NaN in every entry"),
        (lambda image, kernel: good_corr2d(image.mul_(2), kernel), r"changed its input `image` in place"),
        (lambda image, kernel: "out", r"is the text 'out'; it should be a tensor of shape \(3, 3\)"),
    ],
)
def test_corr2d_wrong_answers(answer, match):
    fails(ex.check_corr2d, answer, match)


def test_corr2d_that_raises_is_reported():
    with pytest.raises(
        ExerciseFailed,
        match=r"crashes\(image: \(5, 5\) float64 tensor, kernel: \(3, 3\) float64 "
        r"tensor\) raised RuntimeError: .* \(in your line `return image @ kernel",
    ):
        ex.check_corr2d(crashes)


def test_shapes_arithmetic_is_the_scratch_formula():
    assert ex._expected_shapes() == [(8, 14, 14), (8, 7, 7), (16, 5, 5)]


# ----------------------------------------------------------------------------- 4. edge kernel
@pytest.mark.parametrize(
    "kernel",
    [
        [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
        [[-1, -1, -1], [0, 0, 0], [1, 1, 1]],
        [[0, -1, 0], [0, 1, 0], [0, 0, 0]],
        torch.tensor([[-0.5, -0.5, -0.5], [0.0, 0.0, 0.0], [0.5, 0.5, 0.5]]),
    ],
)
def test_edge_kernel_accepts_horizontal_edge_detectors(kernel):
    assert ex.check_edge_kernel(kernel)


@pytest.mark.parametrize(
    "kernel, match",
    [
        ([[1, 2, 1], [0, 0, 0], [-1, -2, -1]], "opposite edge. Flip its sign"),
        ([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], "does not respond to a horizontal edge"),
        ([[-1, -2, -1], [0, 1, 0], [1, 2, 1]], "weights add up to 1"),
        ([[0, 0, 0], [0, 1, 0], [0, 0, 0]], "weights add up to 1"),
        ([[-2, -1, 0], [0, 0, 0], [0, 1, 2]], "also responds to a vertical edge"),
        ([[0, 0, 0], [0, 0, 0], [0, 0, 0]], "all zeros"),
        ([[1, -1], [1, -1]], r"shape \(2, 2\), expected \(3, 3\)"),
        ([[float("nan")] * 3] * 3, "inf or NaN"),
        ("sobel", r"your kernel is the text 'sobel'"),
        ([[1, 2, 3], [4, 5]], r"could not be read as numbers"),
    ],
)
def test_edge_kernel_wrong_answers(kernel, match):
    fails(ex.check_edge_kernel, kernel, match)
