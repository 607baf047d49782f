"""Small training helpers shared by the detectors (losses, optimiser options)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from adcgan import torch_compat


def bce_to_constant(logits: Tensor, target: float) -> Tensor:
    """Mean sigmoid cross-entropy of ``logits`` (N,) against a constant label.

    Args:
        logits: Discriminator outputs before the sigmoid.
        target: The label every output is pushed towards (1.0 real, 0.0 fake).

    Returns:
        A scalar tensor.
    """
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def optimizer_options(fast_training: bool, device: torch.device, capturable: bool = False) -> dict[str, bool]:
    """Keyword arguments for ``torch.optim.Adam``/``AdamW``: the fused kernel (one pass over all
    parameters instead of ~10 element-wise ops per tensor) with ``fast_training`` on CPU or CUDA, and
    ``capturable`` (the step count and update stay on the GPU, as a CUDA graph needs) on CUDA.

    The fused kernel is the same update up to float rounding (``tests/test_fast_training.py``). Like the fast
    layers it is off where a torch internal of the fast training path is missing
    (:func:`adcgan.torch_compat.fast_training_supported`): then the whole step is the plain one.
    """
    fast = fast_training and device.type in ("cpu", "cuda") and torch_compat.fast_training_supported()
    opts = {"fused": True} if fast else {}
    return {**opts, "capturable": True} if capturable and device.type == "cuda" else opts
