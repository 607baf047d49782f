"""ALAD's three discriminators (Zenati et al., ICDM 2018, Sec. III and Fig. 1).

All layers are spectral-normalised and every hidden layer is followed by dropout
(0.2 in the paper). Pairs are joined along the feature/channel axis, never along the
batch axis (the AD-CGAN authors' port concatenates along the batch, which makes
D_xx and D_zz see single samples; see ``docs/baselines.md``).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from adcgan.nets.baselines import ConvCritic, conv_trunk, geometry_plan
from adcgan.nets.layers import GemmLinear, sn


class DiscriminatorXZ(nn.Module):
    """D_xz(x, z): the BiGAN joint discriminator on (image, code) pairs.

    x branch: SN conv trunk (no BN) -> flatten (N, F); z branch: SN Linear(Z, 512);
    joint: SN Linear(F + 512, 1024) -> SN Linear(1024, 1). As in the official CIFAR-10
    network, the flattened conv map (not a projection of it) meets the 512 z features.
    """

    def __init__(self, geometry: tuple[int, int, int], z_dim: int, width: int = 64, dropout: float = 0.2) -> None:
        super().__init__()
        s0, n = geometry_plan(geometry)
        self.x_net = nn.Sequential(conv_trunk(geometry[2], width, n, bn=False, use_sn=True, dropout=dropout),
                                   nn.Flatten())
        self.z_net = nn.Sequential(sn(GemmLinear(z_dim, 512)), nn.LeakyReLU(0.2), nn.Dropout(dropout))
        self.joint = nn.Sequential(sn(GemmLinear(width * 2 ** (n - 1) * s0 * s0 + 512, 1024)), nn.LeakyReLU(0.2),
                                   nn.Dropout(dropout))
        self.head = sn(GemmLinear(1024, 1))

    def forward(self, x: Tensor, z: Tensor) -> Tensor:
        """x (N, C, H, W), z (N, Z) -> logits (N,)."""
        h = torch.cat([self.x_net(x), self.z_net(z)], dim=1)
        return self.head(self.joint(h)).squeeze(1)


class DiscriminatorXX(nn.Module):
    """D_xx(x, x'): images concatenated along channels (N, 2C, H, W) -> logit.

    Its flattened last conv map is the feature f used by ALAD's score
    ``||f(x, x) - f(x, G(E(x)))||_1``.
    """

    def __init__(self, geometry: tuple[int, int, int], width: int = 64, dropout: float = 0.2) -> None:
        super().__init__()
        self.net = ConvCritic(geometry, width, in_ch=2 * geometry[2], bn=False, use_sn=True, dropout=dropout)

    def features(self, x: Tensor, x2: Tensor) -> Tensor:
        """(N, C, H, W) x 2 -> intermediate features (N, F)."""
        return self.net.features(torch.cat([x, x2], dim=1))

    def forward(self, x: Tensor, x2: Tensor) -> Tensor:
        """(N, C, H, W) x 2 -> logits (N,)."""
        return self.net(torch.cat([x, x2], dim=1))[0]


class DiscriminatorZZ(nn.Module):
    """D_zz(z, z'): codes concatenated along features (N, 2Z) -> 64 -> 32 -> logit (N,)."""

    def __init__(self, z_dim: int, dropout: float = 0.2) -> None:
        super().__init__()
        self.net = nn.Sequential(
            sn(GemmLinear(2 * z_dim, 64)), nn.LeakyReLU(0.2), nn.Dropout(dropout),
            sn(GemmLinear(64, 32)), nn.LeakyReLU(0.2), nn.Dropout(dropout),
            sn(GemmLinear(32, 1)))

    def forward(self, z: Tensor, z2: Tensor) -> Tensor:
        """(N, Z) x 2 -> logits (N,)."""
        return self.net(torch.cat([z, z2], dim=1)).squeeze(1)


class EMACopies(nn.Module):
    """Exponential-moving-average copies of ALAD's E, G and D_xx (used at test time).

    Decay at update ``t`` is ``min(decay, (1 + t) / (10 + t))`` (TensorFlow's
    ``ExponentialMovingAverage(num_updates=t)``), so short runs are not dominated by the
    random initial weights. Buffers (BatchNorm statistics, spectral-norm vectors) are copied.
    """

    def __init__(self, nets: dict[str, nn.Module]) -> None:
        super().__init__()
        import copy

        self.copies = nn.ModuleDict({k: copy.deepcopy(v) for k, v in nets.items()})
        for p in self.copies.parameters():
            p.requires_grad_(False)
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def update(self, nets: dict[str, nn.Module], decay: float) -> None:
        """One EMA step towards the live ``nets`` (same keys as at construction)."""
        t = int(self.steps.item())
        d = min(decay, (1.0 + t) / (10.0 + t))
        for k, live in nets.items():
            ema = self.copies[k]
            for pe, pl in zip(ema.parameters(), live.parameters()):
                pe.lerp_(pl.detach(), 1.0 - d)
            for be, bl in zip(ema.buffers(), live.buffers()):
                be.copy_(bl)
        self.steps += 1
