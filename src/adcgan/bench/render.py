"""Render a study database into Tables 1, 3 and 4 beside the paper's numbers (Markdown, CSV, PNG).

Aggregation (Table 1 and 4): for each seed, the ROC-AUC is averaged over the
classes run with that seed; the table shows mean ± sample sd (ddof=1) of these
per-seed averages over seeds, in percent. The column "sd over classes" is the
spread of the per-class means (the quantity the paper's "Average ±" matches).
Table 3: mean ± sd over seeds per class. Runs under different budgets are
never pooled: the budget is part of every row's key.
"""
from __future__ import annotations

import csv
import json
import math
import os
import re
from collections import defaultdict
from pathlib import Path
from statistics import mean, stdev
from typing import Any, Iterable

from adcgan.bench.grid import BUDGET_COLS, budget_key, budget_text, is_paper_budget
from adcgan.bench.pages import fill_blocks
from adcgan.bench.provenance import variant_label
from adcgan.bench.paper_results import PAPER_DATASET, PAPER_DISPLAY, PaperResult, paper_value
from adcgan.bench.store import ABLATIONS, Store, ablation_column, ablation_label

PAPER_BUDGET = "paper (Appendix A.3): 15 epochs + 5 warm-up one-vs-all / CatsVsDogs, 35 + 15 all-vs-one, batch 32, " \
               "all training and test images"




def _paper_flag(key: tuple, scheme: str) -> str:
    """``""`` for the paper budget, else a visible flag."""
    b = dict(zip(BUDGET_COLS, key))
    return "" if is_paper_budget(b, scheme) else " ⚠≠paper"


def _ms(values: list[float]) -> tuple[float | None, float | None]:
    """Mean and sample sd (None where undefined), in percent."""
    vals = [100.0 * v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return None, None
    return mean(vals), (stdev(vals) if len(vals) > 1 else None)


def _fmt(m: float | None, s: float | None = None) -> str:
    if m is None:
        return "–"
    return f"{m:.1f}" + (f" ± {s:.1f}" if s is not None else "")


def _diff(m: float | None, p: PaperResult | None) -> float | None:
    return None if m is None or p is None else m - p.mean


def _per_seed(rows: Iterable[dict[str, Any]], col: str) -> tuple[float | None, float | None, float | None, int]:
    """(mean, sd over seeds, sd over classes, n seeds) of ``col``: classes averaged per seed first, over the
    seeds with the most classes (a seed still running never pulls a mean over fewer classes in)."""
    rows = [r for r in rows if r[col] is not None]
    classes: dict[int, set[int]] = defaultdict(set)
    for r in rows:
        classes[r["seed"]].add(r["cls"])
    most = max((len(c) for c in classes.values()), default=0)
    by_seed: dict[int, list[float]] = defaultdict(list)
    by_cls: dict[int, list[float]] = defaultdict(list)
    for r in rows:
        if len(classes[r["seed"]]) == most:
            by_seed[r["seed"]].append(r[col])
            by_cls[r["cls"]].append(r[col])
    m, sd = _ms([mean(v) for v in by_seed.values()])
    _, sd_cls = _ms([mean(v) for v in by_cls.values()])
    return m, sd, sd_cls, len(by_seed)


def _group(rows: list[dict[str, Any]], *cols: str) -> dict[tuple, list[dict[str, Any]]]:
    """Rows grouped by ``cols`` + budget, in first-seen order."""
    out: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(tuple(r[c] for c in cols) + (budget_key(r),), []).append(r)
    return out


def _display(rows: list[dict[str, Any]]) -> str:
    """The data set's display name recorded by the runs (e.g. ``CIFAR-10 (JPEG q75 copy)``)."""
    return rows[0].get("dataset_display_name") or rows[0]["dataset"]


def _classes(dataset: str, grp: list[dict[str, Any]]) -> str:
    """``"10/10"``, or ``"2/10 ⚠partial"`` when the average covers only some of the data set's classes."""
    from adcgan.data import get_spec

    k, n = len({r["cls"] for r in grp}), len(get_spec(dataset).class_names)
    if not n:
        return str(k)
    return f"{k}/{n}" + (" ⚠partial" if k < n else "")


def _paper_cols(p: PaperResult | None, dataset: str, m: float | None) -> dict[str, Any]:
    d = _diff(m, p)
    return {"paper_dataset": PAPER_DISPLAY.get(PAPER_DATASET.get(dataset, dataset), "") if p else "",
            "paper": p.text() if p else "–", "paper_mean": p.mean if p else None,
            "paper_std_printed": p.std if p else None, "diff": None if d is None else round(d, 2)}


def table1(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Table 1 rows: per data set x scheme x detector x budget."""
    out = []
    for (ds, scheme, det, bkey), grp in _group(rows, "dataset", "scheme", "detector").items():
        m, sd, sd_cls, n_seeds = _per_seed(grp, "roc_auc")
        out.append({"dataset": ds, "data_set": _display(grp), "scheme": scheme, "detector": det,
                    "budget": bkey[0] + _paper_flag(bkey, scheme), "mean": m, "sd_seeds": sd, "sd_classes": sd_cls,
                    "classes": _classes(ds, grp), "seeds": n_seeds, "runs": len(grp),
                    **_paper_cols(paper_value(1, ds, scheme, det), ds, m), "_budget_key": bkey})
    return sorted(out, key=lambda r: (r["dataset"], r["scheme"], r["detector"], str(r["_budget_key"])))


def table3(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Table 3 rows: per class, mean ± sd over seeds."""
    out = []
    for (ds, scheme, det, cls, bkey), grp in _group(rows, "dataset", "scheme", "detector", "cls").items():
        m, sd = _ms([r["roc_auc"] for r in grp])
        out.append({"dataset": ds, "data_set": _display(grp), "scheme": scheme, "detector": det, "class": cls,
                    "class_name": grp[0]["cls_name"], "budget": bkey[0] + _paper_flag(bkey, scheme), "mean": m,
                    "sd_seeds": sd, "seeds": len({r["seed"] for r in grp}), "runs": len(grp),
                    **_paper_cols(paper_value(3, ds, scheme, det, cls), ds, m), "_budget_key": bkey})
    return sorted(out, key=lambda r: (r["dataset"], r["scheme"], r["detector"], str(r["_budget_key"]), r["class"]))


def table4(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Table 4 rows (AD-CGAN only): ablation AUROCs LG / LFE / LFL / GF from the stored components."""
    out = []
    ad = [r for r in rows if r["detector"] == "adcgan"]
    for (ds, scheme, bkey), grp in _group(ad, "dataset", "scheme").items():
        for a in ABLATIONS:
            v = ablation_label(a)  # the paper's row label: LG, LFE (= LG+LFE), LFL (= LG+LFL), GF
            m, sd, sd_cls, n_seeds = _per_seed(grp, ablation_column(a))
            out.append({"dataset": ds, "data_set": _display(grp), "scheme": scheme, "model": f"AD-CGAN_{v}",
                        "budget": bkey[0] + _paper_flag(bkey, scheme), "mean": m, "sd_seeds": sd,
                        "sd_classes": sd_cls, "classes": _classes(ds, grp), "seeds": n_seeds,
                        "runs": len(grp), **_paper_cols(paper_value(4, ds, scheme, "adcgan", "avg", v), ds, m),
                        "_budget_key": bkey})
    return out


def write_csv(path: Path, table: list[dict[str, Any]]) -> None:
    """One CSV per table (raw numbers; the full budget spelled out)."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        if not table:
            f.write("no finished runs\n")
            return
        cols = [c for c in table[0] if not c.startswith("_")] + ["budget_detail"]
        w = csv.DictWriter(f, fieldnames=cols, lineterminator="\n", extrasaction="ignore")
        w.writeheader()
        for r in table:
            w.writerow({**{k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()},
                        "budget_detail": budget_text(r["_budget_key"])})


def _md_table(table: list[dict[str, Any]], head: list[tuple[str, str]]) -> list[str]:
    """Markdown lines for ``table`` with columns (header, key)."""
    lines = ["| " + " | ".join(h for h, _ in head) + " |", "|" + "---|" * len(head)]
    for r in table:
        cells = []
        for _, k in head:
            v = r.get(k)
            cells.append(_fmt(r["mean"], r.get("sd_seeds")) if k == "ours" else
                         ("–" if v is None else f"{v:+.1f}" if k == "diff" else f"{v:.1f}" if isinstance(v, float)
                          else str(v)))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


T1_HEAD = [("Data set", "data_set"), ("Scheme", "scheme"), ("Detector", "detector"), ("Budget", "budget"),
           ("Ours % (mean ± sd over seeds)", "ours"), ("sd over classes", "sd_classes"), ("Classes", "classes"),
           ("Seeds", "seeds"), ("Runs", "runs"), ("Paper row", "paper_dataset"), ("Paper", "paper"),
           ("Δ ours − paper", "diff")]
T3_HEAD = [("Data set", "data_set"), ("Scheme", "scheme"), ("Detector", "detector"), ("Class", "class"),
           ("Name", "class_name"), ("Budget", "budget"), ("Ours % (mean ± sd over seeds)", "ours"),
           ("Seeds", "seeds"), ("Runs", "runs"), ("Paper row", "paper_dataset"), ("Paper", "paper"),
           ("Δ ours − paper", "diff")]
T4_HEAD = [("Data set", "data_set"), ("Scheme", "scheme"), ("Model", "model"), ("Budget", "budget"),
           ("Ours % (mean ± sd over seeds)", "ours"), ("Classes", "classes"), ("Seeds", "seeds"), ("Runs", "runs"),
           ("Paper", "paper"), ("Δ ours − paper", "diff")]


def _section(title: str, table: list[dict[str, Any]], head: list[tuple[str, str]]) -> list[str]:
    """A Markdown section: heading, the budgets of its rows, the table."""
    keys = list(dict.fromkeys(r["_budget_key"] for r in table))
    note = "; ".join(f"`{budget_text(k)}`" for k in keys) or "none"
    body = _md_table(table, head) if table else ["No finished runs."]
    return [f"## {title}", "", f"Budget(s) in this table: {note}. Seeds and runs per row are in the columns "
            "Seeds / Runs; ⚠≠paper flags rows whose budget differs from the paper's.", "", *body, ""]


def _slug(*parts: Any) -> str:
    return re.sub(r"[^A-Za-z0-9.=+-]+", "_", "_".join(str(p) for p in parts)).strip("_")


def _charts(out: Path, t3: list[dict[str, Any]]) -> list[str]:
    """One PNG per data set x scheme x budget; returns the file names."""
    from adcgan.evaluation.plots import plot_study_chart

    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in t3:
        groups.setdefault((r["dataset"], r["data_set"], r["scheme"], r["_budget_key"]), []).append(r)
    names = []
    for i, ((ds, display, scheme, bkey), grp) in enumerate(groups.items()):
        name = f"chart_{_slug(ds, scheme, bkey[0])}_{i}.png"
        paper_ds = next((r["paper_dataset"] for r in grp if r["paper_dataset"]), "none")
        plot_study_chart(out / name, grp, f"{display} | {scheme}\nbudget {budget_text(bkey)}\nsolid: ours (mean ± sd over "
                               f"seeds); hatched: paper, {paper_ds} row (absent where the paper has no number)")
        names.append(name)
    return names


def _header(store: Store, rows: list[dict[str, Any]]) -> list[str]:
    """Study summary, budgets used and the aggregation rule."""
    counts = store.counts()
    lines = ["# Benchmark results", "", f"Study database: `{store.path}`  ",
             "Runs: " + ", ".join(f"{k} {v}" for k, v in counts.items()), "", "## Budgets used", ""]
    by_budget: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        by_budget.setdefault(budget_key(r), []).append(r)
    for key, grp in by_budget.items():
        schemes = sorted({r["scheme"] for r in grp})
        same = all(not _paper_flag(key, s) for s in schemes)
        lines.append(f"- `{budget_text(key)}` — {len(grp)} runs ({', '.join(schemes)}) — "
                     + ("same as the paper's budget" if same else "**differs from the paper's budget**"))
    lines += ["", f"Paper budget: {PAPER_BUDGET}. Rows marked ⚠≠paper ran under a smaller budget and are not "
              "expected to reach the paper's numbers. Averages marked ⚠partial cover only some classes, while the "
              "paper averages all of them: their Δ is not a like-for-like comparison.", "",
              "Aggregation: ROC-AUC in %. Table 1/4: classes averaged per seed, then mean ± sample sd over seeds; "
              "'sd over classes' = sd of the per-class means. Table 3: mean ± sd over seeds. The paper's numbers "
              "are shown exactly as printed; its ± is in AUROC units (0.04 = 4 points) and, for averages, matches "
              "the spread over classes. Δ = ours − paper mean (points). Data sets are labelled with the name the "
              "runs recorded; 'CIFAR-10 (JPEG q75 copy)' is a lossy copy, compared with the paper's CIFAR-10 row "
              "only under that label.", ""]
    return lines


def study_tables(db: str | Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]],
                                          list[dict[str, Any]], list[str]]:
    """The finished runs of a study database (detectors labelled by variant), Tables 1, 3, 4 and the header."""
    if not Path(db).is_file():
        raise FileNotFoundError(f"study database {db} not found")
    store = Store(db)
    try:
        rows = [{**r, "detector": variant_label(r)} for r in store.rows("done")]
        return rows, table1(rows), table3(rows), table4(rows), _header(store, rows)
    finally:
        store.close()


def render_report(db: str | Path, out: str | Path, pages: list[str | Path] | None = None) -> dict[str, Any]:
    """Write ``results.md``, ``table1.csv``, ``table3.csv``, ``table4.csv`` and the charts into ``out``.

    ``results.md`` opens with Table 1 in the paper's layout and the claim checked in numbers
    (:mod:`adcgan.bench.table1`); each of ``pages`` gets the same section in its ``table1`` block and a
    compact summary in its ``table1-summary`` block (:mod:`adcgan.bench.pages`).
    """
    from adcgan.bench import candidates
    from adcgan.bench import table1 as paper_layout
    from adcgan.bench.candidate_components import component_lines

    out = Path(out)
    rows, t1, t3, t4, lines = study_tables(db)
    out.mkdir(parents=True, exist_ok=True)
    for name, t in (("table1.csv", t1), ("table3.csv", t3), ("table4.csv", t4)):
        write_csv(out / name, t)
    if rows:
        paper_layout.chart(out / "table1_chart.png", rows)
    charts = _charts(out, t3)
    lines[1:1] = ["", *paper_layout.page_lines(rows, t3, "table1_chart.png" if rows else None)]
    lines += [*_section("Table 1 — ROC-AUC (%) per data set, scheme and detector", t1, T1_HEAD),
              *_section("Table 3 — ROC-AUC (%) per class", t3, T3_HEAD),
              *_section("Table 4 — AD-CGAN ablation of the normality score (from the stored components)", t4,
                        T4_HEAD), "## Charts", ""]
    lines += [f"![{c}]({c})" for c in charts]
    plus_table = candidates.comparisons(rows)
    plus_chart = out / candidates.CHART if candidates.chart(out / candidates.CHART, plus_table) else None
    if plus_chart:
        lines += ["", "## adcgan+ candidates (issue 24's rule)", "",
                  *candidates.lines(rows, plus_table, candidates.CHART), *component_lines(rows)]
    (out / "results.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for page in pages or []:
        blocks = paper_layout.page_blocks(rows, t3, out, Path(page))
        plus_lines = ([*candidates.lines(rows, plus_table, os.path.relpath(plus_chart, Path(page).parent)),
                       *component_lines(rows)] if plus_chart else candidates.NO_RUNS)
        fill_blocks(Path(page), {**blocks, "plus-candidates": plus_lines})
    return {"runs": len(rows), "table1": len(t1), "table3": len(t3), "table4": len(t4), "charts": charts,
            "results": str(out / "results.md")}
