"""Low-level readers: IDX files, CIFAR-10 python batches and single images.

Every reader validates its input and raises :class:`DataError` naming the
file on any corruption, never a bare traceback.
"""
from __future__ import annotations

import gzip
import pickle
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from adcgan.data.errors import DataError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff",
                              ".webp", ".ppm", ".pgm", ".pbm", ".pnm"})
_IDX_DTYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"),
               0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
MAX_IDX_DIMS = 4


def read_bytes(path: Path) -> bytes:
    """Read a file, transparently gunzipping it when it starts with the gzip magic.

    Raises:
        DataError: if the file is missing or the gzip stream is corrupt/truncated.
    """
    try:
        raw = Path(path).read_bytes()
        return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except FileNotFoundError as exc:
        raise DataError(f"file not found: {path}") from exc
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"cannot read {path}: corrupt or truncated gzip data ({exc})") from exc


def _idx_header(path: Path, data: bytes) -> tuple[np.dtype, tuple[int, ...], int]:
    """Validate an IDX header: (dtype, dims, header length); a short :class:`DataError` otherwise."""
    name = str(path) if len(str(path)) <= 100 else Path(path).name  # keep the message on one short line
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataError(f"{name}: not an IDX file (magic {data[:4].hex() or 'empty'!r}, expected 0000tttn)")
    if data[2] not in _IDX_DTYPES:
        codes = "/".join(f"{c:02x}" for c in _IDX_DTYPES)
        raise DataError(f"{name}: unknown IDX type code 0x{data[2]:02x} (expected one of {codes})")
    ndim = data[3]
    if not 1 <= ndim <= MAX_IDX_DIMS:
        raise DataError(f"{name}: IDX header has {ndim} dimensions (expected 1 to {MAX_IDX_DIMS})")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{name}: truncated IDX header ({len(data)} bytes, expected at least {header})")
    dims = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    dtype = _IDX_DTYPES[data[2]]
    expected = int(np.prod(dims, dtype=object)) * dtype.itemsize
    if len(data) - header != expected:
        shape = "x".join(map(str, dims))
        raise DataError(f"{name}: IDX shape {shape} needs {expected} data bytes, file has {len(data) - header}")
    return dtype, dims, header


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzip'd or raw.

    Args:
        path: The file.

    Returns:
        The array with its stored shape, in native byte order.

    Raises:
        DataError: one short line naming the file, on a bad magic number, an unknown type
            code, more than four dimensions, or a shape that does not match the file size.
    """
    data = read_bytes(path)
    dtype, dims, header = _idx_header(path, data)
    return np.frombuffer(data, dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def read_idx_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read matching IDX image (N, H, W) and label (N,) files.

    Returns:
        uint8 images (N, H, W, 1) and int64 labels (N,).

    Raises:
        DataError: on wrong dimensionality or mismatched counts.
    """
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(f"{images_path}: expected uint8 images (N, H, W), got {images.dtype} {images.shape}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataError(f"{labels_path}: expected {len(images)} labels, got shape {labels.shape}")
    return images[..., None], labels.astype(np.int64)


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that can rebuild numpy arrays and plain containers, nothing else.

    Allowed: ``numpy(._)core.multiarray._reconstruct``, ``numpy.ndarray`` and
    ``numpy.dtype`` (the official release, pickled by Python 2), plus
    ``numpy(._)core.numeric._frombuffer`` (arrays pickled with protocol 5) and
    ``_codecs.encode`` (bytes pickled by Python 3 with protocol 2); these only
    build arrays/bytes. Everything else is refused.
    """

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name}: CIFAR-10 batches only contain dicts, "
                "lists, bytes, ints and numpy arrays")
        if module.startswith("numpy.core."):  # avoid numpy 2's deprecated alias
            module = "numpy._core." + module[len("numpy.core."):]
        return super().find_class(module, name)


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 python batch without unpickling arbitrary objects.

    Returns:
        uint8 images (N, 32, 32, 3) and int64 labels (N,).

    Raises:
        DataError: if the file is missing, not a safe pickle, or malformed.
    """
    try:
        with open(path, "rb") as f:
            batch = _NumpyOnlyUnpickler(f, encoding="bytes").load()
    except FileNotFoundError as exc:
        raise DataError(f"file not found: {path}") from exc
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            ImportError, IndexError, OSError) as exc:
        raise DataError(f"cannot read CIFAR-10 batch {path}: {exc}") from exc
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DataError(f"{path}: not a CIFAR-10 batch (expected a dict with b'data' and b'labels')")
    data, labels = np.asarray(batch[b"data"]), np.asarray(batch[b"labels"], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise DataError(f"{path}: expected uint8 data of shape (N, 3072) and N labels, "
                        f"got {data.dtype} {data.shape} and {labels.shape}")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy(), labels


def _high_depth_to_l(img: Image.Image) -> Image.Image:
    """Scale 16/32-bit integer or float images to 8-bit 'L' (PIL would clip)."""
    arr = np.asarray(img)
    if img.mode == "F":
        arr = arr * 255.0 if arr.size and np.nanmax(arr) <= 1.0 else arr
    elif img.mode.startswith("I;16") or (arr.size and arr.max() > 255):
        arr = arr / 257.0
    return Image.fromarray(np.clip(np.rint(np.nan_to_num(arr)), 0, 255).astype(np.uint8), "L")


def _composite_on_black(img: Image.Image) -> Image.Image:
    """Drop transparency by compositing the image on a black background."""
    rgba = np.asarray(img.convert("RGBA"), dtype=np.uint16)
    rgb = (rgba[..., :3] * rgba[..., 3:] + 127) // 255
    out = Image.fromarray(rgb.astype(np.uint8), "RGB")
    return out.convert("L") if img.mode in ("LA", "La") else out


def to_channels(img: Image.Image, channels: int) -> Image.Image:
    """Convert any PIL image to 'L' (channels=1) or 'RGB' (channels=3).

    16-bit and float images are scaled to 8 bits; images with alpha (RGBA, LA,
    palette with transparency) are composited on black; CMYK/YCbCr/palette/1-bit
    go through PIL's standard conversion; colour -> gray uses PIL's ITU-R 601-2
    luma, gray -> colour replicates the channel.
    """
    if img.mode.startswith("I") or img.mode == "F":
        img = _high_depth_to_l(img)
    if img.mode in ("RGBA", "LA", "La", "RGBa", "PA") or (
            img.mode == "P" and "transparency" in img.info):
        img = _composite_on_black(img)
    target = "L" if channels == 1 else "RGB"
    return img if img.mode == target else img.convert(target)


def decode_image(path: str | Path, geometry: tuple[int, int, int]) -> np.ndarray:
    """Decode one image file to uint8 (H, W, C) of the given geometry.

    The image is converted with :func:`to_channels` and, if its size differs,
    resized with PIL bilinear (as torchvision's ``Resize`` on PIL images).

    Raises:
        DataError: if the file cannot be opened or decoded (corrupt, truncated,
            zero bytes, not an image).
    """
    h, w, c = geometry
    try:
        with Image.open(path) as img:
            img.load()
            img = to_channels(img, c)
            if img.size != (w, h):
                img = img.resize((w, h), Image.BILINEAR)
            arr = np.asarray(img, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError,
            Image.DecompressionBombError) as exc:
        raise DataError(f"cannot decode image {path}: {exc}") from exc
    return arr.reshape(h, w, c)


def probe_geometry(path: str | Path) -> tuple[int, int, int]:
    """Geometry (H, W, C) of an image file: its size; C=1 for gray/16-bit modes.

    Raises:
        DataError: if the file cannot be opened.
    """
    try:
        with Image.open(path) as img:
            gray = img.mode in ("1", "L", "LA", "La", "F") or img.mode.startswith("I")
            return img.size[1], img.size[0], 1 if gray else 3
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"cannot open image {path}: {exc}") from exc

