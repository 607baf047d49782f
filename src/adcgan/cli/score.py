"""``adcgan score`` (images -> CSV, anomaly maps) and ``adcgan export`` (model -> ONNX).

Exit codes of ``score``: 0 every image scored; 1 some could not be read (they are named on
stderr and have an empty score and an ``error`` in the CSV); 2 a usage error (nothing to
score, a bad model, an existing output file) or, with ``--strict``, the first unreadable
image (then no CSV is written).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable, TextIO

import numpy as np

STDOUT = "-"


MAP_KINDS = ("residual", "occlusion")
"""The kinds of ``adcgan score --maps`` (:mod:`adcgan.evaluation.maps`); the first is the default."""


def add_score_parsers(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add the ``score`` and ``export`` subcommands to ``sub`` (``common``: the shared flags)."""
    s = sub.add_parser("score", help="score image files or folders with a saved model; writes a CSV")
    s.add_argument("--model", required=True, help="model folder (or a run folder containing model/)")
    s.add_argument("paths", nargs="+", help="image files and/or folders (recursed)")
    s.add_argument("--csv", default=STDOUT, help="output CSV (refuses to overwrite); '-' or absent: stdout, "
                   "with every other message on stderr")
    s.add_argument("--strict", action="store_true", help="stop at the first unreadable image (exit 2, no CSV)")
    s.add_argument("--maps", metavar="DIR", help="also write one anomaly-map PNG per image, painted over the "
                   "image (never overwrites)")
    s.add_argument("--map-kind", choices=MAP_KINDS, default=MAP_KINDS[0],
                   help="residual: |x - G(E(x))| (detectors that reconstruct; default); occlusion: how much of "
                   "the score each region carries, for every detector (about 50 scorings per image)")
    common(s)
    e = sub.add_parser("export", help="export a saved model's scoring graph to ONNX (pip install adcgan[onnx])")
    e.add_argument("--model", required=True, help="model folder (or a run folder containing model/)")
    e.add_argument("--out", required=True, help="output .onnx file (refuses to overwrite)")
    e.add_argument("--opset", type=int, default=18, help="ONNX opset (default 18)")
    e.add_argument("--quiet", action="store_true", help="no summary line")


def _load_model(path: str, device: str | None) -> Any:
    from adcgan.detectors.base import BaseDetector
    from adcgan.detectors.checkpoint import model_folder

    return BaseDetector.load(model_folder(path), device=device)


def _load_images(args: argparse.Namespace, det: Any) -> tuple[np.ndarray, list[str], dict[str, str]]:
    """Readable images, every entry in order, and ``{entry: reason}`` of those that failed."""
    from adcgan.data import DataError, load_image_files, load_image_files_partial

    paths, geometry = [Path(p) for p in args.paths], tuple(det.geometry)
    if args.strict:
        images, ids = load_image_files(paths, geometry, det.preprocess)
        return images, ids, {}
    images, entries, errors = load_image_files_partial(paths, geometry, det.preprocess)
    if not any(Path(e).is_file() for e in entries):
        raise DataError("nothing to score: " + "; ".join(errors.values()))
    for entry, reason in errors.items():
        print(f"adcgan: not scored: {reason if entry in reason else f'{entry}: {reason}'}", file=sys.stderr)
    return images, entries, errors


def _expand(comps: dict[str, np.ndarray], entries: list[str], errors: dict[str, str],
            names: list[str]) -> dict[str, np.ndarray]:
    """Scores of the readable images spread over every entry (NaN where an entry failed)."""
    ok = np.array([e not in errors for e in entries], dtype=bool)
    full = {}
    for k in comps or {n: None for n in names}:
        full[k] = np.full(len(entries), np.nan)
        if comps:
            full[k][ok] = comps[k]
    return full


def cmd_score(args: argparse.Namespace) -> int:
    """``adcgan score``: model + images -> CSV (id, score, components, anomaly flag, error)."""
    from adcgan.evaluation.report import write_scores_csv

    out = None if args.csv == STDOUT else Path(args.csv)
    if out is not None and out.exists():
        raise FileExistsError(f"{out} already exists; choose another --csv path")
    det = _load_model(args.model, args.device)
    det.config.compile_scoring = bool(args.compile_scoring)
    if args.maps and args.map_kind == "residual":
        from adcgan.evaluation.maps import has_reconstruction, no_maps_error

        if not has_reconstruction(det):
            raise no_maps_error(det)
    images, entries, errors = _load_images(args, det)
    comps = det.score_components(images, batch_size=args.batch_size, progress=not args.quiet) if len(images) else {}
    full = _expand(comps, entries, errors, ["score", *det.active_components()])
    if args.maps:
        _write_maps(Path(args.maps), det, images, [e for e in entries if e not in errors], args)
    if out is not None:
        if out.exists():
            raise FileExistsError(f"{out} appeared while scoring; not overwritten")
        out.parent.mkdir(parents=True, exist_ok=True)
    write_scores_csv(out if out is not None else sys.stdout, entries, None, full, det.threshold, errors)
    _summary(det, full, entries, errors, args, sys.stdout if out is not None else sys.stderr)
    return 1 if errors else 0


def _write_maps(folder: Path, det: Any, images: np.ndarray, scored: list[str], args: argparse.Namespace) -> None:
    from adcgan.evaluation.maps import map_file_names, occlusion_maps, write_map_pngs

    names = map_file_names(scored)
    taken = [n for n in names if (folder / n).exists()]
    if taken:  # checked again, file by file, while writing
        raise FileExistsError(f"{folder / taken[0]} already exists; choose another --maps folder")
    if args.map_kind == "occlusion":  # only what raises the score is painted
        maps = np.clip(occlusion_maps(det, images, batch_size=args.batch_size, progress=not args.quiet), 0, None)
    else:
        maps = det.anomaly_maps(images, args.batch_size)
    write_map_pngs(folder, names, images, maps)


def _summary(det: Any, full: dict[str, np.ndarray], entries: list[str], errors: dict[str, str],
             args: argparse.Namespace, stream: TextIO) -> None:
    s = full["score"][~np.isnan(full["score"])]
    n_anom = int((s > det.threshold).sum()) if det.threshold is not None else None
    print(json.dumps({"images": len(entries) - len(errors), "failed": len(errors), "anomalies": n_anom,
                      "threshold": det.threshold, "csv": args.csv, "maps": args.maps}), file=stream, flush=True)


def cmd_export(args: argparse.Namespace) -> int:
    """``adcgan export``: the model's scoring graph as ONNX (uint8 NHWC images in, scores out)."""
    from adcgan.scoring.onnx_export import export_onnx

    out = Path(args.out)
    if out.exists():
        raise FileExistsError(f"{out} already exists; choose another --out path")
    det = _load_model(args.model, "cpu")
    names = export_onnx(det, out, opset=args.opset)
    if not args.quiet:
        h, w, c = det.geometry
        print(json.dumps({"onnx": str(out), "detector": det.name, "input": f"uint8 [N, {h}, {w}, {c}]",
                          "outputs": names}))
    return 0
