"""Which commit, CPU and defaults produced a study's runs (adcgan.bench.provenance), on hand-built rows."""
from __future__ import annotations

import json

from adcgan.bench import provenance as P
from adcgan.detectors.adcgan.config import ADCGANConfig


def row(asked: dict, used: dict | None, **over) -> dict:
    cfg = {"detector": "adcgan", "detector_config": {"variant": "plus", **asked}}
    metrics = {"cpu": "CPU A"} if used is None else {"cpu": "CPU A", "detector_config": used}
    return {"detector": "adcgan+", "seed": 0, "config_json": json.dumps(cfg), "metrics_json": json.dumps(metrics),
            "git_commit": "0123456789", "finished_at": "2026-12-07T19:00:00", **over}


def today(**asked) -> dict:
    return ADCGANConfig(variant="plus", seed=0, **asked).to_dict()


def test_default_drift_names_only_defaults_that_changed() -> None:
    assert P.default_drift(row({}, today())) == {}
    assert P.default_drift(row({}, None)) is None
    # the run used k = 3 by default, today's plus resolves 5: a drift; asked for explicitly, it is not one
    assert P.default_drift(row({}, {**today(), "knn_k": 3})) == {"knn_k": 3}
    assert P.default_drift(row({"knn_k": 3}, today(knn_k=3))) == {}
    # the executor's thread count is not a default the result depends on
    assert P.default_drift(row({}, {**today(), "num_threads": 1})) == {}
    # a setting today's code no longer has is not reported as a default it resolves differently
    assert P.default_drift(row({}, {**today(), "retired": 1})) == {}


def test_settings_lines_count_runs_per_default_set() -> None:
    rows = [row({}, today()), row({}, today()), row({}, {**today(), "knn_k": 3, "lfl_draws": 8}),
            row({}, None, git_commit="abcdef0000"), row({}, None, git_commit="0123456789")]
    assert P.settings_lines(rows) == [
        "- adcgan+: 1 run, defaults since changed: knn_k=3, lfl_draws=8",
        "- adcgan+: 2 runs, not recorded (the defaults of the run's commit) (commits 0123456, abcdef0)",
        "- adcgan+: 2 runs, today's defaults"]


def test_provenance_lines_group_by_commit_and_cpu_in_order_of_finish() -> None:
    rows = [row({}, None, finished_at="2026-12-06T10:00:00"), row({}, None, finished_at="2026-12-07T10:00:00"),
            row({}, None, git_commit="fedcba9876", metrics_json=json.dumps({"cpu": "CPU B"}),
                finished_at="2026-12-05T10:00:00"),
            row({}, None, git_commit="fedcba9876", metrics_json="{}", finished_at=None)]
    assert P.provenance_lines(rows) == [
        "- commit `fedcba9`, CPU not recorded: 1 run (adcgan+), finish date not recorded",
        "- commit `fedcba9`, CPU B: 1 run (adcgan+), finished 2026-12-05",
        "- commit `0123456`, CPU A: 2 runs (adcgan+), finished 2026-12-06 to 2026-12-07"]
