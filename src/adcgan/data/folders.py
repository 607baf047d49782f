"""Folders of image files: listing, class layout, seeded splits, parallel decoding."""
from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

import numpy as np
from adcgan.data.errors import DataError
from adcgan.data.readers import IMAGE_EXTENSIONS, decode_image
from adcgan.io.progress import progress

CHUNK = 256
MAX_LISTED = 20


def list_images(folder: str | Path) -> list[str]:
    """Image files under ``folder`` as path strings (recursive, sorted; hidden entries skipped).

    Strings rather than ``Path`` objects: building 60k ``Path`` objects costs
    seconds, and this runs on every (cached) load to fingerprint the folder.
    """
    found: list[str] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found.extend(os.path.join(root, f) for f in files
                     if not f.startswith(".") and os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS)
    found.sort()
    return found


def subdirs(folder: Path) -> dict[str, Path]:
    """Visible subfolders of ``folder`` keyed by lower-cased name."""
    if not folder.is_dir():
        return {}
    return {p.name.lower(): p for p in sorted(folder.iterdir())
            if p.is_dir() and not p.name.startswith(".")}


def class_dirs(root: Path, class_names: Sequence[str]) -> list[tuple[str, Path]] | None:
    """Match class subfolders of ``root`` (case-insensitive).

    Args:
        root: Folder expected to hold one subfolder per class.
        class_names: Required classes in label order; empty: every subfolder,
            sorted by name, is a class.

    Returns:
        (class name, folder) pairs in label order, or None if a class is missing.
    """
    found = subdirs(root)
    if not class_names:
        return [(p.name, p) for p in found.values()] or None
    if not all(c.lower() in found for c in class_names):
        return None
    return [(c, found[c.lower()]) for c in class_names]


def seeded_split(files: list[str], test_fraction: float,
                 seed: int | Sequence[int]) -> tuple[list[str], list[str]]:
    """Split one class's files: a seeded permutation, the first ``round(n*f)`` go to test.

    The files are sorted first, so the split depends only on the file names,
    ``test_fraction`` and ``seed``. Returns (train, test), each sorted.
    """
    files = sorted(files)
    n_test = int(np.floor(len(files) * test_fraction + 0.5))
    perm = np.random.default_rng(seed).permutation(len(files))
    test = {int(i) for i in perm[:n_test]}
    return ([f for i, f in enumerate(files) if i not in test],
            [f for i, f in enumerate(files) if i in test])


def _decode_chunk(paths: Sequence[str | Path], geometry: tuple[int, int, int]) -> list[np.ndarray | str]:
    """Decode ``paths``; a failure becomes its error message."""
    out: list[np.ndarray | str] = []
    for p in paths:
        try:
            out.append(decode_image(p, geometry))
        except DataError as exc:
            out.append(str(exc))
    return out


def describe_files(paths: Sequence[object]) -> str:
    """Comma-separated list of at most :data:`MAX_LISTED` names, then '... and N more'."""
    shown = ", ".join(str(p) for p in paths[:MAX_LISTED])
    extra = len(paths) - MAX_LISTED
    return shown + (f", ... and {extra} more" if extra > 0 else "")


def decode_files(paths: Sequence[str | Path], geometry: tuple[int, int, int], stop_at_error: bool = False,
                 desc: str = "decoding images") -> tuple[np.ndarray, np.ndarray, list[tuple[str, str]]]:
    """Decode many image files in a thread pool, collecting the failures.

    Args:
        paths: Image files.
        geometry: Output (H, W, C); images are converted and resized to it.
        stop_at_error: Raise :class:`DataError` naming the first bad file instead of collecting.
        desc: Progress label.

    Returns:
        uint8 images (M, H, W, C), the indices (M,) into ``paths`` that were decoded, and
        ``(path, reason)`` for every file that was not.
    """
    out = np.empty((len(paths), *geometry), dtype=np.uint8)
    ok = np.zeros(len(paths), dtype=bool)
    bad: list[tuple[str, str]] = []
    chunks = [paths[i:i + CHUNK] for i in range(0, len(paths), CHUNK)]
    workers = max(1, min(4, os.cpu_count() or 1))
    with warnings.catch_warnings(), ThreadPoolExecutor(workers) as pool, \
            progress(total=len(paths), desc=desc, unit="img") as bar:
        warnings.filterwarnings("ignore", message=".*EXIF.*")  # common in web JPEGs, harmless
        for start, results in zip(range(0, len(paths), CHUNK),
                                  pool.map(lambda c: _decode_chunk(c, geometry), chunks)):
            for j, res in enumerate(results):
                if isinstance(res, str):
                    if stop_at_error:
                        pool.shutdown(wait=False, cancel_futures=True)
                        raise DataError(res)
                    bad.append((str(paths[start + j]), res))
                else:
                    out[start + j], ok[start + j] = res, True
            bar.update(len(results))
    kept = np.flatnonzero(ok)
    return (out if len(kept) == len(paths) else out[kept]), kept, bad


def warn_skipped(files: Sequence[str]) -> None:
    """One warning naming the unreadable files that were skipped."""
    if files:
        warnings.warn(f"skipped {len(files)} unreadable image file(s): {describe_files(files)}", stacklevel=3)


def decode_many(paths: Sequence[str | Path], geometry: tuple[int, int, int], skip_bad: bool,
                desc: str = "decoding images") -> tuple[np.ndarray, np.ndarray]:
    """Decode many image files (see :func:`decode_files`).

    Args:
        paths: Image files.
        geometry: Output (H, W, C); images are converted and resized to it.
        skip_bad: True: skip undecodable files with one warning naming them;
            False: raise :class:`DataError` naming the first bad file.
        desc: Progress-bar label.

    Returns:
        uint8 images (M, H, W, C) and the indices (M,) into ``paths`` that were kept.
    """
    images, kept, bad = decode_files(paths, geometry, stop_at_error=not skip_bad, desc=desc)
    warn_skipped([p for p, _ in bad])
    return images, kept
