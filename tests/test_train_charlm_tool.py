"""tools/train_charlm.py reproduces its weights from the seed (the digest of the tensors, recorded in the file)."""

import subprocess
import sys

from safetensors import safe_open

from course_lib.config import PROJECT_ROOT

SMALL = ["--limit", "12000", "--hidden", "16", "--embed", "8", "--batch-size", "8", "--window", "32"]


def train(path, epochs):
    subprocess.run(
        [
            sys.executable,
            str(PROJECT_ROOT / "tools" / "train_charlm.py"),
            *SMALL,
            "--epochs",
            str(epochs),
            "--out",
            str(path),
        ],
        check=True,
        capture_output=True,
        cwd=PROJECT_ROOT,
    )
    with safe_open(str(path), "pt") as f:
        return f.metadata()


def test_same_seed_same_weights_and_the_recipe_recorded(tmp_path):
    one = train(tmp_path / "one.safetensors", 1)
    two = train(tmp_path / "two.safetensors", 2)
    assert one["course_lib.sha256"] == train(tmp_path / "again.safetensors", 1)["course_lib.sha256"]
    assert one["course_lib.sha256"] != two["course_lib.sha256"]
    assert '"epochs": 1' in one["recipe"] and '"epochs": 2' in two["recipe"] and float(two["val_loss"]) < 4.2
