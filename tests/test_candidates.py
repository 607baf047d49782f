"""Issue 24's decision rule over a development study (adcgan.bench.candidates), on hand-built runs."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from adcgan.bench import GridSpec, SequentialExecutor, Store, expand, get_budget, run_grid
from adcgan.bench import candidates as C
from adcgan.bench.render import render_report

# Per-class ROC-AUC of today's defaults, and each setting's shift in AUROC units (so points / 100)
BASE = {"cifar10-jpeg": [0.60 + 0.01 * c for c in range(10)], "fashion-mnist": [0.90 + 0.005 * c for c in range(10)]}
HALF = {"critic_width": 0.5}
SHIFTS = {  # (data set, settings) -> shift of every class
    ("cifar10-jpeg", ()): 0.0, ("cifar10-jpeg", (("critic_width", 0.5),)): -0.003,
    ("cifar10-jpeg", (("critic_width", 0.5), ("translation_weight", 1.0))): -0.003 + 0.012,
    ("cifar10-jpeg", (("critic_width", 0.5), ("rotated_negatives", 0.5))): -0.003 + 0.008,
    ("fashion-mnist", ()): 0.0, ("fashion-mnist", (("critic_width", 0.5),)): -0.004,
    ("fashion-mnist", (("translation_weight", 1.0),)): 0.0, ("fashion-mnist", (("rotated_negatives", 0.5),)): -0.002,
}


def row(ds: str, settings: tuple, cls: int, auc: float, **over) -> dict:
    cfg = {"test_set": "holdout", "detector_config": {"variant": "plus", "epochs": 5, **dict(settings)}}
    info = {"train_info": {"heldout_rotation_accuracy": 0.5 + auc / 4}}
    return {"dataset": ds, "scheme": "one-vs-all", "seed": 0, "cls": cls, "roc_auc": auc, "detector": "adcgan+",
            "config_json": json.dumps(cfg), "metrics_json": json.dumps(info), **over}


def study_rows(skip: tuple | None = None) -> list[dict]:
    return [row(ds, s, c, BASE[ds][c] + shift) for (ds, s), shift in SHIFTS.items() for c in range(10)
            if (ds, s, c) != skip]


def test_each_candidate_is_compared_with_its_base_and_judged_by_the_rule() -> None:
    baseline = row("cifar10-jpeg", (), 0, 0.99, detector="ocsvm",
                   config_json=json.dumps({"test_set": "standard", "detector_config": {}}))
    table = C.comparisons(study_rows() + [baseline])  # the test-split run of another detector is ignored
    by = {(r["dataset"], r["settings"]): r for r in table}
    tr = by[("cifar10-jpeg", (("critic_width", 0.5), ("translation_weight", 1.0)))]
    assert tr["base"] == (("critic_width", 0.5),) and tr["delta"] == pytest.approx(1.2) and tr["complete"]
    assert tr["class_deltas"] == {c: pytest.approx(1.2) for c in range(10)}  # the chart's dots
    assert by[("cifar10-jpeg", (("critic_width", 0.5),))]["base"] == ()
    assert by[("cifar10-jpeg", ())]["mean"] == pytest.approx(64.5) and by[("cifar10-jpeg", ())]["delta"] is None
    assert by[("fashion-mnist", (("critic_width", 0.5),))]["delta"] == pytest.approx(-0.4)
    verdict = {C.label(v["candidate"]): v["verdict"] for v in C.verdicts(table)}
    # half width: -0.3 / -0.4, within 0.5 on both; translation +1.2 / 0.0; rotated negatives +0.8 < 1
    assert verdict == {"critic_width=0.5": "adopted", "translation_weight=1.0": "adopted",
                       "rotated_negatives=0.5": "not adopted"}


def test_a_candidate_missing_a_class_is_pending_and_a_base_needs_one_key_less() -> None:
    rows = study_rows(skip=("cifar10-jpeg", (("critic_width", 0.5), ("translation_weight", 1.0)), 3))
    verdict = {C.label(v["candidate"]): v["verdict"] for v in C.verdicts(C.comparisons(rows))}
    assert verdict["translation_weight=1.0"] == "pending" and verdict["critic_width=0.5"] == "adopted"
    present = {(), (("critic_width", 0.5),), (("translation_weight", 1.0),)}
    both = (("critic_width", 0.5), ("translation_weight", 1.0))
    assert C.base_of(both, present) == (("critic_width", 0.5),)  # the compute setting stays in the base
    assert C.base_of(both, {()}) is None and C.label(both) == "critic_width=0.5, translation_weight=1.0"
    assert C.label((("see_edges", True),)) == "see_edges=true" and C.label(()) == "defaults"
    # a run of new defaults (PLUS_REVISION 2) is a candidate of its own, its base the runs of revision 1
    new = row("fashion-mnist", (), 0, 0.9)
    new["config_json"] = json.dumps({**json.loads(new["config_json"]), "defaults_revision": 2})
    assert C.settings_of(new) == (("defaults_revision", 2),) and C.base_of(C.settings_of(new), {()}) == ()


def test_rank_correlation_by_hand() -> None:
    assert C.ranks([3.0, 1.0, 1.0, 2.0]) == [4.0, 1.5, 1.5, 3.0]
    assert C.spearman([1, 2, 3], [10, 20, 30]) == pytest.approx(1.0)
    assert C.spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    # ranks x (1, 2, 3, 4), y (2, 1, 4, 3): 1 - 6 * sum d^2 / (n (n^2 - 1)) = 1 - 6 * 4 / 60 = 0.6
    assert C.spearman([1, 2, 3, 4], [2, 1, 4, 3]) == pytest.approx(0.6)
    assert C.spearman([1, 2], [1, 2]) is None and C.spearman([1, 1, 1], [1, 2, 3]) is None
    # the hand-built accuracy rises with the AUROC in every class: +1 on both data sets, 10 classes each
    one = (pytest.approx(1.0), 10)
    assert C.tracking(study_rows()) == {"cifar10-jpeg": one, "fashion-mnist": one}


def test_the_report_and_a_page_block_show_the_verdicts(tmp_path: Path) -> None:
    def runner(spec, out_dir, resume=False, progress=True):
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        auc = 0.70 + 0.01 * int(spec.cls) + (0.015 if spec.detector_config.get("translation_weight") else 0.0)
        return {"roc_auc": auc, "budget": {"epochs": 1, "warmup_epochs": 0}, "device": "cpu", "n_test": 10,
                "n_anomalous": 5, "train_info": {"heldout_rotation_accuracy": auc}}

    store = Store(tmp_path / "s.db")
    for ds in ("fashion-mnist", "cifar10-jpeg"):
        for extra in ({}, {"translation_weight": 1.0}):
            grid = GridSpec(datasets=[ds], classes="all", test_set="holdout", budget=get_budget("smoke"),
                            detector_config={"variant": "plus", **extra})
            run_grid(store, expand(grid), SequentialExecutor(runner), tmp_path / "runs", progress=False)
    store.close()
    page = tmp_path / "plus.md"
    page.write_text("intro\n<!-- plus-candidates:begin -->\nold\n<!-- plus-candidates:end -->\nend\n", encoding="utf-8")
    render_report(tmp_path / "s.db", tmp_path / "rep", pages=[page])
    text = page.read_text(encoding="utf-8")
    assert "\nold\n" not in text and text.startswith("intro\n") and text.endswith("end\n")
    assert "| translation_weight=1.0 | +1.5 | +1.5 | adopted |" in text
    assert "| cifar10-jpeg | translation_weight=1.0 | 10/10 | 76.0 | defaults | +1.5 |" in text
    assert "## adcgan+ candidates (issue 24's rule)" in (tmp_path / "rep" / "results.md").read_text(encoding="utf-8")
    assert (tmp_path / "rep" / C.CHART).stat().st_size > 0
    assert f"]({C.CHART})" in (tmp_path / "rep" / "results.md").read_text(encoding="utf-8")
    assert f"](rep/{C.CHART})" in text  # the page links the figure relative to itself


def test_a_score_variant_is_judged_against_the_runs_it_was_scored_from() -> None:
    rows = study_rows()
    shift = {("cifar10-jpeg", "knn_rotations=true"): 0.011, ("fashion-mnist", "knn_rotations=true"): -0.001,
             ("cifar10-jpeg", "components=-LFL"): 0.005, ("fashion-mnist", "components=-LFL"): 0.02}
    for r in rows:
        if C.settings_of(r) in ((), (("critic_width", 0.5),)):  # variants recorded on two settings
            extra = 0.1 if C.settings_of(r) else 0.0             # (the half-width ones must not decide)
            r["metrics_json"] = json.dumps({"score_variants": [
                {"label": lab, "roc_auc": r["roc_auc"] + s - extra} for (ds, lab), s in shift.items()
                if ds == r["dataset"]]})
    table = C.comparisons(rows)
    by = {(r["dataset"], C.label(r["settings"])): r for r in table}
    knn = by[("cifar10-jpeg", "scored with knn_rotations=true")]
    assert knn["base"] == () and knn["delta"] == pytest.approx(1.1) and knn["mean"] == pytest.approx(65.6)
    verdict = {C.label(v["candidate"]): v["verdict"] for v in C.verdicts(table)}
    assert verdict["scored with knn_rotations=true"] == "adopted"       # +1.1 / -0.1
    assert verdict["scored with components=-LFL"] == "not adopted"      # +0.5 / +2.0
    assert "| scored with knn_rotations=true | +1.1 | -0.1 | adopted |" in C.lines(rows)


def test_a_variant_added_after_some_models_were_gone_is_judged_on_the_classes_it_could_measure() -> None:
    """``rescore --record`` marks a run whose folder was gone ``no run folder``: those classes count as done
    without a Δ (the page says how many), so the verdict does not wait for models that no longer exist."""
    rows = study_rows()
    for r in rows:
        if C.settings_of(r) == ():
            lost = r["dataset"] == "fashion-mnist" and r["cls"] < 3
            v = ({"label": "components=-LGD", "roc_auc": None, "error": "no run folder"} if lost else
                 {"label": "components=-LGD", "roc_auc": r["roc_auc"] + (0.02 if r["dataset"] == "cifar10-jpeg"
                                                                          else -0.004)})
            r["metrics_json"] = json.dumps({"score_variants": [v]})
    by = {(r["dataset"], C.label(r["settings"])): r for r in C.comparisons(rows)}
    guard = by[("fashion-mnist", "scored with components=-LGD")]
    assert (guard["classes"], guard["gone"], guard["pairs"], guard["complete"]) == (7, 3, 7, True)
    assert guard["delta"] == pytest.approx(-0.4)
    verdict = {C.label(v["candidate"]): v["verdict"] for v in C.verdicts(C.comparisons(rows))}
    assert verdict["scored with components=-LGD"] == "adopted"  # +2.0 / -0.4 on the 7 measurable classes
    assert "| fashion-mnist | scored with components=-LGD | 7/10 (3 not measurable: model gone) |" in \
        "\n".join(C.lines(rows))
    rows[0]["metrics_json"] = json.dumps({})  # a class neither measured nor marked: still pending
    verdict = {C.label(v["candidate"]): v["verdict"] for v in C.verdicts(C.comparisons(rows))}
    assert verdict["scored with components=-LGD"] == "pending"


def test_pairs_run_on_two_cpus_are_counted_and_the_cpus_named() -> None:
    rows = study_rows()
    for r in rows:  # Fashion-MNIST classes 0-3 of every setting on CPU A, the rest on CPU B; the half-width
        # candidate's classes 2 and 3 moved to B, so 2 of its 10 pairs straddle the two CPUs; the Fashion-MNIST
    # means by hand: defaults 90 + 0.5 * 4.5 = 92.25 (shown 92.3), half width 0.4 lower
        moved = r["dataset"] == "fashion-mnist" and C.settings_of(r) == (("critic_width", 0.5),) and r["cls"] in (2, 3)
        cpu = "CPU B" if r["cls"] > 3 or moved else "CPU A"
        r.update(metrics_json=json.dumps({**json.loads(r["metrics_json"]), "cpu": cpu, "score_variants": [
            {"label": "knn_rotations=true", "roc_auc": r["roc_auc"]}]}),
            git_commit="abcdef0123", finished_at="2026-12-07T18:00:00")
    by = {(r["dataset"], C.label(r["settings"])): r for r in C.comparisons(rows)}
    half = by[("fashion-mnist", "critic_width=0.5")]
    assert (half["cross_cpu"], half["pairs"]) == (2, 10)
    assert by[("fashion-mnist", "translation_weight=1.0")]["cross_cpu"] == 0
    assert by[("fashion-mnist", "scored with knn_rotations=true")]["cross_cpu"] == 0  # scored from its own run
    text = "\n".join(C.lines(rows))
    assert "| fashion-mnist | critic_width=0.5 | 10/10 | 91.9 | defaults | -0.4 | 2/10 |" in text
    assert "| fashion-mnist | defaults | 10/10 | 92.3 | – | – | – |" in text
    # 8 settings x 10 classes: CPU A ran classes 0-3 of each (32) less the two moved ones, CPU B the other 50
    assert "- commit `abcdef0`, CPU A: 30 runs (adcgan+), finished 2026-12-07" in text
    assert "- commit `abcdef0`, CPU B: 50 runs (adcgan+), finished 2026-12-07" in text


def test_the_chart_is_drawn_only_once_a_candidate_has_a_base(tmp_path: Path) -> None:
    only_defaults = [r for r in study_rows() if C.settings_of(r) == ()]
    assert not C.chart(tmp_path / "none.png", C.comparisons(only_defaults)) and not (tmp_path / "none.png").exists()
    assert C.chart(tmp_path / "c.png", C.comparisons(study_rows())) and (tmp_path / "c.png").stat().st_size > 0


def test_the_base_runs_component_table_averages_each_component_by_hand() -> None:
    from adcgan.bench.candidate_components import component_lines, component_means

    comps = {0: {"LGR": 0.50, "KNN": 0.70, "ROT": 0.80}, 1: {"LGR": 0.40, "KNN": 0.80, "ROT": 0.60, "TRN": 0.9}}
    rows = [row("cifar10-jpeg", s, c, 0.6, metrics_json=json.dumps({"component_auroc": comps[c]}))
            for s in ((), (("critic_width", 0.5),), (("see_edges", True),)) for c in (0, 1)]
    table = component_means(rows)  # the see_edges runs are a candidate, not a base: left out
    assert [(t["dataset"], t["settings"], t["classes"]) for t in table] == [
        ("cifar10-jpeg", (), 2), ("cifar10-jpeg", (("critic_width", 0.5),), 2)]
    assert table[0]["means"] == pytest.approx({"LGR": 45.0, "KNN": 75.0, "ROT": 70.0, "TRN": 90.0})
    text = "\n".join(component_lines(rows))
    assert "| data set | settings | classes | LGR | KNN | ROT | TRN |" in text
    assert "| cifar10-jpeg | defaults | 2 | 45.0 | 75.0 | 70.0 | 90.0 |" in text
    assert component_lines([]) == []
