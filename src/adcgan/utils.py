"""Small shared helpers: devices, seeding, atomic writes, image tensors."""
from __future__ import annotations

import json
import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch


def resolve_device(name: str = "auto") -> torch.device:
    """Map ``"auto"`` to cuda > mps > cpu; validate an explicit choice.

    Raises:
        ValueError: when the requested device is not available here.
    """
    name = (name or "auto").lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available on this machine")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("device 'mps' requested but MPS is not available on this machine")
    try:
        return torch.device(name)
    except RuntimeError as exc:
        raise ValueError(f"unknown device {name!r} (use auto, cpu, cuda, cuda:N or mps)") from exc


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    """Atomically write ``obj`` as indented JSON."""
    atomic_write_bytes(Path(path), (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def atomic_torch_save(obj: Any, path: Path) -> None:
    """``torch.save`` to a temporary file, then rename into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def as_image_tensor(images: Any) -> torch.Tensor:
    """Normalise an image batch to an NCHW tensor (uint8, or float32 in [0, 1]).

    NumPy arrays (and lists) are read as NHWC or NHW, the layout of image files;
    torch tensors are read as NCHW or NHW, the layout of torch code. uint8 data
    stays uint8 (converted per batch by :func:`to_float`) to keep memory small.

    Raises:
        ValueError: for shapes, channel counts or value ranges that are not images.
    """
    is_torch = isinstance(images, torch.Tensor)
    t = images.detach().cpu() if is_torch else torch.from_numpy(np.ascontiguousarray(np.asarray(images)))
    if t.dim() == 3:
        t = t.unsqueeze(1) if is_torch else t.unsqueeze(-1)
    if t.dim() != 4:
        raise ValueError(f"expected a batch of images (N,H,W[,C]), got shape {tuple(t.shape)}")
    if not is_torch:
        t = t.permute(0, 3, 1, 2)
    if t.shape[1] not in (1, 3):
        layout = "NCHW tensor" if is_torch else "NHWC array"
        raise ValueError(f"images must have 1 or 3 channels ({layout}), got shape {tuple(t.shape)}")
    if t.dtype == torch.uint8:
        return t.contiguous()
    if t.dtype == torch.bool or not (t.is_floating_point() or t.dtype in (torch.int16, torch.int32, torch.int64)):
        raise ValueError(f"unsupported image dtype {t.dtype}")
    t = t.float().contiguous()
    if t.numel() and (t.min() < -1e-6 or t.max() > 1 + 1e-6):
        raise ValueError("float images must be scaled to [0, 1] (or pass uint8 images)")
    return t


def to_float(batch: torch.Tensor, channels_last: bool = False) -> torch.Tensor:
    """uint8 -> float32 in [0, 1]; float passes through; optionally channels-last."""
    out = batch.float().div_(255.0) if batch.dtype == torch.uint8 else batch.float()
    return out.contiguous(memory_format=torch.channels_last) if channels_last else out


def versions() -> dict[str, str]:
    """Versions recorded in checkpoints and reports."""
    import platform

    from adcgan import __version__

    return {"adcgan": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version()}
