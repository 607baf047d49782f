"""The accessors: the only code in adcgan that reads torch internals (private names of torch).

Each function here reads one internal as the torch releases of :data:`adcgan.torch_compat.TESTED_TORCH` have
it. Callers ask :func:`adcgan.torch_compat.supported` (through the fast-path switches) before using one; the
probes in :mod:`adcgan.torch_compat.probes` check each of them on the installed torch.
"""
from __future__ import annotations

from types import ModuleType
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrizations, parametrize

BATCH_NORM_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)
"""The batch-norm layers, by their public classes (torch's common base ``_BatchNorm`` is private)."""

ONNX_REGISTRATION_LOGGER = "torch.onnx._internal.exporter._registration"
"""The logger of torch's ONNX op registry (silenced during export; a renamed one only logs again)."""

ADAM_INIT_GROUP_ARGS = ("group", "params_with_grad", "grads", "exp_avgs", "exp_avg_sqs", "max_exp_avg_sqs",
                        "state_steps")
"""The parameters of ``torch.optim.Adam._init_group`` after ``self``, as the tested releases name them."""

CPU_BF16_FLAGS = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
"""``torch.cpu``'s private queries for bfloat16 hardware."""


class SpectralNormState(NamedTuple):
    """torch's spectral-norm parametrisation: its power-iteration vectors (updated in place) and settings."""

    u: Tensor
    v: Tensor
    dim: int
    eps: float
    n_power_iterations: int


def spectral_norm_state(p: nn.Module) -> SpectralNormState | None:
    """``p``'s state when it is torch's spectral-norm parametrisation (``parametrizations._SpectralNorm``)."""
    cls = getattr(parametrizations, "_SpectralNorm", None)
    if cls is None or not isinstance(p, cls):
        return None
    return SpectralNormState(p._u, p._v, p.dim, p.eps, p.n_power_iterations)


def block_cache() -> dict[Any, Any] | None:
    """The cache of the enclosing ``parametrize.cached()`` block (``parametrize._cache``: torch keeps each
    parametrised tensor there under ``(id(module), name)``), or ``None`` outside a block."""
    return parametrize._cache if parametrize._cache_enabled else None


def conv_transpose_output_padding(conv: nn.ConvTranspose2d, x: Tensor,
                                  output_size: list[int] | None) -> list[int]:
    """The output padding ``conv``'s forward would use for ``x`` (``ConvTranspose2d._output_padding``)."""
    return conv._output_padding(x, output_size, conv.stride, conv.padding,  # type: ignore[arg-type]
                                conv.kernel_size, 2, conv.dilation)  # type: ignore[arg-type]


def conv_forward(conv: nn.Conv2d, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """``conv``'s forward with another weight, any padding mode (``Conv2d._conv_forward``)."""
    return conv._conv_forward(x, weight, bias)


def leaky_relu_backward(grad: Tensor, x: Tensor, slope: float) -> Tensor:
    """The input gradient of ``leaky_relu(x, slope)`` (``torch.ops.aten.leaky_relu_backward``)."""
    return torch.ops.aten.leaky_relu_backward(grad, x, slope, False)


def adam_init_group_args(cls: type) -> tuple[str, ...]:
    """The parameter names of ``cls._init_group`` after ``self`` (Adam's private list gatherer)."""
    import inspect

    return tuple(inspect.signature(cls._init_group).parameters)[1:]  # type: ignore[attr-defined]


def version_counter(t: Tensor) -> int:
    """``t``'s in-place version counter (``Tensor._version``): every in-place write increments it."""
    return t._version


def bake_parametrizations(module: nn.Module) -> None:
    """Replace every parametrised tensor of ``module`` by a frozen parameter holding its value and give it
    back its own class, in place: on a deep copy only (torch's ``remove_parametrizations`` would delete the
    property from the injected class, which a deep copy shares with the original)."""
    values = {name: getattr(module, name).detach().clone() for name in module.parametrizations}
    del module._modules["parametrizations"]
    module.__class__ = module.__class__.__bases__[0]
    for name, value in values.items():
        module.register_parameter(name, nn.Parameter(value, requires_grad=False))


def inductor_config() -> ModuleType:
    """``torch._inductor.config`` (imported on first use: it is only needed by ``compile_scoring``)."""
    import torch._inductor.config as config

    return config


def mkldnn_bf16() -> bool:
    """``torch.ops.mkldnn._is_mkldnn_bf16_supported()``: oneDNN has bfloat16 kernels on this CPU."""
    return torch.ops.mkldnn._is_mkldnn_bf16_supported()


def cpu_bf16_flags() -> list[bool]:
    """The answers of ``torch.cpu``'s :data:`CPU_BF16_FLAGS` (AVX-512 BF16, AMX)."""
    return [getattr(torch.cpu, name)() for name in CPU_BF16_FLAGS]


def dispatch_mode_class() -> type:
    """``torch.utils._python_dispatch.TorchDispatchMode``."""
    from torch.utils._python_dispatch import TorchDispatchMode

    return TorchDispatchMode
