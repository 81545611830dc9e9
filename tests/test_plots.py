import matplotlib.pyplot as plt
import pytest
import torch

from course_lib.plots import LivePlot, in_notebook, plot_history, show_images
from course_lib.train import History


def _history():
    history = History()
    for epoch in range(3):
        history.add(
            train_loss=1.0 / (epoch + 1),
            val_loss=1.2 / (epoch + 1),
            train_accuracy=0.5 + 0.1 * epoch,
            val_accuracy=0.45 + 0.1 * epoch,
            lr=0.1,
            seconds=1.0,
        )
    return history


def test_plot_history_draws_loss_and_accuracy():
    fig = plot_history(_history(), title="run")
    ylabels = [ax.get_ylabel() for ax in fig.axes]
    assert ylabels == ["loss", "accuracy"] and fig.texts[0].get_text() == "run"
    loss_ax = fig.axes[0]
    labels = [line.get_label() for line in loss_ax.get_lines()]
    assert any("train" in label for label in labels) and any("val" in label for label in labels)
    assert list(loss_ax.get_lines()[0].get_ydata()) == pytest.approx([1.0, 0.5, 1 / 3])
    plt.close(fig)


def test_show_images_titles_show_labels_and_mistakes():
    images = torch.rand(6, 1, 28, 28)
    fig = show_images(images, labels=torch.tensor([1, 2, 3, 4, 5, 6]), predictions=torch.tensor([1, 2, 0, 4, 5, 6]))
    axes_with_images = [ax for ax in fig.axes if ax.images]
    assert len(axes_with_images) == 6
    titles = [ax.get_title() for ax in axes_with_images]
    assert "3" in titles[2] and "0" in titles[2] and titles[2] != titles[0]
    plt.close(fig)


def test_live_plot_outside_a_notebook_is_silent():
    assert not in_notebook()
    plot = LivePlot()
    plot.update(_history())
    plot.close()


def test_live_plot_is_a_callback_that_draws_each_epoch_and_a_new_figure_each_run(monkeypatch):
    import course_lib.plots as plots_module
    from course_lib.train import Callback

    shown = []

    class Handle:
        def update(self, fig):
            shown.append(("update", fig))

    def display(fig, display_id):
        shown.append(("display", fig))
        return Handle()

    monkeypatch.setattr(plots_module, "in_notebook", lambda: True)
    monkeypatch.setattr("IPython.display.display", display)
    plot = LivePlot()
    assert isinstance(plot, Callback)
    for _run in range(2):
        plot.on_train_begin(None)
        for epoch in (1, 2):
            assert plot.on_epoch_end(epoch, None, _history()) is False
        plot.on_train_end(None, _history())
    assert [kind for kind, _ in shown] == ["display", "update", "display", "update"]
    assert shown[0][1] is not shown[2][1]  # the second run did not redraw the first run's figure


def test_mistakes_are_red_and_bad_shapes_are_explained():
    fig = show_images(torch.rand(2, 28, 28), labels=[7, 1], predictions=[7, 2])
    colors = [ax.title.get_color() for ax in fig.axes if ax.images]
    assert colors == ["black", "red"]
    plt.close(fig)
    with pytest.raises(ValueError, match=r"expects \(N, 1, H, W\)"):
        show_images(torch.rand(2, 5, 8, 8))
    with pytest.raises(ValueError, match="got no images"):
        show_images(torch.rand(0, 8, 8))
