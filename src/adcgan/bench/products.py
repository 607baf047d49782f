"""Where a step's time goes: its matrix products replayed one by one, alone.

A training step (or a scoring batch) runs hundreds of operations; the GEMM ceiling that
``bench/speed.py`` divides by assumes all of its FLOPs run at the rate of one large square
``sgemm``. This module separates the two things that keep a step below that ceiling:

* how fast the *products* themselves run at their own shapes (convolutions, their backward
  passes, ``mm``/``addmm``/``bmm``): :func:`record_products` captures every product call of a
  function with its argument shapes, strides and dtypes, and :func:`time_products` replays each
  distinct call alone on fresh tensors of the same layout (best of ``repeats``) and counts its FLOPs;
* everything else (element-wise work, normalisation, the optimiser, Python): the measured step
  minus the products' time.

``products_summary`` turns both into the bound that the product kernels alone set: even if the
rest of the step took no time, the step could run at most at ``product_fraction`` of the GEMM
ceiling. ``bench/roofline.py`` prints it per geometry.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from adcgan import torch_compat
from adcgan.bench.machine import sync

_aten = torch.ops.aten
PRODUCT_OPS = frozenset({_aten.convolution.default, _aten.convolution_backward.default, _aten.mm.default,
                         _aten.addmm.default, _aten.bmm.default, _aten.baddbmm.default})


@dataclass(frozen=True)
class TensorSpec:
    """A tensor's layout without its values: enough to replay an operation on fresh data."""

    shape: tuple[int, ...]
    stride: tuple[int, ...]
    dtype: torch.dtype
    device: str

    @classmethod
    def of(cls, t: torch.Tensor) -> "TensorSpec":
        return cls(tuple(t.shape), tuple(t.stride()), t.dtype, str(t.device))

    def make(self) -> torch.Tensor:
        """A tensor of this layout filled with standard-normal values (floats) or zeros."""
        t = torch.empty_strided(self.shape, self.stride, dtype=self.dtype, device=self.device)
        return t.normal_() if t.is_floating_point() else t.zero_()

    def __str__(self) -> str:
        return "x".join(map(str, self.shape))


@dataclass
class ProductCall:
    """One distinct product call of a step: its operation, arguments (tensors as :class:`TensorSpec`),
    how often the step made it, and (after :func:`time_products`) FLOPs and seconds per call."""

    op: Any
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    count: int = 1
    flops: int = 0
    seconds: float = 0.0

    def materialise(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The call's arguments with every :class:`TensorSpec` made into a tensor."""
        make = lambda a: a.make() if isinstance(a, TensorSpec) else a  # noqa: E731
        return tuple(make(a) for a in self.args), {k: make(v) for k, v in self.kwargs.items()}

    def describe(self) -> str:
        """``op name: input shapes`` (the tensors, in argument order)."""
        shapes = " ".join(str(a) for a in self.args if isinstance(a, TensorSpec))
        return f"{self.op.__name__.split('.')[0]} {shapes}"


def _spec(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return TensorSpec.of(value)
    if isinstance(value, list):
        return tuple(_spec(v) for v in value)
    return value


class _Recorder(torch_compat.dispatch_mode_base()):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.calls: dict[tuple[Any, ...], ProductCall] = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        if func in PRODUCT_OPS:
            args_s, kwargs_s = tuple(_spec(a) for a in args), {k: _spec(v) for k, v in kwargs.items()}
            key = (func, args_s, tuple(sorted(kwargs_s.items())))
            if key in self.calls:
                self.calls[key].count += 1
            else:
                self.calls[key] = ProductCall(func, args_s, kwargs_s)
        return func(*args, **kwargs)


def record_products(fn: Callable[[], Any]) -> list[ProductCall]:
    """Run ``fn()`` once and return its distinct product calls, with how often each was made."""
    recorder = _Recorder()
    with recorder:
        fn()
    return list(recorder.calls.values())


def time_products(calls: list[ProductCall], repeats: int = 5) -> None:
    """Fill each call's FLOPs (``torch.utils.flop_counter``) and its best time over ``repeats``
    replays alone, after one warm-up replay, on fresh tensors of the recorded layouts."""
    if repeats < 1:
        raise ValueError("repeats must be >= 1")
    for call in calls:
        args, kwargs = call.materialise()
        device = next((a.device for a in args if isinstance(a, torch.Tensor)), torch.device("cpu"))
        # the recorded dtypes are the ones the kernels saw: no autocast over them again
        with torch.no_grad(), torch.autocast(device.type, enabled=False):
            with FlopCounterMode(display=False) as counter:
                call.op(*args, **kwargs)  # also the warm-up
            call.flops = int(counter.get_total_flops())
            best = float("inf")
            for _ in range(repeats):
                sync(device)
                t0 = time.perf_counter()
                call.op(*args, **kwargs)
                sync(device)
                best = min(best, time.perf_counter() - t0)
            call.seconds = best


def products_summary(calls: list[ProductCall], step_seconds: float, flops_per_s: float) -> dict[str, float]:
    """Totals of one step: product FLOPs and seconds (each call times its count), the products' rate
    as a fraction of ``flops_per_s`` (the bound the product kernels set), the step's own fraction,
    and the seconds of everything that is not a product (``step_seconds`` minus the products)."""
    if step_seconds <= 0 or flops_per_s <= 0:
        raise ValueError("step_seconds and flops_per_s must be > 0")
    flops = sum(c.flops * c.count for c in calls)
    seconds = sum(c.seconds * c.count for c in calls)
    return {"product_gflop": flops / 1e9, "product_ms": seconds * 1e3, "step_ms": step_seconds * 1e3,
            "rest_ms": (step_seconds - seconds) * 1e3,
            "product_fraction": flops / seconds / flops_per_s if seconds > 0 else 0.0,
            "step_fraction": flops / step_seconds / flops_per_s}
