"""What a speed figure needs beside it: the machine, its measured fp32 GEMM rate, the work done.

Absolute images/s do not carry over between CPUs (an AVX-512 Xeon and an AVX2 EPYC differ by
2x), so ``bench/speed.py`` reports every rate also as a fraction of the ceiling implied by the
fp32 matrix-product rate measured in the same process, with the same threads:

    ceiling (images/s) = GEMM FLOP/s / FLOPs per image;   fraction = measured / ceiling.

FLOPs are counted by ``torch.utils.flop_counter`` (convolutions, transposed convolutions and
matrix products, forward and backward; element-wise work is not counted, so 100 % is an upper
bound that a real step cannot reach).
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any, Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from adcgan.training.runtime import cpu_model, cpuinfo

# The geometries the bench scripts time, by side: (H, W, C) of AD-CGAN's three network tables.
BENCH_GEOMETRIES = {28: (28, 28, 1), 32: (32, 32, 3), 64: (64, 64, 3)}
ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "amx_bf16", "neon", "asimd")
"""The instruction-set flags that decide oneDNN's fp32 kernels (reported when present)."""


def parse_geometries(text: str) -> list[int]:
    """``"28,32"`` -> ``[28, 32]``; ``ValueError`` naming every entry that is not a key of :data:`BENCH_GEOMETRIES`."""
    items = text.split(",")
    bad = [g for g in items if not g.strip().isdigit() or int(g) not in BENCH_GEOMETRIES]
    if bad:
        raise ValueError(f"--geometries: {','.join(bad)} not among {','.join(map(str, BENCH_GEOMETRIES))}")
    return [int(g) for g in items]


def machine_info(device: str = "cpu") -> dict[str, Any]:
    """CPU model, ISA flags, logical CPUs, torch threads and version, and the GPU when ``device`` is CUDA."""
    info = cpuinfo()
    flags = set((info.get("flags") or info.get("Features") or "").split())
    out: dict[str, Any] = {"cpu": cpu_model(),
                           "isa": [f for f in ISA_FLAGS if f in flags], "logical_cpus": os.cpu_count(),
                           "torch_threads": torch.get_num_threads(), "torch": torch.__version__}
    if device.startswith("cuda") and torch.cuda.is_available():
        out["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return out


def sync(device: torch.device) -> None:
    """Wait for queued CUDA work on ``device`` (no-op on CPU), so that a timer reads finished work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def gemm_flops_per_s(n: int = 2048, repeats: int = 5, device: str = "cpu",
                     dtype: torch.dtype = torch.float32) -> float:
    """Median FLOP/s of an ``n x n @ n x n`` product (2 n^3 FLOPs) in ``dtype`` over ``repeats`` timings.

    One untimed product comes first (thread pool and kernel selection); the current torch thread
    setting applies, so call it with the threads the measured work uses. fp32 sets the ceiling of
    every figure; bfloat16 (``precision=bf16`` training) the ceiling of its convolutions and products.
    """
    dev = torch.device(device)
    a, b = torch.randn(n, n, device=dev, dtype=dtype), torch.randn(n, n, device=dev, dtype=dtype)
    torch.mm(a, b)
    rates = []
    for _ in range(repeats):
        sync(dev)
        t0 = time.perf_counter()
        torch.mm(a, b)
        sync(dev)
        rates.append(2.0 * n ** 3 / (time.perf_counter() - t0))
    return statistics.median(rates)


def copy_bytes_per_s(megabytes: int = 256, repeats: int = 5, device: str = "cpu") -> float:
    """Median memory rate (bytes read + written per second) of copying one fp32 buffer into another.

    The buffers (``megabytes`` each) are far larger than the caches on most machines, so this is
    the rate a kernel that streams over large arrays (an optimiser step) can reach at best.
    """
    dev = torch.device(device)
    n = megabytes * 2 ** 20 // 4
    src, dst = torch.ones(n, device=dev), torch.zeros(n, device=dev)
    dst.copy_(src)
    rates = []
    for _ in range(repeats):
        sync(dev)
        t0 = time.perf_counter()
        dst.copy_(src)
        sync(dev)
        rates.append(2.0 * 4 * n / (time.perf_counter() - t0))
    return statistics.median(rates)


def count_flops(fn: Callable[[], Any]) -> int:
    """FLOPs of the tensor operations ``fn()`` runs (forward and any backward inside it)."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def ceiling_fraction(images_per_s: float, flops_per_image: float, flops_per_s: float) -> tuple[float, float]:
    """``(ceiling images/s, measured / ceiling)`` for work of ``flops_per_image`` at ``flops_per_s``."""
    if flops_per_image <= 0 or flops_per_s <= 0:
        raise ValueError("flops_per_image and flops_per_s must be > 0")
    ceiling = flops_per_s / flops_per_image
    return ceiling, images_per_s / ceiling


def layer_bench_args(description: str, **extra: Any) -> argparse.Namespace:
    """Flags of the layer-level bench scripts (``--geometries --threads --rounds --reps`` plus ``extra``
    integer flags with their defaults), parsed; torch's thread count set. Prints the machine line."""
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--geometries", default="28,32,64")
    for name, default in {"threads": 2, "rounds": 3, "reps": 3, **extra}.items():
        p.add_argument(f"--{name}", type=int, default=default)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    info = machine_info("cpu")
    print(f"machine: {info['cpu']} | ISA {' '.join(info['isa'])} | torch {info['torch']}, {args.threads} threads")
    return args


def detector_bench_parser(description: str, geometries: str) -> argparse.ArgumentParser:
    """The flags ``bench/speed.py`` and ``bench/roofline.py`` share: ``--geometries --device --threads
    --batch-size --score-batch`` and the repeatable ``--set KEY=VALUE`` detector setting."""
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--geometries", default=geometries)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--score-batch", type=int, default=256)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a detector setting for every detector timed, e.g. variant=plus (repeatable)")
    return p


def parse_detector_bench_args(p: argparse.ArgumentParser) -> argparse.Namespace:
    """``p``'s flags parsed, ``--geometries`` checked into ``geometry_list`` (a bad entry: one error, exit 2),
    torch's thread count set."""
    args = p.parse_args()
    try:
        args.geometry_list = parse_geometries(args.geometries)
    except ValueError as exc:
        p.error(str(exc))
    torch.set_num_threads(args.threads)
    return args


def finish_fit(det: Any, geometry: tuple[int, int, int], n: int = 256) -> None:
    """What ``fit`` ends with, on ``n`` random images: ``after_fit`` (e.g. adcgan+'s KNN bank, precise BN)
    and the calibration of the score components (adcgan+'s ``combine=mixed`` needs it)."""
    h, w, c = geometry
    x = torch.randint(0, 256, (n, c, h, w), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    det.after_fit(x)
    det.calibrate(x)
