"""ADGAN: Image Anomaly Detection with Generative Adversarial Networks (Deecke et al., ECML-PKDD 2018).

A DCGAN is trained on normal images with the standard (non-saturating) GAN loss of
the paper's Eq. (1). To score ``x`` (the paper's Algorithm 1), ``n_seed`` independent
restarts each start from the trained weights theta_0 and a seed z_j, then take ``k``
Adam steps jointly on z_j (lr gamma) and theta_j (lr gamma_theta) minimising
``l = ||G_theta_j(z_j) - x||^2`` (pixel mean); the score is the mean final loss.

Every (image, restart) pair is an independent problem with its own copy of theta:
the copies are stacked along a leading axis, :meth:`DCGenerator.forward_stacked`
runs G with per-problem weights (every layer one batched GEMM, :mod:`adcgan.nets.stacked`),
autograd of the summed losses gives every copy its own gradient, and one fused Adam
kernel updates all copies.
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
from torch.optim.adam import adam as adam_step

from adcgan.config import DetectorConfig, config_field
from adcgan.detectors.base import BaseDetector
from adcgan.detectors.helpers import optimizer_options
from adcgan.nets.baselines import ConvCritic, DCGenerator
from adcgan.nets.stacked import stacked_parameters
from adcgan.registry import register_detector
from adcgan.training.optim import Adam


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
    chunk_elements: int = config_field(8_000_000, "max (problems x parameters) held at once while scoring")


class _StackedAdam:
    """Adam (default betas, eps 1e-8) on P stacked copies of some tensors; buffers reused across chunks.

    Row ``p`` of every buffer belongs to problem ``p``; Adam is elementwise, so this is exactly
    P independent optimisers. A step is torch's fused Adam kernel (``torch.optim.adam.adam(...,
    fused=True)``): one pass over weights, gradients and moments instead of six element-wise ops,
    which is what bounds the search (the P weight copies stream through memory every step).
    """

    def __init__(self, like: list[Tensor], capacity: int, lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        self.lr, self.betas, self.eps, self.p, self.capacity = lr, betas, eps, capacity, capacity
        new = [torch.empty(capacity, *w.shape, dtype=w.dtype, device=w.device) for w in like]
        self.w, self.m, self.v, self.g = new, *([torch.empty_like(b) for b in new] for _ in range(3))
        self.steps = [torch.zeros((), dtype=torch.float32, device=b.device) for b in new]

    def views(self) -> list[Tensor]:
        """The current weights of the active problems, each (P, *shape)."""
        return [b[:self.p] for b in self.w]

    def grad_views(self) -> list[Tensor]:
        """Gradient buffers of the active problems (P, *shape), reused by every step and chunk."""
        return [b[:self.p] for b in self.g]

    @torch.no_grad()
    def reset(self, init: list[Tensor], p: int, stacked: bool = False) -> None:
        """Start ``p`` problems from ``init`` (shared tensors, or already (p, ...) when ``stacked``)."""
        self.p = p
        for b, m, v, t, w0 in zip(self.w, self.m, self.v, self.steps, init):
            b[:p].copy_(w0 if stacked else w0.unsqueeze(0).expand_as(b[:p]))
            m[:p].zero_()
            v[:p].zero_()
            t.zero_()

    @torch.no_grad()
    def step(self, grads: list[Tensor]) -> None:
        """One Adam step of every active problem with its own gradient rows."""
        p = self.p
        adam_step([w[:p] for w in self.w], [g.contiguous() for g in grads], [m[:p] for m in self.m],
                  [v[:p] for v in self.v], [], self.steps, fused=True, amsgrad=False,
                  beta1=self.betas[0], beta2=self.betas[1], lr=self.lr, weight_decay=0.0,
                  eps=self.eps, maximize=False)


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
        return {k: Adam(self.nets[k].parameters(), lr=self.config.lr, betas=betas, **opts)
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

    def _losses(self, params: dict[str, Tensor], z: Tensor, x: Tensor, grads: dict[str, Tensor] | None = None) -> Tensor:
        """l = mean (G_theta_p(z_p) - x_p)^2 per problem: stacked params, z (P, Z), x (P, C, H, W) -> (P,)."""
        return (self.nets["G"].forward_stacked(params, z, grads) - x).pow(2).flatten(1).mean(1)

    def _search(self, x: Tensor, z: Tensor, theta: "_StackedAdam", zopt: "_StackedAdam") -> Tensor:
        """Algorithm 1 for P independent problems: x (P, C, H, W), z (P, Z) -> final losses (P,).

        Each problem owns a copy of theta (stacked along dim 0) and of z; Adam is elementwise,
        so one Adam over the stacked tensors is exactly P independent Adams.
        """
        init = stacked_parameters(self.nets["G"])
        names, p = list(init), len(x)
        theta.reset(list(init.values()), p)
        zopt.reset([z], p, stacked=True)
        for _ in range(self.config.k_steps):
            leaves = [t.detach().requires_grad_(True) for t in theta.views() + zopt.views()]
            loss = self._losses(dict(zip(names, leaves[:-1])), leaves[-1], x, dict(zip(names, theta.grad_views()))).sum()
            grads = torch.autograd.grad(loss, leaves)
            theta.step(list(grads[:-1]))
            zopt.step([grads[-1]])
        return self._losses(dict(zip(names, theta.views())), zopt.views()[0], x).detach()

    def _search_buffers(self, problems: int) -> tuple["_StackedAdam", "_StackedAdam"]:
        """The Adam states of theta and z for chunks of up to ``chunk_elements`` (problems x weights).

        Kept between batches (``self._buffers``): re-mapping fresh memory for the weight copies of
        every batch costs as much as a search step on CPU. Rebuilt when a larger chunk is needed
        or a setting changed.
        """
        weights = list(self.nets["G"].parameters())
        chunk = min(problems, max(1, self.config.chunk_elements // sum(w.numel() for w in weights)))
        key = (str(self.device), self.config.gamma, self.config.gamma_theta, self.config.chunk_elements,
               tuple(w.shape for w in weights))
        cached = getattr(self, "_buffers", None)
        if cached is None or cached[0] != key or cached[1].capacity < chunk:
            theta = _StackedAdam(list(stacked_parameters(self.nets["G"]).values()), chunk, self.config.gamma_theta)
            cached = (key, theta, _StackedAdam([self._z0[0]], chunk, self.config.gamma))
            self._buffers = cached
        return cached[1], cached[2]

    def score_batch(self, x: Tensor) -> dict[str, Tensor]:
        """Mean final reconstruction loss over restarts: (N, C, H, W) in [0, 1] -> {"score": (N,)}.

        Runs with G in eval mode (BatchNorm running statistics); G's own weights are never changed.
        """
        if getattr(self, "_z0", None) is None:
            self.prepare_scoring()
        n, s = len(x), self.config.n_seed
        xs = (x * 2 - 1).repeat_interleave(s, dim=0)
        zs = self._z0.repeat(n, 1)
        theta, zopt = self._search_buffers(len(xs))
        chunk = theta.capacity
        with torch.enable_grad():
            losses = torch.cat([self._search(xs[i:i + chunk], zs[i:i + chunk], theta, zopt)
                                for i in range(0, len(xs), chunk)])
        return {"score": losses.view(n, s).mean(dim=1)}
