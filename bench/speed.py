"""Training and scoring throughput (images/s) of each detector and geometry on this machine.

Prints the machine (CPU model, ISA flags, threads, GPU), the fp32 GEMM rate measured in the same
run (before and after the timings), then one line per (detector, geometry): train images/s over
timed steps of batch 32 (after warm-up steps) on the fast path and on the plain eager path
(``fast_training=False``, the reference measured side by side in alternating rounds; the fast path runs under
the fit loop's allocator setting, ``training_memory``, the plain path without; both under the fit loop's autocast
with ``--set precision=bf16``, and then also against the bfloat16 GEMM ceiling), score images/s in batches of 256,
the FLOPs per trained and per scored image (``torch.utils.flop_counter``), and each rate as a
fraction of the ceiling the GEMM rate implies (``adcgan.bench.machine``).

    python bench/speed.py                       # AD-CGAN, all geometries, 2 threads
    python bench/speed.py --geometries 28 --threads 2
    python bench/speed.py --detectors adcgan,alad --device cuda
    python bench/speed.py --geometries 32 --set variant=plus     # any detector setting (adcgan+ here)
    python bench/speed.py --geometries 28 --set precision=bf16  # bf16 mixed-precision training
"""
from __future__ import annotations

import json
import statistics
import sys
import time

import torch

from adcgan.bench.machine import (BENCH_GEOMETRIES, ceiling_fraction, copy_bytes_per_s, count_flops,
                                  detector_bench_parser, finish_fit, gemm_flops_per_s, machine_info,
                                  parse_detector_bench_args, sync)
from adcgan.bench.speed_table import render_runs
from adcgan.cli.settings import parse_set
from adcgan.registry import create_detector, list_detectors
from adcgan.training.graphs import GRAPH_WARMUP_STEPS, step_runner
from adcgan.training.loop import training_context

# detectors that optimise per image at test time: (scored images, batch) instead of the flags' values
TEST_TIME_SEARCH = {"adgan": (64, 16)}


def time_train(dets: list, geometry, steps: int, warmup: int, rounds: int = 3) -> list[float]:
    """Median images/s of each detector's training step (main phase, random batch, called as the fit loop
    calls it: :func:`adcgan.training.graphs.step_runner`, so ``--set cuda_graphs=true`` times replayed
    graphs), timed in alternating rounds of ``steps`` steps so that drift of a shared machine hits all alike."""
    h, w, c = geometry
    xs = [torch.rand(d.config.batch_size, c, h, w, device=d.device) for d in dets]
    runs = [step_runner(d) for d in dets]
    for det, run, x in zip(dets, runs, xs):
        det.set_train(True)
        with training_context(det):
            for _ in range(max(warmup, GRAPH_WARMUP_STEPS + 1 if det.config.cuda_graphs else 0)):
                run(x, det.config.warmup_epochs)
    rates: list[list[float]] = [[] for _ in dets]
    for _ in range(rounds):
        for i, (det, run, x) in enumerate(zip(dets, runs, xs)):
            with training_context(det):  # as the fit loop runs its epochs (allocator, precision)
                sync(det.device)
                t0 = time.perf_counter()
                for _ in range(steps):
                    run(x, det.config.warmup_epochs)
                sync(det.device)
            rates[i].append(steps * len(x) / (time.perf_counter() - t0))
    return [statistics.median(r) for r in rates]


def time_score(det, geometry, n: int, batch: int, repeats: int = 1) -> float:
    """Median images/s of ``score_samples`` on ``n`` random uint8 images over ``repeats`` passes."""
    h, w, c = geometry
    x = torch.randint(0, 256, (n, c, h, w), dtype=torch.uint8)
    det.score_samples(x[:batch], batch_size=batch)  # warm-up (builds the inference copies)
    rates = []
    for _ in range(repeats):
        sync(det.device)
        t0 = time.perf_counter()
        det.score_samples(x, batch_size=batch)
        sync(det.device)
        rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates)


def search_state_bytes(det) -> float:
    """Bytes the test-time search's optimiser streams per scored image (fp32): every restart's k
    Adam steps read weights, gradients and both moments of its own copy of G and write three back."""
    numel = sum(w.numel() for w in det.nets["G"].parameters())
    return det.config.n_seed * det.config.k_steps * 7 * 4 * numel


def score_rates(det, geometry, args) -> dict[str, float]:
    """Scoring images/s: default path, reference (training modules) and, with --compile, compiled."""
    n, b = TEST_TIME_SEARCH.get(det.name, (args.score_images, args.score_batch))
    g, r = geometry, args.repeats
    row = {"score_images_per_s": round(time_score(det, g, n, b, r), 2)}
    if det.inference_scoring:
        det.config.fast_scoring = False
        row["score_reference_images_per_s"] = round(time_score(det, g, n, b, r), 2)
        det.config.fast_scoring = True
        if args.compile:
            det.config.compile_scoring = True
            t0 = time.perf_counter()
            det.score_samples(torch.zeros(1, g[2], g[0], g[1], dtype=torch.uint8), batch_size=b)  # compiles
            row["compile_seconds"] = round(time.perf_counter() - t0, 1)
            row["score_compiled_images_per_s"] = round(time_score(det, g, n, b, r), 2)
            det.config.compile_scoring = False
    return row


def flops_per_image(det, geometry) -> tuple[float, float]:
    """(FLOPs per trained image of one main-phase step, FLOPs per scored image)."""
    h, w, c = geometry
    bs = det.config.batch_size
    x = torch.rand(bs, c, h, w, device=det.device)
    det.set_train(True)
    train = count_flops(lambda: det.train_step(x, epoch=det.config.warmup_epochs)) / bs
    xs = torch.randint(0, 256, (bs, c, h, w), dtype=torch.uint8)
    score = count_flops(lambda: det.score_samples(xs, batch_size=bs)) / bs
    return train, score


def measure(name: str, g: int, args, gemm: float) -> dict:
    """One row: rates, FLOPs and fractions of the GEMM ceiling for detector ``name`` at geometry ``g``."""
    geo = BENCH_GEOMETRIES[g]
    row = {"detector": name, "geometry": "x".join(map(str, geo)), "device": args.device, "threads": args.threads,
           "settings": args.settings}
    dets = []
    for fast in (True, False):
        dets.append(create_detector(name, device=args.device, batch_size=args.batch_size, warmup_epochs=0,
                                    epochs=1, fast_training=fast, **args.settings))
        dets[-1].build(geo)
    rates = time_train(dets, geo, args.steps, args.warmup_steps, args.rounds)
    row["train_images_per_s"], row["train_plain_images_per_s"] = (round(r, 2) for r in rates)
    finish_fit(dets[0], geo)
    row.update(score_rates(dets[0], geo, args))
    if name in TEST_TIME_SEARCH:  # memory-bound: the optimiser's stream sets the other ceiling
        row["search_state_mb_per_image"] = round(search_state_bytes(dets[0]) / 1e6, 1)
        row["score_memory_ceiling_images_per_s"], row["score_memory_fraction"] = ceiling_fraction(
            row["score_images_per_s"], search_state_bytes(dets[0]), args.copy_rate)
    ft, fs = flops_per_image(dets[0], geo)
    row.update(train_mflop_per_image=round(ft / 1e6, 1), score_mflop_per_image=round(fs / 1e6, 1))
    if ft > 0:
        row["train_ceiling_images_per_s"], row["train_fraction"] = ceiling_fraction(row["train_images_per_s"], ft, gemm)
        row["train_plain_fraction"] = ceiling_fraction(row["train_plain_images_per_s"], ft, gemm)[1]
        if args.gemm_bf16:
            row["train_bf16_fraction"] = ceiling_fraction(row["train_images_per_s"], ft, args.gemm_bf16)[1]
    if fs > 0:
        row["score_ceiling_images_per_s"], row["score_fraction"] = ceiling_fraction(row["score_images_per_s"], fs, gemm)
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}


def print_row(row: dict) -> None:
    """One readable line, then the JSON row."""
    pct = lambda k: f"{100 * row[k]:5.1f}%" if k in row else "  n/a"  # noqa: E731
    label = row["detector"] + "".join(f" {k}={v}" for k, v in row["settings"].items())
    bf16 = f", {pct('train_bf16_fraction')} of the bf16 one" if "train_bf16_fraction" in row else ""
    print(f"{label:9s} {row['geometry']:9s} train {row['train_images_per_s']:8.1f} img/s "
          f"({pct('train_fraction')} of ceiling{bf16}; plain {row['train_plain_images_per_s']:.1f} = "
          f"{pct('train_plain_fraction')}, fast/plain x{row['train_images_per_s'] / row['train_plain_images_per_s']:.2f})"
          f"   score {row['score_images_per_s']:8.1f} img/s ({pct('score_fraction')})   "
          f"{row['train_mflop_per_image']:.0f} / {row['score_mflop_per_image']:.0f} MFLOP per trained / scored image"
          + (f"; search streams {row['search_state_mb_per_image']:.0f} MB/image = {pct('score_memory_fraction')} "
             "of the memory-copy ceiling" if "score_memory_fraction" in row else ""))
    print(json.dumps(row))


def main() -> None:
    """Parse flags, run, print a table and a JSON line per row."""
    p = detector_bench_parser(__doc__, "28,32,64")
    p.add_argument("--detectors", default="adcgan")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup-steps", type=int, default=3)
    p.add_argument("--score-images", type=int, default=1024)
    p.add_argument("--repeats", type=int, default=3, help="timed scoring passes (median reported)")
    p.add_argument("--compile", action="store_true", help="also time the torch.compile'd scoring pass")
    p.add_argument("--rounds", type=int, default=3, help="alternating timing rounds of fast and plain training")
    p.add_argument("--gemm-size", type=int, default=2048, help="n of the n x n fp32 GEMM that sets the ceiling")
    p.add_argument("--markdown", action="store_true", help="end with docs/speed.md's table of this run "
                   "(adcgan.bench.speed_table; bench/speed_table.py renders saved runs)")
    args = parse_detector_bench_args(p)
    args.settings = parse_set(args.set)
    names = list_detectors() if args.detectors == "all" else args.detectors.split(",")
    info = machine_info(args.device)
    gemm_before = gemm_flops_per_s(args.gemm_size, device=args.device)
    args.copy_rate = copy_bytes_per_s(device=args.device)
    bf16 = args.settings.get("precision") == "bf16"
    args.gemm_bf16 = gemm_flops_per_s(args.gemm_size, device=args.device, dtype=torch.bfloat16) if bf16 else 0.0
    print(f"machine: {info['cpu']} | ISA {' '.join(info['isa']) or 'none found'} | {info['logical_cpus']} logical CPUs"
          f" | torch {info['torch']}, {info['torch_threads']} threads" + (f" | GPU {info['gpu']}" if "gpu" in info else ""))
    print(f"fp32 GEMM {args.gemm_size}^2: {gemm_before / 1e9:.1f} GFLOP/s; batch {args.batch_size}, "
          f"{args.rounds} alternating rounds of {args.steps} timed steps; memory copy {args.copy_rate / 1e9:.1f} GB/s"
          + (f"; bf16 GEMM {args.gemm_bf16 / 1e9:.1f} GFLOP/s (precision=bf16: train fractions of both)" if bf16 else ""))
    rows = []
    for name in names:
        for g in args.geometry_list:
            rows.append(measure(name, int(g), args, gemm_before))
            print_row(rows[-1])  # each row as soon as it is measured
            sys.stdout.flush()
    gemm_after = gemm_flops_per_s(args.gemm_size, device=args.device)
    meta = {"machine": info, "copy_gb_per_s": round(args.copy_rate / 1e9, 1),
            "gemm_gflops_before": round(gemm_before / 1e9, 1), "gemm_gflops_after": round(gemm_after / 1e9, 1),
            **({"gemm_bf16_gflops": round(args.gemm_bf16 / 1e9, 1)} if bf16 else {})}
    print(json.dumps(meta))
    if abs(gemm_after - gemm_before) > 0.1 * gemm_before:
        print(f"warning: the GEMM rate moved from {gemm_before / 1e9:.1f} to {gemm_after / 1e9:.1f} GFLOP/s during the "
              "run (other load on the machine?): the fractions are uncertain by that much")
    if args.markdown:
        print("\n" + render_runs([("this run", rows, meta)]), end="")


if __name__ == "__main__":
    main()
