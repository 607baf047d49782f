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
