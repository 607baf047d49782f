"""Render the speed table of docs/speed.md from saved ``bench/speed.py`` outputs (``adcgan.bench.speed_table``).

    python bench/speed.py --geometries 28,32 > run1.log
    python bench/speed.py --geometries 64 --steps 2 > run2.log
    python bench/speed_table.py run1.log run2.log      # Markdown on stdout

One clear message and exit status 2 for a missing file, a log without a finished run, or logs from
different machines.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from adcgan.bench.speed_table import SpeedLogError, render_speed_table


def main(argv: list[str] | None = None) -> int:
    """Print the table of the logs named on the command line; 2 on bad input."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("logs", nargs="+", type=Path, help="files holding what bench/speed.py printed")
    args = p.parse_args(argv)
    try:
        logs = [(str(path), path.read_text(encoding="utf-8", errors="replace")) for path in args.logs]
        sys.stdout.write(render_speed_table(logs))
    except (OSError, SpeedLogError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
