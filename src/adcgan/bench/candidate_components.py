"""Which score components carry the signal in a development study's base runs (issue 24).

Per data set, for the two base settings of ``studies/plus-dev.toml`` (today's defaults and the half-width
critic), the mean over the classes run of each component's ROC-AUC. Development data only (the holdout
protocol, the test split never read): it shows why a score-side candidate such as
``components=-LGD,-LFE,-LFL`` was tried, and decides nothing; the rule in :mod:`adcgan.bench.candidates` does.
"""
from __future__ import annotations

from statistics import mean
from typing import Any

from adcgan.bench.candidates import TARGET, group_runs, label
from adcgan.bench.provenance import metrics_of

BASES = ((), (("critic_width", 0.5),))
"""The settings whose runs the table shows: the base of every stage-0 and of every stage-2 candidate."""
ORDER = ("LGR", "LGD", "LFE", "LFL", "KNN", "ROT", "TRN")
"""The order of adcgan+'s components in the table (others follow, sorted)."""


def component_means(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (data set, base settings): the classes run and each component's mean ROC-AUC (%) over them."""
    out = []
    groups = group_runs(rows)
    for (ds, settings), runs in sorted(groups.items(), key=lambda kv: (kv[0][0] != TARGET, kv[0][0], kv[0][1])):
        if settings not in BASES:
            continue
        per: dict[str, list[float]] = {}
        for r in runs.values():
            for name, v in (metrics_of(r).get("component_auroc") or {}).items():
                if v is not None:
                    per.setdefault(name, []).append(v)
        out.append({"dataset": ds, "settings": settings, "classes": len(runs),
                    "means": {k: 100 * mean(v) for k, v in per.items()}})
    return out


def component_lines(rows: list[dict[str, Any]]) -> list[str]:
    """Markdown: :func:`component_means` as a table (nothing when no base run has finished)."""
    table = component_means(rows)
    if not table:
        return []
    names = [n for n in ORDER if any(n in t["means"] for t in table)]
    names += sorted({n for t in table for n in t["means"]} - set(names))
    out = ["", "Each score component's ROC-AUC (%) in the base runs, mean over the classes run (development "
           "data; it explains the score-side candidates and decides nothing):", "",
           f"| data set | settings | classes | {' | '.join(names)} |", "|---|---|---|" + "---|" * len(names)]
    for t in table:
        cells = " | ".join(f"{t['means'][n]:.1f}" if n in t["means"] else "–" for n in names)
        out.append(f"| {t['dataset']} | {label(t['settings'])} | {t['classes']} | {cells} |")
    return out
