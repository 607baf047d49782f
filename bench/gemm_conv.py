"""Layer by layer: PyTorch's (oneDNN) convolution against :func:`adcgan.nets.gemm.conv_as_matmul`.

For every convolution of AD-CGAN's encoder and critic at each geometry (shapes from a forward pass),
times forward + backward (input and weight gradients) at batch 32 in channels-last memory on both
paths, in alternating rounds, and prints ms, GFLOP/s, which path the training layer takes
(``SMALL_OUTPUT_PIXELS``) and the fp32 GEMM rate measured in the same run. This is how the
threshold was chosen.

    python bench/gemm_conv.py --threads 2
"""
from __future__ import annotations

import statistics
import time

import torch
import torch.nn.functional as F

from adcgan.bench.machine import BENCH_GEOMETRIES, gemm_flops_per_s, layer_bench_args
from adcgan.detectors.adcgan.networks import Critic, Encoder
from adcgan.nets.gemm import SMALL_OUTPUT_PIXELS, conv_as_matmul


def conv_shapes(geometry: tuple[int, int, int]) -> list[tuple[str, torch.nn.Conv2d, tuple[int, ...]]]:
    """(network, conv, input shape) for every Conv2d of E and the critic, from one forward of batch 1."""
    found = []
    for name, net in (("E", Encoder(geometry, 100)), ("D", Critic(geometry))):
        hooks = [m.register_forward_hook(lambda m, i, o, n=name: found.append((n, m, tuple(i[0].shape))))
                 for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
        with torch.no_grad():
            net.eval()(torch.rand(1, geometry[2], geometry[0], geometry[1]))
        for h in hooks:
            h.remove()
    return found


def time_pair(conv: torch.nn.Conv2d, shape: tuple[int, ...], batch: int, rounds: int, reps: int) -> tuple[float, float]:
    """Median seconds of forward + backward on oneDNN and as a matrix product."""
    cl = torch.channels_last
    x = torch.randn(batch, *shape[1:]).contiguous(memory_format=cl).requires_grad_(True)
    w = conv.weight.detach().clone().contiguous(memory_format=cl).requires_grad_(True)
    b = conv.bias.detach().clone().requires_grad_(True)
    runs = {"onednn": lambda: F.conv2d(x, w, b, conv.stride, conv.padding),
            "gemm": lambda: conv_as_matmul(x, w, b, conv.stride, conv.padding)}
    g = torch.randn_like(runs["onednn"]())
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(rounds):
        for k, f in runs.items():
            f().backward(g)  # warm-up of this round
            t0 = time.perf_counter()
            for _ in range(reps):
                f().backward(g)
            times[k].append((time.perf_counter() - t0) / reps)
    return statistics.median(times["onednn"]), statistics.median(times["gemm"])


def main() -> None:
    """Parse flags and print one line per layer."""
    a = layer_bench_args(__doc__, batch=32)
    print(f"fp32 GEMM 2048^2: {gemm_flops_per_s(2048) / 1e9:.1f} GFLOP/s | batch {a.batch}")
    for geo in a.geometries.split(","):
        for net, conv, shape in conv_shapes(BENCH_GEOMETRIES[int(geo)]):
            t_dnn, t_mm = time_pair(conv, shape, a.batch, a.rounds, a.reps)
            with torch.no_grad():
                out = conv(torch.zeros(1, *shape[1:])).shape
            flops = 3 * 2 * a.batch * out[1] * out[2] * out[3] * conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1]
            path = "gemm" if out[2] * out[3] <= SMALL_OUTPUT_PIXELS else "onednn"
            print(f"{geo}x{geo} {net} {conv.in_channels:4d}->{conv.out_channels:4d} k{conv.kernel_size[0]} "
                  f"s{conv.stride[0]} in {shape[2]:2d}x{shape[3]:<2d} out {out[2]}x{out[3]}: oneDNN {t_dnn * 1e3:7.1f} ms "
                  f"({flops / t_dnn / 1e9:6.1f} GFLOP/s), product {t_mm * 1e3:7.1f} ms ({flops / t_mm / 1e9:6.1f} "
                  f"GFLOP/s); training layer uses {path}", flush=True)


if __name__ == "__main__":
    main()
