import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from course_lib.augment import shift_image  # noqa: E402
from course_lib.models import MLP  # noqa: E402
from course_lib.widgets.digit_probabilities import class_probabilities, digit_explorer, plot_digit_probabilities  # noqa: E402


def test_a_shifted_normalised_digit_keeps_its_background():
    torch.manual_seed(0)
    background = -0.1307 / 0.3081  # a black pixel once normalised
    image = torch.full((1, 28, 28), background)
    image[0, 8:20, 12:16] = 2.0  # a stroke
    fig = plot_digit_probabilities(MLP(), image, dx=3, dy=-2)
    drawn = torch.as_tensor(fig.axes[0].images[0].get_array())
    assert torch.equal(drawn, shift_image(image, 3, -2, fill=background)[0])
    assert float(drawn[:, :3].max()) == pytest.approx(background)  # the uncovered band is background, not 0 (grey)
    plt.close(fig)
    fig = plot_digit_probabilities(MLP(), image, dx=3, fill=0.0)  # an explicit fill still wins
    assert float(torch.as_tensor(fig.axes[0].images[0].get_array())[:, :3].max()) == 0.0
    plt.close(fig)


def test_class_probabilities_sum_to_one_and_keep_training_mode():
    torch.manual_seed(0)
    model = MLP(dropout=0.5)
    probs = class_probabilities(model, torch.rand(1, 28, 28))
    assert probs.shape == (10,) and torch.all(probs >= 0) and float(probs.sum()) == pytest.approx(1, abs=1e-6)
    assert model.training
    again = class_probabilities(model, torch.rand(1, 28, 28, generator=torch.Generator().manual_seed(0)))
    assert torch.equal(
        again, class_probabilities(model, torch.rand(1, 28, 28, generator=torch.Generator().manual_seed(0)))
    )


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
