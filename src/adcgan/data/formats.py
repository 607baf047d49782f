"""On-disk formats: how to recognise a dataset folder and read it raw.

A format is a pair of functions in :data:`FORMATS`: ``files(spec, folder)``
returns the source files (None when the folder does not hold the dataset), and
``read(spec, folder, geometry)`` returns both splits, before preprocessing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from adcgan.data.core import ImageSet
from adcgan.data.errors import DataError
from adcgan.data.folders import class_dirs, decode_files, list_images, seeded_split, subdirs, warn_skipped
from adcgan.data.readers import read_cifar_batch, read_idx_pair
from adcgan.data.specs import IDX_FILES, DatasetSpec

CIFAR_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)
Layout = dict[str, list[tuple[str, Path]]]


@dataclass
class RawData:
    """Both splits as read from disk, before preprocessing."""

    train: ImageSet
    test: ImageSet
    class_names: list[str]
    skipped: list[str] = field(default_factory=list)  # unreadable files left out (image folders)


def _index_ids(split: str, n: int) -> list[str]:
    return [f"{split}/{i}" for i in range(n)]


def _first_existing(folder: Path, names: tuple[str, ...]) -> Path | None:
    return next((folder / n for n in names if (folder / n).is_file()), None)


def idx_files(spec: DatasetSpec, folder: Path) -> list[Path] | None:
    """The four IDX files (``.gz``, raw, or ``train-images.idx3-ubyte`` spelling), or None."""
    found = [_first_existing(folder, (f"{s}.gz", s, s.replace("-idx", ".idx"))) for s in IDX_FILES]
    return None if None in found else found  # type: ignore[return-value]


def read_idx_dir(spec: DatasetSpec, folder: Path, geometry: tuple[int, int, int]) -> RawData:
    """Read an MNIST-style folder of four IDX files."""
    files = idx_files(spec, folder)
    if files is None:
        raise DataError(f"{folder} does not contain {spec.expected}")
    splits = []
    for split, (img_file, lab_file) in (("train", files[:2]), ("test", files[2:])):
        images, labels = read_idx_pair(img_file, lab_file)
        if images.shape[1:] != tuple(geometry):
            raise DataError(f"{img_file}: expected {spec.display_name} images of shape "
                            f"{geometry}, got {images.shape[1:]}")
        splits.append(ImageSet(images, labels, _index_ids(split, len(labels))))
    return RawData(splits[0], splits[1], list(spec.class_names))


def cifar_files(spec: DatasetSpec, folder: Path) -> list[Path] | None:
    """The six CIFAR-10 python batch files, or None."""
    files = [folder / n for n in CIFAR_FILES]
    return files if all(f.is_file() for f in files) else None


def read_cifar_dir(spec: DatasetSpec, folder: Path, geometry: tuple[int, int, int]) -> RawData:
    """Read the official ``cifar-10-batches-py`` folder (safely, see readers)."""
    files = cifar_files(spec, folder)
    if files is None:
        raise DataError(f"{folder} does not contain {spec.expected}")
    batches = [read_cifar_batch(f) for f in files]
    train_x = np.concatenate([b[0] for b in batches[:5]])
    train_y = np.concatenate([b[1] for b in batches[:5]])
    test_x, test_y = batches[5]
    return RawData(ImageSet(train_x, train_y, _index_ids("train", len(train_y))),
                   ImageSet(test_x, test_y, _index_ids("test", len(test_y))),
                   list(spec.class_names))


def folder_layout(spec: DatasetSpec, folder: Path) -> Layout | None:
    """Class folders as ``{"train": ..., "test": ...}`` or ``{"all": ...}``; None if absent.

    A folder with ``train/`` and ``test/`` subfolders uses them (each with one
    subfolder per class); otherwise the folder's own subfolders are the classes.
    """
    sub = subdirs(folder)
    if "train" in sub and "test" in sub:
        train = class_dirs(sub["train"], spec.class_names)
        test = class_dirs(sub["test"], [c for c, _ in train]) if train else None
        return {"train": train, "test": test} if train and test else None
    flat = class_dirs(folder, spec.class_names)
    return {"all": flat} if flat else None


def folder_files(spec: DatasetSpec, folder: Path) -> list[str] | None:
    """All image files of an image-folder dataset, or None if the layout is absent."""
    layout = folder_layout(spec, folder)
    if layout is None:
        return None
    return [f for dirs in layout.values() for _, d in dirs for f in list_images(d)]


def _class_files(dirs: list[tuple[str, Path]]) -> list[list[str]]:
    """Image files per class folder; an empty class folder is an error."""
    per_class = [list_images(d) for _, d in dirs]
    for (_, d), files in zip(dirs, per_class):
        if not files:
            raise DataError(f"class folder {d} contains no image files")
    return per_class


def _decode_split(per_class: list[list[str]], geometry: tuple[int, int, int],
                  split: str) -> tuple[ImageSet, list[str]]:
    """Decode one split, skipping unreadable files with a warning; returns (images, skipped files)."""
    paths = [p for files in per_class for p in files]
    labels = np.concatenate([np.full(len(f), k, np.int64) for k, f in enumerate(per_class)])
    images, kept, bad = decode_files(paths, geometry, desc=f"decoding {split}")
    skipped = [p for p, _ in bad]
    warn_skipped(skipped)
    if len(kept) == 0:
        raise DataError(f"no readable images in the {split} split ({len(paths)} files, "
                        f"e.g. {paths[0]})")
    return ImageSet(images, labels[kept], [str(paths[i]) for i in kept]), skipped


def read_image_folders(spec: DatasetSpec, folder: Path, geometry: tuple[int, int, int]) -> RawData:
    """Read class folders, using train/test subfolders or a seeded per-class split.

    Without ``train/``/``test/``, each class's sorted files are permuted with
    ``numpy.random.default_rng([spec.split_seed, label])`` and the first
    ``round(n * spec.test_fraction)`` (half up) go to test (CatsVsDogs: 80/20, seed 0).
    """
    layout = folder_layout(spec, folder)
    if layout is None:
        raise DataError(f"{folder} does not contain {spec.expected}")
    if "all" in layout:
        per_class = _class_files(layout["all"])
        parts = [seeded_split(f, spec.test_fraction, [spec.split_seed, k]) for k, f in enumerate(per_class)]
        train, test = [p[0] for p in parts], [p[1] for p in parts]
        names = [c for c, _ in layout["all"]]
    else:
        train, test = _class_files(layout["train"]), _class_files(layout["test"])
        names = [c for c, _ in layout["train"]]
    (tr, tr_bad), (te, te_bad) = _decode_split(train, geometry, "train"), _decode_split(test, geometry, "test")
    return RawData(tr, te, names, tr_bad + te_bad)


FileLister = Callable[[DatasetSpec, Path], "list[Path] | list[str] | None"]
Reader = Callable[[DatasetSpec, Path, "tuple[int, int, int]"], RawData]
FORMATS: dict[str, tuple[FileLister, Reader]] = {
    "idx": (idx_files, read_idx_dir),
    "cifar-pickle": (cifar_files, read_cifar_dir),
    "image-folders": (folder_files, read_image_folders),
}


def source_files(spec: DatasetSpec, folder: Path) -> list[Path] | list[str] | None:
    """Source files of ``spec`` in ``folder`` (None: the dataset is not there)."""
    return FORMATS[spec.format][0](spec, Path(folder)) if Path(folder).is_dir() else None


def is_present(spec: DatasetSpec, folder: Path) -> bool:
    """Cheap check that ``folder`` holds ``spec``'s files (no image listing)."""
    folder = Path(folder)
    if not folder.is_dir():
        return False
    if spec.format == "image-folders":
        return folder_layout(spec, folder) is not None
    return FORMATS[spec.format][0](spec, folder) is not None


def read_raw(spec: DatasetSpec, folder: Path, geometry: tuple[int, int, int]) -> RawData:
    """Read ``spec`` from ``folder`` with its format's reader."""
    return FORMATS[spec.format][1](spec, Path(folder), geometry)
