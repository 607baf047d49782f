"""One SQLite database per study: one row per run, keyed by the hash of its resolved spec.

Crash safety: WAL journal, ``synchronous=FULL``, every change one short
``BEGIN IMMEDIATE`` transaction, a UNIQUE hash and ``INSERT ... ON CONFLICT DO
NOTHING``. A row only ever moves pending/failed -> running -> done/failed, and
the driver that claimed it (pid + start token) is the only one that finishes
it, so a ``kill -9`` leaves at worst a ``running`` row whose owner is gone;
:meth:`Store.recover_stale` turns those back into ``pending``.
"""
from __future__ import annotations

import json
import math
import os
import socket
import sqlite3
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from adcgan.detectors.adcgan import ADCGAN

SCHEMA_VERSION = 1
STATUSES = ("pending", "running", "done", "failed")
COMPONENTS = ADCGAN.component_names
"""AD-CGAN's score components: one ``auroc_<name>`` column each."""
ABLATIONS = ADCGAN.ablation_names
"""AD-CGAN's Table 4 scores (``LG``, ``LG+LFE``, ``LG+LFL``, ``GF``): one column each, see :func:`ablation_column`."""


def ablation_label(name: str) -> str:
    """The paper's Table 4 label of an ablation: ``"LG+LFE"`` -> ``"LFE"``, ``"LG"`` -> ``"LG"``."""
    return name.split("+")[-1]


def ablation_column(name: str) -> str:
    """The store column of an ablation: ``"LG+LFE"`` -> ``"ablation_lfe"`` (the label, lower case)."""
    return f"ablation_{ablation_label(name).lower()}"


METRIC_COLUMNS = (
    "roc_auc", "average_precision", "f1", "threshold",
    *(f"auroc_{c.lower()}" for c in COMPONENTS), *(ablation_column(a) for a in ABLATIONS),
    "train_seconds", "score_seconds", "train_images_per_s", "score_images_per_s")
COUNT_COLUMNS = ("train_images", "test_images", "epochs_done", "n_test", "n_anomalous")
TEXT_RESULT_COLUMNS = ("device", "dataset_display_name", "version", "git_commit")

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    hash TEXT NOT NULL UNIQUE,
    detector TEXT NOT NULL, dataset TEXT NOT NULL, scheme TEXT NOT NULL,
    cls INTEGER NOT NULL, cls_name TEXT, seed INTEGER NOT NULL,
    preset TEXT NOT NULL, epochs INTEGER, warmup_epochs INTEGER, batch_size INTEGER,
    max_train_images INTEGER, max_test_images INTEGER,
    config_json TEXT NOT NULL, budget_json TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN {STATUSES}),
    error TEXT, attempts INTEGER NOT NULL DEFAULT 0,
    {", ".join(f"{c} REAL" for c in METRIC_COLUMNS)},
    {", ".join(f"{c} INTEGER" for c in COUNT_COLUMNS)},
    {", ".join(f"{c} TEXT" for c in TEXT_RESULT_COLUMNS)},
    metrics_json TEXT, run_dir TEXT, host TEXT, pid INTEGER, start_token TEXT,
    created_at TEXT NOT NULL, started_at TEXT, finished_at TEXT
);
CREATE INDEX IF NOT EXISTS runs_status ON runs(status);
"""


def now() -> str:
    """UTC timestamp, ISO 8601 with microseconds."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def process_start(pid: int) -> str | None:
    """Start time of process ``pid`` (Linux ``/proc``), None if unknown or gone; guards against pid reuse."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def pid_alive(pid: int) -> bool:
    """True if a process ``pid`` exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def driver_token() -> str:
    """This process's start token: ``<random>:<process start time>``."""
    return f"{uuid.uuid4().hex}:{process_start(os.getpid()) or ''}"


def git_commit() -> str | None:
    """``git rev-parse HEAD`` of the repository holding the adcgan package; None when unavailable."""
    import subprocess

    import adcgan

    try:
        res = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(adcgan.__file__).resolve().parent,
                             capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    head = res.stdout.strip()
    return head if res.returncode == 0 and len(head) == 40 else None


def _num(v: Any) -> float | None:
    """A finite float, else None (NaN AUROCs are stored as NULL)."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def metric_values(metrics: dict[str, Any]) -> dict[str, Any]:
    """The result columns of a finished run from the runner's metrics dict."""
    comp, abl = metrics.get("component_auroc") or {}, metrics.get("ablation_auroc") or {}
    budget = metrics.get("budget") or {}
    out: dict[str, Any] = {k: _num(metrics.get(k)) for k in METRIC_COLUMNS}
    out.update({f"auroc_{c.lower()}": _num(comp.get(c)) for c in COMPONENTS})
    # metrics.json written before the ablation keys said "LG+" kept the label alone ("LFE" for LG+LFE)
    out.update({ablation_column(a): _num(abl.get(a, abl.get(ablation_label(a)))) for a in ABLATIONS})
    counts = {**{k: metrics.get(k) for k in ("n_test", "n_anomalous")},
              **{k: budget.get(k) for k in ("train_images", "test_images", "epochs_done")}}
    out.update({k: None if _num(v) is None else int(v) for k, v in counts.items()})
    out["device"] = str(metrics.get("device")) if metrics.get("device") is not None else None
    out["dataset_display_name"] = metrics.get("dataset_display_name")
    return out


class Store:
    """The study database (stdlib ``sqlite3``); only the bench driver process writes to it."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(str(self.path), timeout=60.0, isolation_level=None)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute("PRAGMA busy_timeout=60000")
        self.conn.executescript(SCHEMA)
        self.conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def request_stop(self, stop: bool = True) -> None:
        """Ask every driver on this database to start no new run (``bench stop``); ``False`` withdraws it."""
        with self.tx() as c:
            c.execute("INSERT OR REPLACE INTO meta VALUES ('stop_requested', ?)", (now() if stop else "",))

    def stop_requested(self) -> str:
        """When a stop was requested (ISO time), or ``""``."""
        row = self.conn.execute("SELECT value FROM meta WHERE key='stop_requested'").fetchone()
        return row[0] if row else ""

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` ... ``COMMIT`` transaction (rolled back on any error)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def add_runs(self, planned: list[Any]) -> int:
        """Insert planned runs (``PlannedRun``) as ``pending``; existing hashes are left untouched."""
        sql = ("INSERT INTO runs (hash, detector, dataset, scheme, cls, cls_name, seed, preset, epochs, "
               "warmup_epochs, batch_size, max_train_images, max_test_images, config_json, budget_json, "
               "created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(hash) DO NOTHING")
        before = self.count()
        with self.tx() as c:
            for p in planned:
                s, b = p.spec, p.budget
                c.execute(sql, (p.hash, s.detector, s.dataset, s.scheme, int(s.cls), p.cls_name, s.seed,
                                p.budget_name, b["epochs"], b["warmup_epochs"], b["batch_size"],
                                b["max_train_images"], b["max_test_images"],
                                json.dumps(s.to_dict(), sort_keys=True), json.dumps({"preset": p.budget_name, **b}),
                                now()))
        return self.count() - before

    def withdraw_unplanned(self, planned: list[str]) -> int:
        """Delete the never-started ``pending`` rows whose hash is not in ``planned``; returns how many.

        A changed study file plans new hashes; its old never-started rows hold nothing and would stay
        pending forever. Rows with results, and interrupted rows (checkpoints), are never touched.
        """
        keep, rows = set(planned), self.conn.execute("SELECT hash FROM runs WHERE status='pending' AND attempts=0")
        gone = [r[0] for r in rows if r[0] not in keep]
        with self.tx() as c:
            c.executemany("DELETE FROM runs WHERE hash=? AND status='pending' AND attempts=0", [(h,) for h in gone])
        return len(gone)

    def merge_from(self, other: str | Path) -> int:
        """Copy the ``done`` runs of another study database whose hash this one lacks; returns how many.

        For studies run in parts (several machines or queues): rows keep their results and run
        folders; pending, running and failed rows are not copied.
        """
        if Path(other).resolve() == self.path.resolve():
            raise ValueError(f"cannot merge {other} into itself")
        src = Store(other)
        try:
            rows = src.rows("done")
        finally:
            src.close()
        cols = [c for c in rows[0] if c != "id"] if rows else []
        before = self.count()
        with self.tx() as c:
            for r in rows:
                c.execute(f"INSERT INTO runs ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
                          "ON CONFLICT(hash) DO NOTHING", [r[k] for k in cols])
        return self.count() - before

    def count(self) -> int:
        """Number of rows."""
        return int(self.conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0])

    def recover_stale(self) -> list[str]:
        """Turn ``running`` rows whose driver process is gone back into ``pending``; returns their hashes.

        A row is stale when it was claimed on this host and its pid is dead or
        now belongs to a process started at another time than the recorded
        token says. Rows claimed on other hosts are left alone.
        """
        host, stale = socket.gethostname(), []
        for r in self.conn.execute("SELECT hash, host, pid, start_token FROM runs WHERE status='running'"):
            started = (r["start_token"] or ":").rsplit(":", 1)[1]
            if r["host"] == host and (not pid_alive(r["pid"]) or (started and process_start(r["pid"]) != started)):
                stale.append(r["hash"])
        with self.tx() as c:
            for h in stale:
                c.execute("UPDATE runs SET status='pending', error='interrupted (driver process gone)', "
                          "pid=NULL, start_token=NULL WHERE hash=? AND status='running'", (h,))
        return stale

    def claim(self, hash_: str, token: str, run_dir: str) -> bool:
        """Mark a pending/failed row ``running`` for this driver; False if it is not claimable."""
        with self.tx() as c:
            cur = c.execute(
                "UPDATE runs SET status='running', host=?, pid=?, start_token=?, started_at=?, finished_at=NULL, "
                "run_dir=?, attempts=attempts+1 WHERE hash=? AND status IN ('pending','failed')",
                (socket.gethostname(), os.getpid(), token, now(), run_dir, hash_))
            return cur.rowcount == 1

    def finish(self, hash_: str, token: str, metrics: dict[str, Any], extra: dict[str, Any]) -> bool:
        """Record a successful run (only by the driver holding the claim); returns whether a row changed."""
        vals = {**metric_values(metrics), **extra}
        cols = ", ".join(f"{k}=?" for k in vals)
        with self.tx() as c:
            cur = c.execute(
                f"UPDATE runs SET {cols}, metrics_json=?, status='done', error=NULL, finished_at=? "
                "WHERE hash=? AND status='running' AND start_token=?",
                (*vals.values(), json.dumps(metrics, default=str), now(), hash_, token))
            return cur.rowcount == 1

    def fail(self, hash_: str, token: str, error: str, status: str = "failed") -> bool:
        """Record a failed (``failed``) or interrupted (``pending``) run held by this driver."""
        with self.tx() as c:
            cur = c.execute("UPDATE runs SET status=?, error=?, finished_at=? "
                            "WHERE hash=? AND status='running' AND start_token=?",
                            (status, error[-20000:], now() if status == "failed" else None, hash_, token))
            return cur.rowcount == 1

    def rows(self, status: str | None = None, hashes: list[str] | None = None) -> list[dict[str, Any]]:
        """Rows as dicts in insertion order, optionally filtered by status or hash list."""
        sql, args = "SELECT * FROM runs", []
        if status:
            sql, args = sql + " WHERE status=?", [status]
        rows = [dict(r) for r in self.conn.execute(sql + " ORDER BY id", args)]
        if hashes is not None:
            keep = set(hashes)
            rows = [r for r in rows if r["hash"] in keep]
        return rows

    def counts(self, hashes: list[str] | None = None) -> dict[str, int]:
        """Number of rows per status (every status listed), optionally over ``hashes`` only."""
        out = {s: 0 for s in STATUSES}
        if hashes is not None:
            for r in self.rows(hashes=hashes):
                out[r["status"]] += 1
            return out
        for r in self.conn.execute("SELECT status, COUNT(*) AS n FROM runs GROUP BY status"):
            out[r["status"]] = int(r["n"])
        return out
