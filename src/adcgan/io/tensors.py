"""Image batches as tensors: any image input -> NCHW (uint8 or float in [0, 1]); uint8 -> float."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch


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
