"""``python -m adcgan.data``: fetch a dataset, or show where it is found.

Usage::

    python -m adcgan.data list
    python -m adcgan.data where NAME [--data-dir DIR]
    python -m adcgan.data fetch NAME [--dest DIR]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from adcgan.data.cache import cache_root
from adcgan.data.download import fetch_dataset
from adcgan.data.errors import DataError
from adcgan.data.formats import is_present
from adcgan.data.locate import find_dataset, locate, not_found_error, with_aliases
from adcgan.data.specs import DATASETS, DatasetSpec, get_spec


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m adcgan.data", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="list the registered datasets and where each is found")
    where = sub.add_parser("where", help="print the folder a dataset is loaded from")
    where.add_argument("name")
    where.add_argument("--data-dir", type=Path)
    fetch = sub.add_parser("fetch", help="download a dataset's official files (checksums verified)")
    fetch.add_argument("name")
    fetch.add_argument("--dest", type=Path, help="target folder (default: the user cache)")
    return p


def _download(spec: DatasetSpec, dest: Path) -> Path:
    """Verified download into ``dest``; returns the folder holding the files."""
    fetch_dataset(spec, dest)
    return next(c for c in with_aliases(dest, spec) if is_present(spec, c))


def _fetch(name: str, dest: Path | None) -> Path:
    """The folder already holding the dataset (or ``dest``), else a verified download."""
    spec = get_spec(name)
    if dest is not None:
        return dest if is_present(spec, dest) else _download(spec, dest)
    found, tried = locate(spec)
    if found is not None:
        return found
    try:
        return _download(spec, cache_root() / spec.name)
    except DataError as exc:
        raise not_found_error(spec, tried, str(exc), download_tried=True) from exc


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.cmd == "list":
            for name, spec in DATASETS.items():
                print(f"{name:14s} {spec.display_name:26s} {find_dataset(name) or '-'}")
        elif args.cmd == "where":
            found = find_dataset(args.name, args.data_dir)
            if found is None:
                print(f"{args.name}: not found", file=sys.stderr)
                return 1
            print(found)
        else:
            print(_fetch(args.name, args.dest))
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
