"""ALAD: Adversarially Learned Anomaly Detection (Zenati et al., ICDM 2018).

A BiGAN (encoder E, generator G, joint discriminator D_xz) with two extra
discriminators that enforce cycle consistency: D_xx on (x, x') image pairs and D_zz on
(z, z') code pairs. Score (paper Sec. IV, "Feature-matching"):
``A(x) = || f_xx(x, x) - f_xx(x, G(E(x))) ||_1`` with ``f_xx`` D_xx's last hidden layer,
evaluated with exponential-moving-average weights of E, G and D_xx.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from adcgan.config import DetectorConfig, config_field
from adcgan.detectors.base import BaseDetector
from adcgan.detectors.helpers import bce_to_constant, optimizer_options
from adcgan.nets.baseline_alad import DiscriminatorXX, DiscriminatorXZ, DiscriminatorZZ, EMACopies
from adcgan.nets.baselines import ConvEncoder, DCGenerator
from adcgan.registry import register_detector
from adcgan.training.optim import Adam


@dataclass
class ALADConfig(DetectorConfig):
    """ALAD settings (defaults: the paper's CIFAR-10 setup, Zenati et al. 2018 Sec. V)."""

    warmup_epochs: int = config_field(0, "ALAD has no warm-up phase")
    lr: float = config_field(2e-4, "Adam learning rate of every network")
    beta1: float = config_field(0.5, "Adam beta1")
    width: int = config_field(64, "channels of the first conv layer of every network")
    dropout: float = config_field(0.2, "dropout in the three discriminators")
    ema_decay: float = config_field(0.999, "EMA decay of the test-time weights of E, G and D_xx")


@register_detector
class ALAD(BaseDetector):
    """ALAD with spectral-normalised D_xz, D_xx (channel pairs) and D_zz (feature pairs)."""

    name: ClassVar[str] = "alad"
    Config: ClassVar[type[DetectorConfig]] = ALADConfig
    component_names: ClassVar[tuple[str, ...]] = ()
    inference_scoring: ClassVar[bool] = True
    config: ALADConfig

    def build_nets(self) -> dict[str, nn.Module]:
        """E, G, D_xz, D_xx, D_zz and the EMA copies of E, G and D_xx."""
        cfg, geo, z = self.config, self.config.geometry, self.config.z_dim
        nets: dict[str, nn.Module] = {
            "E": ConvEncoder(geo, z, cfg.width, use_sn=True),
            "G": DCGenerator(z, geo, cfg.width),
            "Dxz": DiscriminatorXZ(geo, z, cfg.width, cfg.dropout),
            "Dxx": DiscriminatorXX(geo, cfg.width, cfg.dropout),
            "Dzz": DiscriminatorZZ(z, cfg.dropout),
        }
        nets["ema"] = EMACopies({k: nets[k] for k in ("E", "G", "Dxx")})
        return nets

    def build_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """One Adam (lr, beta1) per trained network (not the EMA copies)."""
        betas = (self.config.beta1, 0.999)
        return {k: Adam(self.nets[k].parameters(), lr=self.config.lr, betas=betas,
                        **optimizer_options(self.config.fast_training, self.device))
                for k in ("E", "G", "Dxz", "Dxx", "Dzz")}

    def _disc_losses(self, x: Tensor, z: Tensor) -> dict[str, Tensor]:
        """Discriminator losses of ALAD Eq. (3)-(5) with E and G held fixed."""
        n = self.nets
        with torch.no_grad():
            ex, gz = n["E"](x), n["G"](z)
            rec_x, rec_z = n["G"](ex), n["E"](gz)
        d_xz = bce_to_constant(n["Dxz"](x, ex), 1.0) + bce_to_constant(n["Dxz"](gz, z), 0.0)
        d_xx = bce_to_constant(n["Dxx"](x, x), 1.0) + bce_to_constant(n["Dxx"](x, rec_x), 0.0)
        d_zz = bce_to_constant(n["Dzz"](z, z), 1.0) + bce_to_constant(n["Dzz"](z, rec_z), 0.0)
        return {"d_xz": d_xz, "d_xx": d_xx, "d_zz": d_zz}

    def _gen_losses(self, x: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
        """(L_G, L_E) on fresh discriminator outputs (labels flipped, official ALAD code)."""
        n = self.nets
        ex, gz = n["E"](x), n["G"](z)
        gen_xz = bce_to_constant(n["Dxz"](gz, z), 1.0)
        enc_xz = bce_to_constant(n["Dxz"](x, ex), 0.0)
        cost_x = bce_to_constant(n["Dxx"](x, x), 0.0) + bce_to_constant(n["Dxx"](x, n["G"](ex)), 1.0)
        cost_z = bce_to_constant(n["Dzz"](z, z), 0.0) + bce_to_constant(n["Dzz"](z, n["E"](gz)), 1.0)
        cycle = cost_x + cost_z
        return gen_xz + cycle, enc_xz + cycle

    def train_step(self, x: Tensor, epoch: int) -> dict[str, float]:
        """D_xz, D_xx, D_zz step, then G and E steps on recomputed outputs, then EMA update.

        Args:
            x: (N, C, H, W) in [0, 1]; mapped to [-1, 1] (G ends in tanh).
            epoch: Unused (ALAD has no phases).
        """
        x = x * 2 - 1
        z = torch.randn(len(x), self.config.z_dim, device=x.device)
        d = self._disc_losses(x, z)
        for k in ("Dxz", "Dxx", "Dzz"):
            self.optimizers[k].zero_grad(set_to_none=True)
        (d["d_xz"] + d["d_xx"] + d["d_zz"]).backward()
        for k in ("Dxz", "Dxx", "Dzz"):
            self.optimizers[k].step()
        loss_g, loss_e = self._gen_losses(x, z)
        g_params, e_params = list(self.nets["G"].parameters()), list(self.nets["E"].parameters())
        grads_g = torch.autograd.grad(loss_g, g_params, retain_graph=True)
        grads_e = torch.autograd.grad(loss_e, e_params)
        for params, grads in ((g_params, grads_g), (e_params, grads_e)):
            for p, g in zip(params, grads):
                p.grad = g
        self.optimizers["G"].step()
        self.optimizers["E"].step()
        self.nets["ema"].update({k: self.nets[k] for k in ("E", "G", "Dxx")}, self.config.ema_decay)
        return {**{k: v.item() for k, v in d.items()}, "loss_g": loss_g.item(), "loss_e": loss_e.item()}

    def reconstruct(self, x: Tensor) -> Tensor:
        """EMA reconstruction G(E(x)) in [0, 1]: (N, C, H, W) -> (N, C, H, W)."""
        ema = self.nets["ema"].copies
        return (ema["G"](ema["E"](x * 2 - 1)) + 1) / 2

    def sample(self, n: int, seed: int = 0) -> Tensor:
        """``n`` EMA generator samples G(z) in [0, 1], z drawn from ``seed``: (n, C, H, W)."""
        z = torch.randn(n, self.config.z_dim, generator=torch.Generator().manual_seed(seed)).to(self.device)
        return (self.nets["ema"].copies["G"](z) + 1) / 2

    def score_batch(self, x: Tensor) -> dict[str, Tensor]:
        """ALAD feature-matching score with the EMA networks: (N, C, H, W) -> {"score": (N,)}."""
        ema = self.nets["ema"].copies
        x = x * 2 - 1
        rec = ema["G"](ema["E"](x))
        f_real = ema["Dxx"].features(x, x)
        f_rec = ema["Dxx"].features(x, rec)
        return {"score": (f_real - f_rec).abs().sum(dim=1)}
