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
