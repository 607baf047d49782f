"""Building blocks shared by the networks: spectral-norm wrappers, conv stacks, residual block."""
from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from adcgan import torch_compat
from adcgan.nets.gemm import GemmConv2d, GemmConvTranspose2d, _spectral_norm_of, _tracing, block_sigma, block_weight


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
    """SN conv -> [BN] -> [LeakyReLU] -> [Dropout2d] for each row of ``specs`` (convolutions as
    :class:`adcgan.nets.gemm.GemmConv2d`: a matrix product where the output map is tiny)."""
    layers: list[nn.Module] = []
    for spec in specs:
        layers.append(sn(GemmConv2d(in_ch, spec.out, spec.k, spec.s, spec.p), use_sn))
        if spec.bn:
            layers.append(nn.BatchNorm2d(spec.out))
        if spec.slope is not None:
            layers.append(nn.LeakyReLU(spec.slope))
        if spec.drop and dropout > 0:
            layers.append(nn.Dropout2d(dropout))
        in_ch = spec.out
    return nn.Sequential(*layers)


class _SingleSlopePReLU(torch.autograd.Function):
    """PReLU with one slope ``a``: y = leaky_relu(x, a); dx = leaky_relu_backward; da = sum(dy * min(x, 0))."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, a: Tensor) -> Tensor:
        ctx.save_for_backward(x, a)
        return F.leaky_relu(x, float(a))

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, Tensor]:
        x, a = ctx.saved_tensors
        dx = torch_compat.leaky_relu_backward(grad, x, float(a))
        return dx, (grad * x.clamp(max=0)).sum().reshape(a.shape)


class FastPReLU(nn.PReLU):
    """``nn.PReLU`` (same parameter) whose single-slope training forward/backward on CPU runs as
    LeakyReLU kernels plus one reduction for the slope's gradient: 1.7-1.8x faster than PyTorch's
    PReLU kernels for the generator's maps (batch 32, one Xeon core), gradients bit-identical there.

    Elsewhere (several slopes, CUDA, no grad, under ``torch.compile``/export, ``fast = False``) it is
    ``nn.PReLU``; ``float(a)`` would make CUDA wait on every call, so CUDA keeps PyTorch's kernel.
    """

    fast: bool = True

    def forward(self, x: Tensor) -> Tensor:
        """Any shape -> the same shape, as ``nn.PReLU``."""
        if (self.fast and self.num_parameters == 1 and x.device.type == "cpu" and torch.is_grad_enabled()
                and not torch.compiler.is_compiling() and not torch.jit.is_tracing()):
            return _SingleSlopePReLU.apply(x, self.weight)
        return super().forward(x)


class GemmLinear(nn.Linear):
    """``nn.Linear`` (same parameters, same state_dict) whose spectral-normalised forward divides its
    *output* by sigma, ``x (W / sigma)^T = (x W^T) / sigma``, as :class:`adcgan.nets.gemm.GemmConv2d` does.

    torch's parametrisation divides the whole weight by sigma at every forward and differentiates that
    division; for ALAD's joint layer (1024 x 6,784 = 6.9 M weights, batch 32) the division and its backward
    took about a fifth of ALAD's 28x28 training step, the product itself a tenth. Here the weight is
    never rescaled; sigma comes from torch's power iteration (:func:`adcgan.nets.gemm.sn_output_scale`),
    once per ``parametrize.cached()`` block (:func:`adcgan.nets.gemm.block_sigma`). Without spectral norm,
    with ``fast = False`` and in graphs being compiled, exported or traced: ``nn.Linear``'s forward.
    """

    fast: bool = True

    def forward(self, x: Tensor) -> Tensor:
        """(..., in_features) -> (..., out_features) exactly as ``nn.Linear``."""
        norm = _spectral_norm_of(self) if self.fast and not _tracing() else None
        if norm is None:
            return super().forward(x)
        weight = self.parametrizations.weight.original
        y = F.linear(x, block_weight(self, weight)) / block_sigma(self, norm, weight)
        return y if self.bias is None else y + self.bias


def set_fast_layers(module: nn.Module, fast: bool) -> None:
    """Switch every fast layer in ``module`` (:class:`adcgan.nets.gemm.GemmConvTranspose2d`,
    :class:`adcgan.nets.gemm.GemmConv2d`, :class:`GemmLinear`, :class:`FastPReLU`) to its fast
    (or plain) forward. The fast forwards read torch internals: where one is missing on the installed torch
    (:func:`adcgan.torch_compat.fast_training_supported`, which warns once) every layer takes its plain forward."""
    fast = fast and torch_compat.fast_training_supported()
    for m in module.modules():
        if isinstance(m, (GemmConvTranspose2d, GemmConv2d, GemmLinear, FastPReLU)):
            m.fast = fast


def deconv_stack(in_ch: int, specs: list[ConvSpec]) -> nn.Sequential:
    """SN transposed conv -> BN -> PReLU for each row (the generator's up-sampling path)."""
    layers: list[nn.Module] = []
    for spec in specs:
        layers += [sn(GemmConvTranspose2d(in_ch, spec.out, spec.k, spec.s, spec.p)),
                   nn.BatchNorm2d(spec.out), FastPReLU()]
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
            sn(nn.Conv2d(ch, ch, 3, 1, 1)), nn.BatchNorm2d(ch, eps=eps), FastPReLU(),
            sn(nn.Conv2d(ch, ch, 3, 1, 1)), nn.BatchNorm2d(ch, eps=eps), FastPReLU(),
        )

    def forward(self, h: Tensor) -> Tensor:
        """(N, ch, S, S) -> (N, ch, S, S)."""
        return self.skip_scale * h + self.f(h)
