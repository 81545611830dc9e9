import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from course_lib.models import MLP  # noqa: E402
from course_lib.widgets.digit_probabilities import (  # noqa: E402
    class_probabilities, digit_explorer, plot_digit_probabilities, shift_image)


def test_shift_image_moves_pixels_and_fills_the_border():
    image = torch.arange(1, 17, dtype=torch.float32).reshape(1, 4, 4)
    right = shift_image(image, dx=1)
    assert torch.equal(right[0, :, 1:], image[0, :, :3]) and torch.all(right[0, :, 0] == 0)
    up = shift_image(image, dy=-2, fill=-1.0)
    assert torch.equal(up[0, :2], image[0, 2:]) and torch.all(up[0, 2:] == -1)
    assert torch.equal(shift_image(image), image)
    assert torch.equal(shift_image(shift_image(image, 1, 1), -1, -1)[:, :3, :3], image[:, :3, :3])
    with pytest.raises(ValueError, match="out of view"):
        shift_image(image, dx=4)
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        shift_image(image[0])


def test_class_probabilities_sum_to_one_and_keep_training_mode():
    torch.manual_seed(0)
    model = MLP(dropout=0.5)
    probs = class_probabilities(model, torch.rand(1, 28, 28))
    assert probs.shape == (10,) and torch.all(probs >= 0) and float(probs.sum()) == pytest.approx(1, abs=1e-6)
    assert model.training
    again = class_probabilities(model, torch.rand(1, 28, 28, generator=torch.Generator().manual_seed(0)))
    assert torch.equal(again, class_probabilities(model, torch.rand(1, 28, 28, generator=torch.Generator().manual_seed(0))))


def test_plot_and_explorer_redraw(monkeypatch):
    import course_lib.widgets.digit_probabilities as module

    torch.manual_seed(0)
    model, images, labels = MLP(), torch.rand(5, 1, 28, 28), torch.tensor([0, 1, 2, 3, 4])
    fig = plot_digit_probabilities(model, images[0], label=0, dx=2, dy=-1)
    assert len(fig.axes) == 2 and len(fig.axes[1].patches) == 10
    assert fig.axes[0].get_title() == "label 0, shifted by (2, -1)"
    plt.close(fig)
    calls = []

    def recording(model, image, label, dx, dy):
        calls.append((label, dx, dy))
        return plt.figure()

    monkeypatch.setattr(module, "plot_digit_probabilities", recording)
    explorer = digit_explorer(model, images, labels, max_shift=3)
    explorer.sliders["image"].value = 4
    explorer.sliders["dx"].value = 3
    explorer.sliders["dy"].value = -3
    assert explorer.sliders["dx"].max == 3 and explorer.sliders["image"].max == 4
    assert calls == [(0, 0, 0), (4, 0, 0), (4, 3, 0), (4, 3, -3)]
    assert plt.get_fignums() == []  # every drawn figure was closed
