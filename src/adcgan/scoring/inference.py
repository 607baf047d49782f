"""Inference copies of trained networks: the fast, exact scoring path.

Scoring never runs on the training modules. It runs on copies (:func:`inference_copy`)
rebuilt whenever a weight changes, in which

* spectral-norm parametrisations are baked into plain weights (:func:`plain_copy`);
* eval-mode BatchNorm is folded into the (transposed) convolution before it;
* a transposed convolution applied to a 1x1 input (the generator's first up-sampling
  layer) is one matrix product instead of a oneDNN deconvolution (about 8x faster); the
  other overlapping transposed convolutions add their bias apart (up to 2x faster);
* a convolution with a tiny output map (the encoder's last two layers) is im2col plus
  one matrix product (2-4x faster); the training-time product layers (``GemmConv2d``) run
  oneDNN's convolution above that (no backward pass, large batches: 2-14 % faster scoring);
  a transposed convolution whose kernel equals its stride keeps its bias inside oneDNN's call (its
  training form adds it apart, out of place: 12 ms of a 28x28 scoring batch of 256);
* a convolution with at most 4 output channels and more input channels than taps (the
  generator's output layer) is one matrix product over channels plus k*k shifted sums
  (about 2.5x faster);
* single-slope PReLU becomes the identical LeakyReLU, and activations that follow a
  freshly computed tensor run in place.

All of these are exact rewrites; outputs differ from the training modules only by
floating-point summation order (~1e-6, tested). The memory setting of a scoring pass is
:func:`adcgan.training.memory.reuse_freed_memory`.
"""
from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize

from adcgan import torch_compat
from adcgan.nets.gemm import kernel_taps, point_conv_transpose
from adcgan.nets.layers import set_fast_layers


def plain_copy(module: nn.Module) -> nn.Module:
    """A deep eval-mode copy with every parametrisation (spectral norm) replaced by its value
    and BatchNorm folded (:func:`fold_batchnorm`).

    The parametrisations are baked by :func:`adcgan.torch_compat.bake_parametrizations`; where that is not
    possible on the installed torch, the copy keeps them (eval mode: the same values, computed per forward).
    """
    m = copy.deepcopy(module)
    bake = torch_compat.supported(torch_compat.PARAMETRIZED_CLASS)
    with torch.no_grad():
        for sub in list(m.modules()):
            if bake and parametrize.is_parametrized(sub):
                torch_compat.bake_parametrizations(sub)
    m.requires_grad_(False)
    return fold_batchnorm(m.eval())


def fold_batchnorm(module: nn.Module) -> nn.Module:
    """Fold eval-mode BatchNorm2d into the (transposed) convolution right before it, in place.

    Conv2d weights are (out, in, k, k); ConvTranspose2d weights are (in, out, k, k), so the
    per-output-channel scale goes on dim 0 or dim 1. The BatchNorm becomes an Identity.
    """
    for seq in [s for s in module.modules() if isinstance(s, nn.Sequential)]:
        children = list(seq.named_children())
        for (_, conv), (name, bn) in zip(children, children[1:]):
            if isinstance(conv, (nn.Conv2d, nn.ConvTranspose2d)) and isinstance(bn, nn.BatchNorm2d) \
                    and not parametrize.is_parametrized(conv) and bn.track_running_stats:
                _fold(conv, bn)
                setattr(seq, name, nn.Identity())
    return module


@torch.no_grad()
def _fold(conv: nn.Module, bn: nn.BatchNorm2d) -> None:
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps) if bn.affine else 1.0 / torch.sqrt(bn.running_var + bn.eps)
    shift = (bn.bias if bn.affine else 0.0) - bn.running_mean * scale
    shape = (1, -1, 1, 1) if isinstance(conv, nn.ConvTranspose2d) else (-1, 1, 1, 1)
    conv.weight.mul_(scale.reshape(shape))
    bias = conv.bias if conv.bias is not None else torch.zeros_like(shift)
    conv.bias = nn.Parameter(bias * scale + shift, requires_grad=False)


class InferenceDeconv(nn.Module):
    """A ConvTranspose2d for inference: one matrix product on 1x1 inputs, else bias added apart.

    On a 1x1 input with padding 0, output pixel (i, j) is ``x @ W[:, :, i, j] + b``, so the
    layer is one matrix product (:func:`adcgan.nets.gemm.point_conv_transpose`, shared with the
    training layer; ~8x faster than oneDNN). On other inputs, kernels whose taps overlap (k > stride) run oneDNN's
    deconvolution without its bias and add the bias in place: with the bias inside, PyTorch's
    CPU deconvolution took up to twice as long for many shapes (8 -> 15, 7 -> 14, 13 -> 29,
    29 -> 61) and was at most ~8 % faster for the others; for k == stride it was faster with
    the bias inside. A GEMM + col2im form was measured too: faster at <= 5x5 inputs, up to
    3.7x slower at larger ones, so not used.
    """

    def __init__(self, conv: nn.ConvTranspose2d) -> None:
        super().__init__()
        self.conv = conv
        _, _, kh, kw = conv.weight.shape
        self.overlap = kh > conv.stride[0] or kw > conv.stride[1]
        self.point = (conv.padding, conv.output_padding, conv.groups, conv.dilation) == ((0, 0), (0, 0), 1, (1, 1))

    def forward(self, x: Tensor) -> Tensor:
        """(N, Cin, H, W) -> (N, Cout, H', W') as ``ConvTranspose2d``."""
        c = self.conv
        if x.shape[2:] == (1, 1) and self.point:
            return point_conv_transpose(x, c.weight, c.bias)
        if c.bias is None or not self.overlap:
            return c(x)
        y = F.conv_transpose2d(x, c.weight, None, c.stride, c.padding, c.output_padding, c.groups, c.dilation)
        return y.add_(c.bias.view(1, -1, 1, 1))


class SmallOutputConv(nn.Module):
    """A Conv2d (padding 0) with a tiny output map (at most 3x3) as im2col + one matrix product.

    oneDNN's direct convolution is inefficient when the output has only a few pixels
    (the encoders' last two layers); gathering the patches and calling GEMM was 2-4x faster
    there. Larger outputs use the wrapped module; the GEMM layout of the weight is made on
    first use, so layers that never see a tiny output hold no second copy of their weights.
    """

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.conv = conv
        self._gemm: tuple[Tensor, Tensor] | None = None  # (W', bias), made on the first tiny output

    def forward(self, x: Tensor) -> Tensor:
        """(N, Cin, H, W) -> (N, Cout, H', W') as ``Conv2d``."""
        c = self.conv
        (kh, kw), (sh, sw) = c.kernel_size, c.stride
        n, _, h, w = x.shape
        ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
        if ho * wo > 9:
            return c(x)
        if self._gemm is None:
            cout = c.out_channels
            self._gemm = (c.weight.permute(2, 3, 1, 0).reshape(-1, cout).contiguous(),
                          c.bias if c.bias is not None else c.weight.new_zeros(cout))
        wm, b = self._gemm
        xn = x.permute(0, 2, 3, 1)
        cols = torch.stack(kernel_taps(xn, (kh, kw), (sh, sw), (ho, wo)), dim=3)   # (N, Ho, Wo, kh*kw, Cin)
        y = torch.addmm(b, cols.reshape(n * ho * wo, -1), wm)
        return y.view(n, ho, wo, -1).permute(0, 3, 1, 2)


class NarrowConv(nn.Module):
    """A stride-1 Conv2d with few output channels as one matrix product plus shifted sums.

    Used where ``Cout * kh * kw <= Cin`` (the generators' output layers), so the per-tap map
    ``t`` is no larger than the input; with more taps than input channels it is slower.

    ``t = x_nhwc @ W' (Cin, kh*kw*Cout)`` gives every tap's contribution per pixel; the
    output is the sum of the kh*kw shifted slices of ``t`` (zero padding pads ``t``).
    """

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        cout, cin, kh, kw = conv.weight.shape
        self.k, self.pad, self.cout = (kh, kw), conv.padding, cout
        bias = conv.bias if conv.bias is not None else torch.zeros(cout, device=conv.weight.device)
        self.register_buffer("w", conv.weight.detach().permute(1, 2, 3, 0).reshape(cin, -1).contiguous())
        self.register_buffer("b", bias.detach().clone())

    def forward(self, x: Tensor) -> Tensor:
        """(N, Cin, H, W) -> (N, Cout, H + 2p - kh + 1, W + 2p - kw + 1)."""
        (n, c, h, w), (kh, kw), (ph, pw) = x.shape, self.k, self.pad
        t = (x.permute(0, 2, 3, 1).reshape(-1, c) @ self.w).view(n, h, w, kh * kw * self.cout)
        if ph or pw:
            t = F.pad(t, (0, 0, pw, pw, ph, ph))
        ho, wo = h + 2 * ph - kh + 1, w + 2 * pw - kw + 1
        t = t.view(n, h + 2 * ph, w + 2 * pw, kh, kw, self.cout)
        y = self.b.expand(n, ho, wo, self.cout).clone()
        for i in range(kh):
            for j in range(kw):
                y += t[:, i:i + ho, j:j + wo, i, j]
        return y.permute(0, 3, 1, 2)


_FRESH = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.BatchNorm2d, InferenceDeconv, NarrowConv, SmallOutputConv)
_PASS = (nn.Identity, nn.Dropout, nn.Dropout2d)  # eval mode: return their input


def _rewrite_leaf(m: nn.Module, fresh_input: bool) -> nn.Module:
    if isinstance(m, nn.ConvTranspose2d) and m.padding_mode == "zeros" and isinstance(m.padding, tuple):
        return InferenceDeconv(m)
    plain_conv = isinstance(m, nn.Conv2d) and m.groups == 1 and m.dilation == (1, 1) \
        and m.padding_mode == "zeros" and isinstance(m.padding, tuple)
    if plain_conv and m.out_channels <= 4 and m.stride == (1, 1) \
            and m.out_channels * m.kernel_size[0] * m.kernel_size[1] <= m.in_channels:
        return NarrowConv(m)
    if plain_conv and m.padding == (0, 0):
        return SmallOutputConv(m)
    if isinstance(m, nn.PReLU) and m.num_parameters == 1:
        return nn.LeakyReLU(float(m.weight.detach()), inplace=fresh_input)
    if isinstance(m, (nn.LeakyReLU, nn.ReLU)) and fresh_input:
        m.inplace = True
    return m


def rewrite_for_inference(module: nn.Module) -> nn.Module:
    """Apply the exact layer rewrites listed in the module docstring, in place."""
    last: nn.Module | None = None  # previous layer of a Sequential that is not a pass-through
    for name, child in list(module.named_children()):
        if next(child.children(), None) is not None:
            rewrite_for_inference(child)
            new = child
        else:  # in place only right after a layer that made a new tensor
            fresh = isinstance(module, nn.Sequential) and isinstance(last, _FRESH)
            new = _rewrite_leaf(child, fresh)
            setattr(module, name, new)
        if not isinstance(new, _PASS):
            last = new
    return module


def inference_copy(module: nn.Module) -> nn.Module:
    """:func:`plain_copy` plus :func:`rewrite_for_inference`: an exact, faster eval-only copy.

    Its fast layers take their plain forwards (:func:`adcgan.nets.layers.set_fast_layers`): the training-time
    forms (patches @ W^T, a transposed convolution's bias added apart) do not pay off without a backward pass
    at scoring's batch size; SmallOutputConv and InferenceDeconv take the tiny maps and overlapping kernels.
    """
    copy_ = plain_copy(module)
    set_fast_layers(copy_, False)
    return rewrite_for_inference(copy_)


def weights_version(module: nn.Module) -> tuple[tuple[int, int], ...]:
    """Identity and in-place version counter of every parameter and buffer.

    Optimiser steps, BatchNorm statistics and ``load_state_dict`` all modify tensors in
    place, so this changes whenever the weights do (:func:`adcgan.torch_compat.version_counter`).
    """
    return tuple((id(t), torch_compat.version_counter(t)) for t in [*module.parameters(), *module.buffers()])


class InferenceScorer:
    """Runs ``det.score_batch`` on inference copies of ``det.nets`` (rebuilt when weights change).

    The copies are switched in with :meth:`BaseDetector.running_on` for each batch; the detector's
    ``scoring_state`` (set by ``prepare_scoring``) is read as it is.
    """

    def __init__(self, det: Any) -> None:
        self.det = det
        self.version = weights_version(det.nets)
        self.nets = nn.ModuleDict({k: inference_copy(v) for k, v in det.nets.items()})

    def current(self) -> bool:
        """True while the detector's weights are those the copies were made from."""
        return weights_version(self.det.nets) == self.version

    def _batch(self, x: Tensor) -> dict[str, Tensor]:
        return self.det.score_batch(x)

    def __call__(self, x: Tensor) -> dict[str, Tensor]:
        """Score one float batch (N, C, H, W) in [0, 1]."""
        with self.det.running_on(self.nets):
            return self._batch(x)
