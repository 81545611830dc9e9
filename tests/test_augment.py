import pytest
import torch
import torch.nn.functional as F

from course_lib.augment import RandomAffine, RandomShift, shift_image
from course_lib.data import TensorBatchLoader


def _batch(n=16, dtype=torch.float32, seed=0):
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed), dtype=dtype)


@pytest.mark.parametrize("make", [lambda g: RandomShift(2, generator=g), lambda g: RandomAffine(generator=g)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_shape_dtype_range_and_determinism(make, dtype):
    x = _batch(dtype=dtype)
    a = make(torch.Generator().manual_seed(5))(x)
    b = make(torch.Generator().manual_seed(5))(x)
    c = make(torch.Generator().manual_seed(6))(x)
    assert a.shape == x.shape and a.dtype == dtype
    assert a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.equal(a, x)


def test_shift_moves_pixels_exactly():
    x = _batch(64)
    out = RandomShift(3, fill=-1.0, generator=torch.Generator().manual_seed(0))(x)
    for i in range(64):  # every output is the input moved by some (dy, dx), border filled with -1
        padded = F.pad(x[i], (3, 3, 3, 3), value=-1.0)
        matches = [
            (dy, dx) for dy in range(7) for dx in range(7) if torch.equal(padded[:, dy : dy + 28, dx : dx + 28], out[i])
        ]
        assert matches, f"image {i} is not a shifted copy"
    assert torch.equal(RandomShift(0)(x), x)


def test_affine_with_no_change_is_the_identity_and_fill_is_used():
    x = _batch()
    same = RandomAffine(degrees=0, translate=0, scale=(1, 1))(x)
    torch.testing.assert_close(same, x, atol=1e-5, rtol=0)
    aug = RandomAffine(degrees=0, translate=0, scale=(0.5, 0.5), fill=-0.5)
    zeros = aug(torch.zeros(2, 1, 28, 28))  # zoomed out by 2: the border comes from outside the image
    assert zeros[0, 0, 0, 0] == pytest.approx(-0.5) and zeros[0, 0, 14, 14] == pytest.approx(0.0)


def test_affine_matrix_is_a_pure_rotation_when_asked():
    theta = RandomAffine(degrees=30, translate=0, scale=(1, 1), generator=torch.Generator().manual_seed(1)).matrices(
        100
    )
    rotation = theta[:, :, :2]
    torch.testing.assert_close(rotation @ rotation.transpose(1, 2), torch.eye(2, dtype=torch.float64).expand(100, 2, 2))
    angles = torch.rad2deg(torch.atan2(rotation[:, 1, 0], rotation[:, 0, 0]))
    assert angles.abs().max() <= 30 and angles.abs().max() > 20


def test_plugs_into_the_batch_loader_and_leaves_labels_alone():
    x, y = _batch(10), torch.arange(10)
    loader = TensorBatchLoader(x, y, batch_size=4, transform=RandomShift(2, generator=torch.Generator().manual_seed(0)))
    batches = list(loader)
    assert [len(b[0]) for b in batches] == [4, 4, 2] and torch.equal(torch.cat([b[1] for b in batches]), y)


def test_errors():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\), got \(28, 28\)"):
        RandomShift()(torch.rand(28, 28))
    with pytest.raises(TypeError, match="float images"):
        RandomAffine()(torch.zeros(1, 1, 28, 28, dtype=torch.uint8))
    with pytest.raises(ValueError, match="max_shift"):
        RandomShift(-1)
    with pytest.raises(ValueError, match="scale is a range"):
        RandomAffine(scale=(1.2, 0.8))


def test_shift_image_moves_pixels_and_fills_the_border():
    image = torch.arange(1, 17, dtype=torch.float32).reshape(1, 4, 4)
    right = shift_image(image, dx=1)
    assert torch.equal(right[0, :, 1:], image[0, :, :3]) and torch.all(right[0, :, 0] == 0)
    up = shift_image(image, dy=-2, fill=-1.0)
    assert torch.equal(up[0, :2], image[0, 2:]) and torch.all(up[0, 2:] == -1)
    assert torch.equal(shift_image(image), image) and shift_image(image) is not image
    assert torch.equal(shift_image(shift_image(image, 1, 1), -1, -1)[:, :3, :3], image[:, :3, :3])
    assert torch.equal(shift_image(image, torch.tensor(1), dy=0), right)  # a 0-d integer tensor is a whole number


def test_shift_image_moves_a_whole_batch_like_each_image():
    x = _batch(5)
    moved = shift_image(x, dx=-3, dy=2, fill=-0.5)
    assert moved.shape == x.shape
    for i in range(5):
        assert torch.equal(moved[i], shift_image(x[i], dx=-3, dy=2, fill=-0.5))
    assert torch.equal(moved[:, :, 2:, :-3], x[:, :, :-2, 3:])
    assert torch.all(moved[:, :, :2] == -0.5) and torch.all(moved[:, :, :, -3:] == -0.5)


def test_random_shift_moves_each_image_as_shift_image_does():
    x = _batch(32)
    out = RandomShift(3, fill=-1.0, generator=torch.Generator().manual_seed(4))(x)
    offsets = torch.randint(0, 7, (32, 2), generator=torch.Generator().manual_seed(4))
    for i in range(32):
        dy, dx = 3 - int(offsets[i, 0]), 3 - int(offsets[i, 1])
        assert torch.equal(out[i], shift_image(x[i], dx=dx, dy=dy, fill=-1.0)), i


def test_shift_image_explains_bad_arguments():
    image = torch.zeros(1, 4, 4)
    with pytest.raises(ValueError, match="out of view"):
        shift_image(image, dx=4)
    with pytest.raises(ValueError, match=r"one image \(C, H, W\) or a batch \(N, C, H, W\), got \(4, 4\)"):
        shift_image(image[0])
    with pytest.raises(TypeError, match=r"whole numbers of pixels, got dx=1.5"):
        shift_image(image, dx=1.5)
    with pytest.raises(TypeError, match=r"whole numbers of pixels, got dx=True"):
        shift_image(image, dx=True)
