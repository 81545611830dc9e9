"""bench/mnist.py runs end to end on a tiny subset, and judges the issue's targets correctly."""

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("bench_mnist", ROOT / "bench" / "mnist.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def test_quick_run_writes_rows(tmp_path, capsys):
    output = tmp_path / "mnist.json"
    assert (
        bench.main(
            ["--quick", "--only", "mlp-torch", "mlp-torch-contended", "cnn-torch-sprint", "--output", str(output)]
        )
        == 0
    )
    table = capsys.readouterr().out
    assert "mlp-torch-contended" in table and "cnn-torch-sprint" in table and "peak MB" in table
    assert "MLP with a second process training beside it" in table  # quick runs print the contention too
    rows = json.loads(output.read_text())["rows"]
    assert [r["row"] for r in rows] == ["mlp-torch", "mlp-torch-contended", "cnn-torch-sprint"]
    for row in rows:
        assert row["epochs"] == 1 and 0.1 < row["test_acc"] <= 1 and row["img_per_s"] > 0
        assert 300 < row["peak_mb"] < 2000 and row["wall_s"] >= row["train_s"] > 0


def _row(name, acc, img_per_s=1000.0, s_to_99=None):
    return {"row": name, "test_acc": acc, "img_per_s": img_per_s, "s_to_99": s_to_99}


def test_targets():
    rows = [
        _row("mlp-torch", 0.9812, 60000),
        _row("mlp-keras", 0.9770),
        _row("mlp-torchvision", 0.98, 15000),
        _row("cnn-torch", 0.9915, s_to_99=40.0),
        _row("cnn-torch-sprint", 0.9925, s_to_99=20.0),
        _row("cnn-keras", 0.9930),
        _row("pytorch-examples", 0.9901, s_to_99=200.0),
    ]
    lines = bench.check_targets(rows)
    assert "PASS: MLP (PyTorch) test accuracy 98.12% >= 98.0%" in lines
    assert "MISS: SmallCNN test accuracy 99.15% >= 99.2%" in lines
    assert "PASS: mlp-keras within 0.5 points of mlp-torch: 0.42 points apart" in lines
    assert any(line.startswith("PASS: MLP training images/s") and "4.0x" in line for line in lines)
    assert any(line.startswith("PASS:") and "cnn-torch-sprint: 200 s / 20 s = 10.0x" in line for line in lines)
    assert any(line.startswith("PASS:") and "over cnn-torch: 200 s / 40 s = 5.0x" in line for line in lines)
    contended = bench.check_targets(
        [dict(_row("mlp-torch", 0.98), wall_s=20.0), dict(_row("mlp-torch-contended", 0.98), wall_s=60.0)]
    )
    assert (
        "MISS: MLP with a second process training beside it: 60.0 s against 20.0 s alone = 3.0x (aim <= 2.5x)"
        in contended
    )
    assert any(
        line.startswith("PASS: MLP with a second")
        for line in bench.contention_target(
            [dict(_row("mlp-torch", 0.98), wall_s=20.0), dict(_row("mlp-torch-contended", 0.98), wall_s=45.0)]
        )
    )
    failed = bench.check_targets([{"row": "cnn-torch", "error": "boom"}])
    assert failed == []
