"""ADGAN: Image Anomaly Detection with Generative Adversarial Networks (Deecke et al., ECML-PKDD 2018).

A DCGAN is trained on normal images with the standard (non-saturating) GAN loss of
the paper's Eq. (1). To score ``x`` (the paper's Algorithm 1), ``n_seed`` independent
restarts each start from the trained weights theta_0 and a seed z_j, then take ``k``
Adam steps jointly on z_j (lr gamma) and theta_j (lr gamma_theta) minimising
``l = ||G_theta_j(z_j) - x||^2`` (pixel mean); the score is the mean final loss.

Every (image, restart) pair is an independent problem with its own copy of theta:
the copies are stacked along a leading axis, :meth:`DCGenerator.forward_stacked`
runs G with per-problem weights (grouped convolutions), autograd of the summed losses
gives every copy its own gradient, and one elementwise Adam updates all copies.
theta_0 is never modified, so a score never depends on which images were scored
before, and the restart seeds z_1..z_n are the same fixed draw for every image, so
scores do not depend on batch size or order.
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
from adcgan.nets.baselines import ConvCritic, DCGenerator
from adcgan.registry import register_detector


@dataclass
class ADGANConfig(DetectorConfig):
    """ADGAN settings (scoring defaults: Deecke et al. 2018, Sec. 4)."""

    warmup_epochs: int = config_field(0, "ADGAN has no warm-up phase")
    lr: float = config_field(2e-4, "Adam learning rate of G and D during GAN training (DCGAN)")
    beta1: float = config_field(0.5, "Adam beta1 during GAN training (DCGAN)")
    width: int = config_field(64, "channels of the first D conv / last G hidden layer")
    n_seed: int = config_field(8, "independent restarts per test image")
    k_steps: int = config_field(5, "Adam steps per restart")
    gamma: float = config_field(0.25, "Adam learning rate on z at test time")
    gamma_theta: float = config_field(5e-5, "Adam learning rate on the generator weights at test time")
    chunk_elements: int = config_field(32_000_000, "max (problems x parameters) held at once while scoring")


class _StackedAdam:
    """Adam (default betas, eps 1e-8) on P stacked copies of some tensors; buffers reused across chunks.

    Row ``p`` of every buffer belongs to problem ``p``; Adam is elementwise, so this is exactly
    P independent optimisers. The update is ``w -= lr * m_hat / (sqrt(v_hat) + eps)``.
    """

    def __init__(self, like: list[Tensor], capacity: int, lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        self.lr, self.betas, self.eps, self.t, self.p = lr, betas, eps, 0, capacity
        new = [torch.empty(capacity, *w.shape, dtype=w.dtype, device=w.device) for w in like]
        self.w, self.m, self.v, self.tmp = new, [torch.empty_like(b) for b in new], \
            [torch.empty_like(b) for b in new], [torch.empty_like(b) for b in new]

    def views(self) -> list[Tensor]:
        """The current weights of the active problems, each (P, *shape)."""
        return [b[:self.p] for b in self.w]

    @torch.no_grad()
    def reset(self, init: list[Tensor], p: int, stacked: bool = False) -> None:
        """Start ``p`` problems from ``init`` (shared tensors, or already (p, ...) when ``stacked``)."""
        self.t, self.p = 0, p
        for b, m, v, w0 in zip(self.w, self.m, self.v, init):
            b[:p].copy_(w0 if stacked else w0.unsqueeze(0).expand_as(b[:p]))
            m[:p].zero_()
            v[:p].zero_()

    @torch.no_grad()
    def step(self, grads: list[Tensor]) -> None:
        """One Adam step of every active problem with its own gradient rows."""
        b1, b2 = self.betas
        self.t += 1
        bc1, bc2_sqrt = 1 - b1 ** self.t, (1 - b2 ** self.t) ** 0.5
        for w, m, v, tmp, g in zip(self.w, self.m, self.v, self.tmp, grads):
            p = self.p
            m[:p].lerp_(g, 1 - b1)
            v[:p].mul_(b2).addcmul_(g, g, value=1 - b2)
            torch.sqrt(v[:p], out=tmp[:p]).add_(self.eps * bc2_sqrt)
            w[:p].addcdiv_(m[:p], tmp[:p], value=-self.lr * bc2_sqrt / bc1)


@register_detector
class ADGAN(BaseDetector):
    """DCGAN + per-image joint latent/weight search (Algorithm 1 of Deecke et al.)."""

    name: ClassVar[str] = "adgan"
    Config: ClassVar[type[DetectorConfig]] = ADGANConfig
    component_names: ClassVar[tuple[str, ...]] = ()
    config: ADGANConfig

    def build_nets(self) -> dict[str, nn.Module]:
        """DCGAN generator G (tanh) and discriminator D (BN, LeakyReLU 0.2)."""
        cfg = self.config
        return {"G": DCGenerator(cfg.z_dim, cfg.geometry, cfg.width), "D": ConvCritic(cfg.geometry, cfg.width)}

    def build_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Adam(lr, (beta1, 0.999)) for G and D."""
        betas = (self.config.beta1, 0.999)
        opts = optimizer_options(self.config.fast_training, self.device)
        return {k: torch.optim.Adam(self.nets[k].parameters(), lr=self.config.lr, betas=betas, **opts)
                for k in ("G", "D")}

    def train_step(self, x: Tensor, epoch: int) -> dict[str, float]:
        """One D step then one non-saturating G step on the same fakes. x: (N, C, H, W) in [0, 1]."""
        x = x * 2 - 1
        fake = self.nets["G"](torch.randn(len(x), self.config.z_dim, device=x.device))
        real_logit, fake_logit = self.nets["D"](x)[0], self.nets["D"](fake.detach())[0]
        loss_d = F.binary_cross_entropy_with_logits(real_logit, torch.ones_like(real_logit)) + \
            F.binary_cross_entropy_with_logits(fake_logit, torch.zeros_like(fake_logit))
        self.optimizers["D"].zero_grad(set_to_none=True)
        loss_d.backward()
        self.optimizers["D"].step()
        gen_logit = self.nets["D"](fake)[0]
        loss_g = F.binary_cross_entropy_with_logits(gen_logit, torch.ones_like(gen_logit))
        self.optimizers["G"].zero_grad(set_to_none=True)
        loss_g.backward()
        self.optimizers["G"].step()
        return {"loss_d": loss_d.item(), "loss_g": loss_g.item()}

    def sample(self, n: int, seed: int = 0) -> Tensor:
        """``n`` generator samples G(z) in [0, 1], z drawn from ``seed``: (n, C, H, W)."""
        z = torch.randn(n, self.config.z_dim, generator=torch.Generator().manual_seed(seed)).to(self.device)
        return (self.nets["G"](z) + 1) / 2

    def prepare_scoring(self) -> None:
        """Draw the restart seeds z_1..z_n (n_seed, Z) once, from the config seed."""
        gen = torch.Generator().manual_seed(self.config.seed + 7919)
        self._z0 = torch.randn(self.config.n_seed, self.config.z_dim, generator=gen).to(self.device)

    def _losses(self, params: dict[str, Tensor], z: Tensor, x: Tensor) -> Tensor:
        """l = mean (G_theta_p(z_p) - x_p)^2 per problem: stacked params, z (P, Z), x (P, C, H, W) -> (P,)."""
        return (self.nets["G"].forward_stacked(params, z) - x).pow(2).flatten(1).mean(1)

    def _search(self, x: Tensor, z: Tensor, theta: "_StackedAdam", zopt: "_StackedAdam") -> Tensor:
        """Algorithm 1 for P independent problems: x (P, C, H, W), z (P, Z) -> final losses (P,).

        Each problem owns a copy of theta (stacked along dim 0) and of z; Adam is elementwise,
        so one Adam over the stacked tensors is exactly P independent Adams.
        """
        names = [k for k, _ in self.nets["G"].named_parameters()]
        p = len(x)
        theta.reset([w.detach() for w in self.nets["G"].parameters()], p)
        zopt.reset([z], p, stacked=True)
        for _ in range(self.config.k_steps):
            leaves = [t.detach().requires_grad_(True) for t in theta.views() + zopt.views()]
            loss = self._losses(dict(zip(names, leaves[:-1])), leaves[-1], x).sum()
            grads = torch.autograd.grad(loss, leaves)
            theta.step(list(grads[:-1]))
            zopt.step([grads[-1]])
        return self._losses(dict(zip(names, theta.views())), zopt.views()[0], x).detach()

    def score_batch(self, x: Tensor) -> dict[str, Tensor]:
        """Mean final reconstruction loss over restarts: (N, C, H, W) in [0, 1] -> {"score": (N,)}.

        Runs with G in eval mode (BatchNorm running statistics); G's own weights are never changed.
        """
        if getattr(self, "_z0", None) is None:
            self.prepare_scoring()
        n, s = len(x), self.config.n_seed
        xs = (x * 2 - 1).repeat_interleave(s, dim=0)
        zs = self._z0.repeat(n, 1)
        chunk = min(len(xs), max(1, self.config.chunk_elements // sum(w.numel() for w in self.nets["G"].parameters())))
        theta = _StackedAdam([w.detach() for w in self.nets["G"].parameters()], chunk, self.config.gamma_theta)
        zopt = _StackedAdam([zs[0]], chunk, self.config.gamma)
        with torch.enable_grad():
            losses = torch.cat([self._search(xs[i:i + chunk], zs[i:i + chunk], theta, zopt)
                                for i in range(0, len(xs), chunk)])
        return {"score": losses.view(n, s).mean(dim=1)}
