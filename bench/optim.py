"""One optimiser step per network: torch's fused AdamW against :class:`adcgan.training.optim.AdamW`.

For AD-CGAN's four networks at each geometry (channels-last weights, as training holds them), times the
fused AdamW step of torch and of adcgan (flat views, no copies) in alternating rounds, and prints ms per
step and the bytes the update must stream (parameter and two moments read and written, the gradient
read) as a rate.

    python bench/optim.py --threads 2
"""
from __future__ import annotations

import statistics
import time

import torch

from adcgan.bench.machine import BENCH_GEOMETRIES, layer_bench_args
from adcgan.detectors.adcgan.networks import Critic, Encoder, Generator, LatentDiscriminator
from adcgan.training.optim import AdamW


def networks(geometry: tuple[int, int, int]) -> dict[str, torch.nn.Module]:
    """E, G, D and Dz of one geometry in channels-last memory (latent size as the detector's default)."""
    z = 200 if geometry[0] == 64 else 100
    nets = {"E": Encoder(geometry, z), "G": Generator(geometry, z), "D": Critic(geometry), "Dz": LatentDiscriminator(z)}
    return {k: n.to(memory_format=torch.channels_last) for k, n in nets.items()}


def time_steps(net: torch.nn.Module, rounds: int, reps: int) -> dict[str, float]:
    """Median seconds per fused step of torch's AdamW and adcgan's, on random gradients."""
    params = list(net.parameters())
    for p in params:
        p.grad = torch.randn_like(p)
    opts = {"torch": torch.optim.AdamW(params, 1e-4, (0.5, 0.999), weight_decay=1e-4, fused=True),
            "adcgan": AdamW(params, 1e-4, (0.5, 0.999), weight_decay=1e-4, fused=True)}
    times: dict[str, list[float]] = {k: [] for k in opts}
    for _ in range(rounds):
        for k, opt in opts.items():
            opt.step()  # warm-up of this round (creates the moments on the first)
            t0 = time.perf_counter()
            for _ in range(reps):
                opt.step()
            times[k].append((time.perf_counter() - t0) / reps)
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    """Parse flags and print one line per network."""
    a = layer_bench_args(__doc__)
    for geo in a.geometries.split(","):
        for name, net in networks(BENCH_GEOMETRIES[int(geo)]).items():
            n = sum(q.numel() for q in net.parameters())
            t = time_steps(net, a.rounds, a.reps)
            streamed = 4 * n * 7  # bytes: param, exp_avg, exp_avg_sq read + written, grad read
            print(f"{geo}x{geo} {name:2s} {n / 1e6:6.2f} M weights: torch {t['torch'] * 1e3:7.2f} ms "
                  f"({streamed / t['torch'] / 1e9:5.1f} GB/s), adcgan {t['adcgan'] * 1e3:7.2f} ms "
                  f"({streamed / t['adcgan'] / 1e9:5.1f} GB/s), x{t['torch'] / t['adcgan']:.2f}", flush=True)


if __name__ == "__main__":
    main()
