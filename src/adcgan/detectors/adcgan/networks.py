"""AD-CGAN networks for 28x28x1, 32x32x3 and 64x64x3 images (paper Table 2).

Layer counts follow the paper's Table 2; channels, kernels and strides follow
the authors' released code (``/shared/paper/official-code-notes.md`` sections 2-4)
as the paper is silent on them. One table per geometry, one class per network.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from adcgan.nets.layers import ConvSpec as C
from adcgan.nets.layers import FastPReLU, ResBlock, conv_stack, deconv_stack, sn


@dataclass(frozen=True)
class ArchSpec:
    """Per-geometry layer tables."""

    encoder: list[C]
    gen_up: list[C]          # transposed convs before the residual block
    gen_post: list[C]        # transposed convs after it
    gen_out_pad: int         # padding of the final 3x3 conv
    critic_trunk: list[C]
    critic_local: int        # channels of the 1x1 local head (= global feature size)
    critic_global: list[C]   # convs producing the global map
    critic_series: bool      # global branch computed from the local map (28x28) or the trunk
    critic_hidden: int       # width of the first linear layer of the critic head


ARCHS: dict[int, ArchSpec] = {
    28: ArchSpec(
        encoder=[C(64, 3, 1, slope=0.1), C(128, 3, 2, bn=True, slope=0.1), C(256, 3, 2, bn=True, slope=0.1),
                 C(256, 3, 1, bn=True, slope=0.1)],
        gen_up=[C(256, 4, 2, 0), C(128, 4, 2, 1)], gen_post=[C(64, 3, 2, 1), C(64, 2, 2, 0)], gen_out_pad=0,
        critic_trunk=[C(64, 3, 2, slope=0.1), C(128, 3, 1, bn=True, slope=0.1)], critic_local=128,
        critic_global=[C(128, 3, 2, bn=True, slope=0.1)], critic_series=True, critic_hidden=256),
    32: ArchSpec(
        encoder=[C(64, 5, 2, bn=True, drop=True), C(128, 5, 1, bn=True), C(256, 5, 1, bn=True, drop=True),
                 C(512, 4, 1, bn=True, drop=True)],
        gen_up=[C(512, 4, 2, 0), C(256, 4, 2, 1), C(128, 4, 2, 1)], gen_post=[C(64, 4, 2, 1)], gen_out_pad=1,
        critic_trunk=[C(64, 5, 1, 1, drop=True), C(128, 4, 2, bn=True), C(256, 5, 1, bn=True),
                      C(512, 5, 1, bn=True, drop=True)], critic_local=2048,
        critic_global=[C(1024, 3, 1, bn=True), C(2048, 3, 2, bn=True, drop=True)], critic_series=False,
        critic_hidden=2048),
    64: ArchSpec(
        encoder=[C(64, 7, 2, bn=True, drop=True), C(128, 5, 1, bn=True), C(256, 7, 2, bn=True, drop=True),
                 C(512, 5, 1, bn=True, drop=True)],
        gen_up=[C(512, 5, 2, 0), C(256, 5, 2, 0), C(128, 5, 2, 0)], gen_post=[C(64, 5, 2, 0), C(64, 4, 1, 0)],
        gen_out_pad=1,
        critic_trunk=[C(64, 7, 1, 1, drop=True), C(128, 5, 2, bn=True), C(256, 5, 1, bn=True),
                      C(512, 5, 2, bn=True, drop=True)], critic_local=2048,
        critic_global=[C(1024, 5, 1, bn=True), C(2048, 5, 2, bn=True, drop=True)], critic_series=False,
        critic_hidden=2048),
}
# Replicate-padding (pixels per side) of the input of (E, critic) that lets E and the critic's logit see
# every input pixel (adcgan+'s ``see_edges``): the paper's unpadded stride-2 convolutions leave the last rows
# and columns unseen (docs/faithfulness.md). The smallest pads with no blind pixel (tests/test_nets.py).
EDGE_PAD = {28: (1, 2), 32: (1, 1), 64: (2, 2)}


def spatial_size(n: int, specs: list[C]) -> int:
    """Side of the map a stack of ``specs`` makes from an ``n`` x ``n`` input (conv arithmetic)."""
    for spec in specs:
        n = (n + 2 * spec.p - spec.k) // spec.s + 1
    return n


def channels(n: int, width: float) -> int:
    """``n`` channels scaled by ``width`` (at least 1)."""
    return max(1, int(round(n * width)))


def scaled(specs: list[C], width: float) -> list[C]:
    """A layer table with every output channel count scaled by ``width``."""
    return [spec._replace(out=channels(spec.out, width)) for spec in specs]


class EdgePad(nn.Module):
    """Replicate-pad (N, C, H, W) by ``pad`` pixels on every side (identity for 0)."""

    def __init__(self, pad: int) -> None:
        super().__init__()
        self.pad = pad

    def forward(self, x: Tensor) -> Tensor:
        """(N, C, H, W) -> (N, C, H + 2 pad, W + 2 pad)."""
        return F.pad(x, (self.pad,) * 4, mode="replicate") if self.pad else x


def arch_for(geometry: tuple[int, int, int]) -> ArchSpec:
    """The layer tables for ``(H, W, C)``; ``ValueError`` for unsupported sizes."""
    h, w, _ = geometry
    if h != w or h not in ARCHS:
        raise ValueError(f"AD-CGAN supports 28x28, 32x32 and 64x64 images, got {h}x{w}")
    return ARCHS[h]


class Encoder(nn.Module):
    """E: 5 SN convs (pad 0) + LayerNorm(Z). (N, C, H, W) in [0, 1] -> (N, Z, 1, 1).

    The last conv's kernel is the side of the map before it (3, 3, 6 for 28, 32, 64), so the code is 1x1.
    ``see_edges`` (adcgan+) replicate-pads the input by ``EDGE_PAD`` first, so that every pixel is seen.
    """

    def __init__(self, geometry: tuple[int, int, int], z_dim: int, dropout: float = 0.2,
                 see_edges: bool = False) -> None:
        super().__init__()
        spec = arch_for(geometry)
        self.edge = EdgePad(EDGE_PAD[geometry[0]][0] if see_edges else 0)
        last = C(z_dim, spatial_size(geometry[0] + 2 * self.edge.pad, spec.encoder), 1, slope=None)
        self.convs = conv_stack(geometry[2], spec.encoder + [last], dropout)
        self.norm = nn.LayerNorm(z_dim)

    def forward(self, x: Tensor) -> Tensor:
        """Encode images to latent codes of shape (N, Z, 1, 1)."""
        h = self.convs(self.edge(x)).flatten(1)
        return self.norm(h)[:, :, None, None]


class Generator(nn.Module):
    """G (= AE decoder): 1x1 convs, SN transposed convs, residual block, tanh.

    Returns values in [-1, 1]; callers map them to [0, 1] with (g + 1) / 2 (released code).
    """

    def __init__(self, geometry: tuple[int, int, int], z_dim: int, official: bool = False) -> None:
        super().__init__()
        spec = arch_for(geometry)
        self.stem = nn.Sequential(sn(nn.Conv2d(z_dim, 128, 3, 1, 1)), FastPReLU(),
                                  nn.Conv2d(128, 512, 3, 1, 1), nn.BatchNorm2d(512), FastPReLU())
        self.up = deconv_stack(512, spec.gen_up)
        self.res = ResBlock(128, official=official)
        self.post = deconv_stack(128, spec.gen_post)
        self.out = sn(nn.Conv2d(spec.gen_post[-1].out, geometry[2], 3, 1, spec.gen_out_pad))

    def forward(self, z: Tensor) -> Tensor:
        """(N, Z, 1, 1) -> (N, C, H, W) in [-1, 1]."""
        return torch.tanh(self.out(self.post(self.res(self.up(self.stem(z))))))


class CriticOutput(NamedTuple):
    """Critic outputs: ``logits`` (N,), ``local`` (N, K, M, M), ``glob`` (N, K)."""

    logits: Tensor
    local: Tensor
    glob: Tensor


class Critic(nn.Module):
    """D_cgan: SN conv trunk, 1x1 local head (M x M map), global features (spatial sum), 2 linears.

    For 28x28 the global branch runs on the local map (in series); for 32x32 and 64x64
    local and global are parallel branches from the trunk (released code).
    ``rotation_head=True`` (adcgan+ only) adds ``rot``: a linear map of the global features
    to 4 rotation logits (0, 90, 180, 270 degrees); ``translation_head=True`` adds ``trans``: 6 logits,
    3 for the horizontal and 3 for the vertical shift; ``see_edges`` replicate-pads the input by
    ``EDGE_PAD`` so that the logit sees every pixel; ``width`` scales every channel count of the critic
    (adcgan+'s ``critic_width``: 0.5 costs about a quarter of the multiply-adds). With the defaults
    the paper's layers are unchanged.
    """

    def __init__(self, geometry: tuple[int, int, int], dropout: float = 0.2, rotation_head: bool = False,
                 translation_head: bool = False, see_edges: bool = False, width: float = 1.0) -> None:
        super().__init__()
        spec = arch_for(geometry)
        trunk, glob = scaled(spec.critic_trunk, width), scaled(spec.critic_global, width)
        n_local, n_hidden, n_glob = channels(spec.critic_local, width), channels(spec.critic_hidden, width), glob[-1].out
        self.edge = EdgePad(EDGE_PAD[geometry[0]][1] if see_edges else 0)
        self.series = spec.critic_series
        self.trunk = conv_stack(geometry[2], trunk, dropout)
        self.local = sn(nn.Conv2d(trunk[-1].out, n_local, 1))
        self.glob = conv_stack(n_local if self.series else trunk[-1].out, glob, dropout)
        self.head = nn.Sequential(sn(nn.Linear(n_glob, n_hidden)), nn.ReLU(), sn(nn.Linear(n_hidden, 1)))
        self.rot = nn.Linear(n_glob, 4) if rotation_head else None
        self.trans = nn.Linear(n_glob, 6) if translation_head else None

    def forward(self, x: Tensor) -> CriticOutput:
        """(N, C, H, W) in [0, 1] -> CriticOutput."""
        h = self.trunk(self.edge(x))
        local = self.local(h)
        g = self.glob(local if self.series else h).sum(dim=(2, 3))
        return CriticOutput(self.head(g).squeeze(1), local, g)

    def local_features(self, x: Tensor) -> Tensor:
        """Only the local map (N, K, M, M): f_D of the normality score (notes section 9)."""
        return self.local(self.trunk(self.edge(x)))


class LatentDiscriminator(nn.Module):
    """Dz: 3 SN linears, LeakyReLU 0.2.

    ``pair=True`` (paper Eq. 3/5): a critic on (a, b) pairs, input concat(a, b) of size 2Z.
    ``pair=False`` (released code): a per-code classifier; ``forward(a, b)`` scores a and b
    separately and returns both logit vectors concatenated along the batch axis, and the
    logit passes through LeakyReLU(0.2) (official-code-notes.md sections 2 and 7).
    """

    def __init__(self, z_dim: int, pair: bool = True) -> None:
        super().__init__()
        self.pair = pair
        layers: list[nn.Module] = [sn(nn.Linear(2 * z_dim if pair else z_dim, 64)), nn.LeakyReLU(0.2),
                                   sn(nn.Linear(64, 32)), nn.LeakyReLU(0.2), sn(nn.Linear(32, 1))]
        if not pair:
            layers.append(nn.LeakyReLU(0.2))
        self.net = nn.Sequential(*layers)

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        """Codes (N, Z[, 1, 1]) x2 -> logits (N,) for pairs, or (2N,) per code."""
        a, b = a.flatten(1), b.flatten(1)
        x = torch.cat([a, b], dim=1) if self.pair else torch.cat([a, b], dim=0)
        return self.net(x).squeeze(1)

    def single(self, a: Tensor) -> Tensor:
        """Per-code logits (N,) (only for ``pair=False``)."""
        return self.net(a.flatten(1)).squeeze(1)
