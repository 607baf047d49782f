"""DCGAN-style building blocks shared by the GAN baselines (ALAD, ADGAN, AE-GAN).

One geometry plan covers the three supported image sizes: a ``s0 x s0`` seed map
doubled ``n`` times by stride-2 (transposed) convs (kernel 4, stride 2, padding 1,
Radford et al. 2016):

* 28x28: ``s0 = 7``, ``n = 2`` (7 -> 14 -> 28)
* 32x32: ``s0 = 4``, ``n = 3`` (4 -> 8 -> 16 -> 32)
* 64x64: ``s0 = 4``, ``n = 4`` (4 -> ... -> 64)

Channels double on the way down (``width, 2*width, ...``) and halve on the way up,
so ``width`` is the one knob that scales every network (tests use tiny widths).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from torch import Tensor, nn

from adcgan import torch_compat
from adcgan.nets.gemm import GemmConv2d
from adcgan.nets.layers import GemmLinear, sn
from adcgan.nets.stacked import run_stacked

SUPPORTED_SIZES = (28, 32, 64)


@contextmanager
def frozen_bn_stats(module: nn.Module) -> Iterator[None]:
    """Inside the block, BatchNorm layers of ``module`` still normalise with batch statistics
    (train mode) but leave their running statistics untouched (momentum 0).

    Used where one network is run on two input distributions during training (AE-GAN's
    G decodes both E(x) and z ~ N(0, I)) and only one of them is scored at test time.
    """
    layers = [m for m in module.modules() if isinstance(m, torch_compat.BATCH_NORM_TYPES)]
    saved = [m.momentum for m in layers]
    for m in layers:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, mom in zip(layers, saved):
            m.momentum = mom


def geometry_plan(geometry: tuple[int, int, int]) -> tuple[int, int]:
    """Seed map side ``s0`` and number of stride-2 stages ``n`` for ``(H, W, C)``.

    Raises:
        ValueError: for non-square images or sizes other than 28, 32 and 64.
    """
    h, w, c = geometry
    if h != w or h not in SUPPORTED_SIZES or c not in (1, 3):
        raise ValueError(f"baselines support 28x28, 32x32 and 64x64 images with 1 or 3 channels, got {h}x{w}x{c}")
    side, n = h, 0
    while side % 2 == 0 and side > 7:
        side, n = side // 2, n + 1
    return side, n


def conv_trunk(in_ch: int, width: int, n: int, *, bn: bool, use_sn: bool, slope: float = 0.2,
               dropout: float = 0.0, bias: bool = True) -> nn.Sequential:
    """``n`` stride-2 convs (k4, p1): ``in_ch -> width -> 2*width -> ... -> width*2**(n-1)``.

    Each conv (:class:`adcgan.nets.gemm.GemmConv2d`: a matrix product on the last, small maps) is
    followed by [BatchNorm (not on the first)] -> LeakyReLU(``slope``) -> [Dropout].
    Halves the side ``n`` times: (N, in_ch, H, W) -> (N, width*2**(n-1), H/2**n, W/2**n).
    """
    layers: list[nn.Module] = []
    ch = in_ch
    for i in range(n):
        out = width * 2 ** i
        layers.append(sn(GemmConv2d(ch, out, 4, 2, 1, bias=bias), use_sn))
        if bn and i > 0:
            layers.append(nn.BatchNorm2d(out))
        layers.append(nn.LeakyReLU(slope))
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        ch = out
    return nn.Sequential(*layers)


class DCGenerator(nn.Module):
    """DCGAN generator G: z (N, Z) -> image (N, C, H, W) in (-1, 1) (tanh).

    Linear -> BN1d -> ReLU to a ``(width*2**(n-1), s0, s0)`` map, then ``n`` transposed
    convs (BN + ReLU except the last, which ends in tanh).

    Args:
        z_dim: Latent size Z.
        geometry: ``(H, W, C)``.
        width: Channels of the last hidden up-sampling layer.
    """

    def __init__(self, z_dim: int, geometry: tuple[int, int, int], width: int = 64) -> None:
        super().__init__()
        s0, n = geometry_plan(geometry)
        top = width * 2 ** (n - 1)
        self.seed_shape = (top, s0, s0)
        self.fc = nn.Sequential(nn.Linear(z_dim, top * s0 * s0, bias=False), nn.BatchNorm1d(top * s0 * s0), nn.ReLU())
        layers: list[nn.Module] = []
        ch = top
        for i in range(n - 1):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU()]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, geometry[2], 4, 2, 1), nn.Tanh()]
        self.up = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        """(N, Z) -> (N, C, H, W)."""
        return self.up(self.fc(z).view(len(z), *self.seed_shape))

    def forward_stacked(self, params: dict[str, Tensor], z: Tensor, grads: dict[str, Tensor] | None = None) -> Tensor:
        """Eval-mode forward where sample ``p`` uses its own weights ``params[name][p]``.

        Used by ADGAN's test-time search, where every (image, restart) problem owns a copy
        of theta. BatchNorm uses the module's running statistics (eval mode); the copies are
        stacked along a new leading axis, so autograd of the summed per-sample losses gives
        each copy its own gradient.

        Args:
            params: :func:`adcgan.nets.stacked.stacked_parameters` of this module (Linear weights
                transposed), every tensor stacked to (P, *shape).
            z: (P, Z) codes.
            grads: optional (P, *layout) buffers, by parameter name, that receive the weight gradients.

        Returns:
            (P, C, H, W) images.
        """
        h = run_stacked(self.fc, "fc.", params, z, grads)
        return run_stacked(self.up, "up.", params, h.view(len(z), *self.seed_shape), grads)


class ConvEncoder(nn.Module):
    """Encoder E: image (N, C, H, W) -> code (N, Z).

    A :func:`conv_trunk` (BN, LeakyReLU 0.2) followed by a linear layer, optionally
    spectral-normalised and optionally ending in LayerNorm (AE-GAN's encoder).
    """

    def __init__(self, geometry: tuple[int, int, int], z_dim: int, width: int = 64, *,
                 use_sn: bool = False, layer_norm: bool = False) -> None:
        super().__init__()
        s0, n = geometry_plan(geometry)
        self.trunk = conv_trunk(geometry[2], width, n, bn=True, use_sn=use_sn)
        self.fc = sn(GemmLinear(width * 2 ** (n - 1) * s0 * s0, z_dim), use_sn)
        self.norm = nn.LayerNorm(z_dim) if layer_norm else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        """(N, C, H, W) -> (N, Z)."""
        return self.norm(self.fc(self.trunk(x).flatten(1)))


class ConvCritic(nn.Module):
    """Image discriminator: conv trunk -> flattened features f (N, F) -> logit (N,).

    Args:
        geometry: ``(H, W, C)`` of one image.
        width: Channels of the first conv.
        in_ch: Input channels when they differ from ``C`` (ALAD's D_xx takes ``2C``).
        bn: BatchNorm after every conv but the first (DCGAN).
        use_sn: Spectral-normalise every layer.
        dropout: Dropout after every conv (ALAD: 0.2).
    """

    def __init__(self, geometry: tuple[int, int, int], width: int = 64, *, in_ch: int | None = None,
                 bn: bool = True, use_sn: bool = False, dropout: float = 0.0) -> None:
        super().__init__()
        s0, n = geometry_plan(geometry)
        self.trunk = conv_trunk(in_ch or geometry[2], width, n, bn=bn, use_sn=use_sn, dropout=dropout)
        self.feature_dim = width * 2 ** (n - 1) * s0 * s0
        self.head = sn(GemmLinear(self.feature_dim, 1), use_sn)

    def features(self, x: Tensor) -> Tensor:
        """Intermediate features: (N, in_ch, H, W) -> (N, F), the flattened last conv map."""
        return self.trunk(x).flatten(1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(N, in_ch, H, W) -> (logits (N,), features (N, F))."""
        f = self.features(x)
        return self.head(f).squeeze(1), f
