"""Evaluation metrics: ROC-AUC, average precision, F1 at a threshold, per-component AUROCs."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, f1_score, precision_score, recall_score, roc_auc_score

from adcgan.detectors.adcgan.losses import ABLATION_INPUTS, ablation_scores


def safe_auroc(y: np.ndarray, s: np.ndarray) -> float:
    """ROC-AUC with label 1 = anomaly; NaN when only one class is present."""
    y = np.asarray(y)
    if len(np.unique(y)) < 2 or not np.all(np.isfinite(s)):
        return math.nan
    return float(roc_auc_score(y, s))


def compute_metrics(y: np.ndarray, comps: dict[str, np.ndarray], threshold: float | None,
                    component_names: tuple[str, ...], lam: float | None = None,
                    rho: float | None = None) -> dict[str, Any]:
    """All numbers of ``metrics.json`` that depend on scores and labels.

    Args:
        y: Labels (N,), 1 = anomaly.
        comps: ``"score"`` plus per-component scores, each (N,).
        threshold: Decision threshold chosen on normal validation data (``None``: no F1).
        component_names: Components to report AUROCs for.
        lam: lambda of Eq. 4 (AD-CGAN only): enables the Table 4 ablation AUROCs.
        rho: rho of Eq. 4.
    """
    s = comps["score"]
    both = len(np.unique(y)) == 2
    out: dict[str, Any] = {
        "roc_auc": safe_auroc(y, s),
        "average_precision": float(average_precision_score(y, s)) if both else math.nan,
        "n_test": int(len(y)), "n_anomalous": int(np.sum(y == 1)), "n_normal": int(np.sum(y == 0)),
        "threshold": threshold,
        "component_auroc": {k: safe_auroc(y, comps[k]) for k in component_names if k in comps},
        "ablation_auroc": {},
    }
    if "score_raw" in comps:  # a calibrated combination replaced the detector's own total
        out["raw_roc_auc"] = safe_auroc(y, comps["score_raw"])
    if threshold is not None:
        pred = (s > threshold).astype(int)
        out.update({"f1": float(f1_score(y, pred, zero_division=0)),
                    "precision": float(precision_score(y, pred, zero_division=0)),
                    "recall": float(recall_score(y, pred, zero_division=0)),
                    "false_positive_rate": float(np.mean(pred[y == 0])) if np.any(y == 0) else math.nan})
    if lam is not None and rho is not None and all(k in comps for k in ABLATION_INPUTS):
        out["ablation_auroc"] = {k: safe_auroc(y, v) for k, v in ablation_scores(comps, lam, rho).items()}
    return out
