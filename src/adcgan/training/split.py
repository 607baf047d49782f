"""The seeded training/validation split and training-image cap every detector's ``fit`` uses."""
from __future__ import annotations

from typing import Any

import torch

from adcgan.config import DetectorConfig
from adcgan.io.tensors import as_image_tensor

MIN_IMAGES_TO_HOLD_OUT = 20
"""Below this many training images nothing is held out for validation."""


def holdout_split(X: Any, X_val: Any, config: DetectorConfig) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Training and validation tensors (NCHW uint8 or float) for ``fit``.

    Without ``X_val``, ``config.val_fraction`` of ``X`` is held out (permutation seeded by
    ``config.seed``); then the training part is capped at ``config.max_train_images`` (a seeded
    subset, ``config.seed + 1``, in the original order) and the validation part, given or held out,
    at ``config.max_val_images`` (``config.seed + 2``).

    Args:
        X: Normal training images (NHWC array or NCHW tensor).
        X_val: Normal validation images, or ``None``.
        config: Supplies ``val_fraction``, ``max_train_images``, ``max_val_images`` and ``seed``.

    Returns:
        ``(train, val)``; ``val`` is ``None`` when nothing was held out.
    """
    data = as_image_tensor(X)
    val = as_image_tensor(X_val) if X_val is not None else None
    if val is None and config.val_fraction > 0 and len(data) >= MIN_IMAGES_TO_HOLD_OUT:
        perm = torch.randperm(len(data), generator=torch.Generator().manual_seed(config.seed))
        n_val = int(round(len(data) * config.val_fraction))
        val, data = data[perm[:n_val].sort().values], data[perm[n_val:].sort().values]
    if val is not None:
        val = cap_images(val, config.max_val_images, config.seed + 2)
    return cap_images(data, config.max_train_images, config.seed + 1), val


def cap_images(data: torch.Tensor, cap: int | None, seed: int) -> torch.Tensor:
    """A seeded subset of ``cap`` images of ``data`` in their original order (all when ``cap`` is None)."""
    if cap is None or cap >= len(data):
        return data
    idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:cap]
    return data[idx.sort().values]
