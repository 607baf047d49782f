"""``adcgan bench status``, ``bench merge`` and ``bench stop``: the commands that look after a study database."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable

from adcgan.bench.store import Store


def _open_existing(db: str) -> Store:
    if not Path(db).is_file():
        raise FileNotFoundError(f"study database {db} not found")
    return Store(db)


def cmd_status(args: argparse.Namespace) -> int:
    """Print counts by status, the last error line of each failed run, the driver of each running one."""
    store = _open_existing(args.db)
    try:
        counts, rows, stop = store.counts(), store.rows(), store.stop_requested()
    finally:
        store.close()
    print(f"{args.db}: {len(rows)} runs: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    hours, unknown = pending_hours(rows)
    if hours or unknown:
        print(f"  left: about {hours:.1f} core-hours at the mean times of the most similar finished runs"
              + (f"; {unknown} run(s) with no finished run of their method and image size to go by" if unknown else ""))
    if stop:
        print(f"  stop requested at {stop[:19]}: no new run starts until `adcgan bench` is started again")
    for r in rows:
        if r["status"] in ("failed", "running"):
            print(f"  {r['status']:7s} {r['hash'][:12]} {r['detector']} {r['dataset']} {r['scheme']} "
                  f"c{r['cls']} s{r['seed']}: {_status_line(r)}")
    return 0


def pending_hours(rows: list[dict]) -> tuple[float, int]:
    """Core-hours the pending and running runs need, each at the mean train + score seconds of the finished
    runs most like it: the same method (detector and variant), data set and scheme; else the same method,
    image size and scheme; else the same method and image size. Also: how many runs have none of those."""
    from adcgan.bench.render import variant_label
    from adcgan.data import get_spec

    def keys(r: dict) -> list[tuple]:
        m, size = variant_label(r), get_spec(r["dataset"]).geometry
        return [(m, r["dataset"], r["scheme"]), (m, size, r["scheme"]), (m, size)]

    seconds: dict[tuple, list[float]] = {}
    for r in rows:
        if r["status"] == "done" and r["train_seconds"] is not None:
            for k in keys(r):
                seconds.setdefault(k, []).append(r["train_seconds"] + (r["score_seconds"] or 0.0))
    total, unknown = 0.0, 0
    for r in (r for r in rows if r["status"] in ("pending", "running")):
        found = next((seconds[k] for k in keys(r) if k in seconds), None)
        total, unknown = (total + sum(found) / len(found), unknown) if found else (total, unknown + 1)
    return total / 3600.0, unknown


def _status_line(row: dict) -> str:
    """A failed run's last error line; a running run's driver and start (an earlier attempt's error after it)."""
    last = (row["error"] or "").strip().splitlines()[-1:]
    if row["status"] == "failed":
        return last[0] if last else "unknown error"
    line = f"pid {row['pid']} on {row['host']} since {(row['started_at'] or '?')[:19]}"
    return line + (f" (attempt {row['attempts']}; the earlier one: {last[0]})" if last else "")


def cmd_merge(args: argparse.Namespace) -> int:
    """``bench merge``: copy finished runs of the sources into ``--db``."""
    missing = [s for s in args.sources if not Path(s).is_file()]
    if missing:
        raise FileNotFoundError(f"study database {missing[0]} not found")
    store = Store(args.db)
    try:
        for src in args.sources:
            print(f"bench merge: {store.merge_from(src)} finished run(s) from {src} -> {args.db}")
    finally:
        store.close()
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    """``bench stop``: every driver on the database finishes its runs in flight and starts no new one."""
    store = _open_existing(args.db)
    try:
        store.request_stop()
        running = store.counts().get("running", 0)
    finally:
        store.close()
    print(f"bench stop: requested; {running} run(s) in flight finish and are recorded, then the drivers exit "
          f"(the next `adcgan bench` on {args.db} withdraws the request)")
    return 0


DB_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "status": cmd_status, "merge": cmd_merge, "stop": cmd_stop}
