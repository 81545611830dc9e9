import pytest
import torch

from course_lib import device as dev
from course_lib.device import DeviceNotAvailableError, get_device


def test_best_device_on_this_machine_is_usable():
    best = get_device()
    assert best.type in ("cuda", "mps", "cpu")
    torch.ones(2, device=best).sum()  # really usable
    assert str(best).split(":")[0] in [name.split(":")[0] for name in dev.available_devices()]
    assert dev.available_devices()[-1] == "cpu"


def test_named_cpu_and_device_objects():
    assert get_device("cpu") == torch.device("cpu")
    assert get_device(" CPU ") == torch.device("cpu")
    assert get_device(torch.device("cpu")) == torch.device("cpu")


def test_unknown_name_lists_what_is_available():
    with pytest.raises(DeviceNotAvailableError, match=r"Unknown device name 'gpu'.*Available on this machine: .*cpu"):
        get_device("gpu")


def test_unsupported_kind_is_named():
    with pytest.raises(DeviceNotAvailableError, match=r"does not support device 'meta'.*cpu"):
        get_device("meta")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_missing_cuda_says_why_and_what_to_do():
    message = r"'cuda'.*no CUDA GPU.*Available on this machine: .*cpu.*get_device\(\)"
    with pytest.raises(DeviceNotAvailableError, match=message):
        get_device("cuda")
    with pytest.raises(DeviceNotAvailableError, match="cuda:1"):
        get_device("cuda:1")


def test_missing_mps_says_it_needs_apple_silicon(monkeypatch):
    monkeypatch.setattr(dev, "_mps_available", lambda: False)
    with pytest.raises(DeviceNotAvailableError, match=r"'mps'.*Apple silicon"):
        get_device("mps")


def test_get_device_prefers_cuda_then_mps(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(dev, "_mps_available", lambda: True)
    assert get_device().type == "mps"
    monkeypatch.setattr(dev, "_mps_available", lambda: False)
    assert get_device().type == "cpu"


def test_to_device_moves_nested_batches_and_keeps_other_values():
    batch = {"x": torch.ones(2), "pair": (torch.zeros(1), [torch.ones(1)]), "name": "digits"}
    moved = dev.to_device(batch, "cpu")
    assert moved["name"] == "digits" and isinstance(moved["pair"], tuple) and isinstance(moved["pair"][1], list)
    assert moved["x"].device.type == "cpu"


def test_autocast_is_off_on_cpu():
    with dev.autocast_for("cpu"):
        out = torch.ones(2, 2) @ torch.ones(2, 2)
    assert out.dtype == torch.float32


def test_mixed_precision_for_each_device(monkeypatch):
    # fit and autocast_for both ask mixed_precision_for, so the autocast dtype and the gradient scaler agree
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)
    bf16 = dev.mixed_precision_for("cuda")
    assert bf16 == dev.MixedPrecision("cuda", torch.bfloat16) and not bf16.scales_gradients
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: False)
    fp16 = dev.mixed_precision_for(torch.device("cuda:0"))
    assert fp16.dtype == torch.float16 and fp16.scales_gradients  # float16 needs a gradient scaler
    for device in ("cpu", "mps"):
        precision = dev.mixed_precision_for(device)
        assert not precision.enabled and not precision.grad_scaler().is_enabled()
    assert not dev.mixed_precision_for("cuda", enabled=False).enabled
    with dev.MixedPrecision("cpu", torch.bfloat16).autocast():  # the context really switches the dtype
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
    with dev.autocast_for("cpu"):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32


def test_model_device_is_where_the_weights_are():
    from torch import nn

    assert dev.model_device(nn.Linear(2, 2)) == torch.device("cpu")
    assert dev.model_device(nn.Linear(2, 2).to("meta")) == torch.device("meta")
    assert dev.model_device(nn.BatchNorm1d(2, affine=False)) == torch.device("cpu")  # buffers only
    assert dev.model_device(nn.ReLU()) == torch.device("cpu")  # nothing to hold


def _cgroup(tmp_path, **files):
    for name, text in files.items():
        path = tmp_path / name.replace("__", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


@pytest.mark.parametrize(
    "files, expected",
    [
        ({"cpu.max": "100000 100000\n"}, 1),  # Binder: one CPU
        ({"cpu.max": "150000 100000\n"}, 2),  # 1.5 CPUs rounds up
        ({"cpu.max": "400000 100000\n"}, 4),
        ({"cpu.max": "max 100000\n"}, None),  # no cap
        ({"cpu__cpu.cfs_quota_us": "200000\n", "cpu__cpu.cfs_period_us": "100000\n"}, 2),  # cgroup v1
        ({"cpu__cpu.cfs_quota_us": "-1\n", "cpu__cpu.cfs_period_us": "100000\n"}, None),
        ({}, None),  # not in a container
    ],
)
def test_cpu_limit_reads_cgroup_v2_and_v1(tmp_path, files, expected):
    assert dev.cpu_limit(_cgroup(tmp_path, **files)) == expected


def test_torch_threads_follow_a_one_cpu_cap(tmp_path):
    root = _cgroup(tmp_path, **{"cpu.max": "100000 100000\n"})
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(8)
        assert dev.usable_cpus(root) == 1
        assert dev.apply_cpu_limit(root) == 1
        assert torch.get_num_threads() == 1
        # only ever lowers: a learner's smaller choice stays
        unlimited = _cgroup(tmp_path / "free", **{"cpu.max": "max 100000\n"})
        torch.set_num_threads(1)
        assert dev.apply_cpu_limit(unlimited) == 1
    finally:
        torch.set_num_threads(before)


def test_device_info_describes_the_machine():
    info = dev.device_info()
    for key in ("python", "torch", "best_device", "available_devices", "cpu_count", "torch_threads", "mps_available"):
        assert key in info
    assert info["torch"] == torch.__version__
    assert info["torch_threads"] <= dev.usable_cpus()  # import course_lib applied the cap


def test_the_gpu_bench_runs_on_the_cpu_when_asked(tmp_path, capsys):
    import importlib.util
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "bench" / "gpu.py"
    spec = importlib.util.spec_from_file_location("bench_gpu", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    output = tmp_path / "gpu.json"
    assert bench.main(["--quick", "--cpu", "--output", str(output)]) == 0
    table = capsys.readouterr().out
    assert "reads every loss" in table and "images/s" in table
    rows = json.loads(output.read_text())["rows"]
    assert len(rows) == 5 and rows[-1]["reads_every_loss"] and not rows[0]["reads_every_loss"]
    for row in rows:
        assert row["conv_dtype"] == "float32" and 0 < row["test_accuracy"] <= 1 and row["images_per_second"] > 0
