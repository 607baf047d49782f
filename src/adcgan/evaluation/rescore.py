"""Re-score finished runs with another combination of their stored score components.

A run folder holds every test image's components and label (``scores.csv``) and the model's
calibration and raw normal-validation components (``model/``), so another ``combine`` mode or
component subset needs no network pass: ablations of the score come for free. Used by
``adcgan rescore`` for one run folder; :mod:`.rescore_db` runs it over a bench study.
"""
from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from adcgan.scoring.calibration import combine, fit_calibration, parse_components
from adcgan.config import stored_threshold_quantile
from adcgan.evaluation.metrics import compute_metrics, safe_auroc


class RescoreError(ValueError):
    """A run folder that cannot be rescored (no scores, no model, components missing)."""


@dataclass
class StoredRun:
    """What a finished run folder holds for rescoring."""

    path: Path
    labels: np.ndarray
    ids: list[str]
    comps: dict[str, np.ndarray]          # test components, "score" = the detector's own (raw) total
    val: dict[str, np.ndarray]            # raw validation components ({} for older models)
    calibration: dict[str, dict[str, float]]
    components: list[str]                 # the model's component names
    two_sided: list[str]
    threshold_quantile: float


def _read_scores(path: Path) -> tuple[list[str], np.ndarray, dict[str, np.ndarray]]:
    f = path / "scores.csv"
    if not f.is_file():
        raise RescoreError(f"{path} has no scores.csv: not a finished run folder")
    with open(f, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or "label" not in rows[0]:
        raise RescoreError(f"{f} has no labelled rows (rescoring needs a run folder of train/evaluate)")
    skip = {"id", "label", "anomaly", "error", "path"}
    names = [k for k in rows[0] if k not in skip]
    comps = {k: np.array([float(r[k]) if r[k] not in ("", None) else math.nan for r in rows]) for k in names}
    if "score_raw" in comps:  # a calibrated run: its raw total is kept apart
        comps["score"] = comps.pop("score_raw")
    return [r["id"] for r in rows], np.array([int(r["label"]) for r in rows]), comps


def load_run(path: str | Path) -> StoredRun:
    """Read ``scores.csv`` and the model of a finished run folder (``model/``), or of an ``evaluate``
    report folder (the model its ``metrics.json`` names; after ``evaluate --set`` its refitted calibration)."""
    from adcgan.detectors.checkpoint import MODEL_SUBDIR, has_model_subfolder, read_checkpoint
    from adcgan.registry import get_detector_class

    path = Path(path)
    ids, y, comps = _read_scores(path)
    metrics = _read_json(path / "metrics.json")
    model = path / MODEL_SUBDIR if has_model_subfolder(path) else Path(metrics.get("model") or path / MODEL_SUBDIR)
    if not (model / "config.json").is_file():
        raise RescoreError(f"{path} has no model/ folder and its metrics.json names no model")
    meta, state = read_checkpoint(model)
    det_cls = get_detector_class(meta["detector"])
    cfg = meta.get("config", {})
    names = [n for n in comps if n != "score"]
    val = {k: v.numpy() for k, v in state.get("val_components", {}).items()}
    calibration = meta.get("calibration") or {}
    if metrics.get("recalibrated"):  # an `evaluate --set` report: its own calibration, not the model's
        calibration, val = (metrics.get("combine") or {}).get("calibration") or {}, {}
    return StoredRun(path, y, ids, comps, val, calibration, names,
                     list(det_cls.two_sided_components), stored_threshold_quantile(cfg))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}


def combined_score(run: StoredRun, mode: str, components: str | list[str] | None,
                   robust: bool = True) -> tuple[np.ndarray, float | None]:
    """Test scores and validation threshold of ``run`` under another combination.

    The stored calibration is used as it is for ``robust=True``; otherwise (or when the stored
    calibration lacks a component) it is refitted from the stored validation components.
    """
    names = selected_components(components, run.components or ["score"])
    if mode == "raw":
        val = run.val.get("score")
        thr = float(np.quantile(val, run.threshold_quantile)) if val is not None else None
        return run.comps["score"], thr
    cal = run.calibration
    if not robust or any(n not in cal for n in names):
        if not run.val:
            raise RescoreError(f"{run.path}: the model stores no validation scores to calibrate {', '.join(names)}")
        cal = fit_calibration(run.val, names, robust=robust)
    s = combine(run.comps, cal, mode, names, run.two_sided)
    thr = None
    if run.val and all(n in run.val for n in names):
        thr = float(np.quantile(combine(run.val, cal, mode, names, run.two_sided), run.threshold_quantile))
    return s, thr


def rescore_run(path: str | Path, out: str | Path, mode: str, components: str | None = None,
                robust: bool = True) -> dict[str, Any]:
    """Write ``metrics.json``, ``scores.csv``, ``roc.png`` and ``score_hist.png`` for a new combination."""
    from adcgan.evaluation import plots
    from adcgan.evaluation.report import _jsonable, write_scores_csv
    from adcgan.io.files import atomic_write_json

    run, out = load_run(path), Path(out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty; choose a new --out folder")
    s, thr = combined_score(run, mode, components, robust)
    comps = {**{k: v for k, v in run.comps.items() if k != "score"}, "score_raw": run.comps["score"], "score": s}
    metrics = compute_metrics(run.labels, comps, thr, tuple(run.components))
    metrics.update({"rescored_from": str(run.path), "combine": {
        "mode": mode, "components": selected_components(components, run.components or ["score"]),
        "calibration": "stored (median/MAD)" if robust else "refitted (mean/sd)"}})
    out.mkdir(parents=True, exist_ok=True)
    write_scores_csv(out / "scores.csv", run.ids, run.labels, comps, thr)
    title = f"rescored {run.path.name}: combine={mode}"
    plots.plot_roc(run.labels, comps, out / "roc.png", f"{title}\nROC-AUC {metrics['roc_auc']:.4f}")
    plots.plot_score_hist(run.labels, s, thr, out / "score_hist.png", title)
    metrics = _jsonable(metrics)
    atomic_write_json(out / "metrics.json", metrics)
    return metrics


def study_auroc(run_dir: str | Path, variants: list[tuple[str, str]], robust: bool = True) -> list[dict[str, Any]]:
    """ROC-AUC of one run folder under each ``(mode, components)`` variant."""
    run = load_run(run_dir)
    out = []
    for mode, comps in variants:
        row: dict[str, Any] = {"combine": mode, "components": comps or "all"}
        try:
            s, _ = combined_score(run, mode, comps, robust)
            row["roc_auc"] = safe_auroc(run.labels, s)
        except ValueError as exc:  # a variant this detector's components do not allow (e.g. -LFL for OC-SVM)
            row.update(roc_auc=math.nan, error=str(exc))
        out.append(row)
    return out


def selected_components(spec: str | list[str] | None, available: list[str]) -> list[str]:
    """``None``/``""``/``"all"`` = all ``available``; ``"-LFL,-ROT"`` = all but those; ``"LGR,KNN"`` = those."""
    if isinstance(spec, str):
        items = [v.strip() for v in spec.split(",") if v.strip()]
        if items == ["all"]:
            return list(available)
        if items and all(v.startswith("-") for v in items):
            drop = {v[1:] for v in items}
            unknown = drop - set(available)
            if unknown:
                raise RescoreError(f"unknown score component(s) {', '.join(sorted(unknown))}")
            return [n for n in available if n not in drop]
    return parse_components(spec, available)
