"""Bias-free networks of Deep SVDD (Ruff et al., ICML 2018, Sec. 4.1).

Every conv/linear layer has ``bias=False`` and BatchNorm has no affine parameters:
with a bias (or a BN shift) the network could map every input to the centre c, the
trivial "hypersphere collapse" solution (Ruff et al., Prop. 2).

* 28x28: LeNet-type, two blocks conv5x5 (8, 4 filters) -> BN -> LeakyReLU -> max-pool, then
  a linear layer to a 32-d representation (Ruff's MNIST net).
* 32x32: three blocks (32, 64, 128 filters), then a linear layer to 128 (Ruff's CIFAR-10 net).
* 64x64: the CIFAR-10 net with a fourth block (256 filters), so the last map is again 4x4.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from adcgan.nets.baselines import geometry_plan

CHANNELS = {28: (8, 4), 32: (32, 64, 128), 64: (32, 64, 128, 256)}
REP_DIM = {28: 32, 32: 128, 64: 128}


def _bn(ch: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(ch, eps=1e-4, affine=False)


class SVDDNet(nn.Module):
    """phi: (N, C, H, W) -> (N, rep_dim), bias-free."""

    def __init__(self, geometry: tuple[int, int, int]) -> None:
        super().__init__()
        geometry_plan(geometry)  # validates the geometry
        h, _, c = geometry
        chans = CHANNELS[h]
        layers: list[nn.Module] = []
        for ch in chans:
            layers += [nn.Conv2d(c, ch, 5, 1, 2, bias=False), _bn(ch), nn.LeakyReLU(0.01), nn.MaxPool2d(2)]
            c = ch
        self.convs = nn.Sequential(*layers)
        self.side = h // 2 ** len(chans)
        self.rep_dim = REP_DIM[h]
        self.fc = nn.Linear(chans[-1] * self.side ** 2, self.rep_dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        """(N, C, H, W) -> (N, rep_dim)."""
        return self.fc(self.convs(x).flatten(1))


class SVDDDecoder(nn.Module):
    """Decoder used only for autoencoder pre-training: (N, rep_dim) -> (N, C, H, W), bias-free.

    Mirrors :class:`SVDDNet`: a linear layer back to the last conv map, then per block
    x2 up-sampling -> conv5x5 -> BN -> LeakyReLU, and a final conv5x5 to C channels
    (linear output, since the targets are contrast-normalised images).
    """

    def __init__(self, geometry: tuple[int, int, int]) -> None:
        super().__init__()
        h, _, c = geometry
        chans = CHANNELS[h][::-1]
        self.shape = (chans[0], h // 2 ** len(chans), h // 2 ** len(chans))
        self.fc = nn.Linear(REP_DIM[h], chans[0] * self.shape[1] ** 2, bias=False)
        layers: list[nn.Module] = []
        for ch_in, ch_out in zip(chans, chans[1:] + (chans[-1],)):
            layers += [nn.Upsample(scale_factor=2), nn.Conv2d(ch_in, ch_out, 5, 1, 2, bias=False), _bn(ch_out),
                       nn.LeakyReLU(0.01)]
        layers.append(nn.Conv2d(chans[-1], c, 5, 1, 2, bias=False))
        self.up = nn.Sequential(*layers)

    def forward(self, r: Tensor) -> Tensor:
        """(N, rep_dim) -> (N, C, H, W)."""
        return self.up(self.fc(r).view(len(r), *self.shape))


class Center(nn.Module):
    """Holds the hypersphere centre c (rep_dim,) as buffers, so checkpoints carry it."""

    def __init__(self, rep_dim: int) -> None:
        super().__init__()
        self.register_buffer("c", torch.zeros(rep_dim))
        self.register_buffer("ready", torch.zeros((), dtype=torch.bool))

    @torch.no_grad()
    def set(self, mean_rep: Tensor, eps: float = 0.1) -> None:
        """c = mean representation, with coordinates closer than ``eps`` to 0 pushed to +-eps.

        (Ruff et al.'s ``init_center_c``: a zero coordinate could be matched by a
        bias-free network simply by zero weights.)
        """
        c = mean_rep.clone()
        small = c.abs() < eps
        c[small & (c < 0)] = -eps
        c[small & (c >= 0)] = eps
        self.c.copy_(c)
        self.ready.fill_(True)


def gcn_l1(x: Tensor) -> Tensor:
    """Per-image global contrast normalisation with the L1 norm (Ruff et al. Sec. 4.1).

    (N, C, H, W) -> (N, C, H, W): subtract the image mean, divide by the mean absolute deviation.
    """
    x = x - x.mean(dim=(1, 2, 3), keepdim=True)
    return x / x.abs().mean(dim=(1, 2, 3), keepdim=True).clamp_min(1e-8)
