"""Post-training BatchNorm recalibration ("precise BN", Wu & Johnson 2021).

With momentum 0.1 the running statistics forget their initial values (mean 0,
var 1) only after a few hundred steps, and they trail a fast-changing network.
Short budgets therefore leave eval-mode outputs far from train-mode ones (a
generator at eval time can ignore its input entirely). Recomputing the
statistics as an exact average over a fixed set of training batches, with the
final weights and no gradient, removes that gap without changing any weight.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import torch
from torch import nn

from adcgan import torch_compat
from adcgan.io.tensors import to_float


def recalibrate_batchnorm(module: nn.Module, data: torch.Tensor, forward: Callable[[torch.Tensor], None],
                          n_batches: int, batch_size: int, seed: int, device: torch.device,
                          channels_last: bool = False) -> int:
    """Reset every BatchNorm's running stats and re-estimate them by cumulative averaging.

    Args:
        module: Holds the BatchNorm layers (e.g. the detector's ``nets``).
        data: Training images NCHW (uint8 or float in [0, 1]).
        forward: Runs the training-time forward passes for one float batch.
        n_batches: Number of batches averaged (capped by the data size).
        batch_size: Images per batch (the training batch size: BN statistics depend on it).
        seed: Seeds the batch choice and any z the forward draws.
        device: Where the batches go.

    Returns:
        The number of batches used (0 when there is no BatchNorm or too little data).
    """
    bns = [m for m in module.modules() if isinstance(m, torch_compat.BATCH_NORM_TYPES)]
    n = min(n_batches, len(data) // batch_size)
    if not bns or n <= 0:
        return 0
    perm = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    with _cumulative_statistics(module, bns, seed), torch.no_grad():
        for i in range(n):
            forward(to_float(data[perm[i * batch_size:(i + 1) * batch_size]].to(device), channels_last))
    return n


@contextmanager
def _cumulative_statistics(module: nn.Module, bns: list[nn.Module], seed: int) -> Iterator[None]:
    """Reset ``bns``' running stats to a cumulative average in train mode, the global RNG seeded;
    restores the momenta, the mode and the RNG state afterwards."""
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average = exact mean over the batches
    was_training = module.training
    module.train(True)
    rng_state = torch.get_rng_state()
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.set_rng_state(rng_state)
        for m, mom in zip(bns, momenta):
            m.momentum = mom
        module.train(was_training)
