"""Tests of adcgan.data: readers, lookup, downloads, preprocessing, caching.

Small files in the real formats are written into tmp_path; real MNIST and the CIFAR-10 JPEG copy are
found through the package lookup (a test fails when they are absent).
"""
from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import os
import pickle
import subprocess
import tarfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import real_data

from adcgan.data import (DATASETS, DataError, find_dataset, load_dataset, load_image_files,
                         load_user_data, resolve_class, to_tensor)
from adcgan.data import datasets as datasets_mod
from adcgan.data.__main__ import main as data_main
from adcgan.data.download import download_file, safe_extract_tar
from adcgan.data.folders import list_images, seeded_split
from adcgan.data.preprocess import pad_and_resize, paper_pad
from adcgan.data.readers import read_cifar_batch, read_idx

REPO = Path(__file__).resolve().parents[1]
MNIST_COUNTS_TRAIN = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_COUNTS_TEST = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


# --------------------------------------------------------------- writers
def idx_bytes(arr: np.ndarray) -> bytes:
    """An IDX file (ubyte) holding ``arr``."""
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return header + arr.astype(np.uint8).tobytes()


def write_idx_set(folder: Path, n_train: int = 30, n_test: int = 20, gz: bool = True, seed: int = 0) -> dict:
    """Four MNIST-style IDX files; returns the arrays written."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
              "train-labels-idx1-ubyte": np.arange(n_train, dtype=np.uint8) % 10,
              "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
              "t10k-labels-idx1-ubyte": np.arange(n_test, dtype=np.uint8) % 10}
    for name, arr in arrays.items():
        data = idx_bytes(arr)
        (folder / (name + (".gz" if gz else ""))).write_bytes(gzip.compress(data) if gz else data)
    return arrays


def write_cifar(folder: Path, per_batch: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Official-format CIFAR-10 python batches (dicts with bytes keys); returns all data rows/labels."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    rows, labels = [], []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        lab = [int(x) for x in rng.integers(0, 10, per_batch)]
        batch = {b"batch_label": name.encode(), b"labels": lab, b"data": data,
                 b"filenames": [f"img{i}.png".encode() for i in range(per_batch)]}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
        rows.append(data)
        labels += lab
    return np.concatenate(rows), np.array(labels)


def save_image(path: Path, arr: np.ndarray, fmt: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, fmt)
    return path


def solid(value: int, size: tuple[int, int] = (20, 20), c: int = 3) -> np.ndarray:
    return np.full((*size, c) if c == 3 else size, value, np.uint8)


def write_class_folders(root: Path, classes: dict[str, int], n: int = 5, size=(16, 16)) -> None:
    for k, (cls, value) in enumerate(classes.items()):
        for i in range(n):
            save_image(root / cls / f"{i:03d}.png", solid(value, size))


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """An isolated cache root; ADCGAN_DATA unset so lookups are predictable."""
    monkeypatch.delenv("ADCGAN_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "cache"


def isolated_spec(monkeypatch, name: str, **changes) -> None:
    """Replace a registry entry so that system/shared copies are not found."""
    spec = dataclasses.replace(DATASETS[name], **{"system_paths": (), "shared_subdir": None, **changes})
    monkeypatch.setitem(DATASETS, name, spec)


# --------------------------------------------------------------- IDX
@pytest.mark.parametrize("gz", [True, False])
def test_idx_reader_roundtrip(tmp_path, cache, gz):
    arrays = write_idx_set(tmp_path / "m", gz=gz)
    assert np.array_equal(read_idx(next((tmp_path / "m").glob("train-images*"))), arrays["train-images-idx3-ubyte"])
    ds = load_dataset("mnist", tmp_path / "m", preprocess="none", cache_dir=cache)
    assert ds.train.images.shape == (30, 28, 28, 1) and ds.test.images.shape == (20, 28, 28, 1)
    assert np.array_equal(ds.train.images[..., 0], arrays["train-images-idx3-ubyte"])
    assert ds.train.labels.dtype == np.int64 and ds.train.ids[:2] == ["train/0", "train/1"]
    assert ds.test.ids[-1] == "test/19" and ds.source == str(tmp_path / "m")


def test_idx_corrupt_files_raise_dataerror_naming_file(tmp_path):
    good = idx_bytes(np.zeros((5, 28, 28), np.uint8))
    cases = {"truncated.gz": gzip.compress(good[:-10]), "badmagic": b"\x01\x02\x03\x04" + good[4:],
             "brokengz.gz": gzip.compress(good)[:40], "empty": b""}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(DataError, match=name):
            read_idx(tmp_path / name)


def test_idx_label_count_mismatch(tmp_path, cache):
    write_idx_set(tmp_path / "m")
    (tmp_path / "m" / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.zeros(3, np.uint8))))
    with pytest.raises(DataError, match="t10k-labels"):
        load_dataset("mnist", tmp_path / "m", cache_dir=cache)


# --------------------------------------------------------------- CIFAR-10 python batches
def test_cifar_batches_read_channel_major(tmp_path, cache):
    rows, labels = write_cifar(tmp_path / "root" / "cifar-10-batches-py")
    ds = load_dataset("cifar10", tmp_path / "root", preprocess="none", cache_dir=cache)  # alias subfolder
    assert ds.train.images.shape == (20, 32, 32, 3) and ds.test.images.shape == (4, 32, 32, 3)
    assert np.array_equal(ds.train.labels, labels[:20]) and np.array_equal(ds.test.labels, labels[20:])
    r = rows[0]
    assert tuple(ds.train.images[0, 0, 0]) == (r[0], r[1024], r[2048])
    assert tuple(ds.train.images[0, 31, 31]) == (r[1023], r[2047], r[3071])
    assert ds.display_name == "CIFAR-10" and ds.class_names[0] == "airplane"


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_cifar_reader_refuses_arbitrary_objects(tmp_path):
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": _Evil(), b"labels": []}, protocol=2))
    with pytest.raises(DataError, match="refusing to load"):
        read_cifar_batch(path)


def test_cifar_reader_accepts_modern_numpy_pickles(tmp_path):
    data = np.arange(2 * 3072, dtype=np.uint16).astype(np.uint8).reshape(2, 3072)
    for proto in (2, pickle.HIGHEST_PROTOCOL):
        (tmp_path / "b").write_bytes(pickle.dumps({b"data": data, b"labels": [1, 2]}, protocol=proto))
        images, labels = read_cifar_batch(tmp_path / "b")
        assert images.shape == (2, 32, 32, 3) and labels.tolist() == [1, 2]


# --------------------------------------------------------------- image folders
def test_folder_dataset_flat_layout_seeded_split(tmp_path, cache):
    write_class_folders(tmp_path / "f", {"zebra": 200, "apple": 50}, n=10)
    ds = load_dataset("folder", tmp_path / "f", cache_dir=cache)
    assert ds.class_names == ["apple", "zebra"] and ds.geometry == (16, 16, 3)
    assert np.bincount(ds.train.labels).tolist() == [8, 8] and np.bincount(ds.test.labels).tolist() == [2, 2]
    assert not set(ds.train.ids) & set(ds.test.ids)
    assert (ds.train.images[ds.train.labels == 0] == 50).all()
    again = load_dataset("folder", tmp_path / "f", cache_dir=cache, use_cache=False)
    assert again.test.ids == ds.test.ids


def test_folder_dataset_train_test_layout_and_geometry(tmp_path, cache):
    for split, n in (("train", 4), ("test", 2)):
        write_class_folders(tmp_path / "f" / split, {"a": 10, "b": 240}, n=n, size=(30, 20))
    ds = load_dataset("folder", tmp_path / "f", cache_dir=cache, geometry=(8, 8, 1))
    assert ds.train.images.shape == (8, 8, 8, 1) and ds.test.images.shape == (4, 8, 8, 1)
    assert ds.class_names == ["a", "b"] and ds.preprocess == "paper"
    with pytest.raises(DataError, match="data_dir"):
        load_dataset("folder", cache_dir=cache)


def test_catsvsdogs_skips_corrupt_and_converts(tmp_path, cache):
    root = tmp_path / "PetImages"
    for cls, value in (("Cat", 60), ("Dog", 180)):
        for i in range(10):
            save_image(root / cls / f"{i}.jpg", solid(value, (48, 40)), fmt="JPEG")
    save_image(root / "Cat" / "gray.jpg", solid(60, (30, 30), c=1), fmt="JPEG")  # non-RGB
    Image.new("CMYK", (30, 30), (0, 0, 0, 0)).save(root / "Dog" / "cmyk.jpg")
    (root / "Cat" / "666.jpg").write_bytes(b"")                                   # zero bytes
    (root / "Dog" / "11702.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")  # corrupt
    (root / "Cat" / "Thumbs.db").write_bytes(b"junk")
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        ds = load_dataset("catsvsdogs", tmp_path, cache_dir=cache)
    skipped = " ".join(str(w.message) for w in rec if "skipped" in str(w.message))
    assert "666.jpg" in skipped and "11702.jpg" in skipped
    assert ds.geometry == (64, 64, 3) and ds.train.images.shape[1:] == (64, 64, 3)
    assert ds.class_names == ["Cat", "Dog"] and ds.source == str(root)
    bad = {str(root / "Cat" / "666.jpg"), str(root / "Dog" / "11702.jpg")}
    want_test = set()
    for k, cls in enumerate(("Cat", "Dog")):
        split = seeded_split(list_images(root / cls), 0.2, [0, k])
        assert len(split[0]) == 10 and len(split[1]) == 2  # 80/20 of 12 files, seed 0
        want_test |= set(split[1]) - bad
    assert set(ds.test.ids) == want_test and len(ds.train) + len(ds.test) == 22
    ids = ds.train.ids + ds.test.ids
    images = np.concatenate([ds.train.images, ds.test.images])
    assert images[ids.index(str(root / "Dog" / "cmyk.jpg"))].min() >= 250  # CMYK (0,0,0,0) is white
    assert np.ptp(images[ids.index(str(root / "Cat" / "gray.jpg"))], axis=-1).max() == 0  # gray -> RGB


def test_odd_images_are_converted(tmp_path):
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[..., :3], rgba[:5, ..., 3], rgba[5:, ..., 3] = 200, 255, 0
    files = {
        "rgba.png": save_image(tmp_path / "rgba.png", rgba),
        "i16.png": save_image(tmp_path / "i16.png", np.full((10, 10), 257 * 100, np.uint16)),
        "pal.gif": save_image(tmp_path / "pal.gif", solid(128, (10, 10))),
        "big.png": save_image(tmp_path / "big.png", solid(77, (40, 30))),
        "la.png": save_image(tmp_path / "la.png", np.dstack([solid(90, (10, 10), 1), solid(255, (10, 10), 1)])),
    }
    pal = Image.new("P", (10, 10), 3)
    pal.putpalette([30] * 768)
    pal.save(tmp_path / "ptrans.png", transparency=3)  # palette image, fully transparent
    gray, ids = load_image_files([*files.values(), tmp_path / "ptrans.png"], (10, 10, 1), "none")
    rgb, _ = load_image_files(list(files.values()), (10, 10, 3), "none")
    assert gray.shape == (6, 10, 10, 1) and rgb.shape == (5, 10, 10, 3) and gray.dtype == np.uint8
    g = dict(zip([Path(i).name for i in ids], gray[..., 0]))
    assert (g["rgba.png"][:5] == 200).all() and (g["rgba.png"][5:] == 0).all()  # composited on black
    assert (g["i16.png"] == 100).all()                  # 16-bit scaled, not clipped
    assert abs(int(g["pal.gif"].mean()) - 128) <= 2 and (g["big.png"] == 77).all()
    assert (g["la.png"] == 90).all() and (g["ptrans.png"] == 0).all()
    assert (rgb[3] == 77).all() and (rgb[2] >= 120).all()


def test_load_image_files_errors_name_the_path(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    save_image(tmp_path / "ok" / "a.png", solid(5))
    for paths, what in (([tmp_path / "missing.png"], "missing.png"), ([tmp_path / "empty"], "empty"),
                        ([tmp_path / "ok", tmp_path / "bad.png"], "bad.png")):
        with pytest.raises(DataError, match=what):
            load_image_files(paths, (8, 8, 3))


def test_load_image_files_recurses_and_preprocesses(tmp_path):
    for name in ("b.png", "sub/a.png"):
        save_image(tmp_path / "d" / name, solid(255, (28, 28), 1))
    x, ids = load_image_files([tmp_path / "d"], (28, 28, 1))
    assert ids == sorted(ids) and len(ids) == 2 and x.shape == (2, 28, 28, 1)
    assert x[0, 0, 0, 0] == 0 and x[0, 14, 14, 0] == 255  # 28x28 files: paper pad 4 -> 36 -> 28
    y, _ = load_image_files([tmp_path / "d"], (28, 28, 1), dataset="folder")
    assert (y == 255).all()


def test_empty_folders_raise(tmp_path, cache):
    (tmp_path / "f" / "a").mkdir(parents=True)
    write_class_folders(tmp_path / "f", {"b": 1}, n=2)
    with pytest.raises(DataError, match=r"f/a"):
        load_dataset("folder", tmp_path / "f", cache_dir=cache)
    with pytest.raises(DataError, match="does not exist"):
        load_dataset("folder", tmp_path / "nope", cache_dir=cache)


def test_array_cache_is_used_and_invalidated(tmp_path, cache, monkeypatch):
    write_class_folders(tmp_path / "f", {"a": 10, "b": 20}, n=5)
    first = load_dataset("folder", tmp_path / "f", cache_dir=cache)
    assert len(list((cache / "arrays").glob("*.npz"))) == 1

    def boom(*a, **k):
        raise AssertionError("decoded again instead of using the cache")

    real = datasets_mod.read_raw
    monkeypatch.setattr(datasets_mod, "read_raw", boom)
    second = load_dataset("folder", tmp_path / "f", cache_dir=cache)
    assert np.array_equal(first.train.images, second.train.images) and first.test.ids == second.test.ids
    save_image(tmp_path / "f" / "a" / "new.png", solid(10, (16, 16)))  # stale fingerprint -> rebuild
    with pytest.raises(AssertionError, match="decoded again"):
        load_dataset("folder", tmp_path / "f", cache_dir=cache)
    monkeypatch.setattr(datasets_mod, "read_raw", real)
    assert len(load_dataset("folder", tmp_path / "f", cache_dir=cache).train) + 0 == 9
    assert len(list((cache / "arrays").glob("*.npz"))) == 1 and not list((cache / "arrays").glob(".*"))


# --------------------------------------------------------------- preprocessing
def test_paper_preprocessing_shrinks_content():
    white = np.full((3, 28, 28, 1), 255, np.uint8)
    out = pad_and_resize(white, 4)
    assert out.shape == white.shape and out.dtype == np.uint8
    for border in (out[:, :2], out[:, -2:], out[:, :, :2], out[:, :, -2:]):
        assert (border == 0).all()  # within 8/9 output px of the edge there is only padding
    assert (out[:, 5:23, 5:23] == 255).all()
    assert out.mean() < 255 * (28 / 36) ** 2 + 4
    ref = np.asarray(Image.fromarray(np.pad(white[0, ..., 0], 4)).resize((28, 28), Image.BILINEAR))
    assert np.array_equal(out[0, ..., 0], ref)  # exactly PIL bilinear, as torchvision Resize
    rgb = pad_and_resize(np.full((2, 32, 32, 3), 255, np.uint8), 3)
    assert rgb.shape == (2, 32, 32, 3) and (rgb[:, 0] == 0).all() and (rgb[:, 16, 16] == 255).all()
    assert paper_pad((28, 28, 1)) == 4 and paper_pad((32, 32, 3)) == 3 and paper_pad((64, 64, 3)) == 0
    assert paper_pad((28, 28, 1), "folder") == 0 and paper_pad((32, 32, 3), "cifar10-jpeg") == 3


def test_preprocess_validation_and_to_tensor(tmp_path, cache):
    write_idx_set(tmp_path / "m")
    with pytest.raises(DataError, match="preprocess"):
        load_dataset("mnist", tmp_path / "m", preprocess="fancy", cache_dir=cache)
    t = to_tensor(np.array([[[[0], [255]]]], np.uint8))
    assert t.shape == (1, 1, 1, 2) and t.dtype.is_floating_point and float(t.max()) == 1.0
    with pytest.raises(ValueError):
        to_tensor(np.zeros((2, 2), np.float32))


# --------------------------------------------------------------- class names
def test_resolve_class_spellings():
    for spelling, want in (("1", 1), (1, 1), (np.int64(1), 1), ("Trouser", 1), ("trouser", 1),
                           ("trousers", 1), ("t-shirt", 0), ("T-shirt/top", 0), ("top", 0),
                           ("ankle-boot", 9), ("Ankle Boot", 9), ("sneak", 7)):
        assert resolve_class("fashion-mnist", spelling) == want
    assert resolve_class(["Cat", "Dog"], "dog") == 1
    for bad in ("10", -1, "banana", "s"):
        with pytest.raises(ValueError, match="Trouser"):
            resolve_class("fashion-mnist", bad)
    with pytest.raises(ValueError, match="ambiguous"):
        resolve_class(["Shirt", "Shirt dress"], "shi")


# --------------------------------------------------------------- lookup order
def test_lookup_order(tmp_path, cache, monkeypatch):
    isolated_spec(monkeypatch, "mnist")
    explicit, env_root = tmp_path / "explicit", tmp_path / "env"
    for folder in (explicit, env_root / "mnist", cache / "mnist"):
        write_idx_set(folder, n_train=10, n_test=10)
    monkeypatch.setenv("ADCGAN_DATA", str(env_root))
    assert find_dataset("mnist", explicit, cache_dir=cache) == explicit
    assert find_dataset("mnist", cache_dir=cache) == env_root / "mnist"
    monkeypatch.delenv("ADCGAN_DATA")
    assert find_dataset("mnist", cache_dir=cache) == cache / "mnist"
    assert find_dataset("mnist", tmp_path / "nothing", cache_dir=cache) is None


def test_missing_everywhere_names_places(tmp_path, cache, monkeypatch):
    isolated_spec(monkeypatch, "fashion-mnist", system_paths=(str(tmp_path / "sys-fmnist"),))
    with pytest.raises(DataError) as err:
        load_dataset("fashion-mnist", download=False, cache_dir=cache)
    msg = str(err.value)
    for part in ("ADCGAN_DATA", str(cache / "fashion-mnist"), str(tmp_path / "sys-fmnist"),
                 "apt-get install dataset-fashion-mnist", "train-images-idx3-ubyte.gz"):
        assert part in msg
    with pytest.raises(DataError, match="does not hold"):
        load_dataset("fashion-mnist", tmp_path, download=False, cache_dir=cache)


# --------------------------------------------------------------- downloads
def test_download_checksum_mismatch_leaves_nothing(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"hello" * 1000)
    dest = tmp_path / "dl" / "file.bin"
    with pytest.raises(DataError, match="checksum mismatch"):
        download_file(src.as_uri(), dest, md5="0" * 32)
    assert not list((tmp_path / "dl").iterdir())
    good = hashlib.md5(src.read_bytes()).hexdigest()
    assert download_file(src.as_uri(), dest, md5=good).read_bytes() == src.read_bytes()


def test_failed_download_is_one_dataerror(tmp_path, cache, monkeypatch):
    res = tuple(dataclasses.replace(r, urls=((tmp_path / "missing" / r.filename).as_uri(),))
                for r in DATASETS["mnist"].resources)
    isolated_spec(monkeypatch, "mnist", resources=res)
    with pytest.raises(DataError, match=r"(?s)not found.*Download failed.*missing"):
        load_dataset("mnist", cache_dir=cache)
    assert not [p for p in (cache / "mnist").rglob("*") if p.is_file()]


def test_cifar_download_and_safe_extract(tmp_path, cache, monkeypatch):
    write_cifar(tmp_path / "pkg" / "cifar-10-batches-py", per_batch=2)
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "pkg" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    res = (dataclasses.replace(DATASETS["cifar10"].resources[0], urls=(archive.as_uri(),), md5=md5),)
    isolated_spec(monkeypatch, "cifar10", resources=res)
    ds = load_dataset("cifar10", cache_dir=cache)
    assert len(ds.train) == 10 and ds.source == str(cache / "cifar10" / "cifar-10-batches-py")
    assert not (cache / "cifar10" / "cifar-10-python.tar.gz").exists()


def test_safe_extract_refuses_traversal(tmp_path):
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    with pytest.raises(DataError, match="unsafe"):
        safe_extract_tar(evil, tmp_path / "out")
    assert not (tmp_path / "escaped.txt").exists()


# --------------------------------------------------------------- user data, CLI, script
def test_load_user_data(tmp_path, cache):
    for sub, value, n in (("train", 20, 6), ("normal", 20, 3), ("anom", 220, 2)):
        for i in range(n):
            save_image(tmp_path / sub / f"{i}.png", solid(value, (12, 12), 1))
    ds = load_user_data(tmp_path / "train", tmp_path / "normal", tmp_path / "anom", None, cache_dir=cache)
    assert ds.geometry == (12, 12, 1) and ds.class_names == ["normal", "anomalous"]
    assert ds.train.labels.tolist() == [0] * 6 and ds.test.labels.tolist() == [0, 0, 0, 1, 1]
    assert (ds.test.images[-1] == 220).all() and ds.preprocess == "none"
    with pytest.raises(DataError, match="nope"):
        load_user_data(tmp_path / "train", tmp_path / "nope", tmp_path / "anom", (8, 8, 3), cache_dir=cache)


def test_data_cli_where_and_fetch(tmp_path, cache, capsys):
    write_idx_set(tmp_path / "m", n_train=10, n_test=10)
    assert data_main(["where", "mnist", "--data-dir", str(tmp_path / "m")]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "m")
    assert data_main(["fetch", "mnist", "--dest", str(tmp_path / "m")]) == 0
    assert data_main(["where", "catsvsdogs", "--data-dir", str(tmp_path)]) == 1


def test_get_fashion_mnist_script_noop_when_present(tmp_path):
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        (tmp_path / "fashion-mnist").mkdir(exist_ok=True)
        (tmp_path / "fashion-mnist" / f"{name}.gz").write_bytes(b"x")
    env = {**os.environ, "ADCGAN_DATA": str(tmp_path)}
    out = subprocess.run(["bash", str(REPO / "scripts" / "get_fashion_mnist.sh")], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and str(tmp_path / "fashion-mnist") in out.stdout


# --------------------------------------------------------------- real data
def test_real_mnist(tmp_path):
    src = real_data("mnist")
    ds = load_dataset("mnist", data_dir=src, cache_dir=tmp_path)
    assert ds.train.images.shape == (60000, 28, 28, 1) and ds.test.images.shape == (10000, 28, 28, 1)
    assert np.bincount(ds.train.labels).tolist() == MNIST_COUNTS_TRAIN
    assert np.bincount(ds.test.labels).tolist() == MNIST_COUNTS_TEST
    raw = read_idx(next(src.glob("train-images*")))[:5, ..., None]
    assert np.array_equal(ds.train.images[:5], pad_and_resize(raw, 4)) and ds.preprocess == "paper"


def test_real_cifar10_jpeg_layout():
    src = real_data("cifar10-jpeg")
    from adcgan.data.formats import folder_layout, source_files
    layout = folder_layout(DATASETS["cifar10-jpeg"], src)
    assert [c for c, _ in layout["train"]] == list(DATASETS["cifar10"].class_names)
    assert len(source_files(DATASETS["cifar10-jpeg"], src)) == 60000
    assert DATASETS["cifar10-jpeg"].display_name == "CIFAR-10 (JPEG q75 copy)"
    x, _ = load_image_files([layout["test"][0][1] / "0000.jpg"], (32, 32, 3), dataset="cifar10-jpeg")
    assert x.shape == (1, 32, 32, 3) and x[0, 0].max() == 0  # padded border


def test_cifar10_catdog_stand_in_reads_cat_and_dog_upscaled_to_64():
    """issue 24: the CatsVsDogs stand-in is the JPEG copy's cat (3) and dog (5) folders at 64x64, labelled as such."""
    real_data("cifar10-jpeg")
    ds = load_dataset("cifar10-catdog")
    assert ds.class_names == ["cat", "dog"] and "stand-in for CatsVsDogs" in ds.display_name
    assert ds.train.images.shape == (10000, 64, 64, 3) and ds.test.images.shape == (2000, 64, 64, 3)
    assert np.bincount(ds.train.labels).tolist() == [5000, 5000] and np.bincount(ds.test.labels).tolist() == [1000, 1000]
