"""Building blocks shared by the networks: spectral-norm wrappers, conv stacks, residual block."""
from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize
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


class GemmConvTranspose2d(nn.ConvTranspose2d):
    """``nn.ConvTranspose2d`` (same parameters, same state_dict) that runs as one matrix product on
    a 1x1 input with padding 0 (every generator's first layer), in training as well as scoring.

    There, output pixel (a, b) is ``x @ W[:, :, a, b] + bias``, so ``x (N, Cin) @ W (Cin,
    Cout*kh*kw)`` is the whole layer and autograd differentiates the product. Forward + backward
    of the 28x28 generator's first layer (512 -> 256, k 4, batch 32) took 54 ms as a oneDNN
    deconvolution and 4 ms as the product on one Xeon core (``bench/speed.py`` measures the step).
    Other inputs use the plain forward: a pixel-shuffle product for kernel == stride (2x slower)
    and the bias added apart (no faster in training) were measured and not kept.

    With spectral normalisation (:func:`sn`) the product uses the stored weight W and divides its
    *output* by sigma: ``x (W / sigma) = (x W) / sigma``, so the (Cin x Cout k k) weight is never
    rescaled or copied per forward (for the 28x28 generator's 2.1 M-weight first layer at batch 32
    those element-wise passes cost about as much as the product itself). The power iteration is
    torch's, on the weight in its storage order (:func:`sn_output_scale`). Inside
    ``parametrize.cached()`` the plain path runs, so the number of power iterations never changes.

    Exact up to float summation order; ``fast = False`` restores the plain forward everywhere
    (``DetectorConfig.fast_training``).
    """

    fast: bool = True

    def forward(self, x: Tensor, output_size: list[int] | None = None) -> Tensor:
        """(N, Cin, H, W) -> (N, Cout, H', W') exactly as ``nn.ConvTranspose2d``."""
        if not (self.fast and output_size is None and x.dim() == 4 and x.shape[2:] == (1, 1)
                and self.padding == (0, 0) and self.output_padding == (0, 0) and self.groups == 1
                and self.dilation == (1, 1)):
            return super().forward(x, output_size)
        norm = _spectral_norm_of(self)
        if norm is None or parametrize._cache_enabled:
            return point_conv_transpose(x, self.weight, self.bias)
        weight = self.parametrizations.weight.original
        y = point_conv_transpose(x, weight, None) / sn_output_scale(norm, weight)
        return y if self.bias is None else y + self.bias.view(1, -1, 1, 1)


def _spectral_norm_of(module: nn.Module) -> nn.Module | None:
    """The spectral-norm parametrisation of ``module.weight`` along dim 0 when it is the only one, else None."""
    if not parametrize.is_parametrized(module, "weight"):
        return None
    chain = module.parametrizations.weight
    ok = len(chain) == 1 and type(chain[0]).__name__ == "_SpectralNorm" and chain[0].dim == 0
    return chain[0] if ok else None


def sn_output_scale(norm: nn.Module, weight: Tensor) -> Tensor:
    """sigma of a (Cin, Cout, kh, kw) weight as torch's spectral norm along dim 0 computes it.

    The matrix is (Cin, Cout kh kw); for a channels-last weight it is read in its storage order
    (Cin, kh kw Cout) with the right singular vector ``v`` permuted to match, so no copy of the weight
    is made. In training mode one power iteration updates the buffers ``_u`` and ``_v`` in place
    (``v`` stays in the logical order the state_dict holds).
    """
    _, cout, kh, kw = weight.shape
    mat, storage = _storage_matrix(weight)
    order = (lambda v: v.view(cout, kh, kw).permute(1, 2, 0).reshape(-1)) if storage else (lambda v: v)
    if norm.training:
        with torch.no_grad():
            for _ in range(norm.n_power_iterations):
                F.normalize(torch.mv(mat, order(norm._v)), dim=0, eps=norm.eps, out=norm._u)
                v = F.normalize(torch.mv(mat.t(), norm._u), dim=0, eps=norm.eps)
                norm._v.copy_(v.view(kh, kw, cout).permute(2, 0, 1).reshape(-1) if storage else v)
    return torch.vdot(norm._u.clone(), torch.mv(mat, order(norm._v).clone()))


def point_conv_transpose(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """A transposed convolution (padding 0, groups 1, dilation 1) of a 1x1 input as one matrix product.

    Output pixel (a, b) is ``x @ W[:, :, a, b] + bias``. The product reads the weight in its storage
    order, so neither layout is copied: a contiguous weight (Cin, Cout, kh, kw) gives a contiguous
    output, a channels-last one (stored as Cin, kh, kw, Cout) a channels-last output.

    Args:
        x: (N, Cin, 1, 1).
        weight: (Cin, Cout, kh, kw).
        bias: (Cout,) or ``None``.

    Returns:
        (N, Cout, kh, kw).
    """
    _, cout, kh, kw = weight.shape
    flat = x.flatten(1)
    w2, channels_last = _storage_matrix(weight)
    if channels_last:
        y = flat @ w2 if bias is None else torch.addmm(bias.repeat(kh * kw), flat, w2)
        return y.view(len(x), kh, kw, cout).permute(0, 3, 1, 2)
    y = flat @ w2 if bias is None else torch.addmm(bias.repeat_interleave(kh * kw), flat, w2)
    return y.view(len(x), cout, kh, kw)


def _storage_matrix(weight: Tensor) -> tuple[Tensor, bool]:
    """A (Cin, Cout, kh, kw) weight as a (Cin, ...) matrix view in its storage order, never a copy:
    (Cin, kh kw Cout) for a channels-last weight (flag True), else (Cin, Cout kh kw)."""
    channels_last = weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()
    if channels_last:
        return weight.permute(0, 2, 3, 1).reshape(weight.shape[0], -1), True
    return weight.reshape(weight.shape[0], -1), False


class _SingleSlopePReLU(torch.autograd.Function):
    """PReLU with one slope ``a``: y = leaky_relu(x, a); dx = leaky_relu_backward; da = sum(dy * min(x, 0))."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, a: Tensor) -> Tensor:
        ctx.save_for_backward(x, a)
        return F.leaky_relu(x, float(a))

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, Tensor]:
        x, a = ctx.saved_tensors
        dx = torch.ops.aten.leaky_relu_backward(grad, x, float(a), False)
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


def set_fast_layers(module: nn.Module, fast: bool) -> None:
    """Switch every :class:`GemmConvTranspose2d` and :class:`FastPReLU` in ``module`` to its fast
    (or plain) forward."""
    for m in module.modules():
        if isinstance(m, (GemmConvTranspose2d, FastPReLU)):
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
