"""Which code and which CPU produced a study's runs.

A GAN's training diverges numerically across CPUs (and code versions), so every figure rendered from a
study database says which commit and CPU ran its runs: :func:`provenance_lines` lists them, and
:func:`cpu_of` is what a paired comparison checks before it calls two runs alike.
"""
from __future__ import annotations

import json
from typing import Any

UNRECORDED = "CPU not recorded"
"""The CPU named for a run whose metrics do not record one."""


def cpu_of(row: dict[str, Any]) -> str:
    """The CPU model a study row's run was scored on (its ``metrics_json``'s ``cpu``)."""
    return (json.loads(row.get("metrics_json") or "{}") or {}).get("cpu") or UNRECORDED


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
        lines.append(f"- commit `{commit}`, {cpu}: {len(grp)} runs ({dets}), {when}")
    return lines


def _finished(row: dict[str, Any]) -> str:
    """A row's ``finished_at`` ISO stamp ('' when it has none)."""
    return str(row.get("finished_at") or "")
