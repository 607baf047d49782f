"""The probes: per torch internal, a tiny computation through its accessor (:mod:`.access`) whose result is
known. Each returns ``True`` when the internal exists and behaves as adcgan's fast paths assume; a missing
one raises (``AttributeError``, ``TypeError``, ...), which :func:`adcgan.torch_compat.supported` counts as a
failure too. They run under :func:`adcgan.torch_compat.supported`'s guard (no grad, own RNG state).
"""
from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrizations, parametrize

from adcgan.torch_compat.access import ADAM_INIT_GROUP_ARGS, adam_init_group_args, bake_parametrizations, \
    block_cache, conv_forward, conv_transpose_output_padding, cpu_bf16_flags, dispatch_mode_class, inductor_config, \
    leaky_relu_backward, mkldnn_bf16, spectral_norm_state, version_counter


class _Twice(nn.Module):
    """A parametrisation without randomness: the weight doubled."""

    def forward(self, w: Tensor) -> Tensor:
        """``2 w``."""
        return 2 * w


def _linear(parametrization: nn.Module | None = None) -> nn.Linear:
    """A 3 -> 4 Linear layer with a fixed weight, optionally parametrised."""
    lin = nn.Linear(3, 4)
    lin.weight.copy_(torch.arange(12.0).view(4, 3).sin())
    if parametrization is not None:
        parametrize.register_parametrization(lin, "weight", parametrization)
    return lin


def spectral_norm() -> bool:
    """One training forward is one power iteration u = W v / |W v|, v = W^T u / |W^T u| on the stored
    vectors, in place, and the weight is W / (u . W v); an eval forward reuses u and v."""
    layer = parametrizations.spectral_norm(_linear())
    norm = layer.parametrizations.weight[0]
    w, s0 = layer.parametrizations.weight.original, spectral_norm_state(norm)
    if s0 is None or (s0.dim, s0.n_power_iterations, s0.u.shape, s0.v.shape) != (0, 1, (4,), (3,)):
        return False
    u = F.normalize(w @ s0.v, dim=0, eps=s0.eps)
    v = F.normalize(w.t() @ u, dim=0, eps=s0.eps)
    trained = layer.weight  # training mode: one iteration
    s1 = spectral_norm_state(norm)
    ok = s1 is not None and s1.u is s0.u and torch.allclose(s1.u, u) and torch.allclose(s1.v, v)
    return ok and torch.allclose(trained, w / torch.vdot(u, w @ v)) and torch.allclose(layer.eval().weight, trained)


def parametrize_cache() -> bool:
    """Inside a block torch keeps the parametrised weight under (id(module), name) in :func:`block_cache`;
    outside every block there is none."""
    lin, outer = _linear(_Twice()), block_cache()
    with parametrize.cached():
        cache, weight = block_cache(), lin.weight
        ok = cache is not None and cache.get((id(lin), "weight")) is weight and lin.weight is weight
    return ok and (outer is not None or block_cache() is None)


def output_padding() -> bool:
    """A stride-2 transposed convolution of a 4x4 map: no output padding, or 1 for an 8x8 output."""
    conv, x = nn.ConvTranspose2d(1, 1, 3, stride=2, padding=1), torch.zeros(1, 1, 4, 4)
    return list(conv_transpose_output_padding(conv, x, None)) == [0, 0] \
        and list(conv_transpose_output_padding(conv, x, [8, 8])) == [1, 1]


def conv_forward_with_weight() -> bool:
    """The forward with a doubled weight is ``F.conv2d`` with it."""
    conv, x = nn.Conv2d(2, 3, 3, padding=1), torch.arange(32.0).view(1, 2, 4, 4).cos()
    weight = 2 * conv.weight
    return torch.allclose(conv_forward(conv, x, weight, conv.bias), F.conv2d(x, weight, conv.bias, padding=1))


def leaky_relu_gradient() -> bool:
    """Slope 0.25 at x = (-2, 3) and upstream gradient 1: (0.25, 1)."""
    return leaky_relu_backward(torch.ones(2), torch.tensor([-2.0, 3.0]), 0.25).tolist() == [0.25, 1.0]


class _FlatAdam(torch.optim.Adam):
    """Adam whose fused kernel gets flat views of the lists ``_init_group`` filled (as adcgan's Adam)."""

    def _init_group(self, group: dict[str, Any], *args: Any) -> bool:
        has_complex = super()._init_group(group, *args)
        for lst in args[:4]:
            lst[0] = lst[0].as_strided((lst[0].numel(),), (1,))
        return has_complex


def adam_init_group() -> bool:
    """``_init_group(group, params, grads, exp_avgs, exp_avg_sqs, ...)`` fills the lists the fused kernel then
    updates: a step on flat views of a channels-last weight is torch's step."""
    if any(adam_init_group_args(cls) != ADAM_INIT_GROUP_ARGS for cls in (torch.optim.Adam, torch.optim.AdamW)):
        return False
    start = torch.arange(16.0).view(1, 4, 2, 2).contiguous(memory_format=torch.channels_last)
    flat, ref = nn.Parameter(start.clone()), nn.Parameter(start.clone())
    for p in (flat, ref):
        p.grad = torch.ones_like(p)
    _FlatAdam([flat], lr=0.5, fused=True).step()
    torch.optim.Adam([ref], lr=0.5, fused=True).step()
    return torch.equal(flat, ref) and not torch.equal(flat, start)


def tensor_version() -> bool:
    """An in-place add and an in-place copy each increment the counter."""
    t = torch.zeros(2)
    v0 = version_counter(t)
    t.add_(1.0)
    v1 = version_counter(t)
    t.copy_(torch.ones(2))
    return isinstance(v0, int) and v0 < v1 < version_counter(t)


def parametrized_class() -> bool:
    """A deep copy baked by :func:`bake_parametrizations` is a plain Linear with the value; the original is intact."""
    lin = _linear(_Twice())
    twin = copy.deepcopy(lin)
    bake_parametrizations(twin)
    return type(twin) is nn.Linear and isinstance(twin.weight, nn.Parameter) and torch.equal(twin.weight, lin.weight) \
        and parametrize.is_parametrized(lin) and torch.equal(lin.weight, 2 * lin.parametrizations.weight.original)


def inductor_freezing() -> bool:
    """``patch(freezing=True)`` sets the boolean flag for the block and restores it after."""
    config = inductor_config()
    before = config.freezing
    with config.patch(freezing=True):
        inside = config.freezing
    return isinstance(before, bool) and inside is True and config.freezing == before


def mkldnn_bf16_query() -> bool:
    """The query answers with a bool."""
    return isinstance(mkldnn_bf16(), bool)


def cpu_bf16_queries() -> bool:
    """Both queries answer with a bool."""
    return all(isinstance(flag, bool) for flag in cpu_bf16_flags())


def python_dispatch() -> bool:
    """The dispatch mode class has the hook a recorder overrides."""
    return callable(getattr(dispatch_mode_class(), "__torch_dispatch__", None))
