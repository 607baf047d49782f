"""``adcgan bench`` (run a grid) and ``adcgan bench report`` (render tables); the study-database commands
(``status``, ``merge``, ``stop``) are in :mod:`adcgan.cli.bench_db`."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from adcgan.bench.executors import RayMissingError, Runner
from adcgan.bench.grid import PRESETS, GridSpec, expand, get_budget
from adcgan.cli.bench_db import DB_COMMANDS
from adcgan.cli.settings import merge_settings, run_defaults
from adcgan.cli.study_part import as_list as _as_list
from adcgan.cli.study_part import part_text, select_part
from adcgan.evaluation.protocols import SCHEMES, TEST_SETS
from adcgan.evaluation.variants import check_score_variants

GRID_DEFAULTS: dict[str, Any] = {"classes": "all", "preset": "quick", "executor": "local", "workers": 1,
                                 "cpus_per_run": 1.0, "gpus_per_run": 0.0}
"""Defaults of the grid settings that are not a run's (those come from :func:`run_defaults`)."""
LIST_KEYS = ("detectors", "datasets", "schemes", "seeds")


def bench_defaults() -> dict[str, Any]:
    """Every default of ``adcgan bench``: one run's defaults as one-element lists, plus :data:`GRID_DEFAULTS`."""
    run = run_defaults()
    return {"detectors": run["detector"], "datasets": run["dataset"], "schemes": run["scheme"],
            "classes": GRID_DEFAULTS["classes"], "seeds": str(run["seed"]), **GRID_DEFAULTS,
            "test_set": run["test_set"], "preprocess": run["preprocess"]}


def _grid_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="TOML or YAML file with any of these settings (flags override it)")
    p.add_argument("--detectors", help="comma list, e.g. adcgan,alad (default adcgan)")
    p.add_argument("--datasets", help="comma list, e.g. fashion-mnist,mnist (default fashion-mnist)")
    p.add_argument("--schemes", help=f"comma list of {', '.join(SCHEMES)} (default one-vs-all; CatsVsDogs always "
                                     "runs cats-vs-dogs)")
    p.add_argument("--classes", help="'all' (default) or a comma list of indices/names, e.g. 1,2 or trouser")
    p.add_argument("--seeds", help="comma list of seeds (default 0)")
    p.add_argument("--preset", help=f"budget preset: {', '.join(PRESETS)} or one defined in --config "
                                    "(default quick); the flags below override it")
    p.add_argument("--epochs", type=int, help="main epochs (overrides the preset)")
    p.add_argument("--warmup-epochs", type=int, help="warm-up epochs (overrides the preset)")
    p.add_argument("--batch-size", type=int, help="training batch size (overrides the preset)")
    p.add_argument("--max-train-images", type=int, help="training image cap (overrides the preset)")
    p.add_argument("--max-test-images", type=int, help="stratified test subset size (overrides the preset)")
    p.add_argument("--test-set", choices=TEST_SETS, help="see adcgan train --help (default standard)")
    p.add_argument("--preprocess", choices=("paper", "none"), help="default paper")
    p.add_argument("--set", action="append", default=None, metavar="KEY=VALUE", help="detector setting, repeatable")


def _exec_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", help="study database (SQLite), created if missing; rerun to resume")
    p.add_argument("--out-root", help="run folders go here (default: <db stem>_runs next to the DB)")
    p.add_argument("--executor", choices=("local", "ray"), help="local (default) or ray")
    p.add_argument("--workers", type=int, help="local: N runs in parallel processes (default 1: sequential)")
    p.add_argument("--address", help="ray: 'auto' or ray://host:port of an existing cluster (default: start "
                                     "a local Ray instance)")
    p.add_argument("--cpus-per-run", type=float, help="ray: CPUs requested per run (default 1)")
    p.add_argument("--gpus-per-run", type=float, help="ray: GPUs per run, fractions allowed, e.g. 0.25 (default 0)")
    p.add_argument("--num-cpus", type=int, help="ray without --address: CPUs of the local instance")
    p.add_argument("--num-threads", type=int, help="torch threads per run (default: cores / workers)")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N, mps (not part of a run's identity)")
    p.add_argument("--data-dir", help="folder holding the data set(s)")
    p.add_argument("--stages", help="comma list of the study file's stages to run now, e.g. 0 (default: all); "
                                    "the runs of the other stages stay planned and pending")
    p.add_argument("--only-detectors", help="comma list: only these detectors' runs of the study now, e.g. the "
                   "cheap ones in a second driver (default: all); a variant as adcgan:paper or adcgan+ "
                   "(adcgan:plus); the others stay planned and pending")
    p.add_argument("--no-retry-failed", action="store_true", help="leave failed runs failed")
    p.add_argument("--dry-run", action="store_true", help="print the planned runs and exit")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def add_bench_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``bench`` (with ``report`` and ``status``) to the ``adcgan`` subcommands."""
    b = subparsers.add_parser("bench", help="resumable benchmark grid in a SQLite study DB (also: bench report, "
                                            "bench status)", description="Run a grid of experiments; rerun the same "
                              "command to resume. 'adcgan bench report --db F --out D' renders the tables.")
    _grid_flags(b)
    _exec_flags(b)
    sub = b.add_subparsers(dest="bench_command", metavar="{report,status,merge,stop}")
    r = sub.add_parser("report", help="render Tables 1, 3, 4 and charts from a study DB")
    r.add_argument("--db", required=True, help="study database")
    r.add_argument("--out", required=True, help="output folder (results.md, table*.csv, chart_*.png)")
    r.add_argument("--page", action="append", help="also fill this Markdown page's marked blocks (repeatable): "
                   "<!-- table1:begin -->...<!-- table1:end --> gets the Table 1 section, "
                   "<!-- table1-summary:begin -->...<!-- table1-summary:end --> the compact table")
    s = sub.add_parser("status", help="counts of runs by status")
    s.add_argument("--db", required=True, help="study database")
    g = sub.add_parser("merge", help="copy the finished runs of other study DBs into one (created if missing)")
    g.add_argument("--db", required=True, help="target study database")
    g.add_argument("sources", nargs="+", help="study databases to copy finished runs from")
    t = sub.add_parser("stop", help="let the drivers on a study DB finish their runs in flight, start no new one")
    t.add_argument("--db", required=True, help="study database")
    return b


def _flag_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The block settings given as flags (they override every block of a study file)."""
    from adcgan.cli.settings import parse_set

    flags = {k: v for k, v in vars(args).items() if k in BLOCK_KEYS and k != "set" and v is not None}
    if getattr(args, "set", None):
        flags["set"] = parse_set(args.set)
    return flags


def merged_settings(args: argparse.Namespace) -> dict[str, Any]:
    """Defaults <- ``--config`` file (its ``class``/``cls`` read as ``classes``) <- flags."""
    return merge_settings(args, bench_defaults(), skip=("bench_command",), rename={"cls": "classes"})


def build_grid(m: dict[str, Any]) -> GridSpec:
    """A validated :class:`GridSpec` from merged settings."""
    from adcgan.registry import list_detectors

    dets = [d.lower() for d in _as_list(m["detectors"])]
    unknown = [d for d in dets if d not in list_detectors()]
    if unknown:
        raise ValueError(f"unknown detector(s) {', '.join(unknown)}; choose from {', '.join(list_detectors())}")
    schemes = _as_list(m["schemes"])
    bad = [s for s in schemes if s not in SCHEMES]
    if bad:
        raise ValueError(f"unknown scheme(s) {', '.join(bad)}; choose from {', '.join(SCHEMES)}")
    budget = get_budget(str(m["preset"]), m.get("presets"), **{k: m.get(k) for k in (
        "epochs", "warmup_epochs", "batch_size", "max_train_images", "max_test_images")})
    classes = m["classes"] if isinstance(m["classes"], list) else str(m["classes"])
    data_dir = os.path.abspath(os.path.expanduser(str(m["data_dir"]))) if m.get("data_dir") else None
    return GridSpec(detectors=dets, datasets=_as_list(m["datasets"]), schemes=schemes, classes=classes,
                    seeds=[int(s) for s in _as_list(m["seeds"])], budget=budget, test_set=m["test_set"],
                    preprocess=m["preprocess"], data_dir=data_dir, device=m.get("device"),
                    detector_config=dict(m.get("set") or {}),
                    score_variants=check_score_variants(m.get("score_variants")))


BLOCK_KEYS = ("detectors", "datasets", "schemes", "classes", "seeds", "preset", "epochs", "warmup_epochs",
              "batch_size", "max_train_images", "max_test_images", "test_set", "preprocess", "set", "stage", "name",
              "score_variants")
"""Keys a ``[[grid]]`` block of a study file may set; the others belong to the whole study."""


def _block_settings(m: dict[str, Any], block: dict[str, Any], flags: dict[str, Any]) -> dict[str, Any]:
    """One block's settings: the study's <- the block's <- command-line flags (``set`` merged key by key)."""
    if not isinstance(block, dict):
        raise ValueError("each [[grid]] block of a study file must be a table of settings")
    block = {k.replace("-", "_"): v for k, v in block.items()}
    unknown = sorted(set(block) - set(BLOCK_KEYS))
    if unknown:
        raise ValueError(f"[[grid]] block {block.get('name', '')!r}: unknown key(s) {', '.join(unknown)}; "
                         f"a block may set {', '.join(BLOCK_KEYS)}")
    out = {**m, **block, **{k: v for k, v in flags.items() if k != "set"}}
    out["set"] = {**(m.get("set") or {}), **(block.get("set") or {}), **(flags.get("set") or {})}
    return out


def plan_study(m: dict[str, Any], flags: dict[str, Any] | None = None) -> list[Any]:
    """The planned runs of a grid, or of a study file's ``[[grid]]`` blocks, duplicates dropped.

    A plain grid keeps :func:`expand`'s order. With blocks, the runs of all blocks are ordered by
    ``(stage, seed, data set, scheme, class, block, detector)``: a block's ``stage`` (default 0) runs
    before the next stage, and within a stage seed 0 of every cell comes first, so that a partial study is
    already a complete table of its first seed.
    """
    blocks = m.get("grid")
    if not blocks:
        return expand(build_grid(m))
    if not isinstance(blocks, list):
        raise ValueError("'grid' in a study file must be a list of [[grid]] blocks")
    keyed, seen = [], set()
    order: dict[str, dict[Any, int]] = {"dataset": {}, "scheme": {}}
    for b, block in enumerate(blocks):
        bm = _block_settings(m, block, flags or {})
        for d, run in enumerate(expand(build_grid(bm))):
            if run.hash in seen:
                continue
            seen.add(run.hash)
            s = run.spec
            ds = order["dataset"].setdefault(s.dataset, len(order["dataset"]))
            sc = order["scheme"].setdefault(s.scheme, len(order["scheme"]))
            run.stage = int(bm.get("stage") or 0)
            keyed.append(((run.stage, s.seed, ds, sc, s.cls, b, d), run))
    return [run for _, run in sorted(keyed, key=lambda kr: kr[0])]


def make_executor(m: dict[str, Any], runner: Runner | None, progress: bool) -> Any:
    """The executor asked for by the settings."""
    from adcgan.bench import executors as ex

    threads = m.get("num_threads")
    if m["executor"] == "ray":
        cpus = float(m["cpus_per_run"])
        num_cpus = m.get("num_cpus") or (int(m["workers"] * cpus) if int(m["workers"]) > 1 else None)
        return ex.RayExecutor(m.get("address"), cpus, float(m["gpus_per_run"]), num_cpus, runner)
    if int(m["workers"]) > 1:
        return ex.ProcessExecutor(int(m["workers"]), runner, threads)
    return ex.SequentialExecutor(runner, progress, threads)


def default_out_root(db: str | Path) -> Path:
    """``<db folder>/<db stem>_runs``."""
    db = Path(db)
    return db.parent / f"{db.stem}_runs"


def planned_runs(m: dict[str, Any], args: argparse.Namespace) -> tuple[list[Any], list[Any]]:
    """(every planned run of the study, the part ``--stages`` and ``--only-detectors`` ask for: all when
    neither is given; :mod:`adcgan.cli.study_part`)."""
    study = plan_study(m, _flag_settings(args))
    return study, select_part(study, m.get("stages"), m.get("only_detectors"))


def _announce(m: dict[str, Any], study: list[Any], planned: list[Any], out_root: Path) -> None:
    """Print the runs to do (which part of the study) and their budgets."""
    from adcgan.bench.grid import budget_text

    keys = sorted({(p.budget_name, *[p.budget[k] for k in ("epochs", "warmup_epochs", "batch_size",
                                                             "max_train_images", "max_test_images")])
                   for p in planned}, key=str)
    print(f"bench: {len(planned)} runs{part_text(m, study, planned)} -> {m['db']} (run folders in {out_root})",
          flush=True)
    for k in keys:
        print(f"bench: budget {budget_text(k)}", flush=True)


def cmd_run(args: argparse.Namespace, runner: Runner | None = None) -> int:
    """Run (or resume) the grid; exit 0 when every run is done, 1 when some failed."""
    from adcgan.bench.driver import run_grid
    from adcgan.bench.store import Store

    m = merged_settings(args)
    if not m.get("db"):
        raise ValueError("adcgan bench needs --db FILE (the study database; rerun with the same file to resume)")
    study, planned = planned_runs(m, args)
    out_root = Path(m.get("out_root") or default_out_root(m["db"]))
    _announce(m, study, planned, out_root)
    if m.get("dry_run"):
        for p in planned:
            print(f"  {p.hash[:12]} {p.folder_name}")
        return 0
    progress = not m.get("quiet")
    executor = make_executor(m, runner, progress)
    store = Store(m["db"])
    try:
        if len(planned) < len(study):  # a part run: the rest of the study is planned too, pending (`bench status`)
            store.add_runs(study)
        counts = run_grid(store, planned, executor, out_root, not m.get("no_retry_failed"), progress,
                          study=[p.hash for p in study])
        if counts["running"] and store.recover_stale():  # a driver that died meanwhile: its runs are pending
            counts = store.counts([p.hash for p in planned])
    finally:
        store.close()
    print("bench: " + ", ".join(f"{k} {v}" for k, v in counts.items()), flush=True)
    if counts["failed"]:
        print(f"bench: {counts['failed']} run(s) failed (see `adcgan bench status --db {m['db']}`); rerun the same "
              "command to retry them", file=sys.stderr)
    if counts["running"]:  # this driver's own runs are all finished here: these belong to another live driver
        print(f"bench: {counts['running']} run(s) are still running in another bench process on this study; this "
              "process has nothing left to do", flush=True)
    return 0 if counts["done"] + counts["running"] == len(planned) else 1


def run_bench_command(args: argparse.Namespace, runner: Runner | None = None) -> int:
    """Dispatch ``adcgan bench [report|status|merge|stop]``; returns the exit code (2 when Ray is missing)."""
    try:
        if getattr(args, "bench_command", None) == "report":
            from adcgan.bench.render import render_report

            info = render_report(args.db, args.out, args.page)
            print(f"bench report: {info['runs']} finished runs -> {info['results']}")
            return 0
        if getattr(args, "bench_command", None) in DB_COMMANDS:
            return DB_COMMANDS[args.bench_command](args)
        return cmd_run(args, runner)
    except RayMissingError as exc:
        print(f"adcgan: error: {exc}", file=sys.stderr)
        return 2
