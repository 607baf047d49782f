"""Benchmark grids: a resumable SQLite study store, local/process/Ray executors, paper-table rendering.

Command line: ``adcgan bench ...``, ``adcgan bench report ...``, ``adcgan bench status ...``
(see ``docs/bench.md``). From Python::

    from adcgan.bench import GridSpec, Store, SequentialExecutor, expand, get_budget, run_grid, render_report
    grid = GridSpec(datasets=["mnist"], classes=[1, 2], seeds=[0, 1], budget=get_budget("quick"))
    store = Store("study.db")
    run_grid(store, expand(grid), SequentialExecutor(), out_root="study_runs")
    render_report("study.db", "report/")
"""
from adcgan.bench.driver import run_grid
from adcgan.bench.executors import ProcessExecutor, RayExecutor, RayMissingError, SequentialExecutor
from adcgan.bench.grid import PRESETS, Budget, GridSpec, PlannedRun, expand, get_budget, spec_hash
from adcgan.bench.paper_results import load_paper_results, paper_value
from adcgan.bench.render import render_report
from adcgan.bench.store import Store

__all__ = ["PRESETS", "Budget", "GridSpec", "PlannedRun", "ProcessExecutor", "RayExecutor", "RayMissingError",
           "SequentialExecutor", "Store", "expand", "get_budget", "load_paper_results", "paper_value",
           "render_report", "run_grid", "spec_hash"]
