"""Verified downloads of the official dataset files.

Files are streamed to a temporary file next to the destination with a tqdm
progress bar, checked against the published MD5/SHA256, and only then renamed
into place; a mismatch or an interrupted transfer leaves nothing behind.
Archives are unpacked with path-traversal and link checks.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import tarfile
import tempfile
import urllib.request
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from adcgan.data.errors import DataError
from adcgan.data.specs import DatasetSpec, Resource
from adcgan.io.progress import progress

TIMEOUT_S = 30.0


def _stream(url: str, fileobj: BinaryIO, hashers: list["hashlib._Hash"], desc: str) -> None:
    """Copy ``url`` into ``fileobj``, updating ``hashers`` and a progress bar."""
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as resp:
        total = int(resp.headers.get("Content-Length") or 0) or None
        with progress(total=total, unit="B", desc=desc, unit_scale=True) as bar:
            while chunk := resp.read(1 << 20):
                fileobj.write(chunk)
                for h in hashers:
                    h.update(chunk)
                bar.update(len(chunk))


def download_file(url: str, dest: Path, md5: str = "", sha256: str = "") -> Path:
    """Download ``url`` to ``dest`` atomically, verifying the given checksums.

    Raises:
        DataError: on a network error or a checksum mismatch (the partial file
            is deleted in both cases).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    hashers = {"md5": hashlib.md5(), "sha256": hashlib.sha256()}
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            _stream(url, f, list(hashers.values()), dest.name)
        for kind, want in (("md5", md5), ("sha256", sha256)):
            got = hashers[kind].hexdigest()
            if want and got != want.lower():
                raise DataError(f"checksum mismatch for {dest.name} from {url}: expected {kind} "
                                f"{want}, got {got}; the downloaded file was deleted")
        os.chmod(tmp, 0o644)  # mkstemp creates 0600
        os.replace(tmp, dest)
    except (OSError, ValueError, http.client.HTTPException) as exc:  # URLError, timeouts, bad URL
        raise DataError(f"could not download {url}: {exc}") from exc
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def file_matches(path: Path, resource: Resource) -> bool:
    """True if ``path`` exists and matches the resource's checksum(s)."""
    if not path.is_file():
        return False
    digests = {"md5": hashlib.md5(), "sha256": hashlib.sha256()}
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            for h in digests.values():
                h.update(chunk)
    return all(not want or digests[k].hexdigest() == want.lower()
               for k, want in (("md5", resource.md5), ("sha256", resource.sha256)))


def _check_member(member: tarfile.TarInfo, archive: Path) -> None:
    """Refuse absolute paths, '..' components, links and special files."""
    parts = PurePosixPath(member.name).parts
    if member.name.startswith(("/", "\\")) or ".." in parts or not (member.isfile() or member.isdir()):
        raise DataError(f"refusing to extract unsafe member {member.name!r} from {archive}")


def safe_extract_tar(archive: Path, dest: Path) -> None:
    """Extract a tar(.gz) into ``dest`` after checking every member.

    The archive is unpacked into a temporary folder inside ``dest`` and its
    top-level entries are then moved into place (replacing older copies).

    Raises:
        DataError: for a corrupt archive or any unsafe member.
    """
    dest.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest, prefix=".extract-"))
    try:
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            for m in members:
                _check_member(m, archive)
            extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(tmp, members=members, **extra)
        for entry in tmp.iterdir():
            target = dest / entry.name
            if target.is_dir():
                shutil.rmtree(target)
            os.replace(entry, target)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DataError(f"cannot extract {archive}: {exc}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def fetch_resource(resource: Resource, dest_dir: Path) -> Path:
    """Download one resource (trying its mirrors in order) unless already there.

    Raises:
        DataError: listing every mirror's failure.
    """
    dest = Path(dest_dir) / resource.filename
    if file_matches(dest, resource):
        return dest
    errors = []
    for url in resource.urls:
        try:
            return download_file(url, dest, resource.md5, resource.sha256)
        except DataError as exc:
            errors.append(str(exc))
    raise DataError("; ".join(errors) or f"no download URL for {resource.filename}")


def fetch_dataset(spec: DatasetSpec, dest_dir: Path) -> Path:
    """Download (and unpack) all of ``spec``'s official files into ``dest_dir``.

    Raises:
        DataError: if the dataset has no official download or a file fails.
    """
    if not spec.resources:
        raise DataError(f"{spec.display_name} has no official download; {spec.expected} must be provided")
    for res in spec.resources:
        path = fetch_resource(res, dest_dir)
        if res.extract:
            safe_extract_tar(path, Path(dest_dir))
            path.unlink()
    return Path(dest_dir)
