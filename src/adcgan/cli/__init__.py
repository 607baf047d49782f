"""``adcgan`` command line: train, evaluate, score, export, rescore, info, bench.

Modules: :mod:`~adcgan.cli.parser` (the flags), :mod:`~adcgan.cli.settings` (config files,
``--set``, the settings merge, run defaults), :mod:`~adcgan.cli.commands` (the handlers),
:mod:`~adcgan.cli.score` (``score`` and ``export``), :mod:`~adcgan.cli.bench` (``bench``).
"""
from __future__ import annotations

import argparse
from typing import Callable

from adcgan.cli.parser import build_parser

__all__ = ["build_parser", "main"]


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``adcgan`` console script; returns the exit code.

    Args:
        argv: Arguments after the program name (default: ``sys.argv[1:]``).
    """
    from adcgan.cli.commands import COMMANDS, run_guarded

    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = COMMANDS[args.command]
    return run_guarded(handler, args)
