"""Score-side ablations of a whole study database: every finished run's stored components recombined
(``adcgan rescore --db``), the rows named by run, a per-method summary and the CSV. The per-run work is
:mod:`adcgan.evaluation.rescore`; this module is the part that reads a study store.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np

from adcgan.evaluation.rescore import study_auroc


def finished_rows(db: str | Path) -> list[dict[str, Any]]:
    """The finished runs of a study database (store rows)."""
    from adcgan.bench.store import Store

    store = Store(db)
    try:
        return store.rows("done")
    finally:
        store.close()


def run_identity(row: dict[str, Any]) -> dict[str, Any]:
    """The columns that name a run in an ablation table: method (with variant), data set, class, seed, ..."""
    from adcgan.bench.render import variant_label

    return {"detector": variant_label(row), "dataset": row["dataset"], "scheme": row["scheme"], "cls": row["cls"],
            "seed": row["seed"], "preset": row["preset"], "hash": row["hash"][:12]}


def rescore_study(db: str | Path, variants: list[tuple[str, str]], robust: bool = True) -> list[dict[str, Any]]:
    """Every finished run of a study under each variant: rows of run identity + ROC-AUC."""
    out = []
    for r in finished_rows(db):
        ident = run_identity(r)
        if not r.get("run_dir") or not (Path(r["run_dir"]) / "scores.csv").is_file():
            out.append({**ident, "combine": "-", "components": "-", "roc_auc": math.nan, "error": "no run folder"})
            continue
        out += [{**ident, **v} for v in study_auroc(r["run_dir"], variants, robust)]
    return out


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean ROC-AUC over classes, per seed then over seeds, per detector x data set x variant."""
    groups: dict[tuple, dict[int, list[float]]] = {}
    for r in rows:
        key = (r["detector"], r["dataset"], r["scheme"], r["preset"], r["combine"], r["components"])
        groups.setdefault(key, {}).setdefault(r["seed"], []).append(r["roc_auc"])
    out = []
    for key, by_seed in groups.items():
        if all(math.isnan(x) for v in by_seed.values() for x in v):
            continue  # a variant that does not apply to this detector
        per_seed = [float(np.mean(v)) for v in by_seed.values()]
        out.append({"detector": key[0], "dataset": key[1], "scheme": key[2], "preset": key[3], "combine": key[4],
                    "components": key[5], "mean_roc_auc": float(np.mean(per_seed)),
                    "seeds": len(per_seed), "runs": sum(len(v) for v in by_seed.values())})
    return out


def write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    """CSV (refuses to overwrite)."""
    if path.exists():
        raise FileExistsError(f"{path} exists; choose another file")
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)


def record_study_variants(db: str | Path, variants: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each recombination ``variants`` (``{"components": ...}``, optionally ``"combine"``) recorded as a score
    variant of every finished run that lacks it, as a study's ``score_variants`` would have recorded it at the
    end of the run: in the database's ``metrics_json`` and the run folder's ``metrics.json``. A run whose folder
    is gone gets the variant with ``roc_auc`` None and the error ``no run folder`` (the page then says which
    classes cannot be measured). Rows of run identity + label + ROC-AUC (+ error) for what was added."""
    import json

    from adcgan.bench.store import Store
    from adcgan.evaluation.variants import check_score_variants, variant_label

    variants = check_score_variants(variants) or []
    if any("set" in v for v in variants):
        raise ValueError("--record stores recombinations of the stored components only; a scoring setting "
                         "(--set) is a study's score_variants entry, measured as each run finishes")
    store, out = Store(db), []
    try:
        for r in store.rows("done"):
            metrics = json.loads(r.get("metrics_json") or "{}") or {}
            have = {v.get("label") for v in metrics.get("score_variants") or []}
            todo = [v for v in variants if variant_label(v) not in have]
            if not todo:
                continue
            added = _measured(r, todo)
            metrics["score_variants"] = [*(metrics.get("score_variants") or []), *added]
            with store.tx() as c:
                c.execute("UPDATE runs SET metrics_json=? WHERE hash=? AND status='done'",
                          (json.dumps(metrics), r["hash"]))
            out += [{**run_identity(r), "label": a["label"], "roc_auc": a.get("roc_auc"),
                     "error": a.get("error", "")} for a in added]
    finally:
        store.close()
    return out


def _measured(row: dict[str, Any], todo: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ``todo`` variants measured on a finished row's run folder (and added to its ``metrics.json``), or
    marked ``no run folder``."""
    import dataclasses
    import json

    from adcgan.evaluation.spec import RunSpec
    from adcgan.evaluation.variants import measure_variants, record_variants, variant_label

    run_dir = Path(row.get("run_dir") or "")
    if not row.get("run_dir") or not (run_dir / "scores.csv").is_file():
        return [{"label": variant_label(v), **v, "roc_auc": None, "error": "no run folder"} for v in todo]
    spec = dataclasses.replace(RunSpec.from_dict(json.loads(row["config_json"])), score_variants=todo)
    try:
        added = measure_variants(run_dir, spec, evaluate_saved=None, progress=False)
    except (OSError, ValueError, KeyError) as exc:  # one unreadable run folder does not stop the others
        return [{"label": variant_label(v), **v, "roc_auc": None, "error": f"{type(exc).__name__}: {exc}"}
                for v in todo]
    folder_metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    kept = folder_metrics.get("score_variants") or []
    have = {v.get("label") for v in kept}
    record_variants(run_dir, folder_metrics, [*kept, *(a for a in added if a["label"] not in have)])
    return added
