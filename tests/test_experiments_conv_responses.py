"""Chapter 07's kernels and feature maps: responses match torch, the border adds no edge, hooks see the layer."""

import pytest
import torch
import torch.nn.functional as F

from course_lib.experiments.conv_responses import apply_kernel, conv_layer, conv_layers, feature_maps
from course_lib.models import MLP, SmallCNN
from course_lib.widgets.feature_maps import KERNELS

BACKGROUND = -0.1307 / 0.3081  # a black MNIST pixel once normalised


def edge_image() -> torch.Tensor:
    image = torch.zeros(1, 12, 12)
    image[:, :, 6:] = 1.0  # dark left, bright right: one vertical edge
    return image


def test_apply_kernel_matches_torch_with_the_same_padding():
    image = torch.rand(1, 10, 9, generator=torch.Generator().manual_seed(0))
    for name, kernel in KERNELS.items():
        k = torch.tensor(kernel, dtype=torch.float32)[None, None]
        zero_padded = F.conv2d(image[None], k, padding=1)[0, 0]
        torch.testing.assert_close(apply_kernel(image, kernel, fill=0.0), zero_padded, msg=name)
        low = float(image.min())
        background_padded = F.conv2d(F.pad(image[None], (1, 1, 1, 1), value=low), k)[0, 0]
        torch.testing.assert_close(apply_kernel(image, kernel), background_padded, msg=name)
    assert torch.equal(apply_kernel(image, KERNELS["identity"]), image[0])
    even = apply_kernel(image, torch.ones(2, 4), fill=0.0)  # even sizes keep the image size too
    assert even.shape == (10, 9)
    torch.testing.assert_close(even, F.conv2d(F.pad(image[None], (2, 1, 1, 0)), torch.ones(1, 1, 2, 4))[0, 0])


def test_sobel_finds_the_edge_and_nothing_at_the_border():
    sobel_x = apply_kernel(edge_image(), KERNELS["Sobel x (vertical edges)"])
    assert torch.all(sobel_x[1:-1, 5:7] == 4) and torch.all(sobel_x[:, :5] == 0) and torch.all(sobel_x[:, 7:-1] == 0)
    digit = torch.full((1, 12, 12), BACKGROUND)
    digit[0, 3:9, 4:8] = 2.0  # a bright block in the middle of a normalised, empty image
    for name in ("Sobel x (vertical edges)", "Sobel y (horizontal edges)", "Laplacian (outline)"):
        response = apply_kernel(digit, KERNELS[name])
        border = torch.cat([response[0], response[-1], response[:, 0], response[:, -1]])
        assert torch.all(border == 0), name  # padded with the background: the border adds no edge
        assert float(response.abs().max()) > 1, name  # while the block's edges respond
        framed = apply_kernel(digit, KERNELS[name], fill=0.0)  # zero padding: brighter than the background
        assert float(torch.cat([framed[0], framed[-1], framed[:, 0], framed[:, -1]]).abs().max()) > 0.4, name


def test_bad_kernels_and_images_are_explained():
    with pytest.raises(ValueError, match=r"2-D grid of weights.*got shape \(9,\)"):
        apply_kernel(edge_image(), [1.0] * 9)
    with pytest.raises(ValueError, match=r"one grey image .* got shape \(3, 12, 12\)"):
        apply_kernel(torch.zeros(3, 12, 12), KERNELS["identity"])


def test_conv_layers_and_feature_maps_match_the_model():
    torch.manual_seed(0)
    model = SmallCNN()
    names = list(conv_layers(model))
    assert names == ["features.0.0", "features.2.0", "features.4.0"]
    assert conv_layer(model, "features.2.0") is model.features[2][0]
    image = torch.rand(1, 28, 28)
    maps = feature_maps(model, image, "features.0.0", relu=False)
    torch.testing.assert_close(maps, model.features[0][0](image[None])[0])
    assert torch.equal(feature_maps(model, image, "features.0.0"), maps.clamp(min=0))
    model.train()
    deep = feature_maps(model, image, "features.4.0")
    assert deep.shape == (64, 7, 7) and model.training  # eval mode inside, training mode restored
    with pytest.raises(KeyError, match="No convolution layer named 'conv9'; this model has: features.0.0"):
        feature_maps(model, image, "conv9")
    with pytest.raises(ValueError, match="no nn.Conv2d layers"):
        conv_layers(MLP())


def test_a_trained_layer_sees_the_zero_padding_frame_of_a_normalised_image():
    torch.manual_seed(0)
    model = SmallCNN()
    empty = torch.full((1, 28, 28), BACKGROUND)
    maps = feature_maps(model, empty, "features.0.0", relu=False)
    inside = maps[:, 1:-1, 1:-1]
    assert torch.allclose(inside, inside[:, :1, :1].expand_as(inside))  # flat inside: every position alike
    assert not torch.allclose(maps[:, 0, :], maps[:, 14:15, 14].expand(-1, 28))  # the border differs: the frame
