import gzip
import hashlib
import shutil

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
    for bad in (0, -5, 2.5):
        with pytest.raises(ValueError, match="limit must be a positive whole number"):
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
                assert hashlib.sha256((PROJECT_ROOT / "data" / folder / name.lstrip("*")).read_bytes()).hexdigest() == digest
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
    order = lambda seed: torch.cat([b[1] for b in TensorBatchLoader(  # noqa: E731
        x, y, batch_size=3, shuffle=True, generator=torch.Generator().manual_seed(seed))])
    assert torch.equal(order(1), order(1)) and not torch.equal(order(1), order(2))


def test_batch_loader_errors_are_explained():
    with pytest.raises(ValueError, match="same number of examples"):
        TensorBatchLoader(torch.zeros(5, 2), torch.zeros(4))
    with pytest.raises(ValueError, match="batch_size must be a positive"):
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
    with pytest.raises(ValueError, match="val_fraction must be between 0 and 1"):
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
