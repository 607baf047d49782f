"""User cache: where downloads go and where decoded arrays are kept.

Decoded and preprocessed arrays are stored as uncompressed ``.npz`` files in
``<cache root>/arrays/``. The file name hashes (dataset, source folder,
preprocess, geometry); inside, a cheap fingerprint of the source files (file
count, total size, newest mtime) is stored, and a mismatch rebuilds the entry
in place. Files are written atomically (temporary file + rename) and read
with ``allow_pickle=False``.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Iterable

import numpy as np

CACHE_FORMAT = 1


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """The adcgan cache root: ``cache_dir``, else ``$XDG_CACHE_HOME/adcgan``, else ``~/.cache/adcgan``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "adcgan"


def fingerprint(files: Iterable[str | Path]) -> str:
    """``"<count>:<total bytes>:<newest mtime ns>"`` of ``files`` (missing files count as 0 bytes)."""
    count = total = newest = 0
    for f in files:
        try:
            st = os.stat(f)
        except OSError:
            st = None
        count += 1
        total += st.st_size if st else 0
        newest = max(newest, st.st_mtime_ns if st else 0)
    return f"{count}:{total}:{newest}"


def array_cache_path(root: Path, name: str, source: Path, preprocess: str,
                     geometry: tuple[int, int, int]) -> Path:
    """Cache file for one (dataset, source, preprocess, geometry) combination."""
    key = json.dumps([CACHE_FORMAT, name, str(Path(source).resolve()), preprocess, list(geometry)])
    digest = hashlib.sha256(key.encode()).hexdigest()[:20]
    return Path(root) / "arrays" / f"{name}-{preprocess}-{digest}.npz"


def load_arrays(path: Path, expected_fingerprint: str) -> dict[str, np.ndarray] | None:
    """Arrays stored at ``path`` if present, readable and built from the same files, else None."""
    if not Path(path).is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            if str(npz["fingerprint"]) != expected_fingerprint:
                return None
            return {k: npz[k] for k in npz.files}
    except (OSError, ValueError, KeyError, EOFError):
        return None


def save_arrays(path: Path, arrays: dict[str, np.ndarray], fingerprint_: str) -> None:
    """Atomically write ``arrays`` (plus the fingerprint) to ``path``; failures are non-fatal."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, fingerprint=np.array(fingerprint_), **arrays)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600
        os.replace(tmp, path)
    except OSError as exc:
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)
        warnings.warn(f"could not write the array cache {path}: {exc}", stacklevel=2)
