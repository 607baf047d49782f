"""Building blocks shared by the networks: spectral-norm wrappers, conv stacks, residual block."""
from __future__ import annotations

from typing import NamedTuple

from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm


def sn(module: nn.Module, enabled: bool = True) -> nn.Module:
    """Spectral-normalise ``module``'s weight (PyTorch's parametrisation).

    Transposed convs are normalised along dim 0 (input channels) like the released
    code (official-code-notes.md section 1); PyTorch's own default would use dim 1.
    Unlike the released wrapper, power iterations run only in training mode.
    """
    if not enabled:
        return module
    dim = 0 if isinstance(module, nn.ConvTranspose2d) else None
    return spectral_norm(module, dim=dim) if dim is not None else spectral_norm(module)


class ConvSpec(NamedTuple):
    """One conv layer of a table: ``out`` channels, kernel ``k``, stride ``s``, padding ``p``,
    BatchNorm flag, LeakyReLU slope (``None``: no activation), 2-D dropout flag."""

    out: int
    k: int
    s: int
    p: int = 0
    bn: bool = False
    slope: float | None = 0.2
    drop: bool = False


def conv_stack(in_ch: int, specs: list[ConvSpec], dropout: float, use_sn: bool = True) -> nn.Sequential:
    """SN conv -> [BN] -> [LeakyReLU] -> [Dropout2d] for each row of ``specs``."""
    layers: list[nn.Module] = []
    for spec in specs:
        layers.append(sn(nn.Conv2d(in_ch, spec.out, spec.k, spec.s, spec.p), use_sn))
        if spec.bn:
            layers.append(nn.BatchNorm2d(spec.out))
        if spec.slope is not None:
            layers.append(nn.LeakyReLU(spec.slope))
        if spec.drop and dropout > 0:
            layers.append(nn.Dropout2d(dropout))
        in_ch = spec.out
    return nn.Sequential(*layers)


def deconv_stack(in_ch: int, specs: list[ConvSpec]) -> nn.Sequential:
    """SN transposed conv -> BN -> PReLU for each row (the generator's up-sampling path)."""
    layers: list[nn.Module] = []
    for spec in specs:
        layers += [sn(nn.ConvTranspose2d(in_ch, spec.out, spec.k, spec.s, spec.p)),
                   nn.BatchNorm2d(spec.out), nn.PReLU()]
        in_ch = spec.out
    return nn.Sequential(*layers)


class ResBlock(nn.Module):
    """Generator residual block: h + F(h), F = (SN conv3x3 -> BN -> PReLU) x 2.

    Args:
        ch: Channels (128 in every released generator).
        official: Reproduce the released code's accidental ``BatchNorm(eps=0.8)`` and
            ``2h + F(h)`` output (official-code-notes.md section 1).
    """

    def __init__(self, ch: int, official: bool = False) -> None:
        super().__init__()
        eps = 0.8 if official else 1e-5
        self.skip_scale = 2.0 if official else 1.0
        self.f = nn.Sequential(
            sn(nn.Conv2d(ch, ch, 3, 1, 1)), nn.BatchNorm2d(ch, eps=eps), nn.PReLU(),
            sn(nn.Conv2d(ch, ch, 3, 1, 1)), nn.BatchNorm2d(ch, eps=eps), nn.PReLU(),
        )

    def forward(self, h: Tensor) -> Tensor:
        """(N, ch, S, S) -> (N, ch, S, S)."""
        return self.skip_scale * h + self.f(h)
