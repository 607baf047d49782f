"""Benchmark grid: paper transcription, presets, hashing, the SQLite store, executors, rendering, CLI.

Fast tests use a fake runner; the executor tests at the end use the real
``run_experiment`` on a tiny generated image-folder data set (one epoch).
"""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from adcgan.bench import PRESETS, GridSpec, SequentialExecutor, Store, expand, get_budget, run_grid, spec_hash
from adcgan.bench.provenance import default_drift
from adcgan.cli.bench import run_bench_command
from adcgan.bench.grid import is_paper_budget, schemes_for
from adcgan.bench.paper_results import load_paper_results, paper_value
from adcgan.bench.render import render_report
from adcgan.cli import build_parser
from adcgan.data import get_spec
from conftest import make_folder_data

TINY = ["--preset", "smoke", "--num-threads", "1", "--quiet"]


@pytest.fixture(scope="module")
def folder_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_folder_data(tmp_path_factory.mktemp("bench_data") / "stripes")


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def fake_metrics(spec, detector_components: bool = True) -> dict:
    """Deterministic metrics shaped like run_experiment's."""
    auc = 0.80 + 0.01 * int(spec.cls) + 0.002 * spec.seed
    comps = {k: auc - d for k, d in zip(("LGR", "LGD", "LFE", "LFL"), (0.2, 0.25, 0.1, 0.05))}
    abl = {k: auc - d for k, d in zip(("LG", "LG+LFE", "LG+LFL", "GF"), (0.15, 0.08, 0.06, 0.0))}
    dc = spec.detector_config
    return {"roc_auc": auc, "average_precision": auc - 0.1, "f1": 0.5, "threshold": 1.0,
            "component_auroc": comps if detector_components else {}, "ablation_auroc": abl,
            "budget": {"epochs": dc["epochs"], "warmup_epochs": dc["warmup_epochs"], "train_images": 100,
                       "test_images": 50, "epochs_done": dc["epochs"] + dc["warmup_epochs"]},
            "train_seconds": 1.0, "score_seconds": 0.1, "train_images_per_s": 100.0, "score_images_per_s": 500.0,
            "device": "cpu", "versions": {"adcgan": "0.1.0"}, "n_test": 50, "n_anomalous": 25,
            "dataset_display_name": get_spec(spec.dataset).display_name}


CALLS: list[tuple[str, bool]] = []


def fake_runner(spec, out_dir, resume=False, progress=True):
    CALLS.append((str(out_dir), resume))
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    if spec.detector_config.get("lam") == -1:
        raise RuntimeError("boom: bad lambda")
    return fake_metrics(spec)


# ---- paper numbers ----------------------------------------------------------------------------
def test_paper_results_transcription() -> None:
    rows = load_paper_results()
    assert len(rows) == 320
    assert paper_value(1, "fashion-mnist", "one-vs-all", "adcgan").text() == "93.9 ± 0.02"
    assert paper_value(1, "fashion-mnist", "all-vs-one", "adgan").text() == "54.0†"
    assert paper_value(3, "mnist", "one-vs-all", "ADGAN", "avg").text() == "91.5?"
    assert paper_value(3, "cifar10", "all-vs-one", "alad", 4).mean == 35.5
    assert paper_value(3, "catsvsdogs", "cats-vs-dogs", "adcgan", 1).text() == "86.9 ± 0.05"
    assert paper_value(3, "catsvsdogs", "all-vs-one", "adcgan", 0) is None
    assert paper_value(4, "mnist", "all-vs-one", "adcgan", "avg", "LFL").text() == "73.2 ± 0.09"
    assert paper_value(1, "cifar10-jpeg", "one-vs-all", "adcgan").mean == 86.0
    for r in rows:  # Table 3 averages repeat Table 1; GF of Table 4 repeats AD-CGAN of Table 1
        if r.table == 3 and r.cls == "avg":
            assert paper_value(1, r.dataset, r.scheme, r.detector).mean == r.mean
        if r.table == 4 and r.variant == "GF":
            assert paper_value(1, r.dataset, r.scheme, "adcgan").mean == r.mean


def test_paper_average_rows_match_class_means() -> None:
    """The transcribed per-class numbers average to the printed Average (within rounding)."""
    for r in load_paper_results():
        if r.table == 3 and r.cls == "avg":
            cls = [paper_value(3, r.dataset, r.scheme, r.detector, c) for c in range(10)]
            vals = [c.mean for c in cls if c is not None]
            assert abs(np.mean(vals) - r.mean) < 0.75, (r, np.mean(vals))


# ---- presets, hashing, grid expansion --------------------------------------------------------
def test_presets_follow_appendix_a3() -> None:
    paper = PRESETS["paper"]
    assert paper.resolve("one-vs-all")["epochs"] == 15 and paper.resolve("one-vs-all")["warmup_epochs"] == 5
    assert paper.resolve("all-vs-one")["epochs"] == 35 and paper.resolve("all-vs-one")["warmup_epochs"] == 15
    assert paper.resolve("cats-vs-dogs")["batch_size"] == 32
    assert is_paper_budget(paper.resolve("all-vs-one"), "all-vs-one")
    assert not is_paper_budget(paper.resolve("one-vs-all"), "all-vs-one")
    q = get_budget("quick")
    assert (q.epochs, q.warmup_epochs, q.max_train_images, q.max_test_images) == (2, 1, 2000, 2000)
    custom = get_budget("quick", epochs=3, max_test_images=None)
    assert custom.name == "quick+epochs=3" and custom.epochs == 3 and custom.max_test_images == 2000
    assert get_budget("mine", {"mine": {"epochs": 4, "warmup_epochs": 0}}).resolve("all-vs-one")["epochs"] == 4
    with pytest.raises(ValueError, match="unknown preset"):
        get_budget("nope")


def test_hash_identity_and_expansion(folder_data: Path) -> None:
    base = dict(datasets=["folder"], data_dir=str(folder_data), seeds=[0], budget=get_budget("smoke"))
    a = expand(GridSpec(classes=[0], **base))
    b = expand(GridSpec(classes=["horiz"], device="cpu", **base))
    c = expand(GridSpec(classes=[0], **{**base, "budget": get_budget("smoke", epochs=2)}))
    assert a[0].hash == b[0].hash != c[0].hash
    assert "device" not in a[0].spec.detector_config
    assert b[0].spec.detector_config["device"] == "cpu"
    full = expand(GridSpec(detectors=["adcgan", "alad"], schemes=["one-vs-all", "all-vs-one"], classes="all",
                           **{**base, "seeds": [0, 1]}))
    assert len(full) == 2 * 2 * 2 * 2 and len({p.hash for p in full}) == 16
    assert full[0].folder_name.endswith("-adcgan-folder-one-vs-all-c0-s0")
    d = full[0].spec.to_dict()
    assert spec_hash(d) == spec_hash({**d, "detector_config": {**d["detector_config"], "num_threads": 3}})
    assert schemes_for("catsvsdogs", ["one-vs-all", "all-vs-one"], 2) == ["cats-vs-dogs"]
    assert schemes_for("mnist", ["one-vs-all", "cats-vs-dogs"], 10) == ["one-vs-all"]
    paper = expand(GridSpec(datasets=["fashion-mnist"], schemes=["all-vs-one"], classes="1,trouser,2",
                            budget=get_budget("paper")))
    assert [p.spec.cls for p in paper] == [1, 2]
    assert paper[0].spec.detector_config["epochs"] == 35 and paper[0].spec.max_test_images is None


# ---- store -----------------------------------------------------------------------------------
def test_store_claim_finish_and_stale_recovery(tmp_path: Path) -> None:
    planned = expand(GridSpec(classes=[1, 2], budget=get_budget("smoke")))
    store = Store(tmp_path / "s.db")
    assert store.add_runs(planned) == 2 and store.add_runs(planned) == 0
    h0, h1 = planned[0].hash, planned[1].hash
    assert store.claim(h0, "tok:", "/x") and not store.claim(h0, "other:", "/x")
    assert not store.finish(h0, "wrong-token:", fake_metrics(planned[0].spec), {})
    assert store.finish(h0, "tok:", fake_metrics(planned[0].spec), {"version": "0.1.0", "git_commit": None})
    row = store.rows(hashes=[h0])[0]
    assert row["status"] == "done" and row["auroc_lfl"] == pytest.approx(0.76) and row["ablation_gf"] == 0.81
    assert row["train_images"] == 100 and row["epochs"] == 1 and row["preset"] == "smoke"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    assert store.claim(h1, "tok:", "/y")
    store.conn.execute("UPDATE runs SET pid=? WHERE hash=?", (dead.pid, h1))
    assert store.recover_stale() == [h1]
    assert store.rows(hashes=[h1])[0]["status"] == "pending" and store.counts()["done"] == 1
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with pytest.raises(sqlite3.IntegrityError):
        store.conn.execute("UPDATE runs SET status='bogus' WHERE hash=?", (h1,))
    store.close()


def test_a_changed_setting_withdraws_only_never_started_rows(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    old = expand(GridSpec(classes=[1, 2, 3, 4], budget=get_budget("smoke")))
    store = Store(tmp_path / "s.db")
    store.add_runs(old)
    store.claim(old[0].hash, "tok:", "/a")
    store.finish(old[0].hash, "tok:", fake_metrics(old[0].spec), {"version": "0.1.0", "git_commit": None})
    store.claim(old[1].hash, "tok:", "/b")
    store.fail(old[1].hash, "tok:", "interrupted", status="pending")  # interrupted: its folder holds a checkpoint
    new = expand(GridSpec(classes=[1, 2, 3, 4], budget=get_budget("smoke"), detector_config={"max_val_images": 8}))
    counts = run_grid(store, new[2:], SequentialExecutor(fake_runner), tmp_path / "runs", progress=False)
    assert counts["done"] == 2 and "2 never-started run(s) the study no longer plans" in capsys.readouterr().out
    left = {r["hash"]: r["status"] for r in store.rows()}
    assert left == {old[0].hash: "done", old[1].hash: "pending", new[2].hash: "done", new[3].hash: "done"}
    store.close()


# ---- driver with a fake runner ---------------------------------------------------------------
def test_run_grid_skips_done_and_retries_failed(tmp_path: Path) -> None:
    grid = GridSpec(classes=[1, 2], seeds=[0], budget=get_budget("smoke"))
    bad = GridSpec(classes=[3], seeds=[0], budget=get_budget("smoke"), detector_config={"lam": -1})
    store = Store(tmp_path / "s.db")
    CALLS.clear()
    counts = run_grid(store, expand(grid) + expand(bad), SequentialExecutor(fake_runner), tmp_path / "runs",
                      progress=False)
    assert counts == {"pending": 0, "running": 0, "done": 2, "failed": 1}
    failed = store.rows("failed")[0]
    assert "boom: bad lambda" in failed["error"] and failed["finished_at"]
    assert [r for _, r in CALLS] == [True, True, True]  # run folders are per hash: always resumable
    CALLS.clear()
    counts = run_grid(store, expand(grid) + expand(bad), SequentialExecutor(fake_runner), tmp_path / "runs",
                      progress=False)
    assert counts["done"] == 2 and counts["failed"] == 1
    assert CALLS == [(failed["run_dir"], True)]  # only the failed run, resumed in its own folder
    assert store.rows(hashes=[failed["hash"]])[0]["attempts"] == 2
    store.close()


def test_render_report_tables_and_charts(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    grid = GridSpec(datasets=["fashion-mnist", "cifar10-jpeg"], schemes=["one-vs-all", "all-vs-one"],
                    classes=[0, 1], seeds=[0, 1, 2], budget=get_budget("quick"))
    planned = expand(grid)
    run_grid(store, planned, SequentialExecutor(fake_runner), tmp_path / "runs", progress=False)
    store.close()
    info = render_report(tmp_path / "s.db", tmp_path / "rep")
    md = (tmp_path / "rep" / "results.md").read_text(encoding="utf-8")
    assert info["runs"] == 24 and len(info["charts"]) == 4
    assert all((tmp_path / "rep" / c).stat().st_size > 1000 for c in info["charts"])
    assert "quick: 2 epochs + 1 warm-up, batch 32, train cap 2000, test cap 2000" in md and "⚠≠paper" in md
    # fashion-mnist one-vs-all: seed means 80.5, 80.7, 80.9 -> 80.7 ± 0.2; paper 93.9 -> Δ -13.2
    assert "| Fashion-MNIST | one-vs-all | adcgan | quick ⚠≠paper | 80.7 ± 0.2 | 0.7 | 2/10 ⚠partial | 3 | 6 | fMNIST | " \
           "93.9 ± 0.02 | -13.2 |" in md
    assert "| CIFAR-10 (JPEG q75 copy) | all-vs-one | adcgan |" in md and "| CIFAR-10 | 84.5 ± 0.05 |" in md
    assert "AD-CGAN_LFL" in md and "87.0 ± 0.05" in md
    t1 = (tmp_path / "rep" / "table1.csv").read_text(encoding="utf-8").splitlines()
    assert len(t1) == 5 and "budget_detail" in t1[0]
    assert len((tmp_path / "rep" / "table3.csv").read_text(encoding="utf-8").splitlines()) == 9
    assert len((tmp_path / "rep" / "table4.csv").read_text(encoding="utf-8").splitlines()) == 17


def test_a_seed_enters_a_cells_mean_once_it_has_every_class() -> None:
    from adcgan.bench.render import _per_seed

    rows = [{"seed": s, "cls": c, "roc_auc": v} for s, c, v in
            [(0, 0, 0.80), (0, 1, 0.90), (1, 0, 0.70), (1, 1, 0.80), (2, 0, 0.10), (2, 1, None)]]
    # seeds 0 and 1 are complete (means 85 and 75 %); seed 2 has class 0 only and is left out, not averaged in
    m, sd, sd_cls, n = _per_seed(rows, "roc_auc")
    assert (m, n) == (pytest.approx(80.0), 2)
    assert sd == pytest.approx(10 / 2 ** 0.5) and sd_cls == pytest.approx(10 / 2 ** 0.5)  # two values 10 apart
    assert _per_seed(rows[:1] + rows[4:5], "roc_auc")[0] == pytest.approx(45.0)  # one class each: both count


# ---- CLI ---------------------------------------------------------------------------------------
def test_cli_config_file_flags_override_and_dry_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    cfg = tmp_path / "grid.toml"
    cfg.write_text('detectors = ["adcgan"]\ndatasets = "mnist"\nschemes = ["one-vs-all", "all-vs-one"]\n'
                   'classes = [1, 2]\nseeds = [0, 1, 2]\npreset = "mine"\n[presets.mine]\nepochs = 4\n'
                   'warmup_epochs = 1\nmax_train_images = 500\n', encoding="utf-8")
    args = build_parser().parse_args(["bench", "--config", str(cfg), "--seeds", "0", "--db", str(tmp_path / "x.db"),
                                      "--max-test-images", "100", "--dry-run"])
    assert run_bench_command(args) == 0
    out = capsys.readouterr().out
    assert "bench: 4 runs" in out
    assert "mine+max_test_images=100: 4 epochs + 1 warm-up, batch 32, train cap 500, test cap 100" in out
    assert not (tmp_path / "x.db").exists()


def _pending_study(tmp_path: Path, toml: str) -> tuple[list[str], Path]:
    """The bench argv of a study file ``toml`` whose every run is pending in ``s.db``, as after a first start."""
    from adcgan.cli.bench import merged_settings, planned_runs

    cfg, db = tmp_path / "study.toml", tmp_path / "s.db"
    cfg.write_text(toml, encoding="utf-8")
    argv = ["bench", "--config", str(cfg), "--db", str(db), "--quiet"]
    study, _ = planned_runs(merged_settings(build_parser().parse_args(argv)), build_parser().parse_args(argv))
    Store(db).add_runs(study)
    return argv, db


def test_cli_stages_runs_part_of_a_study_and_leaves_the_rest_pending(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture) -> None:
    argv, db = _pending_study(tmp_path, 'detectors = ["adcgan"]\ndatasets = ["mnist"]\npreset = "smoke"\n'
                              '[[grid]]\nclasses = [1]\n[[grid]]\nstage = 1\nclasses = [2, 3]\n')
    assert run_bench_command(build_parser().parse_args([*argv, "--stages", "0"]), runner=fake_runner) == 0
    assert "bench: 1 runs (stages 0 of the study's 3)" in capsys.readouterr().out
    store = Store(db)
    assert sorted((r["cls"], r["status"]) for r in store.rows()) == [(1, "done"), (2, "pending"), (3, "pending")]
    store.close()
    with pytest.raises(ValueError, match="the study has no stage 7; its stages: 0, 1"):
        run_bench_command(build_parser().parse_args([*argv, "--stages", "0,7"]), runner=fake_runner)
    with pytest.raises(ValueError, match="--stages must be a comma list of integers"):
        run_bench_command(build_parser().parse_args([*argv, "--stages", "first"]), runner=fake_runner)


def test_cli_only_detectors_runs_a_part_beside_another_driver_and_withdraws_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    argv, db = _pending_study(tmp_path, 'datasets = ["mnist"]\npreset = "smoke"\nclasses = [1, 2]\n[[grid]]\n'
                              'detectors = ["adcgan"]\n[[grid]]\nstage = 1\ndetectors = ["ocsvm", "deepsvdd"]\n')
    assert run_bench_command(build_parser().parse_args([*argv, "--only-detectors", "OCSVM"]), runner=fake_runner) == 0
    assert "bench: 2 runs (detectors OCSVM of the study's 6)" in capsys.readouterr().out
    store = Store(db)
    status = sorted((r["detector"], r["cls"], r["status"]) for r in store.rows())
    store.close()
    assert status == [("adcgan", 1, "pending"), ("adcgan", 2, "pending"), ("deepsvdd", 1, "pending"),
                      ("deepsvdd", 2, "pending"), ("ocsvm", 1, "done"), ("ocsvm", 2, "done")]
    both = [*argv, "--only-detectors", "deepsvdd", "--stages", "0"]  # deepsvdd runs only in stage 1
    assert run_bench_command(build_parser().parse_args(both), runner=fake_runner) == 0
    assert "bench: 0 runs (stages 0, detectors deepsvdd of the study's 6)" in capsys.readouterr().out
    with pytest.raises(ValueError, match="the study has no runs of alad; its detectors: adcgan, adcgan:paper, deepsvdd, ocsvm"):
        run_bench_command(build_parser().parse_args([*argv, "--only-detectors", "alad"]), runner=fake_runner)


def test_a_part_run_on_a_new_database_plans_the_whole_study(tmp_path: Path) -> None:
    cfg, db = tmp_path / "study.toml", tmp_path / "s.db"
    cfg.write_text('detectors = ["ocsvm"]\ndatasets = ["mnist"]\npreset = "smoke"\n[[grid]]\nclasses = [1]\n'
                   '[[grid]]\nstage = 1\nclasses = [2, 3]\n', encoding="utf-8")
    argv = ["bench", "--config", str(cfg), "--db", str(db), "--quiet", "--stages", "1"]
    assert run_bench_command(build_parser().parse_args(argv), runner=fake_runner) == 0
    store = Store(db)
    assert sorted((r["cls"], r["status"]) for r in store.rows()) == [(1, "pending"), (2, "done"), (3, "done")]
    store.close()


def test_cli_only_detectors_picks_a_variant(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    argv, db = _pending_study(tmp_path, 'datasets = ["mnist"]\npreset = "smoke"\nclasses = [1]\n'
                              'detectors = ["adcgan"]\nseeds = [0, 1]\n[[grid]]\n[[grid]]\nset = { variant = "plus" }\n')
    assert run_bench_command(build_parser().parse_args([*argv, "--only-detectors", "adcgan:paper"]),
                             runner=fake_runner) == 0
    assert "bench: 2 runs (detectors adcgan:paper of the study's 4)" in capsys.readouterr().out
    store = Store(db)
    variants = sorted((json.loads(r["config_json"])["detector_config"].get("variant", "paper"), r["seed"],
                       r["status"]) for r in store.rows())
    store.close()
    assert variants == [("paper", 0, "done"), ("paper", 1, "done"), ("plus", 0, "pending"), ("plus", 1, "pending")]
    assert run_bench_command(build_parser().parse_args([*argv, "--only-detectors", "ADCGAN+"]),
                             runner=fake_runner) == 0
    store = Store(db)
    assert {r["status"] for r in store.rows()} == {"done"}
    store.close()
    with pytest.raises(ValueError, match="no runs of adcgan:official; its detectors: adcgan, adcgan:paper, adcgan:plus"):
        run_bench_command(build_parser().parse_args([*argv, "--only-detectors", "adcgan:official"]),
                          runner=fake_runner)


def test_cli_ray_missing_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    args = build_parser().parse_args(["bench", "--classes", "1", "--db", str(tmp_path / "r.db"),
                                      "--executor", "ray"])
    assert run_bench_command(args) == 2
    assert "pip install 'adcgan[ray]'" in capsys.readouterr().err


def test_cli_status_and_report_subcommands(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    store = Store(tmp_path / "s.db")
    run_grid(store, expand(GridSpec(classes=[1], budget=get_budget("smoke"))), SequentialExecutor(fake_runner),
             tmp_path / "runs", progress=False)
    store.close()
    assert run_bench_command(build_parser().parse_args(["bench", "status", "--db", str(tmp_path / "s.db")])) == 0
    assert "done 1" in capsys.readouterr().out
    args = build_parser().parse_args(["bench", "report", "--db", str(tmp_path / "s.db"), "--out", str(tmp_path / "r")])
    assert run_bench_command(args) == 0 and (tmp_path / "r" / "results.md").is_file()


def test_cli_status_names_a_running_runs_driver_and_an_earlier_error(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture) -> None:
    store = Store(tmp_path / "s.db")
    store.add_runs(expand(GridSpec(classes=[1, 2], budget=get_budget("smoke"))))
    h_run, h_fail = [r["hash"] for r in store.rows()]
    store.conn.execute("UPDATE runs SET status='running', pid=4242, host='box', started_at='2026-12-07T04:33:45.4', "
                       "attempts=2, error='interrupted (driver process gone)' WHERE hash=?", (h_run,))
    store.conn.execute("UPDATE runs SET status='failed', error='Traceback\nValueError: bad' WHERE hash=?", (h_fail,))
    store.conn.commit()
    store.close()
    assert run_bench_command(build_parser().parse_args(["bench", "status", "--db", str(tmp_path / "s.db")])) == 0
    out = capsys.readouterr().out
    assert ("pid 4242 on box since 2026-12-07T04:33:45 (attempt 2; the earlier one: interrupted (driver process gone))"
            in out)
    assert "c2 s0: ValueError: bad" in out


def test_status_estimates_the_hours_left_from_the_most_similar_finished_runs() -> None:
    from adcgan.cli.bench_db import pending_hours

    def row(status, det, ds, scheme, train=None, score=None, variant=None):
        cfg = json.dumps({"detector_config": {"variant": variant} if variant else {}})
        return {"status": status, "detector": det, "dataset": ds, "scheme": scheme, "config_json": cfg,
                "train_seconds": train, "score_seconds": score}

    rows = [row("done", "ocsvm", "fashion-mnist", "one-vs-all", 10.0, 2.0),      # 12 s
            row("done", "ocsvm", "fashion-mnist", "one-vs-all", 20.0, 4.0),      # 24 s: mean 18 s
            row("done", "adcgan", "fashion-mnist", "one-vs-all", 3000.0, 600.0, variant="plus"),
            row("pending", "ocsvm", "mnist", "one-vs-all"),           # same method, size and scheme: 18 s
            row("running", "ocsvm", "fashion-mnist", "all-vs-one"),   # same method and size: 18 s
            row("pending", "adcgan", "mnist", "one-vs-all", variant="plus"),       # 3,600 s
            row("pending", "adcgan", "mnist", "one-vs-all"),          # paper variant: nothing to go by
            row("pending", "ocsvm", "cifar10-jpeg", "one-vs-all")]    # another image size: nothing
    hours, unknown = pending_hours(rows)
    assert hours == pytest.approx((18 + 18 + 3600) / 3600) and unknown == 2


def test_bench_stop_lets_the_run_in_flight_finish_and_starts_no_other(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture) -> None:
    db = tmp_path / "s.db"
    store = Store(db)

    def stopping_runner(spec, out_dir, resume=False, progress=True):
        assert run_bench_command(build_parser().parse_args(["bench", "stop", "--db", str(db)])) == 0  # as from a shell
        return fake_runner(spec, out_dir, resume, progress)

    planned = expand(GridSpec(classes=[0, 1, 2], budget=get_budget("smoke")))
    counts = run_grid(store, planned, SequentialExecutor(stopping_runner), tmp_path / "runs", progress=False)
    assert counts["done"] == 1 and counts["pending"] == 2 and store.stop_requested()
    out = capsys.readouterr().out
    assert "stop requested" in out and "2 not started stay pending" in out   # the finished one was recorded first
    assert run_bench_command(build_parser().parse_args(["bench", "status", "--db", str(db)])) == 0
    assert "stop requested at" in capsys.readouterr().out
    counts = run_grid(store, planned, SequentialExecutor(fake_runner), tmp_path / "runs", progress=False)
    assert counts["done"] == 3 and not store.stop_requested()        # a new start withdraws the request
    store.close()
    from adcgan.cli import main

    assert main(["bench", "stop", "--db", str(tmp_path / "no.db")]) == 2 and not (tmp_path / "no.db").exists()


# ---- real runner, real executors ---------------------------------------------------------------
def _real_grid_args(data: Path, db: Path) -> list[str]:
    return ["bench", "--datasets", "folder", "--data-dir", str(data), "--classes", "all", "--seeds", "0,1",
            "--db", str(db), *TINY]


def _assert_all_done(db: Path, n: int) -> list[dict]:
    store = Store(db)
    rows = store.rows()
    store.close()
    assert len(rows) == n and {r["status"] for r in rows} == {"done"}, [(r["status"], r["error"]) for r in rows]
    for r in rows:
        assert r["roc_auc"] is not None and r["auroc_lgr"] is not None and r["ablation_gf"] is not None
        assert r["epochs"] == 1 and r["max_train_images"] == 64 and r["train_images"] == 64
        assert Path(r["run_dir"], "metrics.json").is_file() and r["version"] and r["device"] == "cpu"
        assert json.loads(r["config_json"])["dataset"] == "folder"
        assert default_drift(r) == {}  # the resolved settings reached the database: today's defaults
    return rows


def test_process_pool_executor_real_runner(folder_data: Path, tmp_path: Path) -> None:
    args = build_parser().parse_args(_real_grid_args(folder_data, tmp_path / "p.db") + ["--workers", "2"])
    assert run_bench_command(args) == 0
    rows = _assert_all_done(tmp_path / "p.db", 4)
    assert len({r["run_dir"] for r in rows}) == 4
    assert all(Path(r["run_dir"]).parent == tmp_path / "p_runs" for r in rows)


def test_ray_executor_real_runner(folder_data: Path, tmp_path: Path) -> None:
    args = build_parser().parse_args(_real_grid_args(folder_data, tmp_path / "r.db") +
                                     ["--executor", "ray", "--num-cpus", "2", "--cpus-per-run", "1"])
    assert run_bench_command(args) == 0
    _assert_all_done(tmp_path / "r.db", 4)
