"""Scratch convolution and pooling agree with torch.nn.functional (values and gradients) and TensorFlow."""

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib.scratch.layers import (
    avg_pool2d,
    conv2d,
    conv2d_loops,
    conv_output_size,
    max_pool2d,
    receptive_field,
    same_padding,
)
from course_lib.tensorflow_setup import load_tensorflow

DTYPES = [torch.float32, torch.float64]


def tol(dtype):
    return dict(rtol=1e-4, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-10, atol=1e-12)


# (N, C_in, H, W), (C_out, kH, kW), stride, padding
CONV_CASES = [
    ((2, 3, 7, 7), (4, 3, 3), 1, 0),
    ((2, 3, 7, 7), (4, 3, 3), 1, 1),
    ((1, 1, 8, 8), (2, 3, 3), 2, 1),
    ((3, 2, 9, 6), (5, 2, 4), (2, 1), (1, 0)),  # non-square input, kernel, stride and padding
    ((2, 4, 5, 5), (3, 1, 1), 1, 0),  # 1x1 kernel: a per-pixel linear map over channels
    ((2, 2, 5, 6), (3, 5, 6), 1, 0),  # kernel = input size: one output pixel, a linear layer
    ((1, 1, 4, 4), (1, 5, 5), 1, 1),  # kernel larger than the input, but fits after padding
    ((2, 3, 10, 11), (2, 3, 3), 3, 2),  # stride that skips past the right edge
    ((1, 2, 6, 6), (4, 2, 2), 2, 0),
]


@pytest.mark.parametrize("x_shape, w_shape, stride, padding", CONV_CASES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("impl", [conv2d, conv2d_loops], ids=["unfold", "loops"])
def test_conv2d_matches_torch_values_and_gradients(impl, dtype, x_shape, w_shape, stride, padding):
    for seed in range(2):
        gen = torch.Generator().manual_seed(seed)
        c_out, kh, kw = w_shape
        x = torch.randn(x_shape, generator=gen, dtype=dtype, requires_grad=True)
        w = torch.randn((c_out, x_shape[1], kh, kw), generator=gen, dtype=dtype, requires_grad=True)
        b = torch.randn(c_out, generator=gen, dtype=dtype, requires_grad=True)
        ours = impl(x, w, b, stride=stride, padding=padding)
        theirs = F.conv2d(x, w, b, stride=stride, padding=padding)
        assert ours.shape == theirs.shape and ours.dtype == dtype
        torch.testing.assert_close(ours, theirs, **tol(dtype))
        upstream = torch.randn(theirs.shape, generator=gen, dtype=dtype)
        grads_ours = torch.autograd.grad(ours, (x, w, b), upstream)
        grads_theirs = torch.autograd.grad(theirs, (x, w, b), upstream)
        for g_ours, g_theirs in zip(grads_ours, grads_theirs):
            torch.testing.assert_close(g_ours, g_theirs, **tol(dtype))


def test_conv2d_without_bias_and_on_a_realistic_batch():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 16, 14, 14, generator=gen)
    w = torch.randn(32, 16, 3, 3, generator=gen)
    torch.testing.assert_close(conv2d(x, w, padding=1), F.conv2d(x, w, padding=1), rtol=1e-4, atol=1e-4)


def test_conv2d_is_a_cross_correlation_not_a_flipped_convolution():
    # A kernel with a single 1 in its top-left corner picks the pixel up-left of the centre.
    x = torch.arange(25.0).view(1, 1, 5, 5)
    w = torch.zeros(1, 1, 3, 3)
    w[0, 0, 0, 0] = 1.0
    out = conv2d(x, w)
    assert torch.equal(out[0, 0], x[0, 0, :3, :3])
    assert torch.equal(conv2d_loops(x, w), out)


def test_conv2d_on_a_vertical_edge():
    image = torch.zeros(1, 1, 5, 6)
    image[..., 3:] = 1.0  # dark left half, bright right half
    sobel_x = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]]).view(1, 1, 3, 3)
    out = conv2d(image, sobel_x)[0, 0]
    assert torch.equal(out, torch.tensor([[0.0, 4, 4, 0]] * 3))


@pytest.mark.parametrize(
    "x_shape, kernel, stride",
    [
        ((2, 3, 8, 8), 2, None),
        ((2, 3, 7, 7), 2, None),
        ((1, 2, 9, 9), 3, 2),
        ((2, 1, 6, 10), (2, 3), (1, 2)),
        ((1, 1, 5, 5), 5, None),
        ((3, 4, 6, 6), 1, None),
        ((1, 2, 8, 8), (3, 3), 1),
    ],
)
@pytest.mark.parametrize("dtype", DTYPES)
def test_pooling_matches_torch(dtype, x_shape, kernel, stride):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(x_shape, generator=gen, dtype=dtype, requires_grad=True)
    for ours_fn, theirs_fn in ((max_pool2d, F.max_pool2d), (avg_pool2d, F.avg_pool2d)):
        ours, theirs = ours_fn(x, kernel, stride), theirs_fn(x, kernel, stride)
        torch.testing.assert_close(ours, theirs, **tol(dtype))
        upstream = torch.randn(theirs.shape, generator=gen, dtype=dtype)
        (g_ours,) = torch.autograd.grad(ours, x, upstream)
        (g_theirs,) = torch.autograd.grad(theirs, x, upstream)
        torch.testing.assert_close(g_ours, g_theirs, **tol(dtype))


def test_max_pool_keeps_extreme_values_and_the_stride_defaults_to_the_kernel():
    x = torch.tensor([[1.0, -1e30, 3, 4], [5, 6, -7, 8], [float("inf"), 0, 1, 2], [3, 4, 5, -float("inf")]])
    out = max_pool2d(x.view(1, 1, 4, 4), 2)
    assert torch.equal(out[0, 0], torch.tensor([[6.0, 8], [float("inf"), 5]]))
    assert max_pool2d(torch.zeros(2, 3, 28, 28), 2).shape == (2, 3, 14, 14)
    assert max_pool2d(torch.zeros(2, 3, 28, 28), 2, stride=1).shape == (2, 3, 27, 27)


def test_the_lenet_shapes():
    x = torch.randn(2, 1, 28, 28)
    h = max_pool2d(torch.relu(conv2d(x, torch.randn(6, 1, 5, 5), padding=2)), 2)
    assert h.shape == (2, 6, 14, 14)
    h = max_pool2d(torch.relu(conv2d(h, torch.randn(16, 6, 5, 5))), 2)
    assert h.shape == (2, 16, 5, 5)


# ----------------------------------------------------------------------------- sizes
@pytest.mark.parametrize(
    "size, kernel, stride, padding, dilation",
    [
        (size, kernel, stride, padding, dilation)
        for size, kernel, stride, padding, dilation in itertools.product(
            (5, 8, 28), (1, 2, 3, 5), (1, 2, 3), (0, 1, 2), (1, 2)
        )
        if dilation * (kernel - 1) + 1 <= size + 2 * padding
    ],
)
def test_conv_output_size_matches_what_torch_produces(size, kernel, stride, padding, dilation):
    out = F.conv2d(
        torch.zeros(1, 1, size, size),
        torch.zeros(1, 1, kernel, kernel),
        stride=stride,
        padding=padding,
        dilation=dilation,
    )
    assert conv_output_size(size, kernel, stride, padding, dilation) == out.shape[-1]


def test_conv_output_size_known_values_and_errors():
    assert conv_output_size(28, 5) == 24
    assert conv_output_size(28, 3, padding=1) == 28
    assert conv_output_size(28, 2, stride=2) == 14
    assert conv_output_size(7, 2, stride=2) == 3  # the last row is dropped, as in SmallCNN's 7x7 -> 3x3
    with pytest.raises(ValueError, match="kernel covers 5 pixels but the padded input is only 3"):
        conv_output_size(3, 5)
    with pytest.raises(ValueError, match="stride must be a whole number, 1 or more; got 0"):
        conv_output_size(28, 3, stride=0)
    with pytest.raises(ValueError, match="padding must be a whole number, 0 or more; got -1"):
        conv_output_size(28, 3, padding=-1)


def test_receptive_field():
    assert receptive_field([]) == 1
    assert receptive_field([(3, 1)]) == 3
    assert receptive_field([(3, 1)] * 3) == 7  # three 3x3 convolutions see as far as one 7x7
    assert receptive_field([(5, 1), (2, 2), (5, 1), (2, 2)]) == 16
    # SmallCNN: (conv 3x3, pool 2) three times.
    assert receptive_field([(3, 1), (2, 2)] * 3) == 22
    with pytest.raises(ValueError, match="kernel must be a whole number, 1 or more; got 0"):
        receptive_field([(0, 1)])


def test_receptive_field_is_what_the_gradient_reaches():
    # The gradient of one output pixel is non-zero exactly on the input square it sees.
    layers = [(3, 1), (2, 2), (3, 1), (2, 2)]
    x = torch.randn(1, 1, 32, 32, requires_grad=True)
    h = x
    for kernel, stride in layers:
        h = conv2d(h, torch.ones(1, 1, kernel, kernel)) if stride == 1 else avg_pool2d(h, kernel, stride)
    h[0, 0, 2, 2].backward()
    rows, cols = torch.nonzero(x.grad[0, 0], as_tuple=True)
    assert int(rows.max() - rows.min()) + 1 == receptive_field(layers) == int(cols.max() - cols.min()) + 1


# ----------------------------------------------------------------------------- errors
def test_errors_say_what_was_expected_and_what_was_given():
    x, w = torch.zeros(2, 3, 8, 8), torch.zeros(4, 3, 3, 3)
    with pytest.raises(ValueError, match=r"4-D input .* got \(3, 8, 8\).*unsqueeze\(0\)"):
        conv2d(x[0], w)
    with pytest.raises(ValueError, match=r"input has 3 channels but the weight expects 2"):
        conv2d(x, torch.zeros(4, 2, 3, 3))
    with pytest.raises(ValueError, match=r"conv2d_loops expects a 4-D weight .* got \(3, 3, 3\)"):
        conv2d_loops(x, w[0])
    with pytest.raises(ValueError, match=r"kernel height 9 is larger than the padded input height 8 \+ 2\*0 = 8"):
        conv2d(x, torch.zeros(4, 3, 9, 3))
    with pytest.raises(ValueError, match=r"kernel width 11 is larger than the padded input width 8 \+ 2\*1 = 10"):
        conv2d_loops(x, torch.zeros(4, 3, 3, 11), padding=1)
    with pytest.raises(ValueError, match=r"bias must have one value per output channel, shape \(4,\), got \(3,\)"):
        conv2d(x, w, torch.zeros(3))
    with pytest.raises(ValueError, match="stride must be at least 1"):
        conv2d(x, w, stride=0)
    with pytest.raises(TypeError, match="padding must be an int or a pair"):
        conv2d(x, w, padding=(1, 1, 1))
    with pytest.raises(ValueError, match=r"max_pool2d expects a 4-D input .* got \(8, 8\)"):
        max_pool2d(torch.zeros(8, 8), 2)
    with pytest.raises(ValueError, match="pooling window width 9 is larger than the input width 8"):
        avg_pool2d(x, (2, 9))


@pytest.mark.parametrize("fn", [conv2d, conv2d_loops])
def test_conv_refuses_integer_and_mixed_dtypes_with_the_fix(fn):
    x, w = torch.randint(0, 5, (1, 1, 6, 6)), torch.randint(0, 3, (2, 1, 3, 3))
    with pytest.raises(
        TypeError,
        match=rf"{fn.__name__}: x should be a floating-point tensor.*got torch\.int64\. "
        r"Convert it with x\.float\(\)",
    ):
        fn(x, w.float())
    with pytest.raises(TypeError, match=r"weight should be a floating-point tensor.*weight\.float\(\)"):
        fn(x.float(), w)
    with pytest.raises(TypeError, match=r"x is torch\.float32 but weight is torch\.float64; they must match"):
        fn(x.float(), w.double())
    with pytest.raises(RuntimeError):  # torch refuses mixed dtypes too, in its own words
        F.conv2d(x.float(), w.double())
    with pytest.raises(TypeError, match=r"bias should be a torch\.Tensor, got a list"):
        fn(x.float(), w.float(), bias=[1.0, 2.0])
    with pytest.raises(TypeError, match=r"bias should be a floating-point tensor.*bias\.float\(\)"):
        fn(x.float(), w.float(), bias=torch.tensor([1, 2]))
    with pytest.raises(TypeError, match=r"x is torch\.float32 but bias is torch\.float64"):
        fn(x.float(), w.float(), bias=torch.zeros(2, dtype=torch.float64))


@pytest.mark.parametrize("fn", [max_pool2d, avg_pool2d])
def test_pooling_refuses_integer_images_with_the_fix(fn):
    with pytest.raises(TypeError, match=rf"{fn.__name__}: x should be a floating-point tensor.*x\.float\(\)"):
        fn(torch.randint(0, 5, (1, 1, 6, 6)), 2)


@pytest.mark.parametrize("stride", [2.0, None, "2", (2, 2.0), True])
def test_a_stride_that_is_not_whole_numbers_is_refused(stride):
    x, w = torch.zeros(1, 1, 6, 6), torch.zeros(2, 1, 3, 3)
    with pytest.raises(TypeError, match=r"stride must be an int or a pair of ints \(height, width\), got "):
        conv2d(x, w, stride=stride)
    if stride is not None:  # pooling's stride may be None: it then equals the kernel
        with pytest.raises(TypeError, match=r"stride must be an int or a pair of ints"):
            max_pool2d(x, 2, stride)
    with pytest.raises(TypeError, match=r"kernel_size must be an int or a pair of ints"):
        avg_pool2d(x, 2.0)


def test_empty_channels_are_refused_and_an_empty_batch_works_like_torch():
    x, w = torch.zeros(1, 1, 6, 6), torch.zeros(2, 1, 3, 3)
    with pytest.raises(ValueError, match=r"must have at least one channel, row and column each"):
        conv2d(x, torch.zeros(0, 1, 3, 3))
    with pytest.raises(ValueError, match=r"must have at least one channel"):
        conv2d_loops(torch.zeros(1, 0, 6, 6), torch.zeros(2, 0, 3, 3))
    empty = torch.zeros(0, 1, 6, 6)
    assert conv2d(empty, w).shape == F.conv2d(empty, w).shape == (0, 2, 4, 4)
    assert max_pool2d(empty, 2).shape == F.max_pool2d(empty, 2).shape == (0, 1, 3, 3)


def test_nan_in_an_image_spreads_exactly_as_in_torch():
    gen = torch.Generator().manual_seed(0)
    x, w = torch.randn(1, 2, 6, 6, generator=gen), torch.randn(3, 2, 3, 3, generator=gen)
    x[0, 1, 2, 4] = float("nan")
    torch.testing.assert_close(conv2d(x, w, padding=1), F.conv2d(x, w, padding=1), equal_nan=True)
    torch.testing.assert_close(conv2d_loops(x, w, stride=2), F.conv2d(x, w, stride=2), equal_nan=True)
    torch.testing.assert_close(max_pool2d(x, 2), F.max_pool2d(x, 2), equal_nan=True)
    torch.testing.assert_close(avg_pool2d(x, 3, 1), F.avg_pool2d(x, 3, 1), equal_nan=True)


@pytest.mark.parametrize(
    "layers, message",
    [
        ([(3.5, 1)], "kernel must be a whole number, 1 or more; got 3.5"),
        ([(3, "2")], "stride must be a whole number, 1 or more; got '2'"),
        ([(3,)], r"a list of \(kernel, stride\) pairs, one per layer; got \(3,\)"),
        ([3], r"a list of \(kernel, stride\) pairs"),
    ],
)
def test_receptive_field_refuses_malformed_layers(layers, message):
    with pytest.raises(ValueError, match=message):
        receptive_field(layers)


# ----------------------------------------------------------------------------- TensorFlow
@pytest.fixture(scope="module")
def tf():
    return load_tensorflow()


def to_nhwc(t: torch.Tensor) -> np.ndarray:
    return t.detach().permute(0, 2, 3, 1).numpy()


def kernel_to_tf(w: torch.Tensor) -> np.ndarray:
    """PyTorch (C_out, C_in, kH, kW) -> TensorFlow (kH, kW, C_in, C_out)."""
    return w.detach().permute(2, 3, 1, 0).numpy()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kernel, stride", [(3, 1), (3, 2), (4, 1), (4, 2), (5, 3), (1, 1), (2, 2)])
def test_tf_valid_and_same_padding(tf, dtype, kernel, stride):
    gen = torch.Generator().manual_seed(kernel * 10 + stride)
    x = torch.randn(2, 3, 11, 10, generator=gen, dtype=dtype)
    w = torch.randn(4, 3, kernel, kernel, generator=gen, dtype=dtype)
    # VALID = no padding: the definitions agree exactly.
    valid = tf.nn.conv2d(to_nhwc(x), kernel_to_tf(w), strides=stride, padding="VALID").numpy()
    np.testing.assert_allclose(to_nhwc(conv2d(x, w, stride=stride)), valid, **tol(dtype))
    # SAME pads (before, after) per side, the extra zero after: pad by hand, then no padding.
    (top, bottom), (left, right) = same_padding(11, kernel, stride), same_padding(10, kernel, stride)
    same = tf.nn.conv2d(to_nhwc(x), kernel_to_tf(w), strides=stride, padding="SAME").numpy()
    ours = conv2d(F.pad(x, (left, right, top, bottom)), w, stride=stride)
    assert same.shape[1:3] == (-(-11 // stride), -(-10 // stride))
    np.testing.assert_allclose(to_nhwc(ours), same, **tol(dtype))


def test_torch_symmetric_padding_differs_from_tf_same_for_an_even_kernel(tf):
    x = torch.randn(1, 1, 8, 8, dtype=torch.float64)
    w = torch.randn(1, 1, 4, 4, dtype=torch.float64)
    same = tf.nn.conv2d(to_nhwc(x), kernel_to_tf(w), strides=1, padding="SAME").numpy()
    assert same_padding(8, 4) == (1, 2)
    torch_pad2 = to_nhwc(conv2d(x, w, padding=2))  # symmetric: 9x9, one pixel too many
    assert torch_pad2.shape[1:3] == (9, 9) and same.shape[1:3] == (8, 8)
    assert not np.allclose(torch_pad2[:, :8, :8], same)  # dropping the extra row does not fix it: shifted
    np.testing.assert_allclose(torch_pad2[:, 1:, 1:], same, rtol=1e-10)  # TF's window starts one later


def test_tf_pooling_matches(tf):
    x = torch.randn(2, 3, 9, 8, generator=torch.Generator().manual_seed(3))
    for kernel, stride in ((2, 2), (3, 2), (3, 1)):
        tf_max = tf.nn.max_pool2d(to_nhwc(x), kernel, stride, padding="VALID").numpy()
        tf_avg = tf.nn.avg_pool2d(to_nhwc(x), kernel, stride, padding="VALID").numpy()
        np.testing.assert_allclose(to_nhwc(max_pool2d(x, kernel, stride)), tf_max, rtol=1e-6)
        np.testing.assert_allclose(to_nhwc(avg_pool2d(x, kernel, stride)), tf_avg, rtol=1e-5, atol=1e-6)


def test_same_padding_values_and_errors():
    assert same_padding(28, 3) == (1, 1)
    assert same_padding(28, 4) == (1, 2)
    assert same_padding(28, 3, 2) == (0, 1)
    assert same_padding(5, 1, 3) == (0, 0)
    assert same_padding(3, 7) == (3, 3)
    with pytest.raises(ValueError, match="kernel must be a whole number, 1 or more; got 0"):
        same_padding(28, 0)
