"""Datasets load in [-1, 1] at the asked size; IDX files are found in every layout; splits are exact."""
from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from privgan_runner.data.digits import Digits
from privgan_runner.data.fashion_mnist import FashionMNIST
from privgan_runner.data.split import Membership, split_pool
from privgan_runner.data.synthetic import Synthetic
from privgan_runner.errors import ConfigError, DatasetNotFoundError


def test_digits_is_the_real_bundled_set():
    pool = Digits(image_size=16).load()
    assert pool.images.shape == (1797, 1, 16, 16) and pool.n_classes == 10
    assert pool.images.min() >= -1 and pool.images.max() <= 1
    assert sorted(pool.labels.unique().tolist()) == list(range(10))


@pytest.mark.parametrize("size,channels", [(16, 1), (28, 1), (32, 3), (64, 3)])
def test_synthetic_any_shape(size, channels):
    pool = Synthetic(image_size=size, channels=channels, n_samples=20).load()
    assert pool.images.shape == (20, channels, size, size)
    assert pool.images.min() >= -1 and pool.images.max() <= 1


def _write_idx(path, array, gz):
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    (gzip.open if gz else open)(str(path) + (".gz" if gz else ""), "wb").write(data)


def _fixture(folder, n_train=12, n_test=6, gz=True):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("t10k", n_test)):
        _write_idx(folder / f"{split}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)), gz)
        _write_idx(folder / f"{split}-labels-idx1-ubyte", rng.integers(0, 10, n), gz)


@pytest.mark.parametrize("layout,gz", [("FashionMNIST/raw", False), ("FashionMNIST/raw", True), ("", True)])
def test_fashion_mnist_layouts(tmp_path, layout, gz):
    _fixture(tmp_path / layout, gz=gz)
    ds = FashionMNIST(image_size=28, root=str(tmp_path))
    ds.system_folders = ()
    pool = ds.load()
    assert pool.images.shape == (18, 1, 28, 28) and pool.labels.shape == (18,)
    assert pool.images.min() >= -1 and pool.images.max() <= 1


def test_fashion_mnist_resizes(tmp_path):
    _fixture(tmp_path / "FashionMNIST" / "raw")
    ds = FashionMNIST(image_size=32, root=str(tmp_path))
    ds.system_folders = ()
    assert ds.load().images.shape == (18, 1, 32, 32)


def test_missing_dataset_says_where_it_looked_and_how_to_get_it(tmp_path):
    ds = FashionMNIST(image_size=28, root=str(tmp_path / "nowhere"))
    ds.system_folders = (str(tmp_path / "system"),)
    with pytest.raises(DatasetNotFoundError) as err:
        ds.load()
    text = str(err.value)
    assert str(tmp_path / "nowhere" / "FashionMNIST" / "raw") in text
    assert str(tmp_path / "system") in text
    assert "download" in text and "apt-get install dataset-fashion-mnist" in text


def test_split_is_seeded_disjoint_and_saved(tmp_path):
    a = split_pool(100, 0.3, None, seed=1)
    b = split_pool(100, 0.3, None, seed=1)
    c = split_pool(100, 0.3, None, seed=2)
    assert np.array_equal(a.member_idx, b.member_idx) and not np.array_equal(a.member_idx, c.member_idx)
    assert len(a.member_idx) == 30 and len(a.nonmember_idx) == 70
    assert not set(a.member_idx) & set(a.nonmember_idx)
    small = split_pool(100, 0.5, 20, seed=1)
    assert len(small.member_idx) == 10 and len(small.nonmember_idx) == 10
    loaded = Membership.load(a.save(tmp_path / "membership.npz"))
    assert np.array_equal(loaded.member_idx, a.member_idx)


def test_split_refuses_empty_sides():
    with pytest.raises(ConfigError, match="member_fraction"):
        split_pool(10, 0.01, None, seed=0)


def _cifar_fixture(folder, per_batch=4):
    import pickle

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
                 "labels": rng.integers(0, 10, per_batch).tolist()}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)


@pytest.mark.parametrize("layout", ["cifar-10-batches-py", ""])
def test_cifar10_layouts(tmp_path, layout):
    from privgan_runner.data.cifar10 import CIFAR10

    _cifar_fixture(tmp_path / layout)
    pool = CIFAR10(root=str(tmp_path)).load()
    assert pool.images.shape == (24, 3, 32, 32) and pool.labels.shape == (24,)
    assert pool.images.min() >= -1 and pool.images.max() <= 1


def test_cifar10_channel_order(tmp_path):
    """A record stored as R-plane, G-plane, B-plane comes back with those channels."""
    import pickle

    from privgan_runner.data.cifar10 import CIFAR10

    _cifar_fixture(tmp_path)
    row = np.concatenate([np.full(1024, 255), np.zeros(1024), np.full(1024, 0)]).astype(np.uint8)
    with open(tmp_path / "data_batch_1", "rb") as f:
        batch = pickle.load(f)
    batch["data"][0] = row
    with open(tmp_path / "data_batch_1", "wb") as f:
        pickle.dump(batch, f)
    img = CIFAR10(root=str(tmp_path)).load().images[0]
    assert img[0].min() == 1.0 and img[1].max() == -1.0 and img[2].max() == -1.0


def test_cifar10_missing_says_where(tmp_path):
    from privgan_runner.data.cifar10 import CIFAR10

    with pytest.raises(DatasetNotFoundError, match="cifar-10-batches-py"):
        CIFAR10(root=str(tmp_path)).load()
