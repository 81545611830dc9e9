import errno
import hashlib
import io
import os
import random
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from torch import nn

import course_lib
from course_lib import checkpoint
from course_lib.checkpoint import (
    CheckpointMismatchError,
    CheckpointWriteError,
    CorruptCheckpointError,
    MissingCheckpointError,
    NotACheckpointError,
    ShippedWeights,
    inspect_checkpoint,
    load_checkpoint,
    load_shipped_tensors,
    load_shipped_weights,
    load_weights,
    save_checkpoint,
    save_weights,
    shipped_weights_status,
)
from course_lib.data import CorruptDataError, MissingDataError
from course_lib.device import DeviceNotAvailableError
from course_lib.models import MLP
from course_lib.train import History

ROOT = Path(course_lib.__file__).resolve().parent.parent


def small_model(hidden=(5,), seed=0) -> nn.Module:
    torch.manual_seed(seed)
    return MLP(in_features=6, hidden=hidden, num_classes=3, dropout=0.3)


def trained_setup(seed=0):
    """A model, AdamW, StepLR and an enabled CPU GradScaler that have all taken a few steps."""
    model = small_model(seed=seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    scaler = torch.amp.GradScaler("cpu", growth_interval=2)
    for _ in range(3):
        loss = model(torch.randn(8, 6)).pow(2).mean()
        optimizer.zero_grad()
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
    return model, optimizer, scheduler, scaler


def fresh_setup():
    model = small_model(seed=99)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    return model, optimizer, scheduler, torch.amp.GradScaler("cpu", growth_interval=2)


def same_tensors(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def weights_of(model: nn.Module) -> dict:
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.fixture
def saved(tmp_path):
    """A checkpoint on disk with every part, and the objects it came from."""
    model, optimizer, scheduler, scaler = trained_setup()
    path = save_checkpoint(tmp_path / "run.ckpt", model, optimizer, scheduler, scaler, epoch=3, note="first")
    return path, model, optimizer, scheduler, scaler


# ----------------------------------------------------------------------------- round trip
def test_round_trip_restores_every_part_and_returns_the_extra_values(saved):
    path, model, optimizer, scheduler, scaler = saved
    model2, optimizer2, scheduler2, scaler2 = fresh_setup()
    assert not same_tensors(model.state_dict(), model2.state_dict())
    extra = load_checkpoint(path, model2, optimizer2, scheduler2, scaler2)
    assert extra == {"epoch": 3, "note": "first"}
    assert same_tensors(model.state_dict(), model2.state_dict())
    assert scheduler2.state_dict() == scheduler.state_dict() and scheduler2.get_last_lr() == scheduler.get_last_lr()
    assert scaler2.state_dict() == scaler.state_dict() and scaler.get_scale() != 65536.0  # it did change
    state, state2 = optimizer.state_dict(), optimizer2.state_dict()
    assert state["param_groups"] == state2["param_groups"]
    for index, values in state["state"].items():
        assert values.keys() == state2["state"][index].keys()
        assert all(torch.equal(values[k], state2["state"][index][k]) for k in values)


def test_extra_values_are_kept_as_plain_types(tmp_path):
    history = History()
    history.add(train_loss=0.5, val_accuracy=0.9)
    extra = {
        "epoch": np.int64(4),  # NumPy numbers become Python numbers
        "best": np.float32(0.25),
        "mask": np.array([1, 2, 3]),  # NumPy arrays become tensors
        "history": history.metrics,
        "nested": {"ok": True, "none": None, "pair": (1, "a"), 3: [1.5, torch.ones(2)]},
    }
    path = save_checkpoint(tmp_path / "x.ckpt", small_model(), **extra)
    back = load_checkpoint(path, small_model())
    assert back["epoch"] == 4 and type(back["epoch"]) is int
    assert back["best"] == 0.25 and type(back["best"]) is float
    assert torch.equal(back["mask"], torch.tensor([1, 2, 3]))
    assert back["history"] == {"train_loss": [0.5], "val_accuracy": [0.9]}
    assert back["nested"]["pair"] == (1, "a") and back["nested"]["none"] is None
    assert torch.equal(back["nested"][3][1], torch.ones(2))
    assert inspect_checkpoint(path)["extra"]["epoch"] == 4


def test_values_that_are_not_plain_are_refused_at_save_time_by_name(tmp_path):
    model = small_model()
    with pytest.raises(TypeError, match=r"history is a History.*history=history\.metrics"):
        save_checkpoint(tmp_path / "x.ckpt", model, history=History())
    with pytest.raises(TypeError, match=r"info\['fn'\] is a function.*never runs code"):
        save_checkpoint(tmp_path / "x.ckpt", model, info={"fn": lambda x: x})
    with pytest.raises(TypeError, match=r"is a MLP.*stateful="):
        save_checkpoint(tmp_path / "x.ckpt", model, other=small_model())
    with pytest.raises(TypeError, match="keys must be strings or numbers"):
        save_checkpoint(tmp_path / "x.ckpt", model, table={(1, 2): 3})
    assert not list(tmp_path.iterdir())


def test_bad_arguments_are_named(tmp_path):
    model = small_model()
    with pytest.raises(TypeError, match="needs a torch.nn.Module as model, got OrderedDict"):
        save_checkpoint(tmp_path / "x.ckpt", model.state_dict())
    with pytest.raises(TypeError, match="optimizer must be a torch.optim optimizer"):
        save_checkpoint(tmp_path / "x.ckpt", model, optimizer=0.01)
    with pytest.raises(TypeError, match="scheduler is a str, which has no state_dict"):
        save_checkpoint(tmp_path / "x.ckpt", model, scheduler="cosine")
    with pytest.raises(TypeError, match=r"stateful\['data'\] is a list, which has no state_dict"):
        save_checkpoint(tmp_path / "x.ckpt", model, stateful={"data": [1, 2]})
    with pytest.raises(TypeError, match="stateful must be a dict"):
        save_checkpoint(tmp_path / "x.ckpt", model, stateful=[torch.Generator()])
    with pytest.raises(TypeError, match="needs a torch.nn.Module as model"):
        load_weights(tmp_path / "x.safetensors", None)


# ----------------------------------------------------------------------------- random states and stateful objects
def draws():
    return random.random(), float(np.random.rand()), float(np.random.randn()), torch.rand(3).tolist()


def test_random_states_of_python_numpy_and_torch_are_restored(tmp_path):
    model = small_model()
    course_lib.seed_everything(5)
    np.random.randn()  # leave a cached Gaussian in NumPy's state too
    path = save_checkpoint(tmp_path / "x.ckpt", model)
    expected = draws()
    course_lib.seed_everything(6)
    load_checkpoint(path, model)
    assert draws() == expected


def test_restore_rng_false_leaves_the_generators_alone(tmp_path):
    model = small_model()
    course_lib.seed_everything(5)
    path = save_checkpoint(tmp_path / "x.ckpt", model)
    course_lib.seed_everything(6)
    expected = draws()
    course_lib.seed_everything(6)
    load_checkpoint(path, model, restore_rng=False)
    assert draws() == expected


class Counter:
    """A stand-in for a data loader: any object with state_dict/load_state_dict."""

    def __init__(self, start=0):
        self.position = start

    def state_dict(self):
        return {"position": self.position}

    def load_state_dict(self, state):
        self.position = state["position"]


def test_stateful_objects_and_generators_are_restored(tmp_path):
    generator = torch.Generator().manual_seed(7)
    torch.randperm(10, generator=generator)
    path = save_checkpoint(tmp_path / "x.ckpt", small_model(), stateful={"loader": Counter(12), "order": generator})
    expected = torch.randperm(10, generator=generator)
    loader, generator2 = Counter(), torch.Generator().manual_seed(1)
    load_checkpoint(path, small_model(), stateful={"loader": loader, "order": generator2})
    assert loader.position == 12
    assert torch.equal(torch.randperm(10, generator=generator2), expected)
    assert inspect_checkpoint(path)["stateful"] == {"loader": "Counter", "order": "Generator"}
    with pytest.raises(CheckpointMismatchError, match=r"no state named 'data' \(it has: 'loader', 'order'\)"):
        load_checkpoint(path, small_model(), stateful={"data": Counter()})
    with pytest.raises(CheckpointMismatchError, match="'loader' in .* was saved from Counter; you passed Generator"):
        load_checkpoint(path, small_model(), stateful={"loader": torch.Generator()})
    with pytest.warns(UserWarning, match=r"also holds stateful 'loader' \(Counter\) and stateful 'order'"):
        load_checkpoint(path, small_model())


# ----------------------------------------------------------------------------- exact resume in a fresh process
RESUME_SCRIPT = r'''
import random, sys
import numpy as np
import torch
from course_lib import seed_everything
from course_lib.checkpoint import load_checkpoint, save_checkpoint

torch.set_num_threads(1)
N_EPOCHS, BATCH = 3, 16
X = torch.randn(96, 6, generator=torch.Generator().manual_seed(0))
Y = (X[:, 0] > 0).long() + (X[:, 1] > 0).long()


class Shuffler:
    """A hand-written seeded shuffling; its order is state to save, like a loader's."""

    def __init__(self):
        self.generator = torch.Generator().manual_seed(1234)
        self.epochs_served = 0

    def state_dict(self):
        return {"generator": self.generator.get_state(), "epochs_served": self.epochs_served}

    def load_state_dict(self, state):
        self.generator.set_state(state["generator"])
        self.epochs_served = state["epochs_served"]

    def batches(self):
        self.epochs_served += 1
        order = torch.randperm(len(X), generator=self.generator)
        for start in range(0, len(X), BATCH):
            yield X[order[start:start + BATCH]], Y[order[start:start + BATCH]]


def build(seed):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(6, 32), torch.nn.ReLU(), torch.nn.Dropout(0.3), torch.nn.Linear(32, 3))
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.05, weight_decay=0.01)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.05, total_steps=2 * N_EPOCHS * 6)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**8, growth_interval=4)
    return model, optimizer, scheduler, scaler, Shuffler()


def train(model, optimizer, scheduler, scaler, shuffler, epochs):
    model.train()
    for _ in range(epochs):
        for x, y in shuffler.batches():
            x = x + torch.from_numpy(np.random.normal(0, 0.05, x.shape)).float()  # NumPy noise
            if random.random() < 0.5:  # Python's generator decides a flip
                x = -x
            loss = torch.nn.functional.cross_entropy(model(x), y)  # dropout: torch's generator
            optimizer.zero_grad()
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()


def result(model, optimizer, scheduler, scaler):
    return {"weights": model.state_dict(), "lr": scheduler.get_last_lr(), "scale": scaler.get_scale(),
            "exp_avg": [s["exp_avg"] for s in optimizer.state.values()],
            "draws": [random.random(), float(np.random.rand()), torch.rand(2)]}


mode, path = sys.argv[1], sys.argv[2]
if mode == "full":
    seed_everything(0)
    objects = build(0)
    train(*objects, epochs=2 * N_EPOCHS)
    torch.save(result(*objects[:4]), path)
elif mode == "first":
    seed_everything(0)
    model, optimizer, scheduler, scaler, shuffler = build(0)
    train(model, optimizer, scheduler, scaler, shuffler, epochs=N_EPOCHS)
    save_checkpoint(path, model, optimizer, scheduler, scaler, stateful={"shuffler": shuffler}, epoch=N_EPOCHS)
elif mode == "resume":
    for restore_rng, out in ((True, sys.argv[3]), (False, sys.argv[4])):
        seed_everything(999)  # a different start: only the checkpoint can make the runs agree
        model, optimizer, scheduler, scaler, shuffler = build(1)
        extra = load_checkpoint(path, model, optimizer, scheduler, scaler, stateful={"shuffler": shuffler},
                                restore_rng=restore_rng)
        assert extra == {"epoch": N_EPOCHS} and shuffler.epochs_served == N_EPOCHS
        train(model, optimizer, scheduler, scaler, shuffler, epochs=N_EPOCHS)
        torch.save(result(model, optimizer, scheduler, scaler), out)
'''


@pytest.mark.slow
def test_resume_in_a_fresh_process_is_bit_identical_to_one_uninterrupted_run(tmp_path):
    script = tmp_path / "resume.py"
    script.write_text(RESUME_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    paths = {name: str(tmp_path / name) for name in ("full.pt", "run.ckpt", "resumed.pt", "no_rng.pt")}
    for args in (
        ["full", paths["full.pt"]],
        ["first", paths["run.ckpt"]],
        ["resume", paths["run.ckpt"], paths["resumed.pt"], paths["no_rng.pt"]],
    ):
        command = [sys.executable, str(script), *args]
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr[-3000:]
    full, resumed, no_rng = (
        torch.load(paths[name], weights_only=True) for name in ("full.pt", "resumed.pt", "no_rng.pt")
    )
    assert same_tensors(full["weights"], resumed["weights"])
    assert all(torch.equal(a, b) for a, b in zip(full["exp_avg"], resumed["exp_avg"], strict=True))
    assert full["lr"] == resumed["lr"] and full["scale"] == resumed["scale"]
    assert full["draws"][:2] == resumed["draws"][:2] and torch.equal(full["draws"][2], resumed["draws"][2])
    # The test can fail: without the random states (dropout, noise, flips) the run goes elsewhere.
    assert not same_tensors(full["weights"], no_rng["weights"])


# ----------------------------------------------------------------------------- atomic writes
def test_a_write_that_fails_half_way_leaves_the_old_checkpoint_and_no_temporary_file(saved, monkeypatch):
    path, model, *_ = saved
    before = path.read_bytes()
    real_write = os.write

    def disk_fills_up(fd, data):
        real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")

    changed = small_model(seed=5)
    monkeypatch.setattr(os, "write", disk_fills_up)
    with pytest.raises(CheckpointWriteError, match=r"the disk is full\. The previous run\.ckpt is untouched"):
        save_checkpoint(path, changed, epoch=99)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == ["run.ckpt"]
    restored = small_model(seed=7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert load_checkpoint(path, restored) == {"epoch": 3, "note": "first"}
    assert same_tensors(restored.state_dict(), model.state_dict())


def test_a_failed_first_save_leaves_nothing(tmp_path, monkeypatch):
    def failing_disk(fd):
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(os, "fsync", failing_disk)
    with pytest.raises(CheckpointWriteError, match="I/O error.*Nothing was written"):
        save_weights(tmp_path / "w.safetensors", small_model())
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


def test_an_interrupt_before_the_rename_keeps_the_old_file(saved, monkeypatch):
    path = saved[0]
    before = path.read_bytes()

    def interrupted(source, target):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, small_model(seed=5))
    monkeypatch.undo()
    assert path.read_bytes() == before and [p.name for p in path.parent.iterdir()] == ["run.ckpt"]


def test_the_temporary_file_is_fsynced_and_renamed_within_the_same_folder(tmp_path, monkeypatch):
    synced, renamed = [], []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    monkeypatch.setattr(os, "replace", lambda a, b: (renamed.append((Path(a), Path(b))), real_replace(a, b)))
    target = save_checkpoint(tmp_path / "x.ckpt", small_model())
    monkeypatch.undo()
    ((temporary, final),) = renamed
    assert final == target and temporary.parent == target.parent and temporary.name.startswith(".x.ckpt.")
    assert len(synced) == (2 if os.name == "posix" else 1)  # the file, then the folder (POSIX only)


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_a_saved_file_gets_the_usual_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        path = save_checkpoint(tmp_path / "x.ckpt", small_model())
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644  # not the 0o600 of a bare temporary file


# ----------------------------------------------------------------------------- corruption
def assert_corrupt(path: Path, load=lambda p: load_checkpoint(p, small_model())):
    with pytest.raises(CorruptCheckpointError) as caught:
        load(path)
    message = str(caught.value)
    assert str(path) in message and "damaged" in message and "Nothing was loaded" in message
    assert "another copy" in message
    return message


def test_truncation_at_any_point_is_reported_as_damage(saved, tmp_path):
    raw = saved[0].read_bytes()
    header_end = raw.index(b"\n", len(checkpoint.MAGIC)) + 1
    broken = tmp_path / "broken.ckpt"
    for cut in (
        0,
        1,
        10,
        len(checkpoint.MAGIC) - 1,
        len(checkpoint.MAGIC),
        len(checkpoint.MAGIC) + 5,
        header_end - 1,
        header_end,
        header_end + 1,
        len(raw) // 2,
        len(raw) - 22,
        len(raw) - 1,
    ):
        broken.write_bytes(raw[:cut])
        message = assert_corrupt(broken)
        if cut >= header_end:
            assert "shorter than saved" in message
    broken.write_bytes(b"")
    assert "the file is empty" in assert_corrupt(broken)
    broken.write_bytes(raw + b"\0")
    assert "longer than saved" in assert_corrupt(broken)


def test_every_flipped_byte_is_detected(saved, tmp_path):
    raw = saved[0].read_bytes()
    header_end = raw.index(b"\n", len(checkpoint.MAGIC)) + 1
    positions = list(range(header_end)) + list(range(header_end, len(raw), max(1, len(raw) // 300))) + [len(raw) - 1]
    broken = tmp_path / "broken.ckpt"
    for position in positions:
        for mask in (0x01, 0xFF) if position < header_end else (0xFF,):
            altered = bytearray(raw)
            altered[position] ^= mask
            broken.write_bytes(bytes(altered))
            assert_corrupt(broken)
    # An edited header that still parses to the same values is refused too: only save_checkpoint's exact bytes pass.
    broken.write_bytes(raw.replace(b'{"format":1,', b'{"format": 1,', 1))
    assert "header line is altered" in assert_corrupt(broken)


def test_an_altered_file_with_a_matching_digest_is_still_refused_if_it_would_run_code(tmp_path):
    marker = tmp_path / "code_ran"

    class Payload:
        def __reduce__(self):
            return (os.mkdir, (str(marker),))

    buffer = io.BytesIO()
    torch.save({"course_lib_checkpoint": 1, "model": Payload()}, buffer)
    payload = buffer.getvalue()
    header = {"format": 1, "payload_bytes": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}
    forged = tmp_path / "forged.ckpt"
    forged.write_bytes(checkpoint.MAGIC + checkpoint._header_line(header) + payload)
    refused = r"Refused to load .*forged.ckpt.*running code.*\(it asks for (posix|nt).mkdir\)"
    with pytest.raises(CorruptCheckpointError, match=refused):
        load_checkpoint(forged, small_model())
    plain = tmp_path / "plain.pt"
    plain.write_bytes(payload)
    with pytest.raises(NotACheckpointError, match="plain torch.save file"):
        load_checkpoint(plain, small_model())
    assert not marker.exists()


def test_a_checkpoint_saved_on_a_gpu_loads_on_the_cpu_without_map_location(tmp_path, monkeypatch):
    model, optimizer, scheduler, _ = trained_setup()
    # Record every tensor as living on cuda:0, as on a GPU machine, and a CUDA random state.
    monkeypatch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: [torch.zeros(16, dtype=torch.uint8)])
    path = save_checkpoint(tmp_path / "gpu.ckpt", model, optimizer, scheduler, best=torch.ones(2))
    monkeypatch.undo()
    raw = path.read_bytes()
    payload = raw[raw.index(b"\n", len(checkpoint.MAGIC)) + 1 :]
    if not torch.cuda.is_available():  # the simulation is real: plain loading needs map_location here
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(io.BytesIO(payload), weights_only=True)
    model2, optimizer2, scheduler2, _ = fresh_setup()
    extra = load_checkpoint(path, model2, optimizer2, scheduler2, device="cpu")
    assert same_tensors(model.state_dict(), model2.state_dict())
    assert extra["best"].device.type == "cpu" and next(model2.parameters()).device.type == "cpu"
    assert all(s["exp_avg"].device.type == "cpu" for s in optimizer2.state.values())


# ----------------------------------------------------------------------------- the mistakes learners make
def test_a_model_of_another_shape_lists_missing_unexpected_and_mismatched_keys(saved):
    path = saved[0]
    wider = MLP(in_features=6, hidden=(7, 4), num_classes=3, dropout=0.3)
    before = weights_of(wider)
    with pytest.raises(CheckpointMismatchError) as caught:
        load_checkpoint(path, wider)
    message = str(caught.value)
    assert "do not fit your MLP; nothing was loaded" in message
    assert "missing from the file (your model has them): net.7.weight (3, 4); net.7.bias (3,)\n" in message
    assert (
        "different shapes: net.1.weight: file (5, 6), model (7, 6); net.1.bias: file (5,), model (7,); "
        "net.4.weight: file (3, 5), model (4, 7); net.4.bias: file (3,), model (4,)\n"
    ) in message
    assert "unexpected" not in message
    assert same_tensors(before, wider.state_dict())
    other = nn.Sequential(nn.Linear(6, 3))
    with pytest.raises(CheckpointMismatchError, match=r"\(saved from a model of class MLP\)") as caught:
        load_checkpoint(path, other)
    assert "unexpected in the file (your model lacks them): net.1.weight (5, 6)" in str(caught.value)


def test_a_wrapper_prefix_is_explained(tmp_path):
    class Compiled(nn.Module):  # what torch.compile returns keeps the model as _orig_mod
        def __init__(self, inner):
            super().__init__()
            self._orig_mod = inner

    path = save_weights(tmp_path / "w.safetensors", Compiled(small_model()))
    with pytest.raises(CheckpointMismatchError, match=r"starts with '_orig_mod.'.*torch.compile.*model._orig_mod"):
        load_weights(path, small_model())
    path = save_weights(tmp_path / "w.safetensors", small_model())
    with pytest.raises(CheckpointMismatchError, match=r"your model starts with '_orig_mod.'.*Load into the inner"):
        load_weights(path, Compiled(small_model()))


def test_files_that_are_not_checkpoints_are_named_with_what_they_are(tmp_path):
    model = small_model()
    cases = {
        "notes.txt": (b"epoch 3: loss 0.1\n", r"a text file \(it starts 'epoch 3: loss 0.1'\)"),
        "plain.pt": (None, r"a plain torch.save file.*torch.load\(path, weights_only=True\)"),
        "w.safetensors": (None, r"a safetensors weights file.*load_weights\(path, model\)"),
        "arrays.npy": (b"\x93NUMPY\x01\x00", "a NumPy .npy file"),
    }
    torch.save(model.state_dict(), tmp_path / "plain.pt")
    save_weights(tmp_path / "w.safetensors", model)
    for name, (content, expected) in cases.items():
        if content is not None:
            (tmp_path / name).write_bytes(content)
        with pytest.raises(
            NotACheckpointError, match=f"{name} is not a checkpoint written by save_checkpoint: it is " + expected
        ):
            load_checkpoint(tmp_path / name, model)
    save_checkpoint(tmp_path / "run.ckpt", model)
    with pytest.raises(
        NotACheckpointError,
        match=r"not a safetensors weights file: it is a course_lib checkpoint\. "
        r"Load it with load_checkpoint",
    ):
        load_weights(tmp_path / "run.ckpt", model)
    with pytest.raises(NotACheckpointError, match="not a safetensors weights file: it is a text file"):
        load_weights(tmp_path / "notes.txt", model)


def test_paths_a_folder_a_missing_file_and_a_missing_folder(tmp_path):
    model = small_model()
    save_checkpoint(tmp_path / "last.ckpt", model)
    with pytest.raises(NotACheckpointError, match=r"is a folder, not a checkpoint file.*Files in it: last.ckpt"):
        load_checkpoint(tmp_path, model)
    with pytest.raises(MissingCheckpointError, match=r"no checkpoint file at .*lats.ckpt\. Files there: last.ckpt"):
        load_checkpoint(tmp_path / "lats.ckpt", model)
    with pytest.raises(FileNotFoundError, match="the folder .*runs does not exist"):
        load_checkpoint(tmp_path / "runs" / "last.ckpt", model)
    with pytest.raises(MissingCheckpointError, match="no weights file at"):
        load_weights(tmp_path / "w.safetensors", model)
    with pytest.raises(CheckpointWriteError, match=r"the folder .*runs does not exist\. Create it first"):
        save_checkpoint(tmp_path / "runs" / "last.ckpt", model)
    with pytest.raises(CheckpointWriteError, match=r"that is a folder\. Give a file name inside it"):
        save_weights(tmp_path, model)


def test_parts_passed_or_left_out(saved):
    path, model, *_ = saved
    with pytest.warns(
        UserWarning,
        match=r"also holds the optimizer \(AdamW\), the scheduler \(StepLR\) and the "
        r"scaler \(GradScaler\), not restored.*right for evaluating",
    ):
        load_checkpoint(path, small_model())
    bare = save_checkpoint(path.with_name("bare.ckpt"), model)
    target = small_model(seed=3)
    before = weights_of(target)
    with pytest.raises(CheckpointMismatchError, match=r"You passed optimizer= but .*bare.ckpt holds no optimizer"):
        load_checkpoint(bare, target, torch.optim.AdamW(target.parameters()))
    with pytest.raises(CheckpointMismatchError, match="optimizer state in .* was saved from AdamW; you passed SGD"):
        load_checkpoint(path, target, torch.optim.SGD(target.parameters(), lr=0.1))
    optimizer = torch.optim.AdamW(list(target.parameters())[:2])
    with pytest.raises(CheckpointMismatchError, match=r"groups of sizes \[4\]; your optimizer has \[2\]"):
        load_checkpoint(path, target, optimizer)
    disabled = save_checkpoint(path.with_name("cpu.ckpt"), model, scaler=torch.amp.GradScaler("cpu", enabled=False))
    with pytest.raises(CheckpointMismatchError, match="was disabled when saved.*Create it with enabled=False"):
        load_checkpoint(disabled, target, scaler=torch.amp.GradScaler("cpu"))
    with pytest.raises(DeviceNotAvailableError, match="Unknown device name 'gpu0'"):
        load_checkpoint(path, target, device="gpu0")
    assert same_tensors(before, target.state_dict())  # nothing was changed by the refusals


# ----------------------------------------------------------------------------- weights (safetensors)
def test_weights_round_trip_with_metadata_tied_and_non_contiguous_tensors(tmp_path):
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(5, 4)
            self.out = nn.Linear(4, 5, bias=False)
            self.out.weight = self.embed.weight  # shared memory: safetensors refuses it as is
            self.register_buffer("table", torch.arange(12.0).reshape(3, 4).t())  # not contiguous
            self.register_buffer("low_precision", torch.ones(3, dtype=torch.bfloat16))

    model = Tied()
    path = save_weights(tmp_path / "tied.safetensors", model, metadata={"epochs": "4"})
    copy = Tied()
    nn.init.zeros_(copy.embed.weight)
    assert load_weights(path, copy) == {"epochs": "4"}
    assert same_tensors(model.state_dict(), copy.state_dict()) and copy.out.weight is copy.embed.weight
    with pytest.raises(ValueError, match="reserved"):
        save_weights(tmp_path / "x.safetensors", model, metadata={"course_lib.sha256": "0"})
    with pytest.raises(TypeError, match="strings to strings"):
        save_weights(tmp_path / "x.safetensors", model, metadata={"epochs": 4})


def test_plain_safetensors_files_load_and_expected_sha256_is_checked(tmp_path):
    model = small_model()
    path = tmp_path / "plain.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path), metadata={"by": "script"})
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    copy = small_model(seed=4)
    assert load_weights(path, copy, expected_sha256=digest.upper()) == {"by": "script"}
    assert same_tensors(model.state_dict(), copy.state_dict())
    message = assert_corrupt(path, lambda p: load_weights(p, copy, expected_sha256="0" * 64))
    assert f"its SHA-256 is {digest[:12]}…, expected 000000000000…" in message


def test_truncated_or_altered_weights_files_are_reported_as_damage(tmp_path):
    model = small_model()
    path = save_weights(tmp_path / "w.safetensors", model)
    raw = path.read_bytes()
    broken = tmp_path / "broken.safetensors"
    header_end = 8 + int.from_bytes(raw[:8], "little")
    for cut in (0, 1, 4, 8, 9, header_end // 2, header_end, header_end + 3, len(raw) - 1):
        broken.write_bytes(raw[:cut])
        assert_corrupt(broken, lambda p: load_weights(p, small_model()))
    # The recorded digest covers each tensor's name, dtype, shape and bytes; the header's own entries are checked too.
    for position in range(len(raw)):
        for mask in (0x01, 0xFF):
            altered = bytearray(raw)
            altered[position] ^= mask
            broken.write_bytes(bytes(altered))
            assert_corrupt(broken, lambda p: load_weights(p, small_model()))
    assert len(raw) < 1000  # small enough to try every byte


# ----------------------------------------------------------------------------- shipped weights
@pytest.fixture
def shipped(tmp_path, monkeypatch):
    """A private data folder with one shipped weights file registered."""
    model = small_model()
    folder = tmp_path / "data" / "weights"
    folder.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "tiny.safetensors"))
    digest = hashlib.sha256((folder / "tiny.safetensors").read_bytes()).hexdigest()
    entry = ShippedWeights("weights/tiny.safetensors", digest, "python scripts/train_tiny.py")
    monkeypatch.setattr(checkpoint, "SHIPPED_WEIGHTS", {"tiny": entry})
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    return model, folder / "tiny.safetensors"


def test_shipped_weights_load_after_their_digest_is_checked(shipped):
    model, _ = shipped
    copy = small_model(seed=4)
    load_shipped_weights("tiny", copy)
    assert same_tensors(model.state_dict(), copy.state_dict())
    assert shipped_weights_status() == {"tiny": "ok"}
    with pytest.raises(KeyError, match="'huge' is not a weights file the course ships; known: tiny"):
        load_shipped_weights("huge", copy)


def test_shipped_weights_missing_or_corrupt_give_the_data_errors(shipped):
    _, path = shipped
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(
        CorruptDataError,
        match=r"tiny.safetensors is corrupt.*git checkout -- data/weights/tiny"
        r".*rebuild it with `python scripts/train_tiny.py`",
    ):
        load_shipped_weights("tiny", small_model())
    assert shipped_weights_status() == {"tiny": "corrupt"}
    path.unlink()
    with pytest.raises(MissingDataError, match=r"tiny.safetensors is missing \(the folder named by COURSE_DATA_DIR\)"):
        load_shipped_weights("tiny", small_model())
    assert shipped_weights_status() == {"tiny": "missing"}


def test_shipped_tensors_load_after_the_same_checks(shipped):
    model, path = shipped
    tensors = load_shipped_tensors("tiny")
    assert same_tensors(model.state_dict(), tensors)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(CorruptDataError, match=r"tiny.safetensors is corrupt"):
        load_shipped_tensors("tiny")
    path.unlink()
    with pytest.raises(MissingDataError, match=r"tiny.safetensors is missing"):
        load_shipped_tensors("tiny")


def test_every_registered_shipped_weights_file_is_present_and_intact():
    assert set(shipped_weights_status().values()) <= {"ok"}
    for entry in checkpoint.SHIPPED_WEIGHTS.values():
        assert entry.file.startswith("weights/") and entry.file.endswith(".safetensors")
