"""Shared fixtures: generated image-folder data sets and real-data locations."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
MNIST_DIR = REPO.parent / "shared" / "data" / "mnist"
FMNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Keep every test's decoded-array cache out of the user's cache folder."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "xdg-cache"))
    torch_threads = os.environ.get("ADCGAN_TEST_THREADS")
    if torch_threads:
        import torch

        torch.set_num_threads(int(torch_threads))


def bar_image(kind: str, rng: np.random.Generator, size: int = 28) -> np.ndarray:
    """A gray image with a bright bar: horizontal for 'h', vertical for 'v'."""
    img = (rng.random((size, size)) * 30).astype(np.uint8)
    pos = int(rng.integers(6, size - 8))
    if kind == "h":
        img[pos:pos + 3, 4:size - 4] = 230
    else:
        img[4:size - 4, pos:pos + 3] = 230
    return img


def write_bar_folder(root: Path, n_train: int = 48, n_test: int = 12, seed: int = 0) -> Path:
    """``root/{train,test}/{horizontal,vertical}/NNN.png``: a two-class folder data set."""
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("test", n_test)):
        for cls, kind in (("horizontal", "h"), ("vertical", "v")):
            d = root / split / cls
            d.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                Image.fromarray(bar_image(kind, rng)).save(d / f"{i:03d}.png")
    return root


@pytest.fixture(scope="session")
def bar_folder(tmp_path_factory) -> Path:
    """A generated two-class 28x28 gray folder data set (session-wide)."""
    return write_bar_folder(tmp_path_factory.mktemp("bars"))


def need(path: Path) -> Path:
    """Skip the test when a real data folder is absent."""
    if not path.exists():
        pytest.skip(f"real data not found at {path}")
    return path


def make_folder_data(root: Path, per_class: int = 100) -> Path:
    """Two classes of 28x28 grey PNGs: horizontal vs vertical stripes with noise."""
    rng = np.random.default_rng(0)
    for c, name in enumerate(("horiz", "vert")):
        d = root / name
        d.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            img = rng.integers(0, 60, (28, 28)).astype(np.uint8)
            k = int(rng.integers(2, 5))
            if c == 0:
                img[::k, :] += 180
            else:
                img[:, ::k] += 180
            Image.fromarray(img, "L").save(d / f"{i:03d}.png")
    return root
