"""Terminal-aware progress reporting: tqdm bars on a terminal, at most one plain line otherwise.

Every progress bar of adcgan (training epochs, scoring passes, image decoding) goes
through :func:`progress`. When stderr is an interactive terminal it is a tqdm bar;
when stderr is redirected (a log file, a pipe, a batch job) there is no bar and at most
one short line per loop, so a log stays small.
"""
from __future__ import annotations

import sys
import time
from typing import Any, Iterable, Iterator, TypeVar

T = TypeVar("T")


def interactive() -> bool:
    """True when stderr is an interactive terminal (progress bars are shown only then)."""
    try:
        return bool(sys.stderr.isatty())
    except (AttributeError, ValueError):  # replaced or closed stream
        return False


class PlainProgress:
    """A bar stand-in for non-terminals: silent while iterating, one optional line at the end.

    It offers the tqdm methods adcgan calls (``set_postfix``, ``update``, ``close``) as no-ops.
    """

    def __init__(self, iterable: Iterable[T] | None, desc: str, summary: bool, unit: str) -> None:
        self.iterable, self.desc, self.summary, self.unit = iterable, desc, summary, unit
        self.n, self.t0, self.closed = 0, time.perf_counter(), False

    def __iter__(self) -> Iterator[Any]:
        for item in self.iterable or ():
            self.n += 1
            yield item
        self.close()

    def __enter__(self) -> "PlainProgress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def set_postfix(self, *args: Any, **kwargs: Any) -> None:
        """No-op (tqdm API)."""

    def update(self, n: int = 1) -> None:
        """Count ``n`` more items (tqdm API)."""
        self.n += n

    def close(self) -> None:
        """Print the one summary line (if asked for) once."""
        if self.closed:
            return
        self.closed = True
        if self.summary:
            secs = time.perf_counter() - self.t0
            print(f"[adcgan] {self.desc}: {self.n} {self.unit} in {secs:.1f} s", file=sys.stderr, flush=True)


def progress(iterable: Iterable[T] | None = None, *, desc: str, enabled: bool = True, total: int | None = None,
             unit: str = "it", summary: bool = False, leave: bool = False, **tqdm_options: Any) -> Any:
    """A progress bar over ``iterable`` that respects the terminal.

    Args:
        iterable: What to iterate over (``None``: a manual bar driven with ``update``).
        desc: Label.
        enabled: ``False``: no output at all (``--quiet``).
        total: Length, for a manual bar.
        unit: Unit name shown by tqdm and in the summary line.
        summary: Without a terminal, print one line when the loop ends.
        leave: Keep the tqdm bar on screen when done.
        **tqdm_options: Passed to tqdm (e.g. ``unit_scale=True``).

    Returns:
        A tqdm bar (terminal) or a :class:`PlainProgress` (anything else, or disabled).
    """
    if enabled and interactive():
        from tqdm.auto import tqdm

        return tqdm(iterable, desc=desc, total=total, unit=unit, leave=leave, dynamic_ncols=True, file=sys.stderr,
                    **tqdm_options)
    return PlainProgress(iterable, desc, summary and enabled, unit)


def progress_write(message: str) -> None:
    """Print one line to stdout without tearing a progress bar shown on the terminal."""
    if interactive():
        from tqdm.auto import tqdm

        tqdm.write(message)
    else:
        print(message, flush=True)
