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
