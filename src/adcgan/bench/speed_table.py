"""The speed table of docs/speed.md, rendered from what ``bench/speed.py`` printed (its JSON lines).

``bench/speed.py`` prints one JSON object per (detector, geometry) row and, last, one object naming the
machine and the GEMM rates measured before and after the timings. :func:`render_speed_table` turns the
output of one or more runs of it on one machine into a Markdown table that names the machine, the GEMM
rate of each run and the command-line figures as printed: nothing is recomputed, so the table says
exactly what the runs measured.

    python bench/speed.py --geometries 28,32 > run1.log
    python bench/speed.py --geometries 64 --steps 2 > run2.log
    python bench/speed_table.py run1.log run2.log
"""
from __future__ import annotations

import json
from typing import Any

HEAD = ("| detector | geometry | MFLOP / trained image | train img/s, fast path | train img/s, plain path | "
        "fast / plain | train, % of ceiling (fast / plain) | MFLOP / scored image | score img/s | "
        "score, % of ceiling |")


class SpeedLogError(ValueError):
    """A log that holds no ``bench/speed.py`` run, or runs from different machines."""


def parse_speed_log(text: str, name: str = "log") -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(rows, machine line) of one ``bench/speed.py`` output; other lines (the readable ones) are skipped.

    Raises:
        SpeedLogError: no row, or no machine line (the run did not finish).
    """
    rows, meta = [], None
    for line in text.splitlines():
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "detector" in obj and "train_images_per_s" in obj:
            rows.append(obj)
        elif "machine" in obj and "gemm_gflops_before" in obj:
            meta = obj
    if not rows or meta is None:
        missing = "no (detector, geometry) row" if not rows else "no machine line (the run did not finish)"
        raise SpeedLogError(f"{name}: {missing}; is it the output of bench/speed.py?")
    return rows, meta


def _pct(row: dict[str, Any], key: str) -> str:
    return f"{100 * row[key]:.1f}" if key in row else "n/a"


def _rate(value: float) -> str:
    """Images/s as printed: two decimals below 10 (a 64x64 model trains at 3-5 img/s), else one."""
    return f"{value:,.2f}" if value < 10 else f"{value:,.1f}"


def _row(row: dict[str, Any]) -> str:
    label = row["detector"] + "".join(f" {k}={v}" for k, v in row.get("settings", {}).items())
    fast, plain = row["train_images_per_s"], row["train_plain_images_per_s"]
    ratio = f"×{fast / plain:.2f}" if plain else "n/a"
    geo = row["geometry"].replace("x", "×")
    return (f"| {label} | {geo} | {row['train_mflop_per_image']:,.0f} | **{_rate(fast)}** | {_rate(plain)} | {ratio} | "
            f"{_pct(row, 'train_fraction')} / {_pct(row, 'train_plain_fraction')} % | "
            f"{row['score_mflop_per_image']:,.0f} | **{_rate(row['score_images_per_s'])}** | "
            f"{_pct(row, 'score_fraction')} % |")


def _machine_text(machine: dict[str, Any]) -> str:
    isa = " + ".join(machine.get("isa", [])) or "no ISA flags found"
    gpu = f", GPU {machine['gpu']}" if machine.get("gpu") else ""
    return (f"{machine['cpu']} ({isa}), {machine['logical_cpus']} logical CPUs, torch {machine['torch']}, "
            f"{machine['torch_threads']} threads{gpu}")


def render_speed_table(logs: list[tuple[str, str]]) -> str:
    """Markdown: the machine, each run's GEMM rates, then one table row per measured row, run by run.

    Args:
        logs: (name, text) of each ``bench/speed.py`` output.

    Raises:
        SpeedLogError: a log without a run, or logs from different machines or thread counts.
    """
    return render_runs([(name, *parse_speed_log(text, name)) for name, text in logs])


def render_runs(parsed: list[tuple[str, list[dict[str, Any]], dict[str, Any]]]) -> str:
    """:func:`render_speed_table` of runs already parsed: (name, rows, machine line) each."""
    machines = {json.dumps(meta["machine"], sort_keys=True) for _, _, meta in parsed}
    if len(machines) > 1:
        raise SpeedLogError("the logs come from different machines or thread counts: "
                            + "; ".join(f"{n}: {_machine_text(m['machine'])}" for n, _, m in parsed))
    lines = [f"Machine: {_machine_text(parsed[0][2]['machine'])}. Fractions are of the ceiling that the fp32 GEMM "
             "rate measured before the timings implies; the rate after them is given too:", ""]
    for name, rows, meta in parsed:
        geos = ", ".join(r["geometry"] for r in rows)
        lines.append(f"* {name} ({geos}): fp32 GEMM {meta['gemm_gflops_before']:.1f} GFLOP/s before, "
                     f"{meta['gemm_gflops_after']:.1f} after; memory copy {meta.get('copy_gb_per_s', 'n/a')} GB/s")
    lines += ["", HEAD, "|" + "---|" * HEAD.count(" | ") + "---|"]
    lines += [_row(r) for _, rows, _ in parsed for r in rows]
    return "\n".join(lines) + "\n"
