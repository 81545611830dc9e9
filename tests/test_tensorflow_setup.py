import subprocess
import sys

from course_lib.tensorflow_setup import load_tensorflow


def test_load_tensorflow_returns_a_working_tensorflow():
    tf = load_tensorflow()
    assert float(tf.reduce_sum(tf.constant([1.0, 2.0]))) == 3.0


def test_torch_training_still_works_after_tensorflow_is_loaded():
    # Regression: with the CUDA build of torch, Triton loaded after TensorFlow segfaulted the process
    # as soon as a torch optimizer was created. Runs in a fresh process, since a crash would kill pytest.
    code = (
        "import torch, course_lib\n"
        "from course_lib.tensorflow_setup import load_tensorflow\n"
        "tf = load_tensorflow()\n"
        "import torch._dynamo\n"
        "model = torch.nn.Linear(2, 1)\n"
        "opt = torch.optim.Adam(model.parameters())\n"
        "model(torch.ones(4, 2)).sum().backward(); opt.step()\n"
        "print('trained')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"process died with {result.returncode}: {result.stderr[-500:]}"
    assert result.stdout.strip().endswith("trained")
    # and TensorFlow's native start-up lines ("Could not find cuda drivers ...") were held back
    assert "cudart_stub" not in result.stderr and "absl::InitializeLog" not in result.stderr, result.stderr[-500:]


def test_native_lines_are_held_back_unless_starting_fails(capfd):
    import os

    import pytest

    from course_lib.tensorflow_setup import _native_log_lines_held_back

    with _native_log_lines_held_back():
        os.write(2, b"noise from C++\n")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"

    with pytest.raises(ImportError), _native_log_lines_held_back():
        os.write(2, b"the reason it failed\n")
        raise ImportError("boom")
    assert "the reason it failed" in capfd.readouterr().err
