"""Matrix-product forms of convolution layers for training: the same parameters and state_dict as
PyTorch's layers, the same computation up to float summation order (tests/test_fast_training.py).

oneDNN's (transposed) convolutions are slow where a map has only a few pixels: a transposed
convolution of a 1x1 input (every generator's first layer) and a convolution with a tiny output map
(the encoders' last layers, the 32x32 and 64x64 critics' last global convolution, whose 1x1 output
took 245 ms forward + backward at batch 32 on two Xeon cores, 15 GFLOP/s; 38 ms as the product). There the layer is one
matrix product. ``fast = False`` restores PyTorch's forward (``DetectorConfig.fast_training``, which is
off where a torch internal these layers read is missing: :mod:`adcgan.torch_compat`).
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize

from adcgan import torch_compat

# A convolution whose output map has at most this many pixels runs as patches @ W^T: at batch 32 on
# two Xeon cores (AVX-512) forward + backward was faster than oneDNN at every 6x6 or smaller output of
# the three geometries but one (equal), up to 10x at 1x1, and slower at every 10x10 or larger one
# (bench/gemm_conv.py prints the layer-by-layer comparison).
SMALL_OUTPUT_PIXELS = 36


class GemmConvTranspose2d(nn.ConvTranspose2d):
    """``nn.ConvTranspose2d`` (same parameters, same state_dict) that runs as one matrix product on
    a 1x1 input with padding 0 (every generator's first layer), in training as well as scoring.

    There, output pixel (a, b) is ``x @ W[:, :, a, b] + bias``, so ``x (N, Cin) @ W (Cin,
    Cout*kh*kw)`` is the whole layer and autograd differentiates the product. Forward + backward
    of the 28x28 generator's first layer (512 -> 256, k 4, batch 32) took 54 ms as a oneDNN
    deconvolution and 4 ms as the product on one Xeon core (``bench/speed.py`` measures the step).
    Other inputs on the CPU run PyTorch's transposed convolution with the bias added apart (oneDNN's
    bias gradient is slow, :meth:`_bias_apart`); a pixel-shuffle product for kernel == stride was
    measured and not kept (slower than that).

    With spectral normalisation (:func:`sn`) the product uses the stored weight W and divides its
    *output* by sigma: ``x (W / sigma) = (x W) / sigma``, so the (Cin x Cout k k) weight is never
    rescaled or copied per forward (for the 28x28 generator's 2.1 M-weight first layer at batch 32
    those element-wise passes cost about as much as the product itself). The power iteration is
    torch's, on the weight in its storage order (:func:`sn_output_scale`); inside ``parametrize.cached()``
    it runs once per block (:func:`block_sigma`), so the number of power iterations never changes.

    Exact up to float summation order; ``fast = False`` restores the plain forward everywhere
    (``DetectorConfig.fast_training``).
    """

    fast: bool = True

    def forward(self, x: Tensor, output_size: list[int] | None = None) -> Tensor:
        """(N, Cin, H, W) -> (N, Cout, H', W') exactly as ``nn.ConvTranspose2d``."""
        if not (self.fast and output_size is None and x.dim() == 4 and x.shape[2:] == (1, 1)
                and self.padding == (0, 0) and self.output_padding == (0, 0) and self.groups == 1
                and self.dilation == (1, 1)):
            if self.fast and self.bias is not None and x.device.type == "cpu" and not _tracing():
                return self._bias_apart(x, output_size)
            return super().forward(x, output_size)
        norm = _spectral_norm_of(self)
        if norm is None:
            return point_conv_transpose(x, self.weight, self.bias)
        weight = self.parametrizations.weight.original
        y = point_conv_transpose(x, block_weight(self, weight), None) / block_sigma(self, norm, weight)
        return y if self.bias is None else y + self.bias.view(1, -1, 1, 1)

    def _bias_apart(self, x: Tensor, output_size: list[int] | None) -> Tensor:
        """PyTorch's transposed convolution without its bias, then the bias added: oneDNN's bias gradient
        of a transposed convolution is slow (14.5 of the 19.5 ms backward of the 28x28 generator's
        64 -> 64, k = stride = 2 layer at batch 32 on one Xeon core; the sum over the map here: 0.6 ms)."""
        pad = torch_compat.conv_transpose_output_padding(self, x, output_size)
        y = F.conv_transpose2d(x, block_weight(self, self.weight, "weight"), None, self.stride, self.padding, pad,
                               self.groups, self.dilation)
        return y + self.bias.view(1, -1, 1, 1)


def _spectral_norm_of(module: nn.Module) -> nn.Module | None:
    """The spectral-norm parametrisation of ``module.weight`` along dim 0 when it is the only one, else None."""
    if not parametrize.is_parametrized(module, "weight"):
        return None
    chain = module.parametrizations.weight
    state = torch_compat.spectral_norm_state(chain[0]) if len(chain) == 1 else None
    return chain[0] if state is not None and state.dim == 0 else None


def sn_output_scale(norm: nn.Module, weight: Tensor) -> Tensor:
    """sigma of a (A, B, kh, kw) weight as torch's spectral norm along dim 0 computes it: (Cin, Cout, kh,
    kw) for a transposed convolution, (Cout, Cin, kh, kw) for a convolution, (out, in) for a Linear layer.

    The matrix is (A, B kh kw); for a channels-last weight it is read in its storage order
    (A, kh kw B) with the right singular vector ``v`` permuted to match, so no copy of the weight
    is made. In training mode one power iteration updates the vectors ``u`` and ``v`` in place
    (:func:`adcgan.torch_compat.spectral_norm_state`; ``v`` stays in the logical order the state_dict holds).
    """
    state = torch_compat.spectral_norm_state(norm)
    if state is None:
        raise TypeError(f"{type(norm).__name__} is not torch's spectral-norm parametrisation")
    u_buf, v_buf = state.u, state.v
    if weight.dim() == 2:  # a Linear weight (out, in): the matrix itself
        weight = weight.reshape(*weight.shape, 1, 1)
    _, b, kh, kw = weight.shape
    mat, storage = _storage_matrix(weight)
    order = (lambda v: v.view(b, kh, kw).permute(1, 2, 0).reshape(-1)) if storage else (lambda v: v)
    if norm.training:
        with torch.no_grad():
            for _ in range(state.n_power_iterations):
                F.normalize(torch.mv(mat, order(v_buf)), dim=0, eps=state.eps, out=u_buf)
                v = F.normalize(torch.mv(mat.t(), u_buf), dim=0, eps=state.eps)
                v_buf.copy_(v.view(kh, kw, b).permute(2, 0, 1).reshape(-1) if storage else v)
    return torch.vdot(u_buf.clone(), torch.mv(mat, order(v_buf).clone()))


def block_sigma(module: nn.Module, norm: nn.Module, weight: Tensor) -> Tensor:
    """sigma of ``module``'s weight (:func:`sn_output_scale`), computed once per ``parametrize.cached()`` block.

    Inside a cached block torch's parametrisation computes the normalised weight, and runs its power
    iteration, once; the product layers do the same with sigma, kept in the block's cache under their own
    key, so the normalised weight is never materialised (for the 32x32 critic's 18.9 M-weight layer the
    division and its backward cost about 10 % of the training step). Outside a block: every forward,
    as torch's parametrisation does.
    """
    cache = torch_compat.block_cache()
    if cache is None:
        return sn_output_scale(norm, weight)
    key = (id(module), "adcgan.sigma")
    sigma = cache.get(key)
    if sigma is None:
        sigma = cache[key] = sn_output_scale(norm, weight)
    return sigma


def block_weight(module: nn.Module, weight: Tensor, which: str = "original") -> Tensor:
    """``weight`` as ``module``'s product reads it: ``weight`` itself, or under autocast (``precision=bf16``)
    its low-precision copy, made once per ``parametrize.cached()`` block.

    Autocast would cast the weight at every forward; the forwards of one block (the critic on real and on
    fake images) share one copy instead, as they share torch's normalised weight and :func:`block_sigma`
    (weights change only between blocks). For the 32x32 critic's 18.9 M-weight layer each cast streams
    113 MB. The copy is differentiable: its gradient reaches the fp32 weight. ``which`` names the weight
    in the block's cache: ``"original"`` (the stored one) or ``"weight"`` (the spectral-normalised one).
    """
    device = weight.device.type
    if not torch.is_autocast_enabled(device):
        return weight
    dtype = torch.get_autocast_dtype(device)
    cache = torch_compat.block_cache()
    if cache is None:
        return weight.to(dtype)
    key = (id(module), "adcgan.autocast_" + which)
    low = cache.get(key)
    if low is None:
        low = cache[key] = weight.to(dtype)
    return low


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
    """A (A, B, kh, kw) weight as an (A, ...) matrix view in its storage order, never a copy:
    (A, kh kw B) for a channels-last weight (flag True), else (A, B kh kw)."""
    channels_last = weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()
    if channels_last:
        return weight.permute(0, 2, 3, 1).reshape(weight.shape[0], -1), True
    return weight.reshape(weight.shape[0], -1), False


class _Patches(torch.autograd.Function):
    """im2col of a channels-last view: (N, H, W, C) -> (N, Ho, Wo, kh*kw, C) or, with ``taps_last``,
    (N, Ho, Wo, C, kh*kw); the backward adds each tap's gradient into one zero tensor."""

    @staticmethod
    def forward(ctx: Any, xn: Tensor, k: tuple[int, int], s: tuple[int, int], out: tuple[int, int],
                taps_last: bool) -> Tensor:
        ctx.meta = (xn.shape, k, s, out, taps_last)
        return torch.stack(kernel_taps(xn, k, s, out), dim=4 if taps_last else 3)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        shape, k, s, out, taps_last = ctx.meta
        gx = grad.new_zeros(shape)
        for t, tap in enumerate(kernel_taps(gx, k, s, out)):
            tap += grad[..., t] if taps_last else grad[:, :, :, t]
        return gx, None, None, None, None


def kernel_taps(xn: Tensor, k: tuple[int, int], s: tuple[int, int], out: tuple[int, int]) -> list[Tensor]:
    """The kh*kw strided views (N, Ho, Wo, C) of ``xn`` (N, H, W, C) that the kernel's taps read, in
    (i, j) row-major order (padding already applied): im2col's columns, without a copy."""
    (kh, kw), (sh, sw), (ho, wo) = k, s, out
    return [xn[:, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw] for i in range(kh) for j in range(kw)]


def conv_as_matmul(x: Tensor, weight: Tensor, bias: Tensor | None, stride: tuple[int, int],
                   padding: tuple[int, int], scale: Tensor | None = None) -> Tensor:
    """``F.conv2d(x, weight, bias, stride, padding) / scale`` (groups 1, dilation 1) as patches @ W^T.

    The patches are gathered in the weight's storage order, so the weight is never copied: (kh, kw, Cin)
    taps for a channels-last weight, (Cin, kh, kw) otherwise. Differentiable in ``x``, ``weight``,
    ``bias`` and ``scale``.

    Args:
        x: (N, Cin, H, W), any memory format.
        weight: (Cout, Cin, kh, kw).
        bias: (Cout,) or ``None``.
        stride, padding: as for ``F.conv2d``.
        scale: A scalar tensor dividing the product before the bias (spectral norm's sigma), or ``None``.

    Returns:
        (N, Cout, Ho, Wo) in channels-last memory format.
    """
    cout, _, kh, kw = weight.shape
    if padding != (0, 0):
        x = F.pad(x, (padding[1], padding[1], padding[0], padding[0]))
    n, _, h, w = x.shape
    out = ((h - kh) // stride[0] + 1, (w - kw) // stride[1] + 1)
    wm, storage = _storage_matrix(weight)
    cols = _Patches.apply(x.permute(0, 2, 3, 1), (kh, kw), tuple(stride), out, not storage)
    y = cols.reshape(n * out[0] * out[1], -1) @ wm.t()
    if scale is not None:
        y = y / scale
    if bias is not None:
        y = y + bias
    return y.view(n, out[0], out[1], cout).permute(0, 3, 1, 2)


def _tracing() -> bool:
    """True under torch.compile, torch.export and TorchScript tracing: graphs get PyTorch's own layers."""
    return torch.compiler.is_compiling() or torch.jit.is_tracing()


def output_pixels(conv: nn.Conv2d, x: Tensor) -> int:
    """Pixels of ``conv``'s output map for input ``x`` (N, C, H, W)."""
    (kh, kw), (sh, sw), (ph, pw) = conv.kernel_size, conv.stride, conv.padding
    return ((x.shape[2] + 2 * ph - kh) // sh + 1) * ((x.shape[3] + 2 * pw - kw) // sw + 1)


class GemmConv2d(nn.Conv2d):
    """``nn.Conv2d`` (same parameters, same state_dict) that runs as one matrix product
    (:func:`conv_as_matmul`) when its output map has at most :data:`SMALL_OUTPUT_PIXELS` pixels.

    With spectral normalisation the product uses the stored weight and divides its output by sigma, as
    :class:`GemmConvTranspose2d` does (for the 32x32 critic's 18.9 M-weight last layer the per-forward
    division of the weight and its backward cost more than the layer's product at batch 32); inside
    ``parametrize.cached()`` sigma is computed once per block (:func:`block_sigma`). Graphs being compiled,
    exported or traced get ``nn.Conv2d``'s forward.
    """

    fast: bool = True

    def forward(self, x: Tensor) -> Tensor:
        """(N, Cin, H, W) -> (N, Cout, Ho, Wo) exactly as ``nn.Conv2d``."""
        if not (self.fast and x.dim() == 4 and self.groups == 1 and self.dilation == (1, 1)
                and self.padding_mode == "zeros" and isinstance(self.padding, tuple)
                and not _tracing() and output_pixels(self, x) <= SMALL_OUTPUT_PIXELS):
            if self.fast and not _tracing():
                return torch_compat.conv_forward(self, x, block_weight(self, self.weight, "weight"), self.bias)
            return super().forward(x)
        norm = _spectral_norm_of(self)
        if norm is None:
            return conv_as_matmul(x, block_weight(self, self.weight), self.bias, self.stride, self.padding)
        weight = self.parametrizations.weight.original
        return conv_as_matmul(x, block_weight(self, weight), self.bias, self.stride, self.padding,
                              block_sigma(self, norm, weight))
