import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from course_lib.experiments.conv_responses import apply_kernel  # noqa: E402
from course_lib.models import LeNet5, SmallCNN  # noqa: E402
from course_lib.widgets import feature_maps as fm  # noqa: E402


def edge_image() -> torch.Tensor:
    image = torch.zeros(1, 12, 12)
    image[:, :, 6:] = 1.0  # dark left, bright right: one vertical edge
    return image


def test_kernels_are_what_their_names_say():
    for name in ("box blur", "Gaussian blur", "sharpen", "identity"):
        assert sum(map(sum, fm.KERNELS[name])) == pytest.approx(1.0)  # these keep a flat region's brightness
    assert sum(map(sum, fm.KERNELS["Laplacian (outline)"])) == 0
    sobel_x = apply_kernel(edge_image(), fm.KERNELS["Sobel x (vertical edges)"])
    assert torch.all(sobel_x[1:-1, 5:7] == 4) and torch.all(sobel_x[:, :4] == 0) and torch.all(sobel_x[:, 8:-1] == 0)


def test_plot_kernel_response_draws_three_panels():
    fig = fm.plot_kernel_response(edge_image(), fm.KERNELS["sharpen"], title="digit 7")
    assert len(fig.axes) == 4  # three panels and a colour bar
    assert fig.axes[0].get_title() == "digit 7"
    assert len(fig.axes[1].texts) == 9 and fig.axes[1].texts[4].get_text() == "5"
    plt.close(fig)


def test_the_response_of_a_normalised_digit_has_no_frame():
    background = -0.1307 / 0.3081
    digit = torch.full((1, 12, 12), background)
    digit[0, 3:9, 5:7] = 2.0  # a vertical stroke in the middle
    fig = fm.plot_kernel_response(digit, fm.KERNELS["Sobel x (vertical edges)"])
    response = torch.as_tensor(fig.axes[2].images[0].get_array())
    assert torch.equal(response, apply_kernel(digit, fm.KERNELS["Sobel x (vertical edges)"], fill=background))
    assert torch.all(response[:, 0] == 0) and torch.all(response[:, -1] == 0)  # no bright frame at the border
    plt.close(fig)


def test_kernel_explorer_presets_fill_the_sliders_and_redraw_once(monkeypatch):
    images, labels = torch.rand(4, 1, 12, 12), torch.tensor([3, 1, 4, 1])
    calls = []

    def recording(image, kernel, title):
        calls.append((title, [row[:] for row in kernel]))
        return plt.figure()

    monkeypatch.setattr(fm, "plot_kernel_response", recording)
    explorer = fm.kernel_explorer(images, labels)
    assert explorer.kernel() == fm.KERNELS["Sobel x (vertical edges)"] and len(calls) == 1
    explorer.controls["preset"].value = "sharpen"
    assert explorer.kernel() == fm.KERNELS["sharpen"] and len(calls) == 2  # one redraw, not nine
    explorer.controls["cells"][4].value = 3.0
    assert calls[-1][1][1][1] == 3.0
    explorer.controls["image"].value = 2
    assert calls[-1][0] == "digit 4" and len(calls) == 4
    assert plt.get_fignums() == []
    with pytest.raises(ValueError, match="Unknown preset 'emboss'"):
        fm.kernel_explorer(images, preset="emboss")


def test_kernel_explorer_draws_for_real():
    explorer = fm.kernel_explorer(torch.rand(2, 1, 12, 12), preset="box blur")
    explorer.controls["preset"].value = "Laplacian (outline)"
    explorer.controls["cells"][0].value = 1.0
    assert plt.get_fignums() == []


def test_plot_feature_map_and_grid():
    torch.manual_seed(0)
    model = LeNet5()
    image = torch.rand(1, 28, 28)
    fig = fm.plot_feature_map(model, image, "features.3", channel=15, label=8)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0] == "digit 8"
    assert titles[1] == "filter 15: 5x5, 6 input channels"
    assert titles[2] == "features.3, channel 15 after ReLU (10x10)"
    plt.close(fig)
    with pytest.raises(ValueError, match=r"has 6 channels \(0..5\), got 6"):
        fm.plot_feature_map(model, image, "features.0", channel=6)
    grid = fm.plot_feature_maps(model, image, "features.0")
    assert sum(1 for ax in grid.axes if ax.images) == 6
    plt.close(grid)


def test_tile_leaves_gaps():
    mosaic = fm._tile(torch.ones(5, 2, 3), ncols=2)
    assert mosaic.shape == (3 * 3 - 1, 2 * 4 - 1)
    assert int(torch.isnan(mosaic).sum()) == mosaic.numel() - 5 * 6


def test_feature_map_explorer_follows_the_layer(monkeypatch):
    torch.manual_seed(0)
    model = SmallCNN()
    images, labels = torch.rand(3, 1, 28, 28), torch.tensor([7, 2, 1])
    calls = []

    def recording(model, image, layer, channel, label, relu):
        calls.append((layer, channel, label))
        return plt.figure()

    monkeypatch.setattr(fm, "plot_feature_map", recording)
    explorer = fm.feature_map_explorer(model, images, labels)
    controls = explorer.controls
    assert controls["channel"].max == 15 and calls == [("features.0.0", 0, 7)]
    controls["layer"].value = "features.4.0"
    assert controls["channel"].max == 63
    controls["channel"].value = 40
    controls["layer"].value = "features.2.0"  # 32 channels: the channel is clamped to 31, drawn once
    controls["image"].value = 2
    assert calls[1:] == [
        ("features.4.0", 0, 7),
        ("features.4.0", 40, 7),
        ("features.2.0", 31, 7),
        ("features.2.0", 31, 1),
    ]
    assert plt.get_fignums() == []


def test_feature_map_explorer_draws_for_real():
    explorer = fm.feature_map_explorer(LeNet5(), torch.rand(2, 1, 28, 28))
    explorer.controls["layer"].value = "features.3"
    explorer.controls["channel"].value = 10
    assert plt.get_fignums() == []
