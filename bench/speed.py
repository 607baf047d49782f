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


def time_score(det, geometry, n: int, batch: int) -> float:
    """Images/s of ``score_samples`` on ``n`` random uint8 images."""
    h, w, c = geometry
    x = torch.randint(0, 256, (n, c, h, w), dtype=torch.uint8)
    det.score_samples(x[:batch], batch_size=batch)  # warm-up
    _sync(det.device)
    t0 = time.perf_counter()
    det.score_samples(x, batch_size=batch)
    _sync(det.device)
    return n / (time.perf_counter() - t0)


def time_compiled(det, geometry, n: int, batch: int) -> dict[str, float]:
    """Compile time (first call) and images/s of the ``compile_scoring`` pass."""
    h, w, c = geometry
    det.config.compile_scoring = True
    t0 = time.perf_counter()
    det.score_samples(torch.zeros(1, c, h, w, dtype=torch.uint8), batch_size=batch)  # compiles
    compile_s = time.perf_counter() - t0
    return {"compile_seconds": round(compile_s, 1),
            "score_compiled_images_per_s": round(time_score(det, geometry, n, batch), 1)}


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
            sc = time_score(det, GEOMETRIES[g], args.score_images, args.score_batch)
            row = {"detector": name, "geometry": "x".join(map(str, GEOMETRIES[g])), "device": args.device,
                   "threads": args.threads, "train_images_per_s": round(tr, 1), "score_images_per_s": round(sc, 1)}
            line = f"{name:9s} {row['geometry']:9s} train {tr:8.1f} img/s   score {sc:8.1f} img/s"
            if args.compile and det.supports_compile:
                row.update(time_compiled(det, GEOMETRIES[g], args.score_images, args.score_batch))
                line += f"   compiled score {row['score_compiled_images_per_s']:8.1f} img/s"
            print(line)
            print(json.dumps(row))


if __name__ == "__main__":
    main()
