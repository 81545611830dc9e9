r"""Convolution and pooling from scratch, with ``torch.nn.functional``'s semantics (NCHW).

Two ways to compute the same 2-D convolution, for two purposes:

- ``conv2d_loops`` slides the kernel over the image with explicit Python loops, one output
  position at a time. It reads like the formula

  .. math:: y[n, o, i, j] = b[o] + \sum_{c}\sum_{u}\sum_{v} w[o, c, u, v]\; x_p[n, c,\, i s_h + u,\, j s_w + v]

  (``x_p`` is the zero-padded input, ``s`` the stride) and is meant for small teaching inputs.
- ``conv2d`` does the same with *im2col*: ``F.unfold`` copies every window into a column, and
  one matrix multiplication applies every filter to every window at once. That is fast enough
  for real use and is how many libraries implemented convolution for years.

Like PyTorch (and TensorFlow), these compute a *cross-correlation*: the kernel is not flipped.
``max_pool2d`` and ``avg_pool2d`` use the same windows with a max or a mean instead of a
weighted sum. Every function checks its inputs and says what it expected and what it got.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..arguments import check_float_tensor, check_int_pair, check_whole_number

__all__ = [
    "conv_output_size",
    "same_padding",
    "receptive_field",
    "conv2d_loops",
    "conv2d",
    "max_pool2d",
    "avg_pool2d",
]

IntPair = int | tuple[int, int]


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    r"""How many positions a window of ``kernel`` takes along one side of length ``size``.

    .. math:: \left\lfloor \frac{\text{size} + 2\,\text{padding} - \text{dilation}\,(\text{kernel}-1) - 1}{\text{stride}} \right\rfloor + 1

    The same formula holds for pooling. Raises an error when the window does not fit at all.

    >>> conv_output_size(28, kernel=5, padding=2)
    28
    >>> conv_output_size(28, kernel=2, stride=2)
    14
    """
    for name, value, minimum in (
        ("size", size, 1),
        ("kernel", kernel, 1),
        ("stride", stride, 1),
        ("padding", padding, 0),
        ("dilation", dilation, 1),
    ):
        check_whole_number(name, value, minimum)
    span = dilation * (kernel - 1) + 1  # how many input pixels one window covers
    if span > size + 2 * padding:
        raise ValueError(
            f"The kernel covers {span} pixels but the padded input is only {size} + 2*{padding} = "
            f"{size + 2 * padding} wide: make the kernel smaller or pad more."
        )
    return (size + 2 * padding - span) // stride + 1


def same_padding(size: int, kernel: int, stride: int = 1) -> tuple[int, int]:
    r"""The zeros TensorFlow's ``padding="SAME"`` adds before and after one side: ``(before, after)``.

    SAME makes the output :math:`\lceil \text{size} / \text{stride} \rceil` long. The total padding
    that needs is :math:`\max((\lceil n/s \rceil - 1)s + k - n,\ 0)`; when it is odd TensorFlow puts
    the extra zero *after* (bottom/right). PyTorch's ``padding=p`` always pads both sides equally,
    so for an even kernel, or a stride above 1, the two frameworks can disagree by one pixel
    unless you pad by hand (``F.pad(x, (left, right, top, bottom))``) first.

    >>> same_padding(28, kernel=3)  # odd kernel, stride 1: symmetric, like PyTorch's padding=1
    (1, 1)
    >>> same_padding(28, kernel=4)  # even kernel: one more zero after
    (1, 2)
    >>> same_padding(28, kernel=3, stride=2)  # 28 -> 14 needs only 1 zero, and it goes after
    (0, 1)
    """
    for name, value in (("size", size), ("kernel", kernel), ("stride", stride)):
        check_whole_number(name, value, 1)
    out = -(-size // stride)  # ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def receptive_field(layers: list[tuple[int, int]]) -> int:
    r"""Side of the input square one output pixel sees after a stack of ``(kernel, stride)`` layers.

    Each layer adds :math:`(k - 1)` times the product of the strides before it:
    :math:`r = 1 + \sum_l (k_l - 1) \prod_{m<l} s_m`.

    >>> receptive_field([(3, 1), (3, 1)])  # two 3x3 convolutions see as far as one 5x5
    5
    >>> receptive_field([(5, 1), (2, 2), (5, 1), (2, 2)])  # LeNet-5's feature extractor
    16
    """
    field, jump = 1, 1
    for layer in layers:
        if not isinstance(layer, (tuple, list)) or len(layer) != 2:
            raise ValueError(f"receptive_field takes a list of (kernel, stride) pairs, one per layer; got {layer!r}.")
        kernel, stride = layer
        check_whole_number("kernel", kernel, 1)
        check_whole_number("stride", stride, 1)
        field += (kernel - 1) * jump
        jump *= stride
    return field


def _check_conv_inputs(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, stride: IntPair, padding: IntPair, name: str
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """Validate shapes; return (stride, padding, output size) as pairs."""
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(
            f"{name} expects a 4-D input (batch, channels, height, width), got {got}. "
            "For a single image add a batch dimension with x.unsqueeze(0)."
        )
    if not isinstance(weight, torch.Tensor) or weight.ndim != 4:
        got = tuple(weight.shape) if isinstance(weight, torch.Tensor) else type(weight).__name__
        raise ValueError(
            f"{name} expects a 4-D weight (out_channels, in_channels, kernel_height, kernel_width), got {got}."
        )
    check_float_tensor(x, "x", name)
    check_float_tensor(weight, "weight", name)
    if bias is not None:
        check_float_tensor(bias, "bias", name)
    for what, tensor in (("weight", weight), ("bias", bias)):
        if tensor is not None and tensor.dtype != x.dtype:
            raise TypeError(
                f"{name}: x is {x.dtype} but {what} is {tensor.dtype}; they must match. "
                f"Convert one, e.g. {what}.to(x.dtype)."
            )
    if 0 in x.shape[1:] or 0 in weight.shape:
        raise ValueError(
            f"{name}: x {tuple(x.shape)} and weight {tuple(weight.shape)} must have at least one "
            "channel, row and column each (only the batch may be empty)."
        )
    if x.shape[1] != weight.shape[1]:
        raise ValueError(
            f"The input has {x.shape[1]} channels but the weight expects {weight.shape[1]} "
            f"(weight shape {tuple(weight.shape)} is (out_channels, in_channels, kH, kW))."
        )
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(
            f"bias must have one value per output channel, shape ({weight.shape[0]},), got {tuple(bias.shape)}."
        )
    stride, padding = check_int_pair("stride", stride, 1), check_int_pair("padding", padding, 0)
    out = []
    for axis, name in ((0, "height"), (1, "width")):
        size, kernel = x.shape[2 + axis], weight.shape[2 + axis]
        if kernel > size + 2 * padding[axis]:
            raise ValueError(
                f"The kernel {name} {kernel} is larger than the padded input {name} "
                f"{size} + 2*{padding[axis]} = {size + 2 * padding[axis]}: use a smaller kernel or more padding."
            )
        out.append(conv_output_size(size, kernel, stride[axis], padding[axis]))
    return stride, padding, (out[0], out[1])


def conv2d_loops(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, stride: IntPair = 1, padding: IntPair = 0
) -> torch.Tensor:
    """2-D cross-correlation written as the sliding window it is: loops over every output position.

    ``x`` is ``(N, C_in, H, W)``, ``weight`` is ``(C_out, C_in, kH, kW)``, the result is
    ``(N, C_out, H_out, W_out)``. Slow (one small tensor operation per output pixel): use it on
    small inputs to see what happens, and ``conv2d`` for real work. Gradients flow through it.
    """
    (sh, sw), (ph, pw), (out_h, out_w) = _check_conv_inputs(x, weight, bias, stride, padding, "conv2d_loops")
    kh, kw = weight.shape[2:]
    x = F.pad(x, (pw, pw, ph, ph))  # zeros around the image: (left, right, top, bottom)
    rows = []
    for i in range(out_h):
        row = []
        for j in range(out_w):
            window = x[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw]  # (N, C_in, kH, kW)
            # Multiply the window by every filter and add up over channels and kernel positions.
            row.append((window.unsqueeze(1) * weight.unsqueeze(0)).sum(dim=(2, 3, 4)))  # (N, C_out)
        rows.append(torch.stack(row, dim=-1))  # (N, C_out, W_out)
    out = torch.stack(rows, dim=-2)  # (N, C_out, H_out, W_out)
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1)
    return out


def conv2d(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, stride: IntPair = 1, padding: IntPair = 0
) -> torch.Tensor:
    """2-D cross-correlation by im2col: every window becomes a column, then one matrix product.

    ``F.unfold`` turns ``x`` into ``(N, C_in*kH*kW, L)``, one column per output position ``L``.
    The weight, reshaped to ``(C_out, C_in*kH*kW)``, multiplies all columns at once, and the
    ``L`` results are folded back into an ``H_out x W_out`` grid. Same semantics as ``F.conv2d``.
    """
    stride_hw, padding_hw, (out_h, out_w) = _check_conv_inputs(x, weight, bias, stride, padding, "conv2d")
    c_out, _, kh, kw = weight.shape
    columns = F.unfold(x, kernel_size=(kh, kw), padding=padding_hw, stride=stride_hw)  # (N, C_in*kH*kW, L)
    out = weight.reshape(c_out, -1) @ columns  # (C_out, K) @ (N, K, L) -> (N, C_out, L)
    if bias is not None:
        out = out + bias.view(1, -1, 1)
    return out.view(x.shape[0], c_out, out_h, out_w)


def _pool_windows(
    x: torch.Tensor, kernel_size: IntPair, stride: IntPair | None, name: str
) -> tuple[torch.Tensor, tuple[int, int]]:
    """Every pooling window as a column: ``(N, C, kH*kW, L)`` and the output size."""
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(
            f"{name} expects a 4-D input (batch, channels, height, width), got {got}. "
            "For a single image add a batch dimension with x.unsqueeze(0)."
        )
    check_float_tensor(x, "x", name)
    kernel = check_int_pair("kernel_size", kernel_size, 1)
    step = kernel if stride is None else check_int_pair("stride", stride, 1)  # pooling's stride defaults to its kernel
    n, c, h, w = x.shape
    for size, k, label in ((h, kernel[0], "height"), (w, kernel[1], "width")):
        if k > size:
            raise ValueError(f"The pooling window {label} {k} is larger than the input {label} {size}.")
    out_h, out_w = conv_output_size(h, kernel[0], step[0]), conv_output_size(w, kernel[1], step[1])
    # Fold channels into the batch so that unfold pools each channel on its own.
    columns = F.unfold(x.reshape(n * c, 1, h, w), kernel_size=kernel, stride=step)  # (N*C, kH*kW, L)
    return columns.view(n, c, kernel[0] * kernel[1], out_h * out_w), (out_h, out_w)


def max_pool2d(x: torch.Tensor, kernel_size: IntPair, stride: IntPair | None = None) -> torch.Tensor:
    """The largest value in each ``kernel_size`` window, channel by channel (no padding).

    ``stride`` defaults to ``kernel_size``: windows that tile the image without overlap. The
    gradient flows only to the position that held the maximum, as in ``F.max_pool2d``.
    """
    columns, (out_h, out_w) = _pool_windows(x, kernel_size, stride, "max_pool2d")
    return columns.max(dim=2).values.view(x.shape[0], x.shape[1], out_h, out_w)


def avg_pool2d(x: torch.Tensor, kernel_size: IntPair, stride: IntPair | None = None) -> torch.Tensor:
    """The mean of each ``kernel_size`` window, channel by channel (no padding); stride defaults to the kernel."""
    columns, (out_h, out_w) = _pool_windows(x, kernel_size, stride, "avg_pool2d")
    return columns.mean(dim=2).view(x.shape[0], x.shape[1], out_h, out_w)
