"""Table 1 in the paper's own layout, the paper's claim checked in numbers, and the Table 1 chart.

The paper's Table 1 has one row per data set and one column per scheme x method; its claim
(Section 3): AD-CGAN beats the reconstruction-based GAN baselines ALAD, ADGAN and AE-GAN, "by a
minimum of 15 %" ROC-AUC on CIFAR-10 and Fashion-MNIST in the one-vs-all scheme (30 % all-vs-one).
The input is the study's finished runs (rows of the store, detectors labelled by variant); the output is
Markdown lines (and a PNG), so ``adcgan bench report`` and the pages it fills show the same figures.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from adcgan.bench.close_cells import RULE_SEED, close_lines
from adcgan.bench.grid import budget_key
from adcgan.bench.provenance import provenance_lines, settings_lines


METHODS: tuple[tuple[str, str], ...] = (
    ("ALAD", "alad"), ("ADGAN", "adgan"), ("AE-GAN", "aegan"), ("AD-CGAN", "adcgan"), ("adcgan+", "adcgan+"),
    ("OC-SVM", "ocsvm"), ("Deep SVDD", "deepsvdd"))
"""(column label, detector label of the rows) in the paper's column order, then ours beyond the paper."""
GAN_BASELINES = ("alad", "adgan", "aegan")
"""The reconstruction-based GAN baselines the paper's claim is about."""
CLAIM_MARGIN = 15.0
"""The paper's claimed minimum lead of AD-CGAN over the GAN baselines, in ROC-AUC points."""
SCHEMES = (("one-vs-all", "one-vs-all (soft)"), ("all-vs-one", "all-vs-one (hard)"),
           ("cats-vs-dogs", "cats-vs-dogs"))
DATASET_ORDER = ("mnist", "fashion-mnist", "cifar10", "cifar10-jpeg", "catsvsdogs")

Cell = dict[str, Any]


def pick_cells(rows: list[dict[str, Any]]) -> dict[tuple[str, str, str], Cell]:
    """One cell per (data set, scheme, detector) from the finished runs: the budget with the most runs.

    A cell's figure is the mean over the seeds that cover every class of the data set (each seed's mean over
    its classes first), ± the sd over those seeds; where no seed covers every class yet, the mean of all its
    runs, marked partial (``classes`` ends in "⚠partial").
    """
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        if r.get("roc_auc") is not None:
            groups.setdefault((r["dataset"], r["scheme"], r["detector"], budget_key(r)), []).append(r)
    best: dict[tuple[str, str, str], tuple[tuple, list[dict[str, Any]]]] = {}
    for (ds, scheme, det, bkey), grp in groups.items():
        if (ds, scheme, det) not in best or len(grp) > len(best[(ds, scheme, det)][1]):
            best[(ds, scheme, det)] = (bkey, grp)
    return {key: _cell(key, bkey, grp) for key, (bkey, grp) in best.items()}


def _cell(key: tuple[str, str, str], bkey: tuple, grp: list[dict[str, Any]]) -> Cell:
    from statistics import mean, stdev

    from adcgan.bench.paper_results import paper_value
    from adcgan.data import get_spec

    ds, scheme, det = key
    n = len(get_spec(ds).class_names) or len({r["cls"] for r in grp})
    by_seed: dict[int, dict[int, float]] = {}
    for r in grp:
        by_seed.setdefault(r["seed"], {})[r["cls"]] = 100.0 * r["roc_auc"]
    complete = {s: v for s, v in by_seed.items() if len(v) >= n}
    means = [mean(v.values()) for v in (complete or by_seed).values()]
    m = mean(means)
    k = n if complete else len({c for v in by_seed.values() for c in v})
    p = paper_value(1, ds, scheme, det) if det in (*GAN_BASELINES, "adcgan") else None
    return {"dataset": ds, "data_set": grp[0].get("dataset_display_name") or ds, "scheme": scheme, "detector": det,
            "mean": m, "sd_seeds": stdev(means) if len(means) > 1 else None, "seeds": len(complete or by_seed),
            "classes": f"{k}/{n}" + ("" if complete else " ⚠partial"), "runs": len(grp), "_budget_key": bkey,
            "budget": bkey[0], "paper_mean": None if p is None else p.mean, "diff": None if p is None else m - p.mean}


def _rank(dataset: str) -> tuple[int, str]:
    """Sort key of a data set: the paper's row order, then by name."""
    return (DATASET_ORDER.index(dataset) if dataset in DATASET_ORDER else len(DATASET_ORDER), dataset)


def _groups(cells: dict[tuple[str, str, str], Cell]) -> list[tuple[str, str]]:
    """The (data set, scheme) pairs present, in the paper's order."""
    order = [s for s, _ in SCHEMES]
    return sorted({k[:2] for k in cells}, key=lambda k: (_rank(k[0]), order.index(k[1]) if k[1] in order else 9))


def _ours(cell: Cell | None) -> str:
    """``"88.1 ± 0.4"`` (± over seeds where there are several), ``"71.0*"`` for a partial average."""
    if cell is None or cell["mean"] is None:
        return "–"
    sd = f" ± {cell['sd_seeds']:.1f}" if cell.get("sd_seeds") is not None else ""
    return f"{cell['mean']:.1f}{sd}" + ("*" if "partial" in str(cell["classes"]) else "")


def _paper(dataset: str, scheme: str, detector: str) -> str:
    from adcgan.bench.paper_results import paper_value

    p = paper_value(1, dataset, scheme, detector) if detector in {d for _, d in METHODS[:4]} else None
    return "–" if p is None else f"{p.mean:.1f}{p.marker}"


def layout_lines(rows: list[dict[str, Any]]) -> list[str]:
    """Table 1 as the paper lays it out: rows data sets (ours, then the paper's), columns scheme x method."""
    cells = pick_cells(rows)
    schemes = [(s, label) for s, label in SCHEMES if any(k[1] == s for k in cells)]
    methods = [(label, det) for label, det in METHODS if any(k[2] == det for k in cells)]
    head = ["Data set", ""] + [f"{slabel.split()[0]} · {mlabel}" for _, slabel in schemes for mlabel, _ in methods]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for ds in sorted({k[0] for k in cells}, key=_rank):
        display = next(c["data_set"] for k, c in cells.items() if k[0] == ds)
        ours = [_ours(cells.get((ds, s, d))) for s, _ in schemes for _, d in methods]
        paper = [_paper(ds, s, d) for s, _ in schemes for _, d in methods]
        lines.append("| " + " | ".join([display, "ours", *ours]) + " |")
        lines.append("| " + " | ".join(["", "paper", *paper]) + " |")
    return lines


def claim_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per data set x scheme x AD-CGAN variant: its lead over the best of our GAN baselines, and the paper's."""
    from adcgan.bench.paper_results import paper_value

    cells, out = pick_cells(rows), []
    for ds, scheme in _groups(cells):
        base = [cells[(ds, scheme, b)] for b in GAN_BASELINES if (ds, scheme, b) in cells
                and cells[(ds, scheme, b)]["mean"] is not None]
        paper_base = [p.mean for b in GAN_BASELINES if (p := paper_value(1, ds, scheme, b)) is not None]
        paper_ad = paper_value(1, ds, scheme, "adcgan")
        for variant in ("adcgan", "adcgan+"):
            cell = cells.get((ds, scheme, variant))
            if cell is None or cell["mean"] is None or not base:
                continue
            best = max(base, key=lambda c: c["mean"])
            out.append({"dataset": ds, "data_set": cell["data_set"], "scheme": scheme, "variant": variant,
                        "ours": cell["mean"], "best_baseline": best["detector"], "best_mean": best["mean"],
                        "lead": cell["mean"] - best["mean"], "baselines": len(base),
                        "complete": "partial" not in str(cell["classes"]) and all(
                            "partial" not in str(c["classes"]) for c in base),
                        "paper_lead": None if paper_ad is None or not paper_base else paper_ad.mean - max(paper_base)})
    return out


def claim_lines(rows: list[dict[str, Any]]) -> list[str]:
    """The claim, cell by cell, in plain numbers, and a count of where it holds."""
    claims = claim_rows(rows)
    if not claims:
        return ["No data set has both an AD-CGAN row and a GAN-baseline row yet."]
    lines = []
    for r in claims:
        m = f"{CLAIM_MARGIN:.0f}"
        verdict = (f"a lead of ≥ {m} points: the claim holds" if r["lead"] >= CLAIM_MARGIN else
                   f"ahead by less than {m} points: the claim does not hold" if r["lead"] > 0 else
                   "behind: the claim does not hold")
        paper = "" if r["paper_lead"] is None else f"; the paper: {r['paper_lead']:+.1f}"
        partial = "" if r["complete"] else " (partial: not every class has run yet)"
        lines.append(f"- {r['data_set']}, {r['scheme']}, {'AD-CGAN' if r['variant'] == 'adcgan' else 'adcgan+'}: "
                     f"{r['ours']:.1f} vs the best of {r['baselines']} GAN baseline(s), {r['best_baseline']} "
                     f"{r['best_mean']:.1f}: lead {r['lead']:+.1f} points{paper} — {verdict}{partial}.")
    n_hold = sum(r["lead"] >= CLAIM_MARGIN for r in claims)
    return [f"The claimed lead (≥ {CLAIM_MARGIN:.0f} points over ALAD, ADGAN and AE-GAN) holds in {n_hold} of "
            f"{len(claims)} data set × scheme × variant cells:", "", *lines]


def baseline_lines(rows: list[dict[str, Any]]) -> list[str]:
    """Each GAN baseline (and AD-CGAN) against the paper's figure: higher or lower, by how much."""
    lines = []
    for (ds, scheme, det), cell in sorted(pick_cells(rows).items()):
        if det not in (*GAN_BASELINES, "adcgan") or cell.get("diff") is None:
            continue
        word = "higher" if cell["diff"] > 0 else "lower"
        lines.append(f"- {det} on {cell['data_set']}, {scheme}: {cell['mean']:.1f} against the paper's "
                     f"{cell['paper_mean']:.1f}: {abs(cell['diff']):.1f} points {word}"
                     + (" (partial)" if "partial" in str(cell["classes"]) else "") + ".")
    return lines or ["No cell has both our figure and the paper's yet."]


def chart(path: Path, rows: list[dict[str, Any]]) -> None:
    """Grouped bars, one group per data set x scheme: ours (solid) beside the paper's (hatched) per method."""
    from adcgan.bench.paper_results import paper_value
    from adcgan.evaluation.plots import plot_grouped_bars

    cells = pick_cells(rows)
    groups = _groups(cells)
    names = [f"{cells[next(k for k in cells if k[:2] == g)]['data_set']}\n{g[1]}" for g in groups]
    series = []
    for label, det in METHODS:
        if any(k[2] == det for k in cells):
            ours = [cells[(*g, det)]["mean"] if (*g, det) in cells else None for g in groups]
            paper = [(p.mean if (p := paper_value(1, *g, det)) is not None else None) for g in groups]
            series.append((label, ours, paper))
    plot_grouped_bars(path, names, series, "Table 1: ROC-AUC (%), ours (solid) and the paper's (hatched)")


def rule_cells(rows: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """The cells issue 22's seed rule ranks (:mod:`adcgan.bench.close_cells`): :func:`pick_cells` of the
    seed-0 runs only, so that the seeds the rule asks for never move the ranking that asked for them."""
    return pick_cells([r for r in rows if int(r["seed"]) == RULE_SEED])


def caption(rows: list[dict[str, Any]]) -> str:
    """Budgets, seeds and markers of the layout table."""
    from adcgan.bench.grid import budget_text

    cells = pick_cells(rows).values()
    budgets = "; ".join(f"`{budget_text(k)}`" for k in dict.fromkeys(c["_budget_key"] for c in cells))
    seeds = sorted({c["seeds"] for c in cells})
    return (f"ROC-AUC (%), mean over the classes (± = sd over seeds where a cell has several, a seed counting "
            f"once it has every class; seeds per cell: {', '.join(map(str, seeds))}). Budget(s): {budgets}. "
            "* = not every class has run yet. Paper: its "
            "Table 1 as printed († = the authors' own runs of that baseline); the paper trained 15 + 5 epochs "
            "(35 + 15 all-vs-one) on all normal images.")


def per_class_lines(t3: list[dict[str, Any]]) -> list[str]:
    """Table 3 in the paper's layout: per data set x scheme, rows classes, columns methods, "ours (paper)"."""
    from adcgan.bench.paper_results import paper_value

    cells: dict[tuple[str, str, str, int], dict[str, Any]] = {}
    for r in t3:  # the budget with the most runs, as in pick_cells
        key = (r["dataset"], r["scheme"], r["detector"], r["class"])
        if key not in cells or r["runs"] > cells[key]["runs"]:
            cells[key] = r
    out = []
    for ds, scheme in _groups({k[:3]: v for k, v in cells.items()}):
        sub = {k: v for k, v in cells.items() if k[:2] == (ds, scheme)}
        methods = [(label, det) for label, det in METHODS if any(k[2] == det for k in sub)]
        names = {k[3]: v["class_name"] for k, v in sub.items()}
        display = next(iter(sub.values()))["data_set"]
        out += [f"### {display}, {scheme}", "", "| Class | " + " | ".join(m for m, _ in methods) + " |",
                "|---|" + "---|" * len(methods)]
        for c in sorted(names):
            vals = []
            for _, det in methods:
                r, p = sub.get((ds, scheme, det, c)), paper_value(3, ds, scheme, det, c)
                ours = "–" if r is None or r["mean"] is None else f"{r['mean']:.1f}" + (
                    f" ± {r['sd_seeds']:.1f}" if r.get("sd_seeds") is not None else "")
                vals.append(ours + (f" ({p.mean:.1f})" if p is not None and det in GAN_BASELINES + ("adcgan",) else ""))
            out.append(f"| {c} {names[c]} | " + " | ".join(vals) + " |")
        out.append("")
    return out


def page_lines(rows: list[dict[str, Any]], t3: list[dict[str, Any]], chart_href: str | None) -> list[str]:
    """The study's Table 1 section: layout, chart, the claim, the baselines against the paper, per class,
    provenance."""
    out = ["## Table 1 in the paper's layout", "", caption(rows), "", *layout_lines(rows), ""]
    if chart_href:
        out += [f"![Table 1: ours beside the paper's]({chart_href})", ""]
    out += [*close_lines(rule_cells(rows), {d: m for m, d in METHODS}), ""]
    out += ["## Does AD-CGAN beat ALAD, ADGAN and AE-GAN by ≥ 15 points?", "", *claim_lines(rows), "",
            "## Our figures against the paper's", "", *baseline_lines(rows), "",
            "## Table 3 in the paper's layout: ROC-AUC (%) per class, ours (the paper's)", "", *per_class_lines(t3),
            "## Which code and CPU ran the runs", "", "Across CPUs a GAN's training diverges numerically; a run is "
            "reproducible on one machine and code version.", "", *provenance_lines(rows), "",
            "Which defaults the runs used (a run records its resolved settings; where adcgan+'s defaults change, "
            "its rows are re-run):", "", *settings_lines(rows), ""]
    return out


def summary_lines(rows: list[dict[str, Any]]) -> list[str]:
    """A compact Table 1 for the README: one row per data set x scheme, "ours (the paper's)" per method."""
    from adcgan.bench.paper_results import paper_value

    cells = pick_cells(rows)
    methods = [(label, det) for label, det in METHODS if any(k[2] == det for k in cells)]
    lines = ["| Data set | Scheme | " + " | ".join(m for m, _ in methods) + " |", "|---|---|" + "---|" * len(methods)]
    for ds, scheme in _groups(cells):
        vals = []
        for _, det in methods:
            p = paper_value(1, ds, scheme, det) if det in (*GAN_BASELINES, "adcgan") else None
            vals.append(_ours(cells.get((ds, scheme, det))) + ("" if p is None else f" ({p.mean:.1f})"))
        display = next(c["data_set"] for k, c in cells.items() if k[:2] == (ds, scheme))
        lines.append(f"| {display} | {scheme} | " + " | ".join(vals) + " |")
    budgets = ", ".join(dict.fromkeys(c["budget"].replace(" ⚠≠paper", "") for c in cells.values()))
    return [f"ROC-AUC (%), mean over the classes, ours at the CPU budget(s) {budgets} (the paper's figure in "
            "brackets: 15 + 5 epochs, 35 + 15 all-vs-one, on all images); * = not every class has run yet.", "",
            *lines]


def page_blocks(rows: list[dict[str, Any]], t3: list[dict[str, Any]], out: Path, page: Path) -> dict[str, list[str]]:
    """The blocks a page may hold (:mod:`adcgan.bench.pages`): ``table1``, the whole section, and
    ``table1-summary``, the README's table; the chart in ``out`` is linked relative to ``page``."""
    import os

    href = os.path.relpath(out / "table1_chart.png", page.parent) if rows else None
    return {"table1": page_lines(rows, t3, href), "table1-summary": summary_lines(rows)}
