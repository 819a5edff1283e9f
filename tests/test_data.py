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


def test_lfw_subset_is_scikit_images_100_faces():
    from skimage import data

    from privgan_runner.data.lfw_subset import LFWSubset

    pool = LFWSubset(image_size=25).load()
    assert pool.images.shape == (100, 1, 25, 25) and pool.images.min() >= -1 and pool.images.max() <= 1
    faces = data.lfw_subset()[:100]  # the faces, not the 100 background crops after them
    assert np.allclose(pool.images[:, 0].numpy(), faces * 2 - 1, atol=1e-6)


def test_lfw_sn_runs_on_the_lfw_subset(tmp_path):
    """The face protocol of the brief, on the real faces that ship with scikit-image."""
    from privgan_runner import pipeline

    from .conftest import compose_config

    cfg = compose_config(
        "+experiment=lfw_sn",
        "dataset=lfw_subset",
        "dataset.image_size=16",
        "model.width=8",
        "trainer.batch_size=10",
        "trainer.epochs=2",
        "trainer.progress=false",
        "attack.white_box.bootstrap=0",
        "attack.top_m.bootstrap=0",
    )
    results = pipeline.run(cfg, run_dir=tmp_path / "run")
    assert results["status"] == "completed" and results["dataset"]["n_members"] == 50
    assert results["config"]["regularizer"]["name"] == "spectral_norm"


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


def test_missing_dataset_says_where_it_looked_and_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no dataset.root: ./data, then the system folders
    ds = FashionMNIST(image_size=28)
    ds.system_folders = (str(tmp_path / "system"),)
    with pytest.raises(DatasetNotFoundError) as err:
        ds.load()
    text = str(err.value)
    assert "data/FashionMNIST/raw" in text
    assert str(tmp_path / "system") in text
    assert "download" in text and "apt-get install dataset-fashion-mnist" in text


def test_a_given_root_without_the_dataset_is_refused_not_replaced_by_the_system_copy(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _fixture(tmp_path / "system")  # a copy the default search would find
    ds = FashionMNIST(image_size=28, root=str(tmp_path / "nowhere"))
    ds.system_folders = (str(tmp_path / "system"),)
    with pytest.raises(DatasetNotFoundError) as err:
        ds.load()
    assert str(tmp_path / "nowhere") in str(err.value) and str(tmp_path / "system") not in str(err.value)
    ds.root = None  # not given: the system copy is found, and the pool says where it came from
    assert ds.load().source == str(tmp_path / "system")


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
        batch = {
            "data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
            "labels": rng.integers(0, 10, per_batch).tolist(),
        }
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


def _jpg(path, rng, size=(250, 250)):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (*size[::-1], 3), dtype=np.uint8)).save(path)


@pytest.mark.parametrize("tree", ["lfw", "lfw-deepfunneled", "lfw-py/lfw_funneled", ""])
def test_lfw_layouts(tmp_path, tree):
    from privgan_runner.data.lfw import LFW

    rng = np.random.default_rng(0)
    for name, n in (("Ada_Lovelace", 2), ("Alan_Turing", 3)):
        for i in range(1, n + 1):
            _jpg(tmp_path / tree / name / f"{name}_{i:04d}.jpg", rng)
    pool = LFW(root=str(tmp_path)).load()
    assert pool.images.shape == (5, 3, 64, 64) and pool.labels.tolist() == [0, 0, 1, 1, 1]
    assert pool.images.min() >= -1 and pool.images.max() <= 1


def test_lfw_missing_says_where_and_how(tmp_path):
    from privgan_runner.data.lfw import LFW

    with pytest.raises(DatasetNotFoundError) as err:
        LFW(root=str(tmp_path)).load()
    assert str(tmp_path / "lfw-deepfunneled") in str(err.value) and "<Name>_0001.jpg" in str(err.value)


def _idc_tree(root, patients=("10253", "10254", "10255", "10256"), per=3):
    rng = np.random.default_rng(0)
    for p in patients:
        for label in (0, 1):
            for i in range(per):
                path = root / p / str(label) / f"{p}_idx5_x{i}_y0_class{label}.png"
                from PIL import Image

                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(rng.integers(0, 256, (50, 50, 3), dtype=np.uint8)).save(path)


def test_idc_positive_patches_and_patient_level_split(tmp_path):
    from privgan_runner.data.idc import IDC
    from privgan_runner.data.split import split_by_group

    _idc_tree(tmp_path / "IDC_regular_ps50_idx5")
    pool = IDC(root=str(tmp_path)).load()
    assert pool.images.shape == (12, 3, 32, 32)  # positives only: 4 patients x 3
    split = split_by_group(pool.groups, 0.5, None, seed=0)
    members, nonmembers = set(pool.groups[split.member_idx]), set(pool.groups[split.nonmember_idx])
    assert members and nonmembers and not members & nonmembers  # no patient on both sides
    assert sorted(split.extra["member_groups"]) == sorted(members)


def test_idc_provider_partition_from_a_split_file(tmp_path):
    from privgan_runner.data.idc import IDC
    from privgan_runner.data.split import split_by_group

    _idc_tree(tmp_path)
    split_file = tmp_path / "split.csv"
    split_file.write_text("patient_id,split\n10253,train\n10254,train\n10255,train\n10256,test\n")
    pool = IDC(root=str(tmp_path), split_file=str(split_file)).load()
    split = split_by_group(pool.groups, 0.5, None, seed=0, member_groups=pool.member_groups)
    assert len(split.member_idx) == 9 and len(split.nonmember_idx) == 3
    split_file.write_text("patient_id,split\n10253,train\n99999,test\n")
    with pytest.raises(ConfigError, match="no patches on disk"):
        IDC(root=str(tmp_path), split_file=str(split_file)).load()


def test_idc_pipeline_reports_patient_counts(tmp_path):
    from privgan_runner import pipeline

    from .conftest import compose_config

    _idc_tree(tmp_path / "data", patients=tuple(str(10000 + i) for i in range(8)), per=4)
    cfg = compose_config(
        "dataset=idc",
        f"dataset.root={tmp_path / 'data'}",
        "dataset.member_fraction=0.5",
        "model.width=8",
        "trainer.epochs=1",
        "trainer.batch_size=4",
        "trainer.progress=false",
        "attack.white_box.bootstrap=0",
        "attack.top_m.bootstrap=0",
        "metric=[gen_gap]",
    )
    results = pipeline.run(cfg, run_dir=tmp_path / "run")
    d = results["dataset"]
    assert d["n_member_groups"] + d["n_nonmember_groups"] == 8 and d["split"] == "seeded, by group"
    with np.load(tmp_path / "run" / "membership.npz") as f:
        assert not set(f["member_groups"]) & set(f["nonmember_groups"])


@pytest.mark.parametrize("layout", ["celeba/img_align_celeba", "img_align_celeba"])
def test_celeba_layouts_and_limit(tmp_path, layout):
    from privgan_runner.data.celeba import CelebA

    rng = np.random.default_rng(0)
    for i in range(1, 6):
        _jpg(tmp_path / layout / f"{i:06d}.jpg", rng, size=(178, 218))
    assert CelebA(root=str(tmp_path)).load().images.shape == (5, 3, 64, 64)
    assert CelebA(root=str(tmp_path), max_images=3).load().images.shape == (3, 3, 64, 64)


def test_celeba_missing_says_where(tmp_path):
    from privgan_runner.data.celeba import CelebA

    with pytest.raises(DatasetNotFoundError, match="img_align_celeba"):
        CelebA(root=str(tmp_path)).load()


def test_public_records_are_never_members_nor_attacked_and_default_to_none(tiny_run, tmp_path):
    from privgan_runner.data.split import Membership

    results, run_dir = tiny_run(
        "dataset.public_fraction=0.25",
        "metric=[gen_gap]",
        "audit=one_run",
        "audit.n_canaries=8",
        "audit.k_pos=2",
        "audit.k_neg=2",
    )
    m = Membership.load(run_dir / "membership.npz")
    public = m.extra["public_idx"]
    # a quarter of the training data is public: public / (public + members) = 1/4 (dp-GAN's 2:98 reading)
    assert len(public) == round(len(m.member_idx) / 3)
    assert len(public) / (len(public) + len(m.member_idx)) == pytest.approx(0.25, abs=0.02)
    for other in (m.member_idx, m.nonmember_idx, m.extra["canary_idx"]):
        assert not set(public) & set(other)
    assert results["dataset"]["n_public"] == len(public) and results["dataset"]["public_used"] is False
    assert results["dataset"]["public_share"] == pytest.approx(0.25, abs=0.02)
    plain, plain_dir = tiny_run("metric=[gen_gap]", run_dir=tmp_path / "plain")
    zero, zero_dir = tiny_run("metric=[gen_gap]", "dataset.public_fraction=0.0", run_dir=tmp_path / "zero")
    a, b = Membership.load(plain_dir / "membership.npz"), Membership.load(zero_dir / "membership.npz")
    assert (a.member_idx == b.member_idx).all() and "public_idx" not in b.extra and "n_public" not in zero["dataset"]


@pytest.mark.parametrize("fraction", ["0.99", "1.5"])
def test_a_public_share_that_leaves_no_split_is_refused_naming_the_key(tiny_run, tmp_path, fraction):
    from privgan_runner.errors import ConfigError

    with pytest.raises(ConfigError, match="dataset.public_fraction"):
        tiny_run(f"dataset.public_fraction={fraction}")
    assert not (tmp_path / "run" / "job.json").exists()


def test_a_pool_seed_fixes_the_public_records_too(tiny_run, tmp_path):
    """With dataset.pool_seed every seed must split the same universe: the public records are drawn from the
    pool seed as well (drawn from the run's seed, two seeds' universes shared only part of their records)."""
    from privgan_runner.data.split import Membership

    splits = []
    for seed in (0, 1):
        _, run_dir = tiny_run(
            "dataset.public_fraction=0.2",
            "dataset.pool_seed=7",
            "dataset.max_samples=40",
            "metric=[gen_gap]",
            f"seed={seed}",
            "trainer.epochs=1",
            run_dir=tmp_path / str(seed),
        )
        splits.append(Membership.load(run_dir / "membership.npz"))
    a, b = splits
    assert (a.extra["public_idx"] == b.extra["public_idx"]).all()
    universe = lambda m: set(m.member_idx) | set(m.nonmember_idx)  # noqa: E731
    assert universe(a) == universe(b) and set(a.member_idx) != set(b.member_idx)


@pytest.mark.parametrize(
    "override, key",
    [
        ("dataset.pool_seed=-1", "dataset.pool_seed"),
        ("dataset.pool_seed=1.5", "dataset.pool_seed"),
        ("dataset.pool_seed=true", "dataset.pool_seed"),
        ("audit.canary_seed=-3", "audit.canary_seed"),
        ("audit.canary_seed=0.5", "audit.canary_seed"),
    ],
)
def test_seeds_numpy_would_reject_are_refused_with_the_config(override, key):
    from privgan_runner.errors import ConfigError
    from privgan_runner.pipeline import build_components

    from .conftest import compose_config

    with pytest.raises(ConfigError) as err:
        build_components(compose_config("audit=one_run", override))
    assert err.value.key == key
