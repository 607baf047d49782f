"""The grid driver: plans what is left, feeds an executor, and records every outcome.

Only the driver writes the study database, so executors (processes, Ray tasks)
never touch SQLite.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from adcgan.bench.executors import Outcome, Task

def make_task(planned: Any, out_root: Path) -> Task:
    """The task for a planned run, always with ``resume=True``.

    The run folder is named after the run's hash, so whatever it holds belongs
    to this very run: a fresh folder starts from scratch, the folder of an
    interrupted or failed attempt continues from its last per-epoch checkpoint
    (also on Ray nodes whose file system the driver cannot see).
    """
    run_dir = (Path(out_root) / planned.folder_name).resolve()
    s = planned.spec
    variant = {"plus": "+", "official": " (official)"}.get(str(s.detector_config.get("variant")), "")
    label = f"{s.detector}{variant} {s.dataset} {s.scheme} c{s.cls} s{s.seed}"
    return Task(planned.hash, s.to_dict(), str(run_dir), True, label)


def _record(store: Any, token: str, out: Outcome, common: dict[str, Any]) -> str:
    """Write one outcome to the store; returns a one-line summary."""
    if out.ok:
        version = (out.metrics.get("versions") or {}).get("adcgan") or common["version"]
        store.finish(out.hash, token, out.metrics, {**common, "version": version})
        auc = out.metrics.get("roc_auc")
        return f"done    roc_auc={auc:.4f}" if isinstance(auc, float) else "done"
    store.fail(out.hash, token, out.error)
    last = out.error.strip().splitlines()[-1] if out.error.strip() else "unknown error"
    return f"FAILED  {last}"


def _todo(store: Any, planned: list[Any], retry_failed: bool) -> tuple[list[Any], int]:
    """Planned runs still to do (pending, and failed if ``retry_failed``) and the number already done."""
    status = {r["hash"]: r["status"] for r in store.rows(hashes=[p.hash for p in planned])}
    wanted = ("pending", "failed") if retry_failed else ("pending",)
    return [p for p in planned if status.get(p.hash) in wanted], sum(s == "done" for s in status.values())


def _fill(store: Any, token: str, executor: Any, todo: list[Any], in_flight: dict[str, Task],
          out_root: Path) -> None:
    """Claim and submit runs until the executor is full (rows claimed by a live driver are skipped)."""
    while todo and len(in_flight) < executor.capacity:
        task = make_task(todo.pop(0), out_root)
        if store.claim(task.hash, token, task.run_dir):
            executor.submit(task)
            in_flight[task.hash] = task


def _honour_stop(store: Any, todo: list[Any], in_flight: dict[str, Task]) -> None:
    """After ``adcgan bench stop``: drop what is not started; the runs in flight finish and are recorded."""
    if todo and store.stop_requested():
        print(f"bench: stop requested ({store.stop_requested()[:19]}): {len(in_flight)} run(s) in flight finish, "
              f"{len(todo)} not started stay pending", flush=True)
        todo.clear()


def _prepare(store: Any, planned: list[Any], retry_failed: bool, study: list[str] | None) -> tuple[list[Any], int]:
    """Stale ``running`` rows back to ``pending``, the planned runs added, never-started rows the study no
    longer plans withdrawn; returns (to do, done count)."""
    store.request_stop(False)  # a new start withdraws an earlier stop request
    stale = store.recover_stale()
    if stale:
        print(f"bench: {len(stale)} interrupted run(s) from an earlier process will be resumed", flush=True)
    store.add_runs(planned)
    withdrawn = store.withdraw_unplanned([p.hash for p in planned] if study is None else study)
    if withdrawn:
        print(f"bench: {withdrawn} never-started run(s) the study no longer plans (settings changed) withdrawn",
              flush=True)
    return _todo(store, planned, retry_failed)


def run_grid(store: Any, planned: list[Any], executor: Any, out_root: Path, retry_failed: bool = True,
             progress: bool = True, study: list[str] | None = None) -> dict[str, int]:
    """Run every planned run not yet done, writing each result to ``store`` as it arrives.

    Stale ``running`` rows (their driver is gone) become ``pending`` first; ``done`` rows are skipped;
    never-started rows outside ``study`` (hashes; default ``planned``, which ``--stages`` makes a part of it)
    are withdrawn. On an interrupt the runs in flight go back to ``pending`` (their folders stay: resumable).

    Returns:
        Counts by status over the planned runs after this call.
    """
    import adcgan
    from tqdm.auto import tqdm

    from adcgan.bench.store import driver_token, git_commit
    from adcgan.io.progress import interactive

    token = driver_token()
    todo, n_done = _prepare(store, planned, retry_failed, study)
    common = {"version": adcgan.__version__, "git_commit": git_commit()}  # provenance of every row
    in_flight: dict[str, Task] = {}
    bar = tqdm(total=len(planned), initial=n_done, desc="bench", unit="run", position=0,
               disable=not (progress and interactive()), dynamic_ncols=True)
    try:
        while todo or in_flight:
            _honour_stop(store, todo, in_flight)
            _fill(store, token, executor, todo, in_flight, out_root)
            bar.set_postfix_str(f"{len(in_flight)} in flight", refresh=True)
            for out in executor.wait() if in_flight else []:
                task = in_flight.pop(out.hash)
                tqdm.write(f"bench: {task.label}: {_record(store, token, out, common)}")
                bar.update(1)
    except BaseException:
        for h in in_flight:
            store.fail(h, token, "interrupted", status="pending")
        raise
    finally:
        bar.close()
        executor.close()
    return store.counts([p.hash for p in planned])

