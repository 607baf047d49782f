"""docs/speed.md's speed table from bench/speed.py's JSON lines (adcgan.bench.speed_table, bench/speed_table.py)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from adcgan.bench.speed_table import SpeedLogError, parse_speed_log, render_speed_table

ROOT = Path(__file__).resolve().parents[1]
MACHINE = {"cpu": "Test CPU", "isa": ["avx2", "fma"], "logical_cpus": 2, "torch_threads": 2, "torch": "2.13.0+cpu"}


def _row(geometry: str, fast: float, plain: float) -> dict:
    return {"detector": "adcgan", "geometry": geometry, "device": "cpu", "threads": 2, "settings": {},
            "train_images_per_s": fast, "train_plain_images_per_s": plain, "score_images_per_s": 1234.5,
            "train_mflop_per_image": 1137.6, "score_mflop_per_image": 249.3, "train_fraction": 0.399,
            "train_plain_fraction": 0.301, "score_fraction": 0.815}


def _log(rows: list[dict], machine: dict = MACHINE, before: float = 337.6) -> str:
    lines = ["machine: Test CPU | ISA avx2 fma", "adcgan 28x28x1 train 118.5 img/s (readable line)"]
    lines += [json.dumps(r) for r in rows]
    lines.append(json.dumps({"machine": machine, "copy_gb_per_s": 26.0, "gemm_gflops_before": before,
                             "gemm_gflops_after": 336.4}))
    return "\n".join(lines) + "\n"


def test_table_rows_by_hand_and_the_machine_and_rates_named():
    text = render_speed_table([("run1.log", _log([_row("28x28x1", 118.5, 89.3)])),
                               ("run2.log", _log([_row("64x64x3", 4.4, 2.0)], before=331.2))])
    assert "Machine: Test CPU (avx2 + fma), 2 logical CPUs, torch 2.13.0+cpu, 2 threads." in text
    assert "* run1.log (28x28x1): fp32 GEMM 337.6 GFLOP/s before, 336.4 after; memory copy 26.0 GB/s" in text
    assert "* run2.log (64x64x3): fp32 GEMM 331.2 GFLOP/s before" in text
    lines = text.splitlines()
    assert "| adcgan | 28×28×1 | 1,138 | **118.5** | 89.3 | ×1.33 | 39.9 / 30.1 % | 249 | **1,234.5** | 81.5 % |" in lines
    assert "| adcgan | 64×64×3 | 1,138 | **4.40** | 2.00 | ×2.20 |" in lines[-1]   # two decimals below 10 img/s
    head = [ln for ln in lines if ln.startswith("| detector")][0]
    assert lines[lines.index(head) + 1].count("---") == head.count(" | ") + 1   # one separator per column


def test_bad_logs_are_refused_with_one_message():
    with pytest.raises(SpeedLogError, match="no machine line"):
        parse_speed_log(_log([_row("28x28x1", 1.0, 1.0)]).rsplit("\n", 2)[0], "cut.log")
    with pytest.raises(SpeedLogError, match="no .detector, geometry. row"):
        parse_speed_log("just text\n{not json\n", "empty.log")
    other = dict(MACHINE, cpu="Other CPU")
    with pytest.raises(SpeedLogError, match="different machines"):
        render_speed_table([("a", _log([_row("28x28x1", 1.0, 1.0)])),
                            ("b", _log([_row("28x28x1", 1.0, 1.0)], machine=other))])


def test_script_renders_saved_logs_and_exits_2_on_bad_input(tmp_path):
    good = tmp_path / "run.log"
    good.write_text(_log([_row("32x32x3", 15.2, 7.6)]))
    script = [sys.executable, str(ROOT / "bench" / "speed_table.py")]
    ok = subprocess.run(script + [str(good)], capture_output=True, text=True)
    assert ok.returncode == 0 and "| adcgan | 32×32×3 |" in ok.stdout
    for bad in (tmp_path / "missing.log", tmp_path / "empty.log"):
        if bad.name == "empty.log":
            bad.write_text("nothing here\n")
        out = subprocess.run(script + [str(good), str(bad)], capture_output=True, text=True)
        assert out.returncode == 2 and out.stdout == ""
        assert out.stderr.startswith("error: ") and len(out.stderr.strip().splitlines()) == 1


def test_speed_script_ends_with_the_table_of_its_own_run():
    """A real (tiny) run: Deep SVDD at 28x28, one step, 64 scored images."""
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "speed.py"), "--detectors", "deepsvdd", "--geometries",
                          "28", "--steps", "1", "--warmup-steps", "0", "--rounds", "1", "--score-images", "64",
                          "--repeats", "1", "--gemm-size", "256", "--markdown"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    rows, meta = parse_speed_log(out.stdout)
    table = out.stdout[out.stdout.index("Machine: "):]
    assert f"Machine: {meta['machine']['cpu']}" in table and f"{meta['gemm_gflops_before']:.1f} GFLOP/s" in table
    fast = rows[0]["train_images_per_s"]
    assert (f"**{fast:,.2f}**" if fast < 10 else f"**{fast:,.1f}**") in table
    assert "| deepsvdd | 28×28×1 |" in table


def test_speed_page_table_is_the_render_of_the_kept_runs():
    """docs/speed.md's table is regenerated, not typed: it must equal the render of the runs in docs/results/speed/."""
    logs = sorted((ROOT / "docs" / "results" / "speed").glob("*.log"))
    assert logs, "docs/results/speed/ holds the runs the table of docs/speed.md comes from"
    rendered = render_speed_table([(str(p.relative_to(ROOT)), p.read_text()) for p in logs])
    page = (ROOT / "docs" / "speed.md").read_text()
    assert rendered in page, "docs/speed.md: paste the output of bench/speed_table.py docs/results/speed/*.log"
