"""Small training helpers shared by the baseline detectors."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def bce_to_constant(logits: Tensor, target: float) -> Tensor:
    """Mean sigmoid cross-entropy of ``logits`` (N,) against a constant label.

    Args:
        logits: Discriminator outputs before the sigmoid.
        target: The label every output is pushed towards (1.0 real, 0.0 fake).

    Returns:
        A scalar tensor.
    """
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))
