"""The allocator setting of CPU training and scoring: keep glibc from handing freed buffers back to the OS.

Without it, glibc maps every buffer above its mmap threshold (at most 32 MiB) afresh and unmaps it when
freed, so each step pays a page fault per 4 KiB of it. Training the 32x32 and 64x64 models creates
weight-sized temporaries of 75 MB (the critic's 2048 x 1024 x 3 x 3 layer) in every step: 0.5 and 1.8
million page faults per step, which cost 14 % and 29 % of the training time on two Xeon cores
(``bench/speed.py``). Scoring: about 20 % of the CPU scoring time (every batch's activation maps).
"""
from __future__ import annotations

import contextlib
import ctypes
import sys
from typing import Any, Iterator

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_REUSE = (1 << 30, 2 ** 31 - 1)        # mmap threshold 1 GiB, never trim the heap top
_RESTORE = (32 << 20, 64 << 20)        # glibc's dynamic ceilings (64-bit): its steady state
_depth = 0                             # nesting level: only the outermost context sets and restores


@contextlib.contextmanager
def reuse_freed_memory(enabled: bool = True) -> Iterator[None]:
    """Keep freed large buffers in the heap for the duration (glibc only; else a no-op). Re-entrant.

    On exit from the outermost context the thresholds are set to glibc's own dynamic ceilings
    (mmap 32 MiB, trim 64 MiB), the values its default adaptive policy converges to.
    """
    global _depth
    libc = _glibc() if enabled else None
    if libc is not None:
        if _depth == 0:
            libc.mallopt(_M_MMAP_THRESHOLD, _REUSE[0])
            libc.mallopt(_M_TRIM_THRESHOLD, _REUSE[1])
        _depth += 1
    try:
        yield
    finally:
        if libc is not None:
            _depth -= 1
            if _depth == 0:
                libc.mallopt(_M_MMAP_THRESHOLD, _RESTORE[0])
                libc.mallopt(_M_TRIM_THRESHOLD, _RESTORE[1])


def _glibc() -> Any:
    """The C library when it is glibc with ``mallopt`` (Linux), else ``None``."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "gnu_get_libc_version") else None
    except OSError:
        return None
