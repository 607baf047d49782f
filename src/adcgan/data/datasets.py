"""Public loaders: registry datasets, user image files and user data folders."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from adcgan.data.cache import array_cache_path, cache_root, fingerprint, load_arrays, save_arrays
from adcgan.data.core import Dataset, ImageSet
from adcgan.data.download import fetch_dataset
from adcgan.data.errors import DataError
from adcgan.data.folders import decode_files, decode_many, list_images, warn_skipped
from adcgan.data.formats import read_raw, source_files
from adcgan.data.locate import locate, not_found_error
from adcgan.data.preprocess import apply_preprocess, check_preprocess, paper_pad
from adcgan.data.readers import probe_geometry
from adcgan.data.specs import DatasetSpec, get_spec

Geometry = tuple[int, int, int]


def locate_source(spec: DatasetSpec, data_dir: str | Path | None, cache_dir: str | Path | None,
                  download: bool) -> Path:
    """The folder to read ``spec`` from, downloading into the cache if allowed.

    Raises:
        DataError: if it is nowhere and cannot be downloaded.
    """
    if spec.name == "folder" and data_dir is None:
        raise DataError("the 'folder' dataset needs an explicit data_dir (--data-dir) "
                        f"holding {spec.expected}")
    found, tried = locate(spec, data_dir, cache_dir)
    if found is not None:
        return found
    error = None
    if download and spec.resources:
        try:
            dest = fetch_dataset(spec, cache_root(cache_dir) / spec.name)
            found, _ = locate(spec, dest, cache_dir)
            return found  # type: ignore[return-value]
        except DataError as exc:
            error = str(exc)
    raise not_found_error(spec, tried, error, cache_dir, download)


def _geometry(spec: DatasetSpec, files: Sequence[str | Path], geometry: Geometry | None) -> Geometry:
    """Requested geometry, else the spec's, else the first image's (folder data)."""
    if geometry is not None and spec.format != "image-folders" and tuple(geometry) != spec.geometry:
        raise DataError(f"{spec.display_name} images are {spec.geometry}; geometry {geometry} "
                        "can only be chosen for image-folder datasets")
    if geometry is None and spec.geometry is None and not files:
        raise DataError("no image files to infer the geometry from")
    geometry = geometry or spec.geometry or probe_geometry(files[0])
    return tuple(int(g) for g in geometry)  # type: ignore[return-value]


def _recorded_preprocess(preprocess: str, pad: int, geometry: Geometry) -> str:
    """The ``preprocess`` value that makes ``load_image_files`` repeat what was done.

    ``"paper"`` on folder/user data only resizes; if the geometry is one whose
    files ``load_image_files(..., "paper")`` would pad (28x28x1, 32x32x3), the
    data are recorded as ``"none"`` so that scoring repeats exactly the
    training preprocessing.
    """
    return "none" if preprocess == "paper" and pad == 0 and paper_pad(geometry) > 0 else preprocess


def _pack(train: ImageSet, test: ImageSet, class_names: list[str], skipped: list[str]) -> dict[str, np.ndarray]:
    arrays = {"class_names": np.array(class_names, dtype=str), "skipped": np.array(skipped, dtype=str)}
    for split, s in (("train", train), ("test", test)):
        arrays.update({f"{split}_images": s.images, f"{split}_labels": s.labels,
                       f"{split}_ids": np.array(s.ids, dtype=str)})
    return arrays


def _unpack(arrays: dict[str, np.ndarray]) -> tuple[ImageSet, ImageSet, list[str]]:
    sets = [ImageSet(arrays[f"{s}_images"], arrays[f"{s}_labels"].astype(np.int64),
                     arrays[f"{s}_ids"].tolist()) for s in ("train", "test")]
    return sets[0], sets[1], arrays["class_names"].tolist()


def _build(spec: DatasetSpec, source: Path, geometry: Geometry, preprocess: str) -> dict[str, np.ndarray]:
    """Read and preprocess ``spec`` from ``source`` into cacheable arrays."""
    raw = read_raw(spec, source, geometry)
    sets = [ImageSet(apply_preprocess(s.images, preprocess, spec.paper_pad), s.labels, s.ids)
            for s in (raw.train, raw.test)]
    return _pack(sets[0], sets[1], raw.class_names, raw.skipped)


def load_dataset(name: str, data_dir: str | Path | None = None, preprocess: str = "paper",
                 download: bool = True, cache_dir: str | Path | None = None, *,
                 geometry: Geometry | None = None, use_cache: bool = True) -> Dataset:
    """Load a registry dataset, preprocessed, with the decoded arrays cached.

    Args:
        name: A registry name (see ``list_datasets()``).
        data_dir: Explicit folder (see :mod:`adcgan.data.locate` for the lookup order).
        preprocess: ``"paper"`` (default, see :mod:`adcgan.data.preprocess`) or ``"none"``.
        download: Download official files into the cache when not found.
        cache_dir: Cache root (default ``$XDG_CACHE_HOME/adcgan``): downloads go
            to ``<root>/<name>/``, decoded arrays to ``<root>/arrays/``.
        geometry: (H, W, C) for image-folder datasets (``folder``: default the
            first image's size and mode).
        use_cache: Read/write the decoded-array cache.

    Raises:
        DataError: for any missing, corrupt or malformed data.
    """
    spec, preprocess = get_spec(name), check_preprocess(preprocess)
    source = locate_source(spec, data_dir, cache_dir, download)
    files = source_files(spec, source) or []
    if not files:
        raise DataError(f"{source} contains no image files for {spec.display_name}")
    geometry = _geometry(spec, files, geometry)
    cache_file = array_cache_path(cache_root(cache_dir), spec.name, source, preprocess, geometry)
    stamp = fingerprint(files)
    arrays = load_arrays(cache_file, stamp) if use_cache else None
    if arrays is not None and "skipped" in arrays:
        warn_skipped(arrays["skipped"].tolist())  # read from the cache: still never silent
    else:  # absent, or cached before skipped files were recorded
        arrays = _build(spec, source, geometry, preprocess)
        if use_cache:
            save_arrays(cache_file, arrays, stamp)
    train, test, class_names = _unpack(arrays)
    recorded = _recorded_preprocess(preprocess, spec.paper_pad, geometry)
    return Dataset(spec.name, spec.display_name, class_names, train, test, geometry, recorded, str(source),
                   arrays["skipped"].tolist())


def _expand(paths: Sequence[str | Path]) -> list[str]:
    """Files given directly plus the images inside given folders (recursive, sorted)."""
    out: list[str] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = list_images(p)
            if not found:
                raise DataError(f"folder {p} contains no image files")
            out += found
        elif p.is_file():
            out.append(str(p))
        else:
            raise DataError(f"no such file or folder: {p}")
    return out


def load_image_files(paths: Sequence[str | Path], geometry: Geometry, preprocess: str = "paper",
                     dataset: str | None = None) -> tuple[np.ndarray, list[str]]:
    """Load image files (e.g. to score them) exactly as a dataset's images are prepared.

    Each image is converted to the geometry's channels and resized to (H, W)
    with PIL bilinear; under ``"paper"`` it is then padded and resized back as
    the dataset's paper preprocessing does (padding from
    :func:`adcgan.data.preprocess.paper_pad`: ``dataset``'s if given, else
    inferred from ``geometry``). Pass a loaded ``Dataset``'s ``preprocess`` to
    reproduce its preprocessing.

    Args:
        paths: Files and/or folders (folders are searched recursively, sorted).
        geometry: (H, W, C) of the model.
        preprocess: ``"paper"`` or ``"none"``.
        dataset: Registry name of the training data (optional).

    Returns:
        uint8 images (N, H, W, C) and their ids (the file paths).

    Raises:
        DataError: naming the first missing, empty or undecodable path.
    """
    check_preprocess(preprocess)
    geometry = tuple(int(g) for g in geometry)  # type: ignore[assignment]
    files = _expand(paths)
    if not files:
        raise DataError("no image files given")
    images, _ = decode_many(files, geometry, skip_bad=False, desc="loading images")
    images = apply_preprocess(images, preprocess, paper_pad(geometry, dataset))
    return images, list(files)


def _expand_lenient(paths: Sequence[str | Path]) -> tuple[list[str], dict[str, str]]:
    """Like :func:`_expand`, but a missing path or an empty folder becomes an entry with a reason.

    Returns:
        Every entry in order (image files, and the paths that failed) and ``{entry: reason}``.
    """
    entries: list[str] = []
    errors: dict[str, str] = {}
    for p in map(Path, paths):
        found = list_images(p) if p.is_dir() else [str(p)] if p.is_file() else []
        entries += found or [str(p)]
        if not found:
            errors[str(p)] = f"folder {p} contains no image files" if p.is_dir() else f"no such file or folder: {p}"
    return entries, errors


def load_image_files_partial(paths: Sequence[str | Path], geometry: Geometry, preprocess: str = "paper",
                             dataset: str | None = None) -> tuple[np.ndarray, list[str], dict[str, str]]:
    """:func:`load_image_files` that keeps going past unreadable files.

    Args:
        paths: Files and/or folders (folders are searched recursively, sorted).
        geometry: (H, W, C) of the model.
        preprocess: ``"paper"`` or ``"none"``.
        dataset: Registry name of the training data (optional).

    Returns:
        uint8 images (M, H, W, C) of the readable files, every entry in input order (the
        readable files, the unreadable ones and missing paths), and ``{entry: reason}``
        for the entries that could not be read.

    Raises:
        DataError: when no path was given.
    """
    check_preprocess(preprocess)
    geometry = tuple(int(g) for g in geometry)  # type: ignore[assignment]
    entries, errors = _expand_lenient(paths)
    if not entries:
        raise DataError("no image files given")
    files = [e for e in entries if e not in errors]
    images, _, bad = decode_files(files, geometry, desc="loading images")
    errors.update(bad)
    if len(images):
        images = apply_preprocess(images, preprocess, paper_pad(geometry, dataset))
    return images, entries, errors


def _user_split(folder: str | Path, geometry: Geometry, cache_dir: str | Path | None,
                use_cache: bool) -> tuple[np.ndarray, list[str], list[str]]:
    """Decode one user folder (skipping unreadable files with a warning), cached.

    Returns:
        uint8 images, their ids (paths) and the unreadable files that were skipped.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"no such folder: {folder}")
    files = list_images(folder)
    if not files:
        raise DataError(f"folder {folder} contains no image files")
    cache_file = array_cache_path(cache_root(cache_dir), "user", folder, "decoded", geometry)
    stamp = fingerprint(files)
    arrays = load_arrays(cache_file, stamp) if use_cache else None
    if arrays is not None and "skipped" in arrays:
        warn_skipped(arrays["skipped"].tolist())
    else:
        images, kept, bad = decode_files(files, geometry, desc=f"decoding {folder.name}")
        warn_skipped([p for p, _ in bad])
        if len(kept) == 0:
            raise DataError(f"no readable images in {folder}")
        arrays = {"images": images, "ids": np.array([str(files[i]) for i in kept], dtype=str),
                  "skipped": np.array([p for p, _ in bad], dtype=str)}
        if use_cache:
            save_arrays(cache_file, arrays, stamp)
    return arrays["images"], arrays["ids"].tolist(), arrays["skipped"].tolist()


def load_user_data(train_dir: str | Path, test_normal_dir: str | Path, test_anomalous_dir: str | Path,
                   geometry: Geometry | None, preprocess: str = "none", *,
                   cache_dir: str | Path | None = None, use_cache: bool = True) -> Dataset:
    """Load a user's own data: normal training images and a labelled test set.

    Labels: train all 0; test 0 (normal) / 1 (anomalous); class names
    ``["normal", "anomalous"]``. Images are converted/resized to ``geometry``
    (None: the first training image's size and mode); ``"paper"`` adds no
    padding for user data. Unreadable files are skipped with a warning.

    Raises:
        DataError: for missing/empty folders or folders without readable images.
    """
    check_preprocess(preprocess)
    first = _expand([train_dir])[:1] if geometry is None else []
    geometry = _geometry(get_spec("folder"), first, geometry)
    parts = [_user_split(d, geometry, cache_dir, use_cache)
             for d in (train_dir, test_normal_dir, test_anomalous_dir)]
    (tr_x, tr_ids, tr_bad), (n_x, n_ids, n_bad), (a_x, a_ids, a_bad) = parts
    train = ImageSet(tr_x, np.zeros(len(tr_x), np.int64), tr_ids)
    test = ImageSet(np.concatenate([n_x, a_x]),
                    np.concatenate([np.zeros(len(n_x), np.int64), np.ones(len(a_x), np.int64)]),
                    n_ids + a_ids)
    return Dataset("user", "User data", ["normal", "anomalous"], train, test, geometry,
                   _recorded_preprocess(preprocess, 0, geometry), str(Path(train_dir)), tr_bad + n_bad + a_bad)
