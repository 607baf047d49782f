"""Where the training step's and the scoring batch's time goes, against the fp32 GEMM ceiling.

For each geometry: the measured step (median of timed steps, fit loop's context) and scoring batch,
then every matrix product of one step replayed alone at its own shapes (``adcgan.bench.products``):
the products' FLOPs and best time, their rate as a fraction of the GEMM rate measured in this run
(the most the step could reach if everything else took no time), the time of everything else, and
the products that cost most, each with its own rate; then a step of a tiny batch (``--small-batch``),
whose time is the part of the step that does not shrink with the batch.

    python bench/roofline.py                                  # AD-CGAN, 28 and 32, 2 threads
    python bench/roofline.py --geometries 64 --steps 2 --top 12
    python bench/roofline.py --set variant=plus --set precision=bf16
"""
from __future__ import annotations

import json
import statistics
import time

import torch

from adcgan.bench.machine import (BENCH_GEOMETRIES, detector_bench_parser, finish_fit, gemm_flops_per_s, machine_info,
                                  parse_detector_bench_args, sync)
from adcgan.bench.products import products_summary, record_products, time_products
from adcgan.cli.settings import parse_set
from adcgan.training.memory import reuse_freed_memory
from adcgan.registry import create_detector
from adcgan.training.loop import training_context


def step_seconds(fn, steps: int, warmup: int, device) -> float:
    """Median seconds of ``fn()`` over ``steps`` timed calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(steps):
        sync(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def report(label: str, fn, seconds: float, args) -> dict:
    """Record ``fn``'s products, replay them, print the summary and the top products; return the row."""
    calls = record_products(fn)
    time_products(calls, args.replays)
    row = {"what": label, **{k: round(v, 3) for k, v in products_summary(calls, seconds, args.gemm).items()}}
    print(f"{label}: {row['step_ms']:.1f} ms = {100 * row['step_fraction']:.1f} % of the GEMM ceiling | products "
          f"{row['product_gflop']:.2f} GFLOP in {row['product_ms']:.1f} ms alone = "
          f"{100 * row['product_fraction']:.1f} % (the bound if the rest were free) | the rest {row['rest_ms']:.1f} ms")
    calls.sort(key=lambda c: -c.seconds * c.count)
    for c in calls[:args.top]:
        rate = c.flops / c.seconds if c.seconds > 0 else 0.0
        print(f"    {c.seconds * c.count * 1e3:7.2f} ms  x{c.count:<2d} {rate / 1e9:7.1f} GFLOP/s "
              f"({100 * rate / args.gemm:5.1f} %)  {c.describe()}")
    print(json.dumps(row))
    return row


def training_step(geo: tuple[int, int, int], batch: int, args):
    """A built detector in training mode and its main-phase step on one random batch."""
    h, w, ch = geo
    det = create_detector(args.detector, device=args.device, batch_size=batch, warmup_epochs=0, epochs=1,
                          **args.settings)
    det.build(geo)
    det.set_train(True)
    x = torch.rand(batch, ch, h, w, device=det.device)
    return det, lambda: det.train_step(x, epoch=det.config.warmup_epochs)


def run_geometry(g: int, args) -> None:
    """The training step's and the scoring batch's rows for geometry ``g``."""
    geo = BENCH_GEOMETRIES[g]
    h, w, ch = geo
    det, step = training_step(geo, args.batch_size, args)
    with training_context(det):  # the fit loop's allocator and precision, for the step and the replays
        seconds = step_seconds(step, args.steps, args.warmup_steps, det.device)
        row = report(f"{args.detector} {h}x{w}x{ch} train step (batch {args.batch_size})", step, seconds, args)
    if args.small_batch:  # what does not shrink with the batch: per-op and Python cost, weight-sized work
        small, small_step = training_step(geo, args.small_batch, args)
        with training_context(small):
            fixed = step_seconds(small_step, args.steps, args.warmup_steps, small.device)
        share = 100 * fixed * 1e3 / row["step_ms"]
        print(f"    a batch-{args.small_batch} step: {fixed * 1e3:.1f} ms = {share:.0f} % "
              f"of the batch-{args.batch_size} step ({args.small_batch / args.batch_size:.0%} of its images)")
    finish_fit(det, geo)  # what fit ends with (adcgan+'s KNN bank and calibration) on random images
    xs = torch.randint(0, 256, (args.score_batch, ch, h, w), dtype=torch.uint8)
    score = lambda: det.score_samples(xs, batch_size=args.score_batch)  # noqa: E731
    seconds = step_seconds(score, args.steps, 1, det.device)
    with reuse_freed_memory(det.device.type == "cpu"):  # the products replayed under scoring's allocator setting
        report(f"{args.detector} {h}x{w}x{ch} score batch ({args.score_batch})", score, seconds, args)


def main() -> None:
    """Parse flags, print the machine and the GEMM rate, then each geometry's rows."""
    p = detector_bench_parser(__doc__, "28,32")
    p.add_argument("--detector", default="adcgan")
    p.add_argument("--steps", type=int, default=5, help="timed steps (median reported)")
    p.add_argument("--warmup-steps", type=int, default=2)
    p.add_argument("--replays", type=int, default=5, help="replays of each product (best reported)")
    p.add_argument("--small-batch", type=int, default=2, help="also time a step of this batch (0: skip)")
    p.add_argument("--top", type=int, default=8, help="products listed per row, costliest first")
    args = parse_detector_bench_args(p)
    args.settings = parse_set(args.set)
    info = machine_info(args.device)
    args.gemm = gemm_flops_per_s(device=args.device)
    print(f"machine: {info['cpu']} | ISA {' '.join(info['isa']) or 'none found'} | torch {info['torch']}, "
          f"{info['torch_threads']} threads | fp32 GEMM 2048^2 {args.gemm / 1e9:.1f} GFLOP/s")
    for g in args.geometry_list:
        run_geometry(int(g), args)
    after = gemm_flops_per_s(device=args.device)
    print(f"fp32 GEMM after: {after / 1e9:.1f} GFLOP/s" + (" (moved > 10 %: fractions uncertain by that much)"
                                                           if abs(after - args.gemm) > 0.1 * args.gemm else ""))


if __name__ == "__main__":
    main()
