"""Exported models give PyTorch's outputs: ONNX through ONNX Runtime, torch.export without the class."""

import copy
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import course_lib
from course_lib.data import normalize_mnist
from course_lib.export import (
    export_onnx,
    export_program,
    load_program,
    onnx_session,
    predict_image,
    prepare_digit_image,
    run_onnx,
)
from course_lib.models import SmallCNN

ROOT = Path(course_lib.__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def model():
    """A SmallCNN whose batch-norm statistics moved away from their start (so evaluation mode matters)."""
    torch.manual_seed(0)
    cnn = SmallCNN()
    with torch.no_grad():
        for _ in range(3):
            cnn(torch.randn(32, 1, 28, 28) * 2 + 0.5)
    return cnn.train()


@pytest.fixture(scope="module")
def images():
    return torch.randn(7, 1, 28, 28, generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="module")
def onnx_file(model, tmp_path_factory):
    return export_onnx(model, torch.zeros(1, 1, 28, 28), tmp_path_factory.mktemp("onnx") / "cnn.onnx")


def pytorch_logits(model, x):
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = model(x).numpy()
    model.train(was_training)
    return out


def test_onnx_runtime_gives_pytorchs_outputs_within_1e_5_at_any_batch_size(model, images, onnx_file):
    assert model.training  # export_onnx put the mode back
    session = onnx_session(onnx_file, threads=1)
    assert [i.name for i in session.get_inputs()] == ["images"]
    assert [o.name for o in session.get_outputs()] == ["logits"]
    for batch in (images[:1], images):
        onnx_out = run_onnx(session, batch)
        assert onnx_out.shape == (len(batch), 10)
        np.testing.assert_allclose(onnx_out, pytorch_logits(model, batch), rtol=0, atol=1e-5)
    # The test can fail: the training-mode network (batch statistics, dropout) gives other numbers.
    with torch.no_grad():  # on a copy: a training-mode pass moves the batch-norm statistics
        assert np.abs(run_onnx(session, images) - copy.deepcopy(model)(images).numpy()).max() > 1e-3


def test_the_older_torchscript_exporter_matches_too(model, images, tmp_path):
    path = export_onnx(model, images[:1], tmp_path / "old.onnx", dynamo=False)
    np.testing.assert_allclose(run_onnx(path, images), pytorch_logits(model, images), rtol=0, atol=1e-5)


def test_a_fixed_batch_export_refuses_another_batch_size(model, images, tmp_path):
    path = export_onnx(model, images[:2], tmp_path / "fixed.onnx", dynamic_batch=False)
    np.testing.assert_allclose(run_onnx(path, images[:2]), pytorch_logits(model, images[:2]), atol=1e-5)
    with pytest.raises(Exception, match="(?i)dimension|shape"):
        run_onnx(path, images)


def test_torch_export_round_trip_and_loading_without_the_class(model, images, tmp_path):
    path = export_program(model, images[:1], tmp_path / "cnn.pt2")
    assert model.training
    with torch.no_grad():
        np.testing.assert_allclose(load_program(path)(images).numpy(), pytorch_logits(model, images), atol=1e-6)
    np.save(tmp_path / "images.npy", images.numpy())
    np.save(tmp_path / "expected.npy", pytorch_logits(model, images))
    script = (
        "import sys, numpy as np, torch\n"
        f"program = torch.export.load({str(path)!r}).module()\n"
        f"x = torch.from_numpy(np.load({str(tmp_path / 'images.npy')!r}))\n"
        f"np.testing.assert_allclose(program(x).detach().numpy(), np.load({str(tmp_path / 'expected.npy')!r}),"
        " atol=1e-6)\n"
        "assert not any(name.startswith('course_lib') for name in sys.modules), 'course_lib was imported'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=False,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_prepare_digit_image_matches_the_training_preparation(tmp_path):
    from PIL import Image

    digit = np.zeros((28, 28), np.uint8)
    digit[4:24, 12:16] = 255  # a light "1" on black, as in MNIST
    expected = normalize_mnist(torch.from_numpy(digit).float().div(255))[None, None].numpy()
    np.testing.assert_allclose(prepare_digit_image(digit), expected, atol=1e-6)
    np.testing.assert_allclose(prepare_digit_image(digit / 255.0), expected, atol=1e-6)
    Image.fromarray(255 - digit).resize((56, 56), Image.Resampling.NEAREST).save(tmp_path / "paper.png")
    from_file = prepare_digit_image(tmp_path / "paper.png")  # dark ink on white, twice the size
    assert from_file.shape == (1, 1, 28, 28) and from_file.dtype == np.float32
    assert np.abs(from_file - expected).mean() < 0.1  # the same digit, its edges blurred by the resizing
    assert (from_file[0, 0, 8:20, 13:15] > 2).all() and (from_file[0, 0, :, :10] < -0.4).all()
    with pytest.raises(FileNotFoundError, match="no image file"):
        prepare_digit_image(tmp_path / "none.png")
    with pytest.raises(ValueError, match="one grey image"):
        prepare_digit_image(np.zeros((2, 28, 28)))


def test_predict_image_returns_the_class_pytorch_would_choose(model, onnx_file, tmp_path):
    from PIL import Image

    digit = np.zeros((28, 28), np.uint8)
    digit[6:22, 8:20] = 200
    Image.fromarray(digit).save(tmp_path / "digit.png")
    prediction = predict_image(onnx_file, tmp_path / "digit.png")
    logits = pytorch_logits(model, torch.from_numpy(prepare_digit_image(digit)))[0]
    assert prediction.label == int(logits.argmax())
    assert prediction.probabilities.sum() == pytest.approx(1.0)
    assert prediction.probability == pytest.approx(
        float(np.exp(logits - logits.max()).max() / np.exp(logits - logits.max()).sum()), rel=1e-5
    )
    assert predict_image(onnx_session(onnx_file), digit).label == prediction.label


def test_errors_name_the_fix(model, tmp_path):
    with pytest.raises(FileNotFoundError, match="export one first"):
        onnx_session(tmp_path / "missing.onnx")
    with pytest.raises(FileNotFoundError, match="save one with export_program"):
        load_program(tmp_path / "missing.pt2")
    with pytest.raises(TypeError, match="example input tensor"):
        export_onnx(model, [1, 2], tmp_path / "x.onnx")
    with pytest.raises(TypeError, match="needs a torch.nn.Module"):
        export_program("model", torch.zeros(1), tmp_path / "x.pt2")
