"""P copies of a generator's weights evaluated together: the layout of ADGAN's test-time search.

In ADGAN's search (Deecke et al. 2018, Algorithm 1) every (image, restart) problem ``p`` owns a
copy theta_p of the generator's weights. The copies are stacked along a leading axis, and every
weighted layer becomes ``Y_p = X_p W_p`` with W_p on the right, so that the forward, the input
gradient and the weight gradient are each one batched product with the long dimension innermost
(instead of grouped convolutions or broadcasts):

* ``nn.Linear`` (weight (O, I)) is stored **transposed**, (P, I, O): ``y_p^T = h_p^T W_p^T`` is a
  row vector times a matrix over contiguous rows, and the weight gradient ``h_p g_p^T`` is an
  outer product with O innermost.
* ``nn.ConvTranspose2d`` (weight (Cin, Cout, k, k), read as (Cin, Cout k k)) is
  ``cols_p^T = x_p^T W_p`` ((h w, Cin) x (Cin, Cout k k)) followed by ``F.fold`` (col2im).
* ``BatchNorm`` uses the module's running statistics (eval mode) and the per-problem affine.

The weight gradients can be written into caller-owned buffers (``grads``), which the search
reuses for every step instead of mapping fresh memory for the largest tensors each time.

:func:`stacked_parameters` gives a module's parameters in this layout (one copy, to be stacked),
and :func:`run_stacked` runs an ``nn.Sequential`` of these layers on (P, ...) inputs.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from adcgan import torch_compat


def stacked_parameters(module: nn.Module) -> dict[str, Tensor]:
    """``dict(module.named_parameters())`` detached, with every ``nn.Linear`` weight transposed to (I, O)."""
    linear = {f"{name}.weight" for name, m in module.named_modules() if isinstance(m, nn.Linear)}
    return {k: (p.detach().t().contiguous() if k in linear else p.detach()) for k, p in module.named_parameters()}


class _RightMatmul(torch.autograd.Function):
    """Y_p = X_p W_p for every problem: x (P, L, I), w (P, I, O) -> (P, L, O).

    ``grad_w`` (a (P, I, O) buffer, or None) receives the weight gradient ``X_p^T dY_p`` in place,
    so the largest tensor of a step is written into memory that is already mapped; for L = 1 it is
    an outer product formed by broadcasting (a K = 1 batched matmul is several times slower on CPU).
    """

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: Tensor, w: Tensor,  # type: ignore[override]
                grad_w: Tensor | None) -> Tensor:
        ctx.save_for_backward(x, w)
        ctx.grad_w = grad_w  # type: ignore[attr-defined]
        return torch.bmm(x, w)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx,  # type: ignore[override]
                 g: Tensor) -> tuple[Tensor, Tensor, None]:
        x, w = ctx.saved_tensors
        out = ctx.grad_w if ctx.grad_w is not None else torch.empty_like(w)  # type: ignore[attr-defined]
        if x.shape[1] == 1:
            torch.mul(x.transpose(1, 2), g, out=out)
        else:
            torch.bmm(x.transpose(1, 2), g, out=out)
        return torch.bmm(g, w.transpose(1, 2)), out, None


def stacked_linear(h: Tensor, wt: Tensor, grad_w: Tensor | None = None) -> Tensor:
    """y_p = W_p h_p with the weight stored transposed: h (P, I), wt (P, I, O) -> (P, O)."""
    return _RightMatmul.apply(h.unsqueeze(1), wt, grad_w).squeeze(1)


def stacked_conv_transpose(x: Tensor, w: Tensor, m: nn.ConvTranspose2d, grad_w: Tensor | None = None) -> Tensor:
    """Per-problem transposed convolution without bias: x (P, Cin, h, w), w (P, Cin, Cout, k, k) -> (P, Cout, H, W).

    ``cols_p^T = x_p^T W_p`` ((h w, Cin) x (Cin, Cout k k), one batched GEMM) then col2im
    (``F.fold``). Only the layer's kernel size, stride and padding are read from ``m``.
    """
    if m.groups != 1 or m.dilation != (1, 1) or m.output_padding != (0, 0):
        raise ValueError("stacked_conv_transpose supports groups=1, dilation=1, output_padding=0 only")
    p, cin, hh, ww = x.shape
    (kh, kw), (sh, sw), (ph, pw) = m.kernel_size, m.stride, m.padding
    cols = _RightMatmul.apply(x.reshape(p, cin, hh * ww).transpose(1, 2), w.reshape(p, cin, -1),
                              None if grad_w is None else grad_w.view(p, cin, -1))
    size = ((hh - 1) * sh - 2 * ph + kh, (ww - 1) * sw - 2 * pw + kw)
    return F.fold(cols.transpose(1, 2), size, (kh, kw), padding=(ph, pw), stride=(sh, sw))


def run_stacked(seq: nn.Sequential, prefix: str, params: dict[str, Tensor], h: Tensor,
                grads: dict[str, Tensor] | None = None) -> Tensor:
    """Run ``seq`` on (P, ...) inputs with per-problem weights ``params[prefix + name]`` (P, *layout).

    ``grads`` optionally maps weight names to (P, *layout) buffers that receive the weight gradients.
    """
    grads = grads or {}
    for name, m in seq.named_children():
        key = prefix + name
        bias = params.get(key + ".bias")
        if isinstance(m, nn.Linear):
            h = stacked_linear(h, params[key + ".weight"], grads.get(key + ".weight")) + (0 if bias is None else bias)
        elif isinstance(m, torch_compat.BATCH_NORM_TYPES):
            shape = (len(h), -1) + (1,) * (h.dim() - 2)
            h = F.batch_norm(h, m.running_mean, m.running_var, None, None, False, 0.0, m.eps)
            h = h * params[key + ".weight"].view(shape) + params[key + ".bias"].view(shape)
        elif isinstance(m, nn.ConvTranspose2d):
            h = stacked_conv_transpose(h, params[key + ".weight"], m, grads.get(key + ".weight"))
            h = h if bias is None else h + bias[:, :, None, None]
        elif isinstance(m, (nn.ReLU, nn.LeakyReLU, nn.Tanh)):
            h = m(h)
        else:
            raise TypeError(f"run_stacked does not support {type(m).__name__}")
    return h
