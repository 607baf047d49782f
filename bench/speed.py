"""Training and scoring throughput (images/s) of each detector and geometry on this machine.

Prints one line per (detector, geometry): train images/s over timed steps of batch 32
(after warm-up steps) and score images/s in batches of 256 under no_grad/eval.

    python bench/speed.py                       # AD-CGAN, all geometries, 2 threads
    python bench/speed.py --geometries 28 --threads 2 --channels-last
    python bench/speed.py --detectors adcgan,alad --device cuda
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from adcgan.registry import create_detector, list_detectors

GEOMETRIES = {28: (28, 28, 1), 32: (32, 32, 3), 64: (64, 64, 3)}


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def time_train(det, geometry, steps: int, warmup: int) -> float:
    """Images/s of ``det.train_step`` on random batches (main phase, not AE warm-up)."""
    h, w, c = geometry
    x = torch.rand(det.config.batch_size, c, h, w, device=det.device)
    det.set_train(True)
    for _ in range(warmup):
        det.train_step(x, epoch=det.config.warmup_epochs)
    _sync(det.device)
    t0 = time.perf_counter()
    for _ in range(steps):
        det.train_step(x, epoch=det.config.warmup_epochs)
    _sync(det.device)
    return steps * len(x) / (time.perf_counter() - t0)


def time_score(det, geometry, n: int, batch: int, repeats: int = 1) -> float:
    """Median images/s of ``score_samples`` on ``n`` random uint8 images over ``repeats`` passes."""
    h, w, c = geometry
    x = torch.randint(0, 256, (n, c, h, w), dtype=torch.uint8)
    det.score_samples(x[:batch], batch_size=batch)  # warm-up (builds the inference copies)
    rates = []
    for _ in range(repeats):
        _sync(det.device)
        t0 = time.perf_counter()
        det.score_samples(x, batch_size=batch)
        _sync(det.device)
        rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates)


def score_rates(det, geometry, args) -> dict[str, float]:
    """Scoring images/s: default path, reference (training modules) and, with --compile, compiled."""
    g, n, b, r = geometry, args.score_images, args.score_batch, args.repeats
    row = {"score_images_per_s": round(time_score(det, g, n, b, r), 1)}
    if det.inference_scoring:
        det.config.fast_scoring = False
        row["score_reference_images_per_s"] = round(time_score(det, g, n, b, r), 1)
        det.config.fast_scoring = True
        if args.compile:
            det.config.compile_scoring = True
            t0 = time.perf_counter()
            det.score_samples(torch.zeros(1, g[2], g[0], g[1], dtype=torch.uint8), batch_size=b)  # compiles
            row["compile_seconds"] = round(time.perf_counter() - t0, 1)
            row["score_compiled_images_per_s"] = round(time_score(det, g, n, b, r), 1)
            det.config.compile_scoring = False
    return row


def main() -> None:
    """Parse flags, run, print a table and a JSON line per row."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--detectors", default="adcgan")
    p.add_argument("--geometries", default="28,32,64")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup-steps", type=int, default=3)
    p.add_argument("--score-images", type=int, default=1024)
    p.add_argument("--score-batch", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3, help="timed scoring passes (median reported)")
    p.add_argument("--compile", action="store_true", help="also time the torch.compile'd scoring pass")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    names = list_detectors() if args.detectors == "all" else args.detectors.split(",")
    print(f"torch {torch.__version__}, device {args.device}, threads {torch.get_num_threads()}, "
          f"batch {args.batch_size}, {args.steps} timed steps")
    for name in names:
        for g in (int(v) for v in args.geometries.split(",")):
            det = create_detector(name, device=args.device, batch_size=args.batch_size, warmup_epochs=0, epochs=1)
            det._build(GEOMETRIES[g])
            tr = time_train(det, GEOMETRIES[g], args.steps, args.warmup_steps)
            row = {"detector": name, "geometry": "x".join(map(str, GEOMETRIES[g])), "device": args.device,
                   "threads": args.threads, "train_images_per_s": round(tr, 1)}
            row.update(score_rates(det, GEOMETRIES[g], args))
            line = (f"{name:9s} {row['geometry']:9s} train {tr:8.1f} img/s   score {row['score_images_per_s']:8.1f}"
                    " img/s" + "".join(f"   {k.removeprefix('score_').removesuffix('_images_per_s')} {v:8.1f}"
                                       for k, v in row.items() if k.endswith("images_per_s")
                                       and k not in ("train_images_per_s", "score_images_per_s")))
            print(line)
            print(json.dumps(row))


if __name__ == "__main__":
    main()
