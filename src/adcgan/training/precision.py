"""The arithmetic of training steps: fp32 (default) or bf16 mixed precision (``DetectorConfig.precision``).

With ``bf16`` the fit loop's epochs run under :func:`torch.autocast` with ``torch.bfloat16``:
convolutions, transposed convolutions and matrix products take bfloat16 inputs (8-bit mantissa) and
accumulate in fp32; weights, gradients, optimiser state and scoring stay fp32, and checkpoints are the
same fp32 state_dicts. Loss functions marked :func:`fp32_loss` (AD-CGAN's Eq. 1-3 and 6) run in fp32 on
fp32 copies of their inputs, as CUDA's autocast does for its losses. bfloat16 keeps fp32's exponent
range, so no loss scaling is needed. It changes the arithmetic (a step is not the fp32 step up to
rounding), so it is a named option, off by default (issue 9). The hardware for it: CPUs with AMX or
AVX-512 (oneDNN), CUDA GPUs with bf16 (compute capability 8.0+).
"""
from __future__ import annotations

import contextlib
import functools
from typing import Any, Callable, ContextManager, TypeVar

import torch

from adcgan import torch_compat

F = TypeVar("F", bound=Callable[..., Any])

PRECISIONS = ("fp32", "bf16")
"""The values of ``DetectorConfig.precision``."""

_DTYPES = {"bf16": torch.bfloat16}


def bf16_support(device: torch.device) -> str | None:
    """``None`` when bf16 training runs on ``device``, else one sentence saying why it does not."""
    if device.type == "cuda":
        return None if torch.cuda.is_bf16_supported() else \
            f"the GPU {torch.cuda.get_device_name(device)} has no bfloat16 support"
    if device.type == "cpu":
        if not torch.backends.mkldnn.is_available():
            return "this torch has no oneDNN, whose kernels bf16 training on the CPU needs"
        kernels = torch_compat.mkldnn_bf16_supported()
        if kernels is None:
            return f"torch {torch.__version__} does not say whether oneDNN has bfloat16 kernels on this CPU"
        return None if kernels else "this CPU has no bfloat16 kernels in oneDNN (they need AVX-512 or AMX)"
    return f"bf16 training is implemented for cpu and cuda devices, not {device.type}"


def bf16_native(device: torch.device) -> bool:
    """Whether ``device`` multiplies bfloat16 in hardware (CUDA; CPUs with AVX-512 BF16 or AMX). Elsewhere
    oneDNN converts to fp32 around each product, and bf16 training is likely slower than fp32."""
    if device.type == "cuda":
        return True
    return device.type == "cpu" and torch_compat.cpu_bf16_native()


def check_precision(precision: str, device: torch.device) -> None:
    """Raise ``ValueError`` with one clear message when ``precision`` cannot train on ``device`` (its value
    is already one of :data:`PRECISIONS`: ``DetectorConfig.validate``)."""
    if precision == "bf16":
        why = bf16_support(device)
        if why is not None:
            raise ValueError(f"precision=bf16 cannot train here: {why}; use precision=fp32")


def step_autocast(precision: str, device: torch.device) -> ContextManager[object]:
    """The autocast context a training step runs in: bf16 autocast on ``device``, or nothing for fp32."""
    if precision == "fp32":
        return contextlib.nullcontext()
    # No cast cache: autocast would keep one bfloat16 copy of each leaf weight for the whole context, and
    # the optimiser steps inside it update the weights in place (the copies would go stale).
    return torch.autocast(device.type, dtype=_DTYPES[precision], cache_enabled=False)


def fp32_loss(fn: F) -> F:
    """Run the loss ``fn`` in fp32: its tensor arguments cast to float32 and autocast off inside.

    Under fp32 training this changes nothing (``Tensor.float()`` returns the tensor itself); under
    bf16 autocast the log-sum-exps, softplus and means of the loss see fp32 values instead of bfloat16.
    """
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        tensors = [a for a in args if isinstance(a, torch.Tensor)]
        if not tensors or not torch.is_autocast_enabled(tensors[0].device.type):
            return fn(*args, **kwargs)
        cast = [a.float() if isinstance(a, torch.Tensor) and a.is_floating_point() else a for a in args]
        with torch.autocast(tensors[0].device.type, enabled=False):
            return fn(*cast, **kwargs)
    return wrapper  # type: ignore[return-value]
