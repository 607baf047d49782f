"""Score-side variants measured with a run: the same trained model scored another way, recorded in the
run's own metrics (``score_variants``), so that a study database keeps them after the run folders are gone.

A variant is either a scoring setting (``{"set": {"knn_rotations": True}}``: the saved model evaluated
again under it, as ``adcgan evaluate --model RUN --set knn_rotations=true`` does, into
``RUN/variants/<label>/``) or another combination of the stored components (``{"components": "-LFE,-LFL"}``,
optionally with ``"combine"``: as ``adcgan rescore`` does, no network pass). Issue 24's score-side
candidates are such variants of the development study's runs.
"""
from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path
from typing import Any, Callable

from adcgan.evaluation.rescore import study_auroc
from adcgan.io.files import atomic_write_json

SCORING_SETTINGS = ("combine", "components", "calibration_robust", "flip_average", "lfl_draws", "lfl_form",
                    "knn_k", "knn_rotations", "knn_bank_size", "score_seed", "fast_scoring", "score_batch_size")
"""Settings a trained model can be evaluated under without retraining (``adcgan evaluate --set``)."""
VARIANT_KEYS = ("set", "combine", "components")
"""Keys a score variant may hold: ``set`` alone, or ``combine`` and/or ``components``."""
VARIANTS_SUBDIR = "variants"
"""Where a run folder keeps the report of each ``set`` variant."""


def check_score_variants(variants: Any) -> list[dict[str, Any]] | None:
    """Validated score variants (``None`` for none); ``ValueError`` names the first bad one."""
    if variants in (None, [], ()):
        return None
    if not isinstance(variants, (list, tuple)):
        raise ValueError("score_variants must be a list of tables, e.g. [{ set = { knn_rotations = true } }]")
    out = []
    for v in variants:
        if not isinstance(v, dict) or not v or set(v) - set(VARIANT_KEYS):
            raise ValueError(f"a score variant is a table of {', '.join(VARIANT_KEYS)}; got {v!r}")
        if "set" in v and len(v) > 1:
            raise ValueError(f"a score variant sets scoring settings or recombines components, not both: {v!r}")
        if "set" in v and (not isinstance(v["set"], dict) or not v["set"]):
            raise ValueError(f"a score variant's set must be a non-empty table of scoring settings: {v!r}")
        bad = sorted(set(v.get("set") or {}) - set(SCORING_SETTINGS))
        if bad:
            raise ValueError(f"score variant {v!r}: {', '.join(bad)} is not a scoring setting "
                             f"({', '.join(SCORING_SETTINGS)}); a training setting needs a run of its own")
        out.append(dict(v))
    return out


def setting_text(key: str, value: Any) -> str:
    """``key=value`` as a study file writes it (``see_edges=true``, ``critic_width=0.5``)."""
    return f"{key}={json.dumps(value) if isinstance(value, bool) else value}"


def variant_label(v: dict[str, Any]) -> str:
    """``knn_rotations=true`` or ``combine=mixed components=-LFE,-LFL`` (also the variant's folder name)."""
    items = sorted(v["set"].items()) if "set" in v else [(k, v[k]) for k in ("combine", "components") if k in v]
    return " ".join(setting_text(k, x) for k, x in items)


def _folder(run_dir: Path, label: str) -> Path:
    return run_dir / VARIANTS_SUBDIR / re.sub(r"[^A-Za-z0-9._=,-]+", "_", label)


def _evaluated(run_dir: Path, spec: Any, v: dict[str, Any], evaluate_saved: Callable[..., dict[str, Any]],
               progress: bool) -> dict[str, Any]:
    """A ``set`` variant: the saved model evaluated under it (a finished earlier evaluation is reused)."""
    out = _folder(run_dir, variant_label(v))
    done = out / "metrics.json"
    if done.is_file():
        m = json.loads(done.read_text(encoding="utf-8"))
    else:
        if out.exists():  # an evaluation of this run that was interrupted: its own folder, redone
            shutil.rmtree(out)
        m = evaluate_saved(run_dir, spec, out, progress=progress, overrides=dict(v["set"]))
    return {"roc_auc": m.get("roc_auc"), "component_auroc": m.get("component_auroc", {})}


def measure_variants(run_dir: str | Path, spec: Any, evaluate_saved: Callable[..., dict[str, Any]],
                     progress: bool = True) -> list[dict[str, Any]]:
    """Each of ``spec.score_variants`` measured on the finished run in ``run_dir``: its label and ROC-AUC
    (and, for a ``set`` variant, its components' ROC-AUCs). A recombination keeps the run's own
    ``combine`` mode unless the variant names one."""
    import dataclasses

    run_dir = Path(run_dir)
    plain = dataclasses.replace(spec, score_variants=None)
    own = (json.loads((run_dir / "metrics.json").read_text(encoding="utf-8")).get("combine") or {}).get("mode")
    out = []
    for v in check_score_variants(spec.score_variants) or []:
        row: dict[str, Any] = {"label": variant_label(v), **v}
        if "set" in v:
            row.update(_evaluated(run_dir, plain, v, evaluate_saved, progress))
        else:
            r = study_auroc(run_dir, [(v.get("combine", own or "raw"), v.get("components"))])[0]
            row["roc_auc"] = None if math.isnan(r["roc_auc"]) else r["roc_auc"]
            if "error" in r:
                row["error"] = r["error"]
        out.append(row)
    return out


def record_variants(run_dir: str | Path, metrics: dict[str, Any], variants: list[dict[str, Any]]) -> dict[str, Any]:
    """``metrics`` with ``score_variants`` added, written back to the run's ``metrics.json``."""
    metrics = {**metrics, "score_variants": variants}
    atomic_write_json(Path(run_dir) / "metrics.json", metrics)
    return metrics
