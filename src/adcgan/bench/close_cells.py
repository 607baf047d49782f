"""Issue 22's rule for more seeds: a 28x28 cell whose seed-0 mean is within 2 points of its neighbour in
the ranking of its (data set, scheme) gets seeds 1 and 2, so that the order of the two is not a coin toss.

Input: the study's seed-0 cells (:func:`adcgan.bench.table1.rule_cells`), as :func:`adcgan.bench.table1.pick_cells` makes them
from the finished runs (detectors labelled by variant: ``adcgan``, ``adcgan+``, baselines); seeds 1 and 2,
once they run, never change which cells the rule named. A (data set, scheme) is ranked once every method in
it covers every class: a partial mean cannot be ranked yet.
"""
from __future__ import annotations

from typing import Any

CLOSE_MARGIN = 2.0
"""Points of mean ROC-AUC within which two neighbours in a ranking count as close."""
RULE_DATASETS = ("fashion-mnist", "mnist")
"""The data sets the rule covers (the study's 28x28 cells)."""


Cells = dict[tuple[str, str, str], dict[str, Any]]
RULE_SEED = 0
"""The seed whose means the rule ranks: the seeds it asks for must not move the ranking that asked."""


def close_cells(cells: Cells) -> list[tuple[str, str, str, str, float, float]]:
    """The close neighbours: ``(data set, scheme, detector, neighbour, its mean, the neighbour's mean)``,
    one tuple per close pair, in the ranking's order (higher mean first)."""
    out = []
    for ds, scheme in sorted({k[:2] for k in cells if k[0] in RULE_DATASETS}):
        group = [c for k, c in cells.items() if k[:2] == (ds, scheme)]
        if any("partial" in str(c["classes"]) for c in group):
            continue  # the ranking is not final until every method has every class
        ranked = sorted(group, key=lambda c: -c["mean"])
        for a, b in zip(ranked, ranked[1:]):
            if a["mean"] - b["mean"] <= CLOSE_MARGIN:
                out.append((ds, scheme, a["detector"], b["detector"], a["mean"], b["mean"]))
    return out


def needing_seeds(cells: Cells) -> set[tuple[str, str, str]]:
    """The (data set, scheme, detector) cells the rule gives seeds 1 and 2."""
    return {(ds, scheme, det) for ds, scheme, a, b, _, _ in close_cells(cells) for det in (a, b)}


def close_lines(cells: Cells, labels: dict[str, str]) -> list[str]:
    """The page's statement of the rule and the pairs it found (``labels``: detector -> column label)."""
    names = {k[:2]: c["data_set"] for k, c in cells.items()}
    pairs = [f"{names[(ds, scheme)]} {scheme}: {labels.get(a, a)} {ma:.1f} and {labels.get(b, b)} {mb:.1f}"
             for ds, scheme, a, b, ma, mb in close_cells(cells)]
    head = (f"Seeds 1 and 2 run for every Fashion-MNIST and MNIST cell whose seed-0 mean is within "
            f"{CLOSE_MARGIN:.0f} points of its neighbour in the ranking (rankings with every class of every method done): ")
    return [head + ("; ".join(pairs) + "." if pairs else "none so far.")]
