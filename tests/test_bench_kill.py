"""``kill -9`` of a real ``python -m adcgan bench`` process mid-grid, then a rerun of the same command.

Asserts the promise of the study store: at most the run in flight is lost, no
duplicate or half-written row, finished rows are not re-run, and the
interrupted run is resumed in its own run folder.
"""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from conftest import make_folder_data


def db_rows(db: Path) -> list[dict]:
    """All rows, read through a short-lived connection (the bench process may be writing)."""
    if not db.exists():
        return []
    conn = sqlite3.connect(str(db), timeout=30)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM runs ORDER BY id")]
    except sqlite3.OperationalError:  # table not created yet
        return []
    finally:
        conn.close()


def wait_for_done_and_running(db: Path, proc: subprocess.Popen, timeout: float = 180) -> list[dict]:
    """Poll until one row is done and another is running (and its run folder exists)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        assert proc.poll() is None, f"bench exited early ({proc.returncode}): {proc.stdout.read()}"
        rows = db_rows(db)
        running = [r for r in rows if r["status"] == "running"]
        if any(r["status"] == "done" for r in rows) and running and Path(running[0]["run_dir"], "config.json").exists():
            return rows
        time.sleep(0.2)
    raise AssertionError(f"no done + running rows within {timeout}s: {db_rows(db)}")


def test_sigkill_mid_grid_then_resume(tmp_path: Path) -> None:
    data = make_folder_data(tmp_path / "stripes")
    db = tmp_path / "study.db"
    cmd = [sys.executable, "-m", "adcgan", "bench", "--datasets", "folder", "--data-dir", str(data),
           "--classes", "all", "--seeds", "0,1", "--preset", "smoke", "--num-threads", "1", "--quiet",
           "--db", str(db)]
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        wait_for_done_and_running(db, proc)
        time.sleep(1.0)  # let the run in flight get into training
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    before = db_rows(db)
    conn = sqlite3.connect(str(db))
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    assert len(before) == 4 and len({r["hash"] for r in before}) == 4
    done_before = {r["hash"]: r for r in before if r["status"] == "done"}
    killed = [r for r in before if r["status"] == "running"]
    assert done_before and len(killed) == 1 and all(r["metrics_json"] for r in done_before.values())
    assert all(r["status"] in ("done", "running", "pending") for r in before)

    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "1 interrupted run(s)" in res.stdout
    after = db_rows(db)
    assert len(after) == 4 and len({r["hash"] for r in after}) == 4
    assert all(r["status"] == "done" and r["roc_auc"] is not None for r in after)
    by_hash = {r["hash"]: r for r in after}
    for h, r in done_before.items():  # finished rows untouched: not re-run
        assert by_hash[h]["finished_at"] == r["finished_at"] and by_hash[h]["attempts"] == 1
    k = by_hash[killed[0]["hash"]]
    assert k["attempts"] == 2 and k["run_dir"] == killed[0]["run_dir"]
    assert sorted(Path(k["run_dir"]).parent.iterdir()) == sorted(Path(r["run_dir"]) for r in after)

