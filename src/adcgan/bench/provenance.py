"""Which code, CPU and defaults produced a study's runs, and the label a run goes by in the tables.

A GAN's training diverges numerically across CPUs (and code versions), so every figure rendered from a
study database says which commit and CPU ran its runs: :func:`provenance_lines` lists them, and
:func:`cpu_of` is what a paired comparison checks before it calls two runs alike.
"""
from __future__ import annotations

import json
from typing import Any

from adcgan.bench.grid import EXECUTION_KEYS

UNRECORDED = "CPU not recorded"
"""The CPU named for a run whose metrics do not record one."""


def variant_label(row: dict[str, Any]) -> str:
    """Detector name as shown in tables: ``adcgan+`` for ``variant=plus`` (``adcgan+ (defaults r1)`` for a
    run of earlier defaults: ``PLUS_REVISION``), ``adcgan (official)``."""
    from adcgan.detectors.adcgan.config import PLUS_REVISION

    try:
        spec = json.loads(row.get("config_json") or "{}")
    except (TypeError, ValueError):
        spec = {}
    variant, rev = (spec.get("detector_config") or {}).get("variant"), spec.get("defaults_revision") or 1
    plus = f"{row['detector']}+" + (f" (defaults r{rev})" if rev != PLUS_REVISION else "")
    return {"plus": plus, "official": f"{row['detector']} (official)"}.get(variant, row["detector"])


def metrics_of(row: dict[str, Any]) -> dict[str, Any]:
    """A study row's stored metrics (``metrics_json``; empty when it has none)."""
    return json.loads(row.get("metrics_json") or "{}") or {}


def cpu_of(row: dict[str, Any]) -> str:
    """The CPU model a study row's run was scored on (its ``metrics_json``'s ``cpu``)."""
    return metrics_of(row).get("cpu") or UNRECORDED


def provenance_lines(rows: list[dict[str, Any]]) -> list[str]:
    """Markdown bullets, one per (commit, CPU) in order of first finish: the run count, the detectors
    and the dates."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(((r.get("git_commit") or "unknown")[:7], cpu_of(r)), []).append(r)
    lines = []
    for (commit, cpu), grp in sorted(groups.items(), key=lambda kv: min(_finished(r) for r in kv[1])):
        dates = sorted(_finished(r)[:10] for r in grp)
        dets = ", ".join(sorted({str(r["detector"]) for r in grp}))
        when = "finish date not recorded" if not dates[-1] else (
            f"finished {dates[0]}" + (f" to {dates[-1]}" if dates[-1] != dates[0] else ""))
        lines.append(f"- commit `{commit}`, {cpu}: {_runs(len(grp))} ({dets}), {when}")
    return lines


def _runs(n: int) -> str:
    """``1 run``, ``2 runs``."""
    return f"{n} run" + ("" if n == 1 else "s")


def _finished(row: dict[str, Any]) -> str:
    """A row's ``finished_at`` ISO stamp ('' when it has none)."""
    return str(row.get("finished_at") or "")


def default_drift(row: dict[str, Any]) -> dict[str, Any] | None:
    """The defaults a run used that today's code resolves differently, as ``{setting: value the run used}``
    (settings the run asked for explicitly are not defaults and never differ, nor do the executor's
    ``EXECUTION_KEYS``, which leave a result unchanged); None when the run did not
    record its resolved settings (``metrics_json``'s ``detector_config``, written since 2026-12-07)."""
    from adcgan.registry import get_detector_class

    used = metrics_of(row).get("detector_config")
    if used is None:
        return None
    run = json.loads(row.get("config_json") or "{}")
    asked = run.get("detector_config") or {}
    today = get_detector_class(run["detector"]).Config(**{"seed": row.get("seed", 0), **asked}).to_dict()
    return {k: v for k, v in sorted(used.items())
            if k not in asked and k not in EXECUTION_KEYS and k in today and today[k] != v}


def settings_lines(rows: list[dict[str, Any]]) -> list[str]:
    """Markdown bullets, per detector label: how many runs used today's defaults, how many used others
    (which), and how many did not record theirs (the defaults of their commit)."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        drift = default_drift(r)
        key = ("not recorded (the defaults of the run's commit)" if drift is None else
               "today's defaults" if not drift else
               "defaults since changed: " + ", ".join(f"{k}={json.dumps(v)}" for k, v in drift.items()))
        groups.setdefault((str(r["detector"]), key), []).append(r)
    return [f"- {det}: {_runs(len(grp))}, {key}"
            + (f" (commits {', '.join(sorted({str(r.get('git_commit') or 'unknown')[:7] for r in grp}))})"
               if key.startswith("not recorded") else "")
            for (det, key), grp in sorted(groups.items())]
