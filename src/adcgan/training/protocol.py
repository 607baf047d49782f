"""What the training loop needs of a model: the narrow interface :func:`adcgan.training.loop.fit_loop` uses.

Any object with these attributes and methods trains through the one loop (epochs, batching, seeding,
checkpoints, resume, the NaN/inf guard); :class:`adcgan.detectors.base.BaseDetector` is one.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

    from adcgan.config import DetectorConfig


class Trainable(Protocol):
    """A model the fit loop can train.

    Attributes:
        name: Shown in progress lines.
        config: Its settings; the loop reads ``batch_size``, ``epochs``, ``warmup_epochs``, ``seed``,
            ``channels_last``, ``precision``, ``fast_training``, ``cuda_graphs`` and ``to_dict()``.
        nets: The networks (their state_dicts go into the checkpoint).
        optimizers: The optimisers (their state_dicts go into the checkpoint).
        train_info: Running totals the loop updates (``epochs_done``, ``images_seen``, ``train_seconds``).
        device: Where the batches go.
    """

    name: str
    config: "DetectorConfig"
    nets: "nn.ModuleDict"
    optimizers: dict[str, "torch.optim.Optimizer"]
    train_info: dict[str, Any]
    device: "torch.device"

    def train_step(self, x: "torch.Tensor", epoch: int) -> dict[str, float]:
        """One optimisation step on a float batch (N, C, H, W) in [0, 1]; returns the losses."""

    def set_train(self, mode: bool) -> None:
        """Put the networks in training (True) or evaluation mode."""

    def on_epoch_start(self, epoch: int, data: "torch.Tensor") -> None:
        """Called before each epoch with the whole training set."""
