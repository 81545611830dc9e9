"""Data augmentation on whole batches: one tensor operation for the batch, on whatever device it lives.

The usual tutorial route augments one PIL image at a time inside a DataLoader worker. For
MNIST held in memory (``TensorBatchLoader``) that per-image Python work is the bottleneck;
here a batch ``(N, C, H, W)`` is shifted, rotated and scaled in one ``grid_sample`` call (or
one indexing call for pure shifts), which runs as fast on a GPU as everything else.

Each transform is a callable object, so it plugs straight into the loader::

    train = TensorBatchLoader(x, y, batch_size=128, shuffle=True, transform=RandomAffine(degrees=10))

Random numbers come from ``generator`` (a CPU ``torch.Generator``) when given, else from
torch's global generator; either way ``seed_everything`` makes a run repeat exactly.

``shift_image`` is the deterministic shift (every image the same number of pixels): chapter 06 uses
it to measure what a shift does to an MLP, chapter 07 to show that convolutions follow a shift.
"""

from __future__ import annotations

import math
import operator

import torch
import torch.nn.functional as F

__all__ = ["shift_image", "RandomShift", "RandomAffine"]


def _check_images(images: torch.Tensor) -> None:
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"Augmentations work on a batch of images (N, C, H, W), got {shape}.")
    if not images.is_floating_point():
        raise TypeError(f"Augmentations expect float images (e.g. values in [0, 1]), got dtype {images.dtype}.")


def _shifted(images: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor, fill: float, pad: int) -> torch.Tensor:
    """Image ``i`` of ``(N, C, H, W)`` moved ``dx[i]`` pixels right and ``dy[i]`` down, the border ``fill``.

    Pad every side by ``pad`` (at least the largest shift), then read each output pixel from where it
    came: one indexing operation for the whole batch, on the images' device.
    """
    n, _, h, w = images.shape
    padded = F.pad(images, (pad, pad, pad, pad), value=fill)
    rows = (pad - dy.to(images.device))[:, None] + torch.arange(h, device=images.device)  # (N, H)
    cols = (pad - dx.to(images.device))[:, None] + torch.arange(w, device=images.device)  # (N, W)
    batch = torch.arange(n, device=images.device)[:, None, None]
    shifted = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # (N, H, W, C)
    return shifted.permute(0, 3, 1, 2).contiguous()


def shift_image(images: torch.Tensor, dx: int = 0, dy: int = 0, fill: float = 0.0) -> torch.Tensor:
    """``images`` moved ``dx`` pixels right and ``dy`` down (negative: left, up); the uncovered border is ``fill``.

    One image ``(C, H, W)`` or a batch ``(N, C, H, W)``, every image moved the same way. For
    normalised images pass the background's value as ``fill`` (for MNIST ``-MNIST_MEAN / MNIST_STD``),
    or the border shows as a band that is not in any real digit.
    """
    if not isinstance(images, torch.Tensor) or images.ndim not in (3, 4):
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"shift_image expects one image (C, H, W) or a batch (N, C, H, W), got {shape}.")
    try:
        if isinstance(dx, bool) or isinstance(dy, bool):
            raise TypeError
        dx, dy = operator.index(dx), operator.index(dy)
    except TypeError:
        raise TypeError(f"dx and dy are whole numbers of pixels, got dx={dx!r}, dy={dy!r}.") from None
    h, w = images.shape[-2:]
    if abs(dx) >= w or abs(dy) >= h:
        raise ValueError(f"a shift of ({dx}, {dy}) pixels moves a {h}x{w} image out of view.")
    batch = images if images.ndim == 4 else images[None]
    n = len(batch)
    moved = _shifted(batch, torch.full((n,), dx), torch.full((n,), dy), fill, pad=max(abs(dx), abs(dy)))
    return moved if images.ndim == 4 else moved[0]


class RandomShift:
    """Move each image by a whole number of pixels, up to ``max_shift`` in each direction.

    The same as padding by ``max_shift`` and cropping at a random place (the classic
    "random crop with padding"); the uncovered border is filled with ``fill``. Pixel values
    are only moved, never blended, so the images keep their exact values.
    """

    def __init__(self, max_shift: int = 2, fill: float = 0.0, generator: torch.Generator | None = None) -> None:
        if not isinstance(max_shift, int) or max_shift < 0:
            raise ValueError(f"max_shift is a number of pixels (0 or more), got {max_shift!r}.")
        self.max_shift, self.fill, self.generator = max_shift, fill, generator

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        _check_images(images)
        if self.max_shift == 0:
            return images
        s = self.max_shift
        # Random offsets on the CPU (a CPU generator): a crop of the padded image at (row, column) offset o
        # is the image moved by s - o.
        offsets = torch.randint(0, 2 * s + 1, (len(images), 2), generator=self.generator)
        return _shifted(images, dx=s - offsets[:, 1], dy=s - offsets[:, 0], fill=self.fill, pad=s)

    def __repr__(self) -> str:
        return f"RandomShift(max_shift={self.max_shift}, fill={self.fill})"


class RandomAffine:
    """Rotate by up to ``degrees``, scale by a factor in ``scale`` and shift by up to ``translate``
    (a fraction of the image size), each image its own random amount, with bilinear interpolation.

    Built on ``F.affine_grid`` + ``F.grid_sample``. Outside the image is ``fill``; since the
    result mixes input pixels and ``fill`` with non-negative weights that sum to at most 1,
    images in [0, 1] with ``fill=0`` stay in [0, 1].
    """

    def __init__(
        self,
        degrees: float = 10.0,
        translate: float = 0.1,
        scale: tuple[float, float] = (0.9, 1.1),
        fill: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> None:
        if degrees < 0 or not 0 <= translate < 1:
            raise ValueError(
                f"degrees must be >= 0 and translate in [0, 1); got degrees={degrees!r}, translate={translate!r}."
            )
        if len(scale) != 2 or not 0 < scale[0] <= scale[1]:
            raise ValueError(f"scale is a range (low, high) with 0 < low <= high, e.g. (0.9, 1.1); got {scale!r}.")
        self.degrees, self.translate, self.scale, self.fill = float(degrees), float(translate), tuple(scale), fill
        self.generator = generator

    def matrices(self, n: int) -> torch.Tensor:
        """``n`` random 2x3 matrices mapping output coordinates to input coordinates (in [-1, 1])."""
        u = torch.rand(n, 4, generator=self.generator, dtype=torch.float64)
        angle = (2 * u[:, 0] - 1) * math.radians(self.degrees)
        zoom = self.scale[0] + (self.scale[1] - self.scale[0]) * u[:, 1]
        shift = (2 * u[:, 2:] - 1) * 2 * self.translate  # the image spans 2 units in grid coordinates
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        return torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        _check_images(images)
        theta = self.matrices(len(images)).to(device=images.device, dtype=images.dtype)
        grid = F.affine_grid(theta, list(images.shape), align_corners=False)
        # grid_sample fills the outside with 0, so shift the values to make `fill` the zero.
        moved = F.grid_sample(images - self.fill, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        return moved + self.fill

    def __repr__(self) -> str:
        return f"RandomAffine(degrees={self.degrees}, translate={self.translate}, scale={self.scale}, fill={self.fill})"
