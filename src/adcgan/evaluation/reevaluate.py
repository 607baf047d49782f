"""Score-side ablations of a whole study that need a network pass: every finished run's saved model is
evaluated again under other scoring settings (``adcgan rescore --db DB --set KEY=VALUE``), no retraining.

A setting such as ``knn_rotations`` changes a component itself (the KNN bank is refilled from the images the
model was trained on), so the stored components cannot simply be recombined as :mod:`.rescore_db` does. Each
run's new report goes to ``<runs_root>/<run folder name>``; a report already there (``metrics.json``) is
read back, so an interrupted pass resumes. A run that cannot be evaluated (no folder, a setting its
detector lacks) gives a row with its error and does not stop the others.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from adcgan.data import DataError
from adcgan.detectors.checkpoint import CheckpointError


def settings_label(overrides: dict[str, Any]) -> str:
    """``"set knn_rotations=True"``: the ``combine`` column of a re-evaluated row."""
    return "set " + ",".join(f"{k}={v}" for k, v in sorted(overrides.items()))


def reevaluate_study(db: str | Path, overrides: dict[str, Any], runs_root: str | Path,
                     progress: bool = False) -> list[dict[str, Any]]:
    """Rows of run identity + ROC-AUC of every finished run of ``db`` under ``overrides``."""
    from adcgan.evaluation.rescore_db import finished_rows, run_identity

    label, out = settings_label(overrides), []
    for r in finished_rows(db):
        ident = {**run_identity(r), "combine": label, "components": "all"}
        try:
            metrics = _evaluate_row(r, overrides, Path(runs_root), progress)
            out.append({**ident, "roc_auc": metrics["roc_auc"], "error": ""})
        except (ValueError, FileExistsError, FileNotFoundError, DataError, CheckpointError) as exc:
            out.append({**ident, "roc_auc": float("nan"), "error": str(exc)})
    return out


def _evaluate_row(row: dict[str, Any], overrides: dict[str, Any], runs_root: Path, progress: bool) -> dict[str, Any]:
    """One run's metrics under ``overrides`` (read back when its report already exists)."""
    from adcgan.evaluation.experiment import RunSpec, evaluate_saved

    run_dir = Path(row.get("run_dir") or "")
    if not row.get("run_dir") or not (run_dir / "model").is_dir():
        raise FileNotFoundError(f"no run folder with a saved model for run {row['hash'][:12]} ({run_dir})")
    out_dir = runs_root / run_dir.name
    if (out_dir / "metrics.json").is_file():
        return json.loads((out_dir / "metrics.json").read_text(encoding="utf-8"))
    spec = RunSpec.from_dict(json.loads(row["config_json"]))
    return evaluate_saved(run_dir, spec, out_dir, progress=progress, overrides=dict(overrides))
