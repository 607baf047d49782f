"""Tests of adcgan.evaluation.protocols: exact counts on the real MNIST / Fashion-MNIST labels."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import real_data

from adcgan.data import DATASETS
from adcgan.data.formats import idx_files
from adcgan.data.readers import read_idx
from adcgan.evaluation.protocols import SCHEMES, TEST_SETS, make_split, normal_classes, subsample_stratified

MNIST_TRAIN = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def real_labels(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) labels of a real IDX dataset, or skip."""
    folder = real_data(name)
    files = idx_files(DATASETS[name], folder)
    return read_idx(files[1]).astype(np.int64), read_idx(files[3]).astype(np.int64)


@pytest.fixture(scope="module")
def fmnist():
    return real_labels("fashion-mnist")


@pytest.fixture(scope="module")
def mnist():
    return real_labels("mnist")


def counts(split, test_labels=None) -> tuple[int, int, int, int, int]:
    """(train, val, test total, test normal, test anomalous)."""
    y = split.y_test
    return len(split.train_idx), len(split.val_idx), len(y), int((y == 0).sum()), int((y == 1).sum())


def check_invariants(split, train_labels, test_labels):
    normal = np.isin(train_labels, split.normal_classes)
    assert not np.intersect1d(split.train_idx, split.val_idx).size
    assert np.array_equal(np.union1d(split.train_idx, split.val_idx), np.flatnonzero(normal))
    assert np.all(np.diff(split.train_idx) > 0) and np.all(np.diff(split.val_idx) > 0)
    y_std = (~np.isin(test_labels[split.test_idx], split.normal_classes)).astype(int)
    assert np.array_equal(split.y_test[:len(split.test_idx)], y_std)
    assert split.y_test[len(split.test_idx):].all()
    assert not np.isin(train_labels[split.test_from_train_idx], split.normal_classes).any()
    assert len(split.y_test) == len(split.test_idx) + len(split.test_from_train_idx)


@pytest.mark.parametrize("scheme,cls,test_set,expected", [
    ("one-vs-all", 1, "standard", (5400, 600, 10000, 1000, 9000)),
    ("one-vs-all", 1, "paper", (5400, 600, 64000, 1000, 63000)),
    ("all-vs-one", 1, "standard", (48600, 5400, 10000, 9000, 1000)),
    ("all-vs-one", 1, "paper", (48600, 5400, 16000, 9000, 7000)),
    ("one-vs-all", 9, "paper", (5400, 600, 64000, 1000, 63000)),
])
def test_fashion_mnist_counts(fmnist, scheme, cls, test_set, expected):
    split = make_split(*fmnist, scheme, cls, test_set)
    assert counts(split) == expected
    check_invariants(split, *fmnist)


def mnist_expected(scheme: str, c: int, test_set: str) -> tuple[int, int, int, int, int]:
    """Counts by hand from the class counts; val = floor(n/10 + 0.5)."""
    n_tr, n_te = sum(MNIST_TRAIN), sum(MNIST_TEST)
    if scheme == "one-vs-all":
        normal_tr, normal_te = MNIST_TRAIN[c], MNIST_TEST[c]
    else:
        normal_tr, normal_te = n_tr - MNIST_TRAIN[c], n_te - MNIST_TEST[c]
    val = int(np.floor(normal_tr / 10 + 0.5))
    anomalous = n_te - normal_te + (n_tr - normal_tr if test_set == "paper" else 0)
    return normal_tr - val, val, normal_te + anomalous, normal_te, anomalous


@pytest.mark.parametrize("scheme,cls,test_set,expected", [
    ("one-vs-all", 0, "standard", (5331, 592, 10000, 980, 9020)),
    ("one-vs-all", 0, "paper", (5331, 592, 64077, 980, 63097)),
    ("one-vs-all", 7, "standard", (5638, 627, 10000, 1028, 8972)),  # 626.5 rounds half up
    ("all-vs-one", 1, "standard", (47932, 5326, 10000, 8865, 1135)),
    ("all-vs-one", 1, "paper", (47932, 5326, 16742, 8865, 7877)),
    ("all-vs-one", 5, "paper", (49121, 5458, 15421, 9108, 6313)),
])
def test_mnist_counts(mnist, scheme, cls, test_set, expected):
    assert np.bincount(mnist[0]).tolist() == MNIST_TRAIN and np.bincount(mnist[1]).tolist() == MNIST_TEST
    assert mnist_expected(scheme, cls, test_set) == expected
    split = make_split(*mnist, scheme, cls, test_set)
    assert counts(split) == expected
    check_invariants(split, *mnist)


def test_all_mnist_protocols_match_hand_counts(mnist):
    for scheme in ("one-vs-all", "all-vs-one"):
        for c in range(10):
            for test_set in ("standard", "paper"):
                assert counts(make_split(*mnist, scheme, c, test_set)) == mnist_expected(scheme, c, test_set)


def test_validation_split_is_seeded():
    train = np.repeat(np.arange(3), 100)
    test = np.repeat(np.arange(3), 10)
    a, b = make_split(train, test, "one-vs-all", 2, seed=3), make_split(train, test, "one-vs-all", 2, seed=3)
    c = make_split(train, test, "one-vs-all", 2, seed=4)
    assert np.array_equal(a.val_idx, b.val_idx) and np.array_equal(a.train_idx, b.train_idx)
    assert not np.array_equal(a.val_idx, c.val_idx)
    assert len(a.val_idx) == 10 and a.val_idx.min() >= 200
    assert len(make_split(train, test, "one-vs-all", 2, val_fraction=0.0).val_idx) == 0


def test_cats_vs_dogs_scheme():
    train, test = np.array([0] * 80 + [1] * 120), np.array([0] * 20 + [1] * 30)
    split = make_split(train, test, "cats-vs-dogs", 1, "standard")
    assert split.normal_classes == (1,) and counts(split) == (108, 12, 50, 30, 20)
    paper = make_split(train, test, "cats-vs-dogs", 0, "paper")
    assert counts(paper) == (72, 8, 170, 20, 150) and "cats-vs-dogs" in paper.description
    with pytest.raises(ValueError, match="2 classes"):
        make_split(np.arange(3), np.arange(3), "cats-vs-dogs", 0)


def test_descriptions_and_errors():
    names = ["T-shirt/top", "Trouser"] + [f"c{i}" for i in range(8)]
    split = make_split(np.arange(10), np.arange(10), "one-vs-all", 1, class_names=names)
    assert split.description == "one-vs-all: normal = 1 (Trouser); test set = standard"
    assert "anomalous = 1" in make_split(np.arange(10), np.arange(10), "all-vs-one", 1).description
    assert normal_classes("all-vs-one", 0, 3) == (1, 2) and normal_classes("one-vs-all", 2, 3) == (2,)
    assert SCHEMES == ("one-vs-all", "all-vs-one", "cats-vs-dogs") and TEST_SETS == ("standard", "paper", "holdout")
    for kwargs, msg in (({"scheme": "some-vs-all"}, "unknown scheme"), ({"cls": 10}, "out of range"),
                        ({"cls": -1}, "out of range"), ({"test_set": "full"}, "unknown test set")):
        args = {"scheme": "one-vs-all", "cls": 1, **kwargs}
        with pytest.raises(ValueError, match=msg):
            make_split(np.arange(10), np.arange(10), **args)


def test_subsample_stratified_on_real_labels(fmnist):
    y = fmnist[1]
    idx = subsample_stratified(y, 1000, seed=0)
    assert len(idx) == 1000 and np.all(np.diff(idx) > 0)
    assert np.bincount(y[idx]).tolist() == [100] * 10
    assert np.array_equal(idx, subsample_stratified(y, 1000, seed=0))
    assert not np.array_equal(idx, subsample_stratified(y, 1000, seed=1))


def test_subsample_stratified_ratios_and_minimum():
    y = np.array([0] * 900 + [1] * 90 + [2] * 10)
    for n, want in ((100, [90, 9, 1]), (10, [8, 1, 1]), (3, [1, 1, 1]), (2, None), (0, [0, 0, 0])):
        idx = subsample_stratified(y, n, seed=5)
        assert len(idx) == n and len(np.unique(idx)) == n
        if want is not None:
            assert np.bincount(y[idx], minlength=3).tolist() == want
    assert np.array_equal(subsample_stratified(y, 5000, seed=0), np.arange(1000))
    split = make_split(np.repeat(np.arange(10), 60), np.repeat(np.arange(10), 10), "one-vs-all", 3)
    sub = subsample_stratified(split.y_test, 20, seed=0)
    assert split.y_test[sub].sum() == 18  # 9:1 anomaly ratio kept
    with pytest.raises(ValueError):
        subsample_stratified(y, -1, seed=0)


# ---- the holdout test set (development protocol: the test split is never read) -------------------
def test_holdout_split_counts_by_hand():
    train = np.repeat(np.arange(3), 50)  # 3 classes x 50 training images
    ova = make_split(train, None, "one-vs-all", 1, "holdout", seed=0)
    # 50 normal: round(0.2 * 50) = 10 held out; of the 40 left, round(4.0) = 4 validation, 36 train;
    # anomalies: 10 * 2 / 1 = 20, stratified: 10 of class 0 and 10 of class 2, all from the train split
    assert counts(ova) == (36, 4, 30, 10, 20) and len(ova.test_idx) == 0
    held, anomalies = ova.test_from_train_idx[:10], ova.test_from_train_idx[10:]
    assert (train[held] == 1).all() and np.bincount(train[anomalies]).tolist() == [10, 0, 10]
    parts = (ova.train_idx, ova.val_idx, held)
    assert sorted(np.concatenate(parts).tolist()) == list(range(50, 100))  # disjoint, and every normal image
    avo = make_split(train, np.arange(7), "all-vs-one", 2, "holdout", seed=0)  # test labels are ignored
    # 100 normal (classes 0, 1): 20 held out, 80 left -> 8 validation, 72 train; 20 * 1 / 2 = 10 anomalies
    assert counts(avo) == (72, 8, 30, 20, 10) and (train[avo.test_from_train_idx[20:]] == 2).all()
    assert "test split not read" in avo.description


def test_holdout_split_is_seeded():
    train = np.repeat(np.arange(4), 40)
    a, b, c = (make_split(train, None, "one-vs-all", 3, "holdout", seed=s) for s in (5, 5, 6))
    assert np.array_equal(a.test_from_train_idx, b.test_from_train_idx) and np.array_equal(a.train_idx, b.train_idx)
    assert not np.array_equal(a.test_from_train_idx, c.test_from_train_idx)


class _NoTestSplit:
    """A data set whose test split raises on access (every other attribute is the real one's)."""

    def __init__(self, ds):
        self._ds = ds

    def __getattr__(self, name):
        if name == "test":
            raise AssertionError("the development protocol read the test split")
        return getattr(self._ds, name)


@pytest.mark.slow
def test_holdout_run_never_reads_the_test_split(tmp_path, monkeypatch):
    from adcgan.evaluation import experiment

    real = experiment.load_data
    monkeypatch.setattr(experiment, "load_data", lambda spec: _NoTestSplit(real(spec)))
    spec = experiment.RunSpec(detector="ocsvm", dataset="fashion-mnist", cls="Trouser", test_set="holdout",
                              max_test_images=1000, data_dir=str(real_data("fashion-mnist")),
                              detector_config={"max_train_images": 1000})
    m = experiment.run_experiment(spec, tmp_path / "run", progress=False)
    # 6,000 Trouser training images: 1,200 held out, 10,800 other-class training images -> a 1,000 subset
    assert m["n_test"] == 1000 and m["n_normal"] == 100 and m["budget"]["test_images_full"] == 12000
    assert m["roc_auc"] > 0.9  # OC-SVM on Trouser: 0.97-0.99 on the test split (tests/test_baselines.py)


# ---- fit's own split: the training and validation caps ---------------------------------------------
def test_fit_split_caps_validation_without_touching_training():
    import torch

    from adcgan.config import DetectorConfig
    from adcgan.training.split import holdout_split

    X = torch.arange(100, dtype=torch.uint8).view(100, 1, 1, 1)  # image i holds the value i
    # val_fraction 0.1: 10 held out, 90 train; max_val_images 4 keeps a seeded 4 of the 10, in order
    train, val = holdout_split(X, None, DetectorConfig(max_val_images=4, seed=3))
    full_train, full_val = holdout_split(X, None, DetectorConfig(seed=3))
    assert len(full_val) == 10 and len(val) == 4 and torch.equal(train, full_train)
    kept = val.flatten().tolist()
    assert kept == sorted(kept) and set(kept) <= set(full_val.flatten().tolist())
    again = holdout_split(X, None, DetectorConfig(max_val_images=4, seed=3))[1]
    assert torch.equal(val, again)
    # a given validation set is capped the same way; a cap above its size keeps it whole
    given = torch.arange(200, 230, dtype=torch.uint8).view(30, 1, 1, 1)
    assert len(holdout_split(X, given, DetectorConfig(max_val_images=8))[1]) == 8
    assert torch.equal(holdout_split(X, given, DetectorConfig(max_val_images=50))[1], given)
    with pytest.raises(ValueError, match="max_val_images must be >= 2"):
        DetectorConfig(max_val_images=1).validate()
