"""Score calibration from normal data: per-component location/scale and their combination.

A detector with several score components (AD-CGAN's LGR, LGD, LFE, LFL, ...) adds them at
their raw scales in the paper's Eq. 4, so the component that varies most decides the ranking.
Calibration stores, per component, a robust location and scale measured on the held-out
*normal* validation split (median and MAD, or mean and sd) and combines standardized values:

* ``raw``: the detector's own total (Eq. 4 for AD-CGAN); calibration unused.
* ``standardized``: mean over components of ``(c - loc) / scale`` (one-sided: high = anomalous).
* ``typicality``: mean of ``|c - loc| / scale`` (two-sided: an atypically *low* value counts as
  anomalous too).
* ``mixed``: one-sided for components whose direction is known by construction (errors,
  distances, negative log-likelihoods), two-sided for those the detector marks as of unknown
  sign (AD-CGAN's Dz term LFL).

No test label is used anywhere here: only normal validation scores.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

COMBINE_MODES = ("raw", "standardized", "typicality", "mixed")
MAD_TO_SD = 1.4826        # MAD of a normal distribution times this = its standard deviation
SCALE_FLOOR = 1e-12       # scales below this (a constant component) are clamped


def fit_calibration(comps: Mapping[str, np.ndarray], names: Iterable[str], robust: bool = True) -> dict[str, dict[str, float]]:
    """Location and scale of each named component over normal validation images.

    Args:
        comps: Per-image component scores, each (N,).
        names: Components to calibrate.
        robust: Median and ``MAD_TO_SD * MAD`` (default) instead of mean and sd.

    Returns:
        ``{name: {"loc": float, "scale": float}}``; a scale of 0 is raised to ``SCALE_FLOOR``.

    Example:
        >>> fit_calibration({"a": np.array([1.0, 2.0, 4.0])}, ["a"])["a"]
        {'loc': 2.0, 'scale': 1.4826}
    """
    out: dict[str, dict[str, float]] = {}
    for name in names:
        v = np.asarray(comps[name], dtype=np.float64)
        v = v[np.isfinite(v)]
        if not len(v):
            raise ValueError(f"cannot calibrate component {name!r}: no finite validation scores")
        if robust:
            loc = float(np.median(v))
            scale = MAD_TO_SD * float(np.median(np.abs(v - loc)))
        else:
            loc, scale = float(np.mean(v)), float(np.std(v))
        out[name] = {"loc": loc, "scale": max(scale, SCALE_FLOOR)}
    return out


def combine(comps: Mapping[str, np.ndarray], calibration: Mapping[str, Mapping[str, float]], mode: str,
            names: Sequence[str], two_sided: Iterable[str] = ()) -> np.ndarray:
    """The combined score (N,) of ``names`` under ``mode`` (see the module docstring).

    Args:
        comps: Per-image component scores; must hold ``"score"`` for ``mode="raw"``.
        calibration: Output of :func:`fit_calibration` covering ``names``.
        mode: One of :data:`COMBINE_MODES`.
        names: Components to combine (equal weights).
        two_sided: Components treated two-sidedly by ``mode="mixed"``.
    """
    if mode not in COMBINE_MODES:
        raise ValueError(f"combine must be one of {', '.join(COMBINE_MODES)}, got {mode!r}")
    if mode == "raw":
        return np.asarray(comps["score"], dtype=np.float64)
    if not names:
        raise ValueError("no score components to combine")
    missing = [n for n in names if n not in calibration]
    if missing:
        raise ValueError(f"no calibration for component(s) {', '.join(missing)}: refit or rescore with calibration")
    two = set(two_sided)
    total = np.zeros(len(np.asarray(comps[names[0]])), dtype=np.float64)
    for n in names:
        z = (np.asarray(comps[n], dtype=np.float64) - calibration[n]["loc"]) / calibration[n]["scale"]
        if mode == "typicality" or (mode == "mixed" and n in two):
            z = np.abs(z)
        total += z
    return total / len(names)


def parse_components(value: str | Sequence[str] | None, available: Sequence[str]) -> list[str]:
    """A component list from a comma string or sequence; empty/``None`` = all ``available``."""
    if value is None or value == "" or value == []:
        return list(available)
    items = [v.strip() for v in value.split(",")] if isinstance(value, str) else [str(v) for v in value]
    items = [v for v in items if v]
    unknown = [v for v in items if v not in available]
    if unknown:
        raise ValueError(f"unknown score component(s) {', '.join(unknown)}; this model has {', '.join(available)}")
    return items


def jsonable_calibration(cal: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """Plain floats for ``config.json``."""
    return {k: {"loc": float(v["loc"]), "scale": float(v["scale"])} for k, v in cal.items()}
