"""bench/export.py runs end to end (quickly, without TensorFlow and torch.compile) and writes its JSON."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("bench_export", ROOT / "bench" / "export.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


@pytest.mark.slow
def test_quick_run_writes_the_tables_and_json(tmp_path, capsys):
    output = tmp_path / "export.json"
    assert bench.main(["--quick", "--no-keras", "--no-compile", "--threads", "1", "--output", str(output)]) == 0
    table = capsys.readouterr().out
    assert "ONNX Runtime / PyTorch eager at batch 1" in table and "torch-compile    skipped" in table
    result = json.loads(output.read_text())
    assert set(result["latency_seconds"]) == {"torch-eager", "torch-export", "onnxruntime"}
    assert all(v > 0 for row in result["latency_seconds"].values() for v in row.values())
    assert result["max_abs_difference_ort"] < 1e-5 and result["ort_over_eager_batch1"] > 0
    assert {"state_dict.pt", "weights.safetensors", "run.ckpt", "cnn.onnx", "cnn.pt2"} <= set(result["file_bytes"])
