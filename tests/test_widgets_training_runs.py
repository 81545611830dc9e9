"""The runs explorer lists the runs and their common curves, and draws without a front end."""

import matplotlib
from test_train_checkpoint import build, run_fit

from course_lib.callbacks import TensorBoardLogger
from course_lib.widgets.training_runs import run_tags, runs_explorer

matplotlib.use("Agg")


def test_runs_explorer_draws_the_runs_and_handles_an_empty_folder(tmp_path):
    for name in ("a", "b"):
        run_fit(build(), epochs=2, callbacks=[TensorBoardLogger(tmp_path / "runs" / name, histograms_every=0)])
    tags = run_tags({"a": tmp_path / "runs" / "a", "b": tmp_path / "runs" / "b"})
    assert tags[0].startswith("epoch/") and "batch/loss" in tags and "epoch/val_loss" in tags
    box = runs_explorer(tmp_path / "runs")
    controls, output = box.children
    chosen, (tag, x_axis) = controls.children[0], controls.children[1].children
    assert chosen.value == ("a", "b") and output.outputs[-1]["output_type"] == "display_data"
    tag.value = "batch/loss"
    x_axis.value = "step"
    assert output.outputs[-1]["output_type"] == "display_data"
    chosen.value = ()
    assert output.outputs == ()
    empty = runs_explorer(tmp_path / "nothing")
    assert "No TensorBoard runs" in empty.children[0].value
