"""Issue 24's decision rule for adcgan+ candidates, applied to a development study's finished runs.

The rule was fixed in ``docs/plus.md`` before any of the study's runs (``studies/plus-dev.toml``): each
candidate setting runs on every class of CIFAR-10 (the target) and Fashion-MNIST (the guard) on the holdout
protocol, against its base (the same settings without it); it is adopted when it raises the target's mean
ROC-AUC by at least :data:`TARGET_GAIN` points and lowers the guard's by at most :data:`GUARD_LOSS`. A
compute setting (:data:`COMPUTE_SETTINGS`) is adopted when it costs at most :data:`GUARD_LOSS` on both.

Input: rows of a study store (``config_json``, ``metrics_json``, ``roc_auc``); output: dicts and Markdown
lines, so ``adcgan bench report`` and the page block ``plus-candidates`` show the same verdicts.
"""
from __future__ import annotations

import json
from pathlib import Path
from statistics import mean
from typing import Any

from adcgan.bench.provenance import cpu_of, metrics_of, provenance_lines
from adcgan.evaluation.variants import setting_text

TARGET, GUARD = "cifar10-jpeg", "fashion-mnist"
"""The data set a candidate must improve and the one it must not hurt."""
TARGET_GAIN = 1.0
"""Points of mean ROC-AUC a candidate must add on the target data set."""
GUARD_LOSS = 0.5
"""Points of mean ROC-AUC a candidate may cost on the guard data set (a compute setting: on both)."""
COMPUTE_SETTINGS = ("critic_width",)
"""Settings that buy compute rather than accuracy."""
BUDGET_SETTINGS = ("variant", "batch_size", "epochs", "warmup_epochs", "max_train_images", "device")
"""Detector settings that name the variant or the budget, not a candidate."""
LABEL_FREE = ("heldout_rotation_accuracy", "heldout_translation_accuracy")
"""The label-free figures a run records in ``train_info`` (reported beside the ROC-AUCs, deciding nothing)."""

Settings = tuple[tuple[str, Any], ...]
Groups = dict[tuple[str, Settings], dict[int, dict[str, Any]]]
"""Runs by (data set, settings), then by class."""


def settings_of(row: dict[str, Any]) -> Settings:
    """A run's candidate settings: its detector settings beyond the variant and the budget, and the revision
    of the defaults where it has one (``PLUS_REVISION`` above 1: new defaults, judged against the old), sorted."""
    spec = json.loads(row.get("config_json") or "{}")
    cfg = {**(spec.get("detector_config") or {}), "defaults_revision": spec.get("defaults_revision")}
    return tuple(sorted((k, v) for k, v in cfg.items() if k not in BUDGET_SETTINGS and v is not None))


SCORED = "scored with"
"""The key of a score-side candidate in a settings tuple: ``("scored with", "knn_rotations=true")``."""


def label(settings: Settings) -> str:
    """``defaults``, ``critic_width=0.5, see_edges=true`` or ``scored with knn_rotations=true``."""
    return ", ".join(f"{k} {v}" if k == SCORED else setting_text(k, v) for k, v in settings) or "defaults"


def is_development_run(row: dict[str, Any]) -> bool:
    """An adcgan+ one-vs-all run of seed 0 on the holdout protocol, finished with a ROC-AUC."""
    cfg = json.loads(row.get("config_json") or "{}")
    return (cfg.get("test_set") == "holdout" and (cfg.get("detector_config") or {}).get("variant") == "plus"
            and row.get("scheme") == "one-vs-all" and row.get("seed") == 0 and row.get("roc_auc") is not None)


def group_runs(rows: list[dict[str, Any]]) -> Groups:
    """The development runs (:func:`is_development_run`) by (data set, settings), then by class."""
    out: Groups = {}
    for r in rows:
        if is_development_run(r):
            out.setdefault((r["dataset"], settings_of(r)), {})[int(r["cls"])] = r
    return out


def base_of(settings: Settings, present: set[Settings]) -> Settings | None:
    """The settings ``settings`` extends by one key, among ``present``: dropping a compute setting last."""
    keys = sorted(range(len(settings)), key=lambda i: settings[i][0] in COMPUTE_SETTINGS)
    for i in keys:
        smaller = settings[:i] + settings[i + 1:]
        if smaller in present:
            return smaller
    return None


def n_classes(dataset: str, runs: dict[int, dict[str, Any]]) -> int:
    """The number of classes of ``dataset`` (from its spec; the classes seen where it has none)."""
    from adcgan.data import get_spec
    from adcgan.data.errors import DataError

    try:
        return len(get_spec(dataset).class_names) or len(runs)
    except DataError:
        return len(runs)


def label_free_mean(runs: dict[int, dict[str, Any]], key: str) -> float | None:
    """Mean of a label-free figure over the runs that recorded it (None when none did)."""
    vals = [v for r in runs.values()
            if (v := (metrics_of(r).get("train_info") or {}).get(key)) is not None]
    return mean(vals) if vals else None


def variant_groups(groups: Groups) -> Groups:
    """The score variants the runs recorded (``score_variants`` in their metrics), as pseudo-runs grouped
    like :func:`group_runs`, their settings extended by ``(SCORED, label)``."""
    out: Groups = {}
    for (ds, settings), runs in groups.items():
        for c, r in runs.items():
            for v in metrics_of(r).get("score_variants") or []:
                if v.get("roc_auc") is not None:
                    key = (ds, settings + ((SCORED, v["label"]),))
                    out.setdefault(key, {})[c] = {**r, "roc_auc": v["roc_auc"],
                                                   "metrics_json": json.dumps({"cpu": cpu_of(r)})}
    return out


def unmeasurable(groups: Groups) -> dict[tuple[str, Settings], set[int]]:
    """The classes a score variant cannot be measured on: added to the study after the run's folder was
    gone (``adcgan rescore --db --record`` marks them ``no run folder``)."""
    out: dict[tuple[str, Settings], set[int]] = {}
    for (ds, settings), runs in groups.items():
        for c, v in ((c, v) for c, r in runs.items() for v in metrics_of(r).get("score_variants") or []):
            if v.get("roc_auc") is None and v.get("error") == "no run folder":
                out.setdefault((ds, settings + ((SCORED, v["label"]),)), set()).add(c)
    return out


def comparisons(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (data set, settings): classes done, mean ROC-AUC (%), its base and the paired Δ (points).
    A score variant's base is the run it was scored from; its classes whose model was gone when it was added
    (``gone``) count as done without a Δ."""
    groups = group_runs(rows)
    gone_by = unmeasurable(groups)
    groups.update(variant_groups(groups))
    table = []
    for (ds, settings), runs in sorted(groups.items(), key=lambda kv: (kv[0][0] != TARGET, kv[0][0],
                                                                     len(kv[0][1]), label(kv[0][1]))):
        present = {s for d, s in groups if d == ds}
        scored = bool(settings) and settings[-1][0] == SCORED
        base = settings[:-1] if scored else (base_of(settings, present) if settings else None)
        gone = len(gone_by.get((ds, settings), ()))
        row = {"dataset": ds, "settings": settings, "classes": len(runs), "of": n_classes(ds, runs), "gone": gone,
               "mean": 100 * mean(r["roc_auc"] for r in runs.values()), "base": base, "delta": None,
               "pairs": 0, "cross_cpu": 0,
               **{k: label_free_mean(runs, k) for k in LABEL_FREE}}
        if base is not None:
            pair = sorted(set(runs) & set(groups[(ds, base)]))
            base_runs = groups[(ds, base)]
            row["class_deltas"] = {c: 100 * (runs[c]["roc_auc"] - base_runs[c]["roc_auc"]) for c in pair}
            if pair:
                row["delta"] = mean(row["class_deltas"].values())
            row["pairs"] = len(pair)
            row["cross_cpu"] = sum(cpu_of(runs[c]) != cpu_of(base_runs[c]) for c in pair)
            row["complete"] = len(pair) + gone == row["of"] and len(runs) + gone == row["of"]
        table.append(row)
    return table


def candidate_of(row: dict[str, Any]) -> Settings:
    """The setting(s) a comparison row adds to its base."""
    return tuple(kv for kv in row["settings"] if kv not in (row["base"] or ()))


def verdicts(table: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per candidate: its Δ on the target and the guard and the rule's verdict (``pending`` until both
    data sets have every class of the candidate and its base)."""
    by_cand: dict[Settings, dict[str, dict[str, Any]]] = {}
    for row in table:  # a score variant is judged on the runs of the defaults (the shortest base)
        if row["base"] is not None:
            seen = by_cand.setdefault(candidate_of(row), {})
            if row["dataset"] not in seen or len(row["base"]) < len(seen[row["dataset"]]["base"]):
                seen[row["dataset"]] = row
    out = []
    for cand, rows in by_cand.items():
        t, g = rows.get(TARGET), rows.get(GUARD)
        verdict = "pending"
        if t and g and t.get("complete") and g.get("complete"):
            compute = any(k in COMPUTE_SETTINGS for k, _ in cand)
            if compute:
                ok = t["delta"] >= -GUARD_LOSS and g["delta"] >= -GUARD_LOSS
            else:
                ok = t["delta"] >= TARGET_GAIN and g["delta"] >= -GUARD_LOSS
            verdict = "adopted" if ok else "not adopted"
        out.append({"candidate": cand, "target": t, "guard": g, "verdict": verdict})
    return out


def ranks(values: list[float]) -> list[float]:
    """Ranks 1..n of ``values``, ties sharing their mean rank."""
    order = sorted(range(len(values)), key=values.__getitem__)
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in order[i:j + 1]:
            out[k] = (i + j) / 2 + 1
        i = j + 1
    return out


def spearman(x: list[float], y: list[float]) -> float | None:
    """Spearman's rank correlation of ``x`` and ``y`` (None under 3 pairs or for a constant side)."""
    if len(x) < 3:
        return None
    rx, ry = ranks(x), ranks(y)
    mx, my = mean(rx), mean(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    sxx, syy = sum((a - mx) ** 2 for a in rx), sum((b - my) ** 2 for b in ry)
    return sxy / (sxx * syy) ** 0.5 if sxx and syy else None


def tracking(rows: list[dict[str, Any]], key: str = LABEL_FREE[0]) -> dict[str, tuple[float, int]]:
    """Per data set: the mean over classes of the rank correlation, across a class's runs (one per
    setting), of a label-free figure with the ROC-AUC; and the number of classes it averages."""
    by: dict[tuple[str, int], list[tuple[float, float]]] = {}
    for (ds, _), runs in group_runs(rows).items():
        for c, r in runs.items():
            v = (metrics_of(r).get("train_info") or {}).get(key)
            if v is not None:
                by.setdefault((ds, c), []).append((v, r["roc_auc"]))
    per_ds: dict[str, list[float]] = {}
    for (ds, _), pairs in by.items():
        rho = spearman([a for a, _ in pairs], [b for _, b in pairs])
        if rho is not None:
            per_ds.setdefault(ds, []).append(rho)
    return {ds: (mean(v), len(v)) for ds, v in per_ds.items()}


def _pct(v: float | None, signed: bool = False) -> str:
    return "–" if v is None else (f"{v:+.1f}" if signed else f"{v:.1f}")


def _cross(row: dict[str, Any]) -> str:
    """``k/n``: of the ``n`` class pairs behind a Δ, ``k`` ran on two different CPUs (– without a base)."""
    return "–" if row["base"] is None else f"{row['cross_cpu']}/{row['pairs']}"


def _acc(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.1f}"


NO_RUNS = ["No finished development run yet."]
"""The block's text before the first development run."""
CHART = "plus_candidates.png"
"""The file name of :func:`chart`'s figure in a report folder."""


def chart(path: Path, table: list[dict[str, Any]]) -> bool:
    """Plot every candidate's per-class Δ against its base on the target and the guard data set, with the
    rule's thresholds (False, and no file, when no candidate has a base run yet)."""
    from adcgan.evaluation.plots import plot_paired_deltas

    judged = verdicts(table)
    if not judged:
        return False
    panels = []
    for ds, role, refs in ((TARGET, "target", [(TARGET_GAIN, f"adopt ≥ +{TARGET_GAIN:.1f}"),
                                              (-GUARD_LOSS, f"compute ≥ −{GUARD_LOSS:.1f}")]),
                           (GUARD, "guard", [(-GUARD_LOSS, f"≥ −{GUARD_LOSS:.1f}")])):
        deltas = {label(v["candidate"]): list(v[role]["class_deltas"].values()) if v[role] else [] for v in judged}
        panels.append((f"{ds} ({role})", deltas, refs))
    plot_paired_deltas(path, panels, "adcgan+ candidates against their base runs (holdout protocol, seed 0)")
    return True


def lines(rows: list[dict[str, Any]], table: list[dict[str, Any]] | None = None,
          chart_href: str | None = None) -> list[str]:
    """Markdown: the rule, the comparison table, the verdicts (with :func:`chart`'s figure at
    ``chart_href``) and how the label-free figure tracks (``table``: :func:`comparisons` of ``rows`` when
    already made)."""
    table = comparisons(rows) if table is None else table
    if not table:
        return list(NO_RUNS)
    out = [f"The rule (`docs/plus.md`, fixed before any run): a candidate is adopted when it raises the {TARGET} "
           f"mean ROC-AUC by ≥ {TARGET_GAIN:.1f} point and lowers the {GUARD} mean by ≤ {GUARD_LOSS:.1f}; "
           f"a compute setting ({', '.join(COMPUTE_SETTINGS)}) when it costs ≤ {GUARD_LOSS:.1f} on both. "
           "Seed 0, holdout protocol (training split only); Δ is the mean over the classes both runs have.", "",
           "| data set | settings | classes | mean ROC-AUC (%) | base | Δ vs base (points) | pairs on two CPUs "
           "| held-out rotation acc. (%) | held-out translation acc. (%) |", "|---|---|---|---|---|---|---|---|---|"]
    for r in table:
        gone = f" ({r['gone']} not measurable: model gone)" if r.get("gone") else ""
        out.append(f"| {r['dataset']} | {label(r['settings'])} | {r['classes']}/{r['of']}{gone} | {_pct(r['mean'])} | "
                   f"{'–' if r['base'] is None else label(r['base'])} | {_pct(r['delta'], True)} | "
                   f"{_cross(r)} | {_acc(r[LABEL_FREE[0]])} | {_acc(r[LABEL_FREE[1]])} |")
    out += ["", f"| candidate | {TARGET} Δ | {GUARD} Δ | verdict |", "|---|---|---|---|"]
    for v in verdicts(table):
        t, g = (_pct(x["delta"], True) if x else "not run" for x in (v["target"], v["guard"]))
        out.append(f"| {label(v['candidate'])} | {t} | {g} | {v['verdict']} |")
    if chart_href:
        out += ["", f"![per-class Δ of every candidate against its base]({chart_href})"]
    track = tracking(rows)
    if track:
        parts = [f"{ds} {rho:+.2f} ({n} classes)" for ds, (rho, n) in sorted(track.items())]
        out += ["", "Held-out rotation accuracy against ROC-AUC (label-free; decides nothing in this round): "
                "rank correlation across a class's runs, mean over classes: " + "; ".join(parts) + "."]
    dev = [r for r in rows if is_development_run(r)]
    out += ["", "Which code and CPU ran these runs. A GAN's training diverges numerically across CPUs, so a "
            "paired Δ whose two runs ran on two CPUs (column \"pairs on two CPUs\") carries that difference "
            "too:", "", *provenance_lines(dev)]
    return out
