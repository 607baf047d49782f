"""One-class Deep SVDD (Ruff et al., ICML 2018).

A bias-free network phi is trained to map normal images close to a fixed centre c
(the one-class objective, Eq. (4)): ``min_W mean ||phi(x; W) - c||^2 + (lambda/2)||W||^2``,
the weight-decay term being Adam's ``weight_decay``. c is the mean of phi over the
training images after an initial forward pass (after the optional autoencoder
pre-training, run here as the ``warmup_epochs``). Score: ``||phi(x) - c||^2``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from adcgan.config import DetectorConfig, config_field
from adcgan.detectors.base import BaseDetector
from adcgan.detectors.helpers import optimizer_options
from adcgan.nets.baseline_svdd import Center, SVDDDecoder, SVDDNet, gcn_l1
from adcgan.registry import register_detector
from adcgan.io.tensors import to_float
from adcgan.training.optim import Adam


@dataclass
class DeepSVDDConfig(DetectorConfig):
    """Deep SVDD settings (Ruff et al. 2018 Sec. 4.1; epochs scaled down to the project's budget)."""

    lr: float = config_field(1e-4, "Adam learning rate (one-class phase and AE pre-training)")
    weight_decay: float = config_field(1e-6, "Adam weight decay (the paper's lambda)")
    ae_weight_decay: float = config_field(0.5e-6, "Adam weight decay during AE pre-training (warm-up)")
    center_eps: float = config_field(0.1, "centre coordinates with |c_i| < eps are set to +-eps")
    gcn: bool = config_field(True, "global contrast normalisation (L1) of every image, as the paper")


@register_detector
class DeepSVDD(BaseDetector):
    """One-class Deep SVDD with optional autoencoder pre-training (``warmup_epochs``)."""

    name: ClassVar[str] = "deepsvdd"
    Config: ClassVar[type[DetectorConfig]] = DeepSVDDConfig
    component_names: ClassVar[tuple[str, ...]] = ()
    inference_scoring: ClassVar[bool] = True
    config: DeepSVDDConfig

    def build_nets(self) -> dict[str, nn.Module]:
        """phi (the encoder), the pre-training decoder and the centre holder."""
        phi = SVDDNet(self.config.geometry)
        return {"phi": phi, "decoder": SVDDDecoder(self.config.geometry), "center": Center(phi.rep_dim)}

    def build_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """``ae``: phi + decoder (pre-training); ``svdd``: phi (one-class phase)."""
        cfg = self.config
        ae_params = list(self.nets["phi"].parameters()) + list(self.nets["decoder"].parameters())
        fused = optimizer_options(cfg.fast_training, self.device)
        return {"ae": Adam(ae_params, lr=cfg.lr, weight_decay=cfg.ae_weight_decay, **fused),
                "svdd": Adam(self.nets["phi"].parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, **fused)}

    def _prep(self, x: Tensor) -> Tensor:
        return gcn_l1(x) if self.config.gcn else x

    def on_epoch_start(self, epoch: int, data: Tensor) -> None:
        """At the first one-class epoch, set the centre from all training images."""
        if epoch >= self.config.warmup_epochs and not bool(self.nets["center"].ready):
            self.init_center(data)

    @torch.no_grad()
    def init_center(self, data: Tensor) -> None:
        """c = mean phi(x) over ``data`` (N, C, H, W) uint8/float, phi in eval mode (Ruff's ``init_center_c``)."""
        phi = self.nets["phi"]
        was_training = phi.training
        phi.eval()
        bs = self.config.score_batch_size
        total = sum(phi(self._prep(to_float(data[i:i + bs].to(self.device)))).sum(0) for i in range(0, len(data), bs))
        self.nets["center"].set(total / len(data), self.config.center_eps)
        phi.train(was_training)

    def train_step(self, x: Tensor, epoch: int) -> dict[str, float]:
        """AE pre-training step during warm-up, else a one-class step.

        The centre is set at the first one-class step from all training images (or, when the
        detector is driven without :meth:`fit`, from that first batch).
        """
        raw, x = x, self._prep(x)
        if epoch < self.config.warmup_epochs:
            loss = F.mse_loss(self.nets["decoder"](self.nets["phi"](x)), x)
            opt = self.optimizers["ae"]
        else:
            if not bool(self.nets["center"].ready):  # driven without fit(): centre from this batch
                self.init_center(raw)
            loss = (self.nets["phi"](x) - self.nets["center"].c).pow(2).sum(1).mean()
            opt = self.optimizers["svdd"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"loss_ae" if epoch < self.config.warmup_epochs else "loss_svdd": loss.item()}

    def score_batch(self, x: Tensor) -> dict[str, Tensor]:
        """Squared distance to the centre: (N, C, H, W) in [0, 1] -> {"score": (N,)}."""
        if not bool(self.nets["center"].ready):
            raise RuntimeError("deepsvdd: the centre c is not set (train at least one one-class epoch)")
        return {"score": (self.nets["phi"](self._prep(x)) - self.nets["center"].c).pow(2).sum(1)}
