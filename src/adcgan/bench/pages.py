"""Marked blocks of Markdown pages that a renderer owns: ``<!-- NAME:begin -->`` ... ``<!-- NAME:end -->``.

``adcgan bench report --page FILE`` fills every block of FILE it has a renderer for, so a page (the README,
docs/results.md) shows exactly what the report renders; the text outside the blocks is the author's.
"""
from __future__ import annotations

from pathlib import Path

from adcgan.io.files import atomic_write_bytes


def markers(name: str) -> tuple[str, str]:
    """The begin and end markers of block ``name``."""
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def read_block(text: str, name: str) -> str | None:
    """The text between the markers of block ``name`` (None when the page lacks them)."""
    begin, end = markers(name)
    if begin not in text or end not in text.split(begin, 1)[1]:
        return None
    return text.split(begin + "\n", 1)[1].split(end, 1)[0] if begin + "\n" in text else None


def fill_blocks(page: Path, blocks: dict[str, list[str]]) -> list[str]:
    """Replace each block of ``page`` named in ``blocks`` with its lines; returns the names filled.

    Raises:
        ValueError: when the page holds none of the blocks (nothing is written).
    """
    text = page.read_text(encoding="utf-8")
    filled = []
    for name, lines in blocks.items():
        if read_block(text, name) is None:
            continue
        begin, end = markers(name)
        head, rest = text.split(begin, 1)
        text = head + begin + "\n" + "\n".join(lines) + "\n" + end + rest.split(end, 1)[1]
        filled.append(name)
    if not filled:
        wanted = ", ".join(markers(n)[0] for n in blocks)
        raise ValueError(f"{page} has no block to fill (expected one of: {wanted} ... with its end marker)")
    atomic_write_bytes(page, text.encode("utf-8"))
    return filled
