"""AE-GAN (Rafiee & Fevens, ICANN 2020): an autoencoder whose decoder is also a GAN generator.

E (ending in LayerNorm) and G form an autoencoder trained with MSE; G is at the same
time the generator of a GAN against a spectral-normalised discriminator D on real
images vs G(z), z ~ N(0, I). The LayerNorm keeps E's codes at zero mean / unit variance
per sample, the same scale as the GAN's Gaussian z, so G decodes both. Score
(per image, every term an element-mean L1; e = E(x), x_hat = G(e), e_hat = E(x_hat)):

    A(x) = (1 - lambda) * mean|x - x_hat| + lambda * mean|f_D(x) - f_D(x_hat)| + beta * mean|e - e_hat|

with f_D D's last conv feature map, lambda = beta = 0.1.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from adcgan.config import DetectorConfig, config_field
from adcgan.detectors.base import BaseDetector
from adcgan.detectors.helpers import bce_to_constant, optimizer_options
from adcgan.nets.baselines import ConvCritic, ConvEncoder, DCGenerator, frozen_bn_stats
from adcgan.registry import register_detector
from adcgan.training.optim import Adam


@dataclass
class AEGANConfig(DetectorConfig):
    """AE-GAN settings (score weights: Rafiee & Fevens 2020; optimiser: DCGAN-style, see docs)."""

    warmup_epochs: int = config_field(0, "autoencoder-only epochs before the GAN losses start")
    lr: float = config_field(1e-4, "Adam learning rate of E, G and D")
    beta1: float = config_field(0.5, "Adam beta1")
    width: int = config_field(64, "channels of the first conv layer of E and D")
    lam: float = config_field(0.1, "weight lambda of the discriminator-feature term of the score")
    beta: float = config_field(0.1, "weight beta of the latent term of the score")


@register_detector
class AEGAN(BaseDetector):
    """AE-GAN: MSE autoencoder + GAN sharing the decoder/generator."""

    name: ClassVar[str] = "aegan"
    Config: ClassVar[type[DetectorConfig]] = AEGANConfig
    component_names: ClassVar[tuple[str, ...]] = ("residual", "feature", "latent")
    inference_scoring: ClassVar[bool] = True
    config: AEGANConfig

    def build_nets(self) -> dict[str, nn.Module]:
        """E (SN convs, LayerNorm output), G (DCGAN, tanh) and D (SN, BN)."""
        cfg, geo = self.config, self.config.geometry
        return {"E": ConvEncoder(geo, cfg.z_dim, cfg.width, use_sn=True, layer_norm=True),
                "G": DCGenerator(cfg.z_dim, geo, cfg.width),
                "D": ConvCritic(geo, cfg.width, bn=True, use_sn=True)}

    def build_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Adam(lr, (beta1, 0.999)) for E, G and D."""
        betas = (self.config.beta1, 0.999)
        opts = optimizer_options(self.config.fast_training, self.device)
        return {k: Adam(self.nets[k].parameters(), lr=self.config.lr, betas=betas, **opts)
                for k in ("E", "G", "D")}

    def _step(self, loss: Tensor, names: tuple[str, ...]) -> None:
        for k in names:
            self.optimizers[k].zero_grad(set_to_none=True)
        loss.backward()
        for k in names:
            self.optimizers[k].step()

    def train_step(self, x: Tensor, epoch: int) -> dict[str, float]:
        """AE step (E, G); then, after warm-up, a D step and a non-saturating G step.

        Args:
            x: (N, C, H, W) in [0, 1]; mapped to [-1, 1] to match G's tanh.
            epoch: 0-based; ``epoch < warmup_epochs`` trains the autoencoder only.
        """
        x = x * 2 - 1
        loss_rec = F.mse_loss(self.nets["G"](self.nets["E"](x)), x)
        self._step(loss_rec, ("E", "G"))
        if epoch < self.config.warmup_epochs:
            return {"loss_rec": loss_rec.item()}
        with frozen_bn_stats(self.nets["G"]):  # G's running BN statistics describe the G(E(x)) path scored
            fake = self.nets["G"](torch.randn(len(x), self.config.z_dim, device=x.device))
        loss_d = bce_to_constant(self.nets["D"](x)[0], 1.0) + bce_to_constant(self.nets["D"](fake.detach())[0], 0.0)
        self._step(loss_d, ("D",))
        loss_g = bce_to_constant(self.nets["D"](fake)[0], 1.0)
        self._step(loss_g, ("G",))
        return {"loss_rec": loss_rec.item(), "loss_d": loss_d.item(), "loss_g": loss_g.item()}

    def reconstruct(self, x: Tensor) -> Tensor:
        """Autoencoder reconstruction G(E(x)) in [0, 1]: (N, C, H, W) -> (N, C, H, W)."""
        return (self.nets["G"](self.nets["E"](x * 2 - 1)) + 1) / 2

    def sample(self, n: int, seed: int = 0) -> Tensor:
        """``n`` generator samples G(z) in [0, 1], z drawn from ``seed``: (n, C, H, W)."""
        z = torch.randn(n, self.config.z_dim, generator=torch.Generator().manual_seed(seed)).to(self.device)
        return (self.nets["G"](z) + 1) / 2

    def score_batch(self, x: Tensor) -> dict[str, Tensor]:
        """Score and its three terms: (N, C, H, W) in [0, 1] -> dict of (N,) tensors."""
        cfg, n = self.config, self.nets
        x = x * 2 - 1
        e = n["E"](x)
        x_hat = n["G"](e)
        e_hat = n["E"](x_hat)
        res = (x - x_hat).abs().flatten(1).mean(1)
        feat = (n["D"].features(x) - n["D"].features(x_hat)).abs().mean(1)
        lat = (e - e_hat).abs().mean(1)
        score = (1 - cfg.lam) * res + cfg.lam * feat + cfg.beta * lat
        return {"score": score, "residual": res, "feature": feat, "latent": lat}
