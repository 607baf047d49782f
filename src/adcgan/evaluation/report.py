"""Write a run's report folder: metrics.json, scores.csv, roc.png, score_hist.png, reconstructions.png,
anomaly_maps.png."""
from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np
import torch

from adcgan.evaluation import maps, plots
from adcgan.io.files import atomic_write_json
from adcgan.evaluation.metrics import compute_metrics
from adcgan.io.tensors import to_float

if TYPE_CHECKING:
    from adcgan.detectors.base import BaseDetector


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer)):
        return _jsonable(obj.item())
    return obj


def write_scores_csv(path: Path | TextIO, ids: list[str], y: np.ndarray | None, comps: dict[str, np.ndarray],
                     threshold: float | None, errors: dict[str, str] | None = None) -> None:
    """Per-image CSV: id, [label,] score, components, anomaly flag (when a threshold exists)[, error].

    Args:
        path: A file (written atomically) or an open text stream (e.g. ``sys.stdout``).
        ids: One id per row, in order.
        y: Labels per row, or ``None``.
        comps: Score arrays per component, one value per row (rows in ``errors`` are ignored).
        threshold: The anomaly threshold, or ``None``.
        errors: ``{id: reason}`` of rows that could not be scored: empty scores, the reason in
            an ``error`` column (present whenever ``errors`` is given).
    """
    if not isinstance(path, Path):
        _write_rows(path, ids, y, comps, threshold, errors)
        return
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        _write_rows(f, ids, y, comps, threshold, errors)
    tmp.replace(path)


def _write_rows(f: TextIO, ids: list[str], y: np.ndarray | None, comps: dict[str, np.ndarray],
                threshold: float | None, errors: dict[str, str] | None) -> None:
    names = ["score"] + [k for k in comps if k != "score"]
    header = ["id"] + (["label"] if y is not None else []) + names + (["anomaly"] if threshold is not None else [])
    w = csv.writer(f)
    w.writerow(header + (["error"] if errors is not None else []))
    for i, ident in enumerate(ids):
        row: list[Any] = [ident] + ([int(y[i])] if y is not None else [])
        failed = errors is not None and ident in errors
        row += [""] * len(names) if failed else [f"{comps[k][i]:.8g}" for k in names]
        if threshold is not None:
            row.append("" if failed else int(comps["score"][i] > threshold))
        if errors is not None:
            row.append(errors.get(ident, ""))
        w.writerow(row)


def _reconstruction_rows(det: "BaseDetector", images: torch.Tensor, y: np.ndarray) -> list[tuple[str, np.ndarray]]:
    pick = np.concatenate([np.flatnonzero(y == 0)[:6], np.flatnonzero(y == 1)[:6]])
    x = to_float(images[torch.as_tensor(pick, dtype=torch.long)].to(det.device))
    det.set_train(False)
    with torch.no_grad():
        rec, gen = det.reconstruct(x), det.sample(len(pick), seed=det.config.seed)
    rows = [("x (first 6 normal, then anomalous)", x.cpu().numpy())]
    if rec is not None:
        rows.append(("reconstruction G(E(x))", rec.cpu().numpy()))
    if gen is not None:
        rows.append(("samples G(z)", gen.cpu().numpy()))
    return rows


def write_report(out_dir: Path, det: "BaseDetector", images: torch.Tensor, y: np.ndarray, ids: list[str],
                 comps: dict[str, np.ndarray], extra: dict[str, Any], title: str) -> dict[str, Any]:
    """Compute metrics and write every report file; returns the metrics dict.

    Args:
        out_dir: Report folder (created).
        det: The fitted detector.
        images: Test images NCHW (uint8 or float) in the order of ``y``.
        y: Labels (N,), 1 = anomaly.
        ids: Image identifiers (N).
        comps: Scores from ``det.score_components``.
        extra: Extra fields merged into ``metrics.json`` (budget, timings, ...).
        title: Plot title.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    lam, rho = getattr(det.config, "lam", None), getattr(det.config, "rho", None)
    metrics = compute_metrics(y, comps, det.threshold, det.active_components(), lam, rho)
    metrics["combine"] = {"mode": det.config.combine, "components": det.combined_names(),
                          "calibration": det.calibration}
    metrics.update(extra)
    metrics = _jsonable(metrics)
    write_scores_csv(out_dir / "scores.csv", ids, y, comps, det.threshold)
    plots.plot_roc(y, comps, out_dir / "roc.png", f"{title}\nROC-AUC {metrics['roc_auc'] or float('nan'):.4f}")
    plots.plot_score_hist(y, comps["score"], det.threshold, out_dir / "score_hist.png", title)
    rows = _reconstruction_rows(det, images, y)
    if len(rows) > 1:
        plots.plot_image_rows(rows, out_dir / "reconstructions.png", title)
    map_rows = maps.map_rows(det, images, comps["score"])
    if map_rows:
        plots.plot_image_rows(map_rows, out_dir / "anomaly_maps.png", f"{title}\nanomaly maps of the scored images")
    atomic_write_json(out_dir / "metrics.json", metrics)
    return metrics
