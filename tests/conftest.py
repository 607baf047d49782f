"""Shared fixtures: generated image-folder data sets, real-data locations, and the skip policy.

Real data are found by the package's own lookup (``adcgan.data.find_dataset``, the one ``adcgan info``
uses), resolved when this file is imported, before the per-test cache isolation below. A test that needs a
data set that is not there fails; it does not skip. The only skips allowed are the ones whose reason is in
:data:`ALLOWED_SKIPS` (no CUDA device, no bfloat16 kernels): any other skip turns the session red.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from adcgan.data import find_dataset

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = {name: find_dataset(name) for name in ("fashion-mnist", "mnist", "cifar10-jpeg")}
"""Where each real data set is, found before any test changes ``XDG_CACHE_HOME`` (None: not found)."""
SKIP_NO_CUDA = "no CUDA device on this machine"
SKIP_NO_CUDA_BF16 = "no CUDA device with bfloat16"
SKIP_NO_BF16 = "no bfloat16 kernels on this CPU"
SKIP_NOT_LINUX = "glibc mallopt (Linux only)"
ALLOWED_SKIPS = (SKIP_NO_CUDA, SKIP_NO_CUDA_BF16, SKIP_NO_BF16, SKIP_NOT_LINUX)
"""The only reasons a test may skip for; any other skip fails the session (:func:`pytest_sessionfinish`)."""
_BAD_SKIPS: list[str] = []


def skip_reason(report: pytest.TestReport) -> str:
    """The reason of a skipped test's report (``longrepr`` is ``(file, line, "Skipped: reason")``)."""
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return text.removeprefix("Skipped: ")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Remember every skip whose reason is not an allowed one."""
    if report.skipped and not hasattr(report, "wasxfail") and skip_reason(report) not in ALLOWED_SKIPS:
        _BAD_SKIPS.append(f"{report.nodeid}: {skip_reason(report)}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the session when a test skipped for a reason outside :data:`ALLOWED_SKIPS`."""
    if _BAD_SKIPS:
        print(f"\n{len(_BAD_SKIPS)} test(s) skipped for a reason that is not allowed (only no CUDA / no "
              "bfloat16 may skip):\n  " + "\n  ".join(_BAD_SKIPS))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def real_data(name: str) -> Path:
    """The folder of a real data set, found by the package's lookup; the test fails when it is absent."""
    path = REAL_DATA.get(name)
    if path is None:
        pytest.fail(f"{name} not found by adcgan's data lookup (the places `adcgan info` lists); `make test` "
                    f"fetches Fashion-MNIST, MNIST and CIFAR-10 come from shared/data or --data-dir",
                    pytrace=False)
    return path


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
