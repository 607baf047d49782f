"""``adcgan bench`` as a user runs it: no bars in a redirected log, two processes sharing one study."""
from __future__ import annotations

from pathlib import Path

import pytest

from adcgan.bench import Store, expand
from adcgan.bench.store import driver_token
from adcgan.cli import build_parser
from adcgan.cli.bench import build_grid, merged_settings, run_bench_command
from test_bench import fake_runner

ARGS = ["bench", "--detectors", "adcgan", "--datasets", "mnist", "--classes", "1,2", "--preset", "smoke"]


def test_redirected_stderr_gets_no_progress_bars(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    args = build_parser().parse_args([*ARGS, "--db", str(tmp_path / "s.db")])  # no --quiet: progress asked for
    assert run_bench_command(args, fake_runner) == 0
    out, err = capsys.readouterr()
    assert "\r" not in err and "run/s" not in err and "%|" not in err, err
    assert out.count("bench: adcgan mnist one-vs-all c") == 2 and "done 2" in out


def test_a_run_held_by_another_live_bench_process_is_not_a_failure(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture) -> None:
    args = build_parser().parse_args([*ARGS, "--db", str(tmp_path / "s.db"), "--quiet"])
    planned = expand(build_grid(merged_settings(args)))
    store = Store(tmp_path / "s.db")
    store.add_runs(planned)
    assert store.claim(planned[0].hash, driver_token(), str(tmp_path / "other"))  # a live driver holds class 1
    store.close()
    assert run_bench_command(args, fake_runner) == 0
    out = capsys.readouterr().out
    assert "done 1" in out and "running 1" in out and "1 run(s) are still running in another bench process" in out
    store = Store(tmp_path / "s.db")
    store.conn.execute("UPDATE runs SET pid=999999999 WHERE status='running'")  # that driver is gone now
    store.conn.commit()
    store.close()
    assert run_bench_command(args, fake_runner) == 0 and "done 2" in capsys.readouterr().out
