import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from course_lib import data
from course_lib.config import PROJECT_ROOT
from course_lib.data import CorruptDataError, MissingDataError, TensorBatchLoader


@pytest.fixture
def data_copy(tmp_path, monkeypatch):
    """A private copy of data/ that a test may break; COURSE_DATA_DIR points at it."""
    root = tmp_path / "data"
    shutil.copytree(PROJECT_ROOT / "data", root)
    monkeypatch.setenv("COURSE_DATA_DIR", str(root))
    yield root


@pytest.mark.slow
def test_mnist_train_and_test_shapes_types_and_statistics():
    x, y = data.load_mnist(train=True)
    assert x.shape == (60_000, 1, 28, 28) and x.dtype == torch.float32
    assert y.shape == (60_000,) and y.dtype == torch.int64
    assert 0.0 == float(x.min()) and float(x.max()) == 1.0
    assert abs(float(x.mean()) - data.MNIST_MEAN) < 1e-3 and abs(float(x.std()) - data.MNIST_STD) < 1e-3
    assert torch.bincount(y).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    xt, yt = data.load_mnist(train=False)
    assert xt.shape == (10_000, 1, 28, 28) and torch.bincount(yt).tolist()[0] == 980
    assert y[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]


def test_mnist_limit_and_bad_limit():
    x, y = data.load_mnist(train=False, limit=100)
    assert x.shape == (100, 1, 28, 28) and len(y) == 100
    assert torch.equal(x, data.load_mnist(train=False)[0][:100])
    for bad in (0, -5, 2.5, "100", True):
        with pytest.raises(ValueError, match="limit must be a whole number of examples, 1 or more; got .*Or None"):
            data.load_mnist(limit=bad)


def test_returned_tensors_are_writable_copies():
    x, _ = data.load_mnist(train=False, limit=10)
    x.zero_()
    assert float(data.load_mnist(train=False, limit=10)[0].sum()) > 0


def test_checksums_in_code_match_the_shipped_sha256sums():
    for folder in ("mnist", "tinyshakespeare"):
        for line in (PROJECT_ROOT / "data" / folder / "SHA256SUMS").read_text().split("\n"):
            if line.strip():
                digest, name = line.split()
                assert data.CHECKSUMS[f"{folder}/{name.lstrip('*')}"] == digest
                assert (
                    hashlib.sha256((PROJECT_ROOT / "data" / folder / name.lstrip("*")).read_bytes()).hexdigest()
                    == digest
                )
    assert set(data.data_status().values()) == {"ok"}


def test_missing_file_is_named_with_the_fix(data_copy):
    (data_copy / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(MissingDataError, match=r"t10k-labels-idx1-ubyte\.gz is missing.*COURSE_DATA_DIR.*git checkout"):
        data.load_mnist(train=False)
    assert data.data_status()["mnist/t10k-labels-idx1-ubyte.gz"] == "missing"


def test_corrupt_file_is_detected_by_checksum_and_nothing_loaded(data_copy):
    path = data_copy / "mnist" / "t10k-images-idx3-ubyte.gz"
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(CorruptDataError, match=r"t10k-images-idx3-ubyte\.gz is corrupt.*SHA-256.*Nothing was loaded"):
        data.load_mnist(train=False)
    assert data.data_status()["mnist/t10k-images-idx3-ubyte.gz"] == "corrupt"


def test_truncated_file_is_corrupt_not_half_read(data_copy):
    path = data_copy / "mnist" / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CorruptDataError, match="corrupt"):
        data.load_mnist(train=False)


def test_git_lfs_pointer_is_reported_as_corrupt(data_copy):
    (data_copy / "tinyshakespeare" / "input.txt").write_text("version https://git-lfs.github.com/spec/v1\n")
    with pytest.raises(CorruptDataError, match="Git LFS pointer"):
        data.load_tiny_shakespeare()


def test_idx_with_wrong_dimensions_is_rejected(tmp_path):
    bad = tmp_path / "bad.gz"
    bad.write_bytes(gzip.compress((0x0801).to_bytes(4, "big") + (5).to_bytes(4, "big") + bytes(4)))
    with pytest.raises(CorruptDataError, match="expected IDX data"):
        data._read_idx(bad, "mnist/t10k-labels-idx1-ubyte.gz", (5,))


def test_unknown_file_name():
    with pytest.raises(KeyError, match="not a file the course ships"):
        data.verify_file("mnist/other.gz")


def test_torchvision_route_reads_the_same_images_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    dataset = data.mnist_torchvision(train=False)
    image, label = dataset[0]
    x, y = data.load_mnist(train=False, limit=1)
    assert len(dataset) == 10_000 and label == int(y[0])
    assert np.array_equal(np.asarray(image, dtype=np.float32) / 255.0, x[0, 0].numpy())
    leftovers = list((tmp_path / "cache" / "torchvision" / "MNIST" / "raw").glob(".*"))
    assert leftovers == []  # atomic writes leave no temporary files
    assert len(data.mnist_torchvision(train=True)) == 60_000


def test_tiny_shakespeare():
    text = data.load_tiny_shakespeare()
    assert len(text) == 1_115_394 and text.startswith("First Citizen:")


def test_batch_loader_covers_every_example_once():
    x = torch.arange(10).float().unsqueeze(1)
    y = torch.arange(10)
    loader = TensorBatchLoader(x, y, batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 and [len(b[1]) for b in batches] == [4, 4, 2]
    assert torch.equal(torch.cat([b[1] for b in batches]), y)
    shuffled = TensorBatchLoader(x, y, batch_size=4, shuffle=True, generator=torch.Generator().manual_seed(0))
    seen = torch.cat([b[1] for b in shuffled])
    assert sorted(seen.tolist()) == list(range(10)) and not torch.equal(seen, y)
    for xb, yb in shuffled:
        assert torch.equal(xb.squeeze(1).long(), yb)  # inputs stay paired with their targets


def test_batch_loader_drop_last_transform_and_reproducible_shuffle():
    x, y = torch.randn(10, 3), torch.arange(10)
    loader = TensorBatchLoader(x, y, batch_size=4, drop_last=True, transform=lambda b: b * 0)
    assert len(loader) == 2 and all(float(b[0].abs().sum()) == 0 for b in loader)
    order = lambda seed: torch.cat(
        [
            b[1]
            for b in TensorBatchLoader(  # noqa: E731
                x, y, batch_size=3, shuffle=True, generator=torch.Generator().manual_seed(seed)
            )
        ]
    )
    assert torch.equal(order(1), order(1)) and not torch.equal(order(1), order(2))


def test_batch_loader_errors_are_explained():
    with pytest.raises(ValueError, match="same number of examples"):
        TensorBatchLoader(torch.zeros(5, 2), torch.zeros(4))
    with pytest.raises(ValueError, match="batch_size must be a whole number of examples, 1 or more; got 0"):
        TensorBatchLoader(torch.zeros(5), batch_size=0)
    with pytest.raises(ValueError, match="at least one tensor"):
        TensorBatchLoader()


def test_train_val_split_is_disjoint_complete_and_seeded():
    x, y = torch.arange(100).float(), torch.arange(100)
    (xt, yt), (xv, yv) = data.train_val_split(x, y, val_fraction=0.2, seed=3)
    assert len(yt) == 80 and len(yv) == 20
    assert sorted(torch.cat([yt, yv]).tolist()) == list(range(100))
    assert torch.equal(xt.long(), yt)
    assert torch.equal(data.train_val_split(x, y, val_fraction=0.2, seed=3)[1][1], yv)
    with pytest.raises(ValueError, match=r"val_fraction must be a number in \(0, 1\); got 1\.5\. E\.g\. 0\.1"):
        data.train_val_split(x, val_fraction=1.5)


def test_synthetic_sets():
    x, y = data.make_spirals(n_per_class=50, n_classes=4, seed=1)
    assert x.shape == (200, 2) and torch.bincount(y).tolist() == [50] * 4
    assert torch.equal(x, data.make_spirals(n_per_class=50, n_classes=4, seed=1)[0])
    waves = data.make_sine_waves(n_series=8, length=30, noise=0.0)
    assert waves.shape == (8, 30) and float(waves.abs().max()) <= 1.0


def test_a_file_corrupted_after_a_first_load_is_caught_on_the_next(data_copy):
    # Nothing is cached between calls: every load verifies the files again.
    data.load_mnist(train=False, limit=10)
    path = data_copy / "mnist" / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(CorruptDataError, match=r"t10k-labels-idx1-ubyte\.gz is corrupt"):
        data.load_mnist(train=False, limit=10)


# ----------------------------------------------------------------------------- issue 8: data
@pytest.mark.parametrize("bad", ["test", "False", 3, 0, None, 1.0])
def test_train_must_be_a_bool(bad):
    """load_mnist(train="test") used to return the training set, and load_mnist(3) all 60,000 images."""
    with pytest.raises(
        TypeError,
        match=rf"train must be True or False, got {re.escape(repr(bad))}\. True gives the "
        r"60,000 training images, False the 10,000 test images",
    ):
        data.load_mnist(train=bad)
    with pytest.raises(TypeError, match="train must be True or False"):
        data.mnist_torchvision(train=bad)
    assert len(data.load_mnist(train=np.bool_(False), limit=3)[1]) == 3


def _flip_byte(path, offset):
    raw = bytearray(path.read_bytes())
    raw[offset] = (raw[offset] + 1) % 10  # a label byte becomes another valid label
    path.write_bytes(bytes(raw))


def test_torchvision_cache_that_changed_on_disk_is_rebuilt_not_read(tmp_path, monkeypatch):
    """The decompressed cache was checked by size only: a flipped byte changed a label silently."""
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    raw = tmp_path / "cache" / "torchvision" / "MNIST" / "raw"
    _, y = data.load_mnist(train=False, limit=5)
    data.mnist_torchvision(train=False)
    _flip_byte(raw / "t10k-labels-idx1-ubyte", 8)  # the first label, right after the 8-byte header
    assert [data.mnist_torchvision(train=False)[i][1] for i in range(5)] == y.tolist()
    (raw / "t10k-images-idx3-ubyte").write_bytes(b"")  # a cache file cut short
    image, _ = data.mnist_torchvision(train=False)[0]
    assert np.array_equal(
        np.asarray(image, dtype=np.float32) / 255.0, data.load_mnist(train=False, limit=1)[0][0, 0].numpy()
    )


def test_an_unwritable_cache_says_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))

    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)
    with pytest.raises(
        data.UnreadableDataError,
        match=r"Cannot use the cache folder .*Permission denied\. Set the "
        r"environment variable COURSE_CACHE_DIR to a folder you can write",
    ):
        data.mnist_torchvision(train=False)


def _folder_error(monkeypatch, folder):
    monkeypatch.setenv("COURSE_DATA_DIR", str(folder))
    with pytest.raises(data.DataFolderError) as caught:
        data.load_mnist(train=False)
    message = str(caught.value)
    assert (
        message.count("git checkout") == 0
        and "should contain mnist/ (the four MNIST .gz files) and tinyshakespeare/ (input.txt)" in message
    )
    assert set(data.data_status().values()) == {"missing"}
    with pytest.raises(data.DataFolderError):
        data.load_tiny_shakespeare()
    return message


def test_course_data_dir_at_a_missing_folder(tmp_path, monkeypatch):
    message = _folder_error(monkeypatch, tmp_path / "nowhere")
    assert message.startswith(f"COURSE_DATA_DIR points at {tmp_path / 'nowhere'}, which does not exist.")
    assert "unset it to use the course's own data/" in message


def test_course_data_dir_at_a_file(tmp_path, monkeypatch):
    (tmp_path / "data.zip").write_bytes(b"PK")
    assert "data.zip, which is a file, not a folder." in _folder_error(monkeypatch, tmp_path / "data.zip")


def test_course_data_dir_one_level_too_deep_or_too_shallow(data_copy, monkeypatch):
    message = _folder_error(monkeypatch, data_copy / "mnist")
    assert "holds neither mnist/ nor tinyshakespeare/" in message
    assert f"It looks like one of those folders itself: point at the folder above it, {data_copy}." in message
    message = _folder_error(monkeypatch, data_copy.parent)
    assert f"It holds a data/ folder: point at {data_copy}." in message


def test_missing_default_data_folder_says_how_to_restore_it(tmp_path, monkeypatch):
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    monkeypatch.setattr(data, "data_dir", lambda: tmp_path / "data")
    with pytest.raises(
        data.DataFolderError,
        match=r"^The course's data folder .* does not exist\..*`git checkout -- "
        r"data`\), or set COURSE_DATA_DIR",
    ):
        data.verify_file("tinyshakespeare/input.txt")


def _refuse_reading(monkeypatch, name):
    real_open = Path.open

    def guarded(self, *args, **kwargs):
        if self.name == name:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", guarded)


def test_an_unreadable_file_is_explained_and_reported(data_copy, monkeypatch):
    _refuse_reading(monkeypatch, "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(
        data.UnreadableDataError,
        match=r"t10k-labels-idx1-ubyte\.gz cannot be read: Permission denied "
        r"\(the file, or a folder above it, is not readable.*chmod -R u\+rX",
    ):
        data.load_mnist(train=False)
    assert data.data_status()["mnist/t10k-labels-idx1-ubyte.gz"] == "unreadable"


def test_an_unreadable_data_folder_is_explained(data_copy, monkeypatch):
    real_is_dir = Path.is_dir

    def guarded(self):
        if self.parent == data_copy:
            raise PermissionError(13, "Permission denied", str(self))
        return real_is_dir(self)

    monkeypatch.setattr(Path, "is_dir", guarded)
    with pytest.raises(data.UnreadableDataError, match="cannot be read: Permission denied"):
        data.load_mnist(train=False)
    assert set(data.data_status().values()) == {"unreadable"}


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads files whatever their mode")
def test_a_file_without_read_permission_for_real(data_copy):
    path = data_copy / "tinyshakespeare" / "input.txt"
    path.chmod(0)
    try:
        with pytest.raises(data.UnreadableDataError, match="cannot be read"):
            data.load_tiny_shakespeare()
    finally:
        path.chmod(0o644)


# ----------------------------------------------------------------------------- train_val_split checks
def test_train_val_split_refuses_what_it_cannot_split():
    x, y = torch.arange(10).float(), torch.arange(10)
    with pytest.raises(
        ValueError,
        match=r"at least one example on each side, but 10 example\(s\) with "
        r"val_fraction=0\.97 leave 0 for training",
    ):
        data.train_val_split(x, y, val_fraction=0.97)
    with pytest.raises(ValueError, match=r"same number of examples \(first dimension\); got \[10, 9\]"):
        data.train_val_split(x, y[:9])  # y used to be silently truncated
    with pytest.raises(ValueError, match=r"1 example\(s\) with val_fraction=0\.5 leave 0 for training"):
        data.train_val_split(x[:1], val_fraction=0.5)
    with pytest.raises(TypeError, match=r"train_val_split takes tensors, but argument 2 is a list"):
        data.train_val_split(x, list(range(10)))
    with pytest.raises(ValueError, match="needs at least one tensor"):
        data.train_val_split()
    with pytest.raises(ValueError, match="seed must be a whole number, 0 or more; got -1"):
        data.train_val_split(x, seed=-1)
    (xt,), (xv,) = data.train_val_split(x[:2], val_fraction=0.1)
    assert len(xt) == len(xv) == 1


# ----------------------------------------------------------------------------- TensorBatchLoader checks
@pytest.mark.parametrize("shuffle", [False, True])
def test_an_in_place_transform_or_loop_never_changes_the_stored_data(shuffle):
    x, y = torch.arange(12.0).reshape(6, 2), torch.arange(6)
    original = x.clone()

    def brighten(batch):
        batch += 100  # in place, as x.add_(...) or a careless augmentation would
        return batch

    loader = TensorBatchLoader(x, y, batch_size=4, shuffle=shuffle, transform=brighten)
    for xb, yb in loader:
        assert float(xb.min()) >= 100
        yb.zero_()  # the loop changes a batch in place too
    assert torch.equal(x, original) and torch.equal(y, torch.arange(6))
    assert torch.equal(loader.tensors[0], original)


def test_batch_loader_refuses_lists_and_bad_options_with_the_fix():
    with pytest.raises(TypeError, match=r"takes tensors, but argument 1 is a list\. Convert it first: torch\.tensor"):
        TensorBatchLoader([1.0, 2.0, 3.0], torch.arange(3))
    with pytest.raises(ValueError, match=r"argument 2 is a single number \(a 0-d tensor\)"):
        TensorBatchLoader(torch.zeros(3), torch.tensor(1))
    with pytest.raises(TypeError, match="shuffle must be True or False, got 'yes'"):
        TensorBatchLoader(torch.zeros(3), shuffle="yes")
    with pytest.raises(TypeError, match="drop_last must be True or False"):
        TensorBatchLoader(torch.zeros(3), drop_last=1)
    with pytest.raises(TypeError, match=r"generator must be a torch\.Generator"):
        TensorBatchLoader(torch.zeros(3), shuffle=True, generator=0)
    with pytest.raises(TypeError, match="transform must be a function"):
        TensorBatchLoader(torch.zeros(3), transform="shift")
    with pytest.raises(ValueError, match=r"batch_size must be a whole number of examples, 1 or more; got 2\.0"):
        TensorBatchLoader(torch.zeros(3), batch_size=2.0)
    from course_lib.device import DeviceNotAvailableError

    with pytest.raises(DeviceNotAvailableError):
        TensorBatchLoader(torch.zeros(3), device=torch.device("meta"))


def test_drop_last_with_fewer_examples_than_one_batch_says_so():
    with pytest.raises(
        ValueError,
        match=r"with 50 examples and batch_size=64 the only batch is incomplete: the loader "
        r"would yield nothing",
    ):
        TensorBatchLoader(torch.zeros(50, 2), batch_size=64, drop_last=True)
    assert len(TensorBatchLoader(torch.zeros(64, 2), batch_size=64, drop_last=True)) == 1
    assert len(TensorBatchLoader(torch.zeros(50, 2), batch_size=64)) == 1


# ----------------------------------------------------------------------------- TensorBatchLoader resume
def _batches(loader, count=None):
    out = []
    for batch in loader:
        out.append(batch[1].tolist())
        if count is not None and len(out) == count:
            break
    return out


def _loader(seed=0, shuffle=True, generator=True, n=23, **options):
    x, y = torch.arange(n * 2.0).reshape(n, 2), torch.arange(n)
    gen = torch.Generator().manual_seed(seed) if generator else None
    return TensorBatchLoader(x, y, batch_size=5, shuffle=shuffle, generator=gen, **options)


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("done", [0, 2, 5])
def test_a_restored_loader_continues_exactly_where_the_saved_one_was(shuffle, done):
    """Mid-epoch after `done` batches (5 = the whole epoch handed out, before the loop ended), then two more epochs."""
    original = _loader(shuffle=shuffle)
    _batches(original)  # a first whole epoch
    iterator = iter(original)
    for _ in range(done):
        next(iterator)
    state = original.state_dict()
    expected = [b[1].tolist() for b in iterator] + [_batches(original), _batches(original)]
    restored = _loader(seed=99, shuffle=shuffle)  # a different seed: everything must come from the state
    restored.load_state_dict(state)
    assert restored.state_dict()["position"] == done
    got = _batches(restored)
    assert got + [_batches(restored), _batches(restored)] == expected
    assert restored.epochs_completed == original.epochs_completed == 4


def test_state_between_epochs_and_without_a_generator():
    original = _loader()
    _batches(original)
    state = original.state_dict()
    assert state["position"] == 0 and state["order"] is None and state["epochs_completed"] == 1
    restored = _loader(seed=5)
    restored.load_state_dict(state)
    assert _batches(restored) == _batches(original)
    # Without a generator the epoch in progress is restored from the saved order; later epochs use the global RNG.
    plain = _loader(generator=False)
    torch.manual_seed(3)
    iterator = iter(plain)
    first = next(iterator)[1].tolist()
    state = plain.state_dict()
    rest = [b[1].tolist() for b in iterator]
    again = _loader(generator=False)
    again.load_state_dict(state)
    assert _batches(again) == rest and sorted(sum(rest, first)) == list(range(23))


def test_load_state_dict_refuses_a_state_from_another_loader():
    state = _loader().state_dict()
    with pytest.raises(
        ValueError, match=r"saved from a loader with num_examples=23, but this loader has num_examples=30"
    ):
        _loader(n=30).load_state_dict(state)
    with pytest.raises(ValueError, match=r"saved from a loader with drop_last=False"):
        _loader(drop_last=True).load_state_dict(state)
    with pytest.raises(ValueError, match=r"saved from a loader with a generator; create this loader with one too"):
        _loader(generator=False).load_state_dict(state)
    with pytest.raises(ValueError, match="expects the dict that TensorBatchLoader.state_dict"):
        _loader().load_state_dict({"epoch": 3})


@pytest.mark.slow
def test_the_state_survives_torch_save_and_a_fresh_process(tmp_path):
    """Chapter 10's exact resume: the state holds only plain values and tensors (weights_only loads it), and a new
    Python process that restores it yields exactly the batches the original would have yielded next."""
    script = textwrap.dedent("""
        import sys, torch
        from course_lib.data import TensorBatchLoader
        x, y = torch.arange(46.0).reshape(23, 2), torch.arange(23)
        loader = TensorBatchLoader(x, y, batch_size=5, shuffle=True, generator=torch.Generator().manual_seed(int(sys.argv[2])))
        if sys.argv[1] == "save":
            [None for _ in loader]
            iterator = iter(loader)
            next(iterator), next(iterator)
            torch.save(loader.state_dict(), sys.argv[3])
            batches = [b[1].tolist() for b in iterator] + [b[1].tolist() for b in loader]
        else:
            loader.load_state_dict(torch.load(sys.argv[3], weights_only=True))
            batches = [b[1].tolist() for b in loader] + [b[1].tolist() for b in loader]
        print(batches)
    """)
    path = str(tmp_path / "loader.pt")
    run = lambda *args: (
        subprocess.run(
            [sys.executable, "-c", script, *args],
            capture_output=True,
            text=True,  # noqa: E731
            check=True,
        ).stdout
    )
    expected = run("save", "0", path)
    assert run("load", "7", path) == expected and len(json.loads(expected)) == 3 + 5  # 5 batches an epoch


# ----------------------------------------------------------------------------- normalisation
def test_normalize_mnist_is_the_training_statistics_and_refuses_the_wrong_scale():
    x, _ = data.load_mnist(train=True, limit=20_000)
    z = data.normalize_mnist(x)
    assert abs(float(z.mean())) < 0.02 and abs(float(z.std()) - 1) < 0.02
    torch.testing.assert_close(z, (x - 0.1307) / 0.3081)
    torch.testing.assert_close(data.denormalize_mnist(z), x)
    assert float(z.min()) == pytest.approx(data.MNIST_BACKGROUND) and data.MNIST_BACKGROUND == pytest.approx(
        -0.42421, abs=1e-5
    )
    assert torch.equal(x, data.load_mnist(train=True, limit=20_000)[0])  # the input is left alone
    with pytest.raises(
        ValueError, match=r"pixels in \[0, 1\].*range from -0\.424 to 2\.82\. Were they normalised already"
    ):
        data.normalize_mnist(z)
    with pytest.raises(TypeError, match=r"got torch\.uint8\. Raw bytes 0-255 become that with images\.float\(\) / 255"):
        data.normalize_mnist((x * 255).to(torch.uint8))


# ----------------------------------------------------------------------------- the standard Dataset idiom
def test_mnist_dataset_items_are_the_normalised_tensors_load_mnist_gives():
    dataset = data.MNISTDataset(train=False, limit=300)
    x, y = data.load_mnist(train=False, limit=300)
    assert len(dataset) == 300
    image, label = dataset[7]
    assert image.shape == (1, 28, 28) and image.dtype == torch.float32 and isinstance(label, int)
    assert torch.equal(image, data.normalize_mnist(x[7:8])[0]) and label == int(y[7])
    assert torch.equal(dataset[-1][0], data.normalize_mnist(x[-1:])[0])
    raw, _ = data.MNISTDataset(train=False, limit=300, normalize=False)[7]
    assert torch.equal(raw, x[7])


def test_mnist_dataset_through_a_dataloader_and_a_subset_gives_the_split_tensors():
    dataset = data.MNISTDataset(train=False, limit=500)
    x, y = data.load_mnist(train=False, limit=500)
    (x_train, y_train), (x_val, y_val) = data.train_val_split(data.normalize_mnist(x), y, val_fraction=0.2, seed=3)
    train_idx, val_idx = data.train_val_indices(len(dataset), val_fraction=0.2, seed=3)
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(dataset, train_idx), batch_size=128)
    batches = list(loader)
    assert [len(b[1]) for b in batches] == [128, 128, 128, 16]
    assert torch.equal(torch.cat([b[0] for b in batches]), x_train)
    assert torch.equal(torch.cat([b[1] for b in batches]), y_train) and batches[0][1].dtype == torch.int64
    assert torch.equal(torch.stack([dataset[int(i)][0] for i in val_idx]), x_val)


def test_mnist_dataset_can_go_to_a_worker_process():
    """DataLoader workers receive the dataset pickled (spawned on macOS and Windows): it must survive that."""
    import pickle

    dataset = data.MNISTDataset(train=False, limit=50)
    copy = pickle.loads(pickle.dumps(dataset))
    assert len(copy) == 50 and torch.equal(copy[3][0], dataset[3][0])


@pytest.mark.parametrize(
    "index, error, match",
    [
        (50, IndexError, r"index 50 is out of range for 50 examples"),
        (-51, IndexError, "out of range"),
        (1.0, TypeError, "one whole number"),
        (slice(0, 2), TypeError, "one whole number"),
    ],
)
def test_mnist_dataset_bad_index(index, error, match):
    with pytest.raises(error, match=match):
        data.MNISTDataset(train=False, limit=50)[index]


def test_mnist_dataset_bad_arguments():
    with pytest.raises(TypeError, match="train must be True or False"):
        data.MNISTDataset(train="yes")
    with pytest.raises((TypeError, ValueError), match="limit"):
        data.MNISTDataset(limit=0)


def test_train_val_indices_are_what_train_val_split_uses():
    x = torch.arange(20)
    train_idx, val_idx = data.train_val_indices(20, val_fraction=0.25, seed=1)
    (train,), (val,) = data.train_val_split(x, val_fraction=0.25, seed=1)
    assert torch.equal(x[train_idx], train) and torch.equal(x[val_idx], val) and len(val) == 5
    with pytest.raises(ValueError, match="train_val_indices needs at least one example on each side"):
        data.train_val_indices(1, val_fraction=0.5)
