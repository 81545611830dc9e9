"""bench/vae.py runs end to end on a tiny subset, and judges issue 11's targets correctly."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("bench_vae", ROOT / "bench" / "vae.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


@pytest.mark.slow
def test_quick_run_writes_rows(tmp_path, capsys):
    output = tmp_path / "vae.json"
    assert bench.main(["--quick", "--only", "mlp-torch", "pytorch-examples", "--output", str(output)]) == 0
    table = capsys.readouterr().out
    assert "pytorch-examples" in table and "IS NLL" in table and "reference: the example's 10-epoch test loss" in table
    result = json.loads(output.read_text())
    rows = result["rows"]
    assert [r["row"] for r in rows] == ["pytorch-examples", "mlp-torch"]  # the example first, whatever the order given
    assert result["reference"] == rows[0]["test_nelbo"] and rows[0]["s_to_ref"] is not None
    for row in rows:
        assert row["epochs"] == 1 and 150 < row["test_nelbo"] < 600 and row["params"] == 652_824
        assert 300 < row["peak_mb"] < 2000 and row["wall_s"] >= row["train_s"] > 0
    assert rows[1]["is_nll"] < rows[1]["test_nelbo"] + 5  # the k-sample bound is tighter (up to noise)


def _row(name, nelbo, s_to_ref=None):
    return {"row": name, "test_nelbo": nelbo, "s_to_ref": s_to_ref}


def test_targets():
    rows = [
        _row("pytorch-examples", 106.2, 300.0),
        _row("mlp-torch", 101.5, 40.0),
        _row("conv-torch", 94.7, 100.0),
        _row("mlp-keras", 104.0),
    ]
    lines = bench.check_targets(rows, 106.2)
    assert "PASS: best test negative ELBO 94.70 (conv-torch) < 100 (aim 95)" in lines
    assert "reference: the example's 10-epoch test loss, 106.20 (published logs: about 105-107)" in lines
    assert any(line.startswith("PASS:") and "over mlp-torch: 300 s / 40 s = 7.5x" in line for line in lines)
    assert any(line.startswith("MISS:") and "over conv-torch: 300 s / 100 s = 3.0x" in line for line in lines)
    assert "MISS: mlp-keras never reached the example's 10-epoch test loss 106.20" in lines
    assert bench.check_targets([{"row": "conv-torch", "error": "boom"}], None) == []
