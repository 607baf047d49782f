"""The one progress helper: tqdm bars on a terminal, at most one plain line otherwise."""
from __future__ import annotations

import io
import sys

from adcgan.io.progress import PlainProgress, progress


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_gets_a_tqdm_bar_on_stderr(monkeypatch):
    term = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", term)
    bar = progress(range(4), desc="demo pass", unit="batch")
    assert not isinstance(bar, PlainProgress) and list(bar) == [0, 1, 2, 3]
    assert "demo pass" in term.getvalue() and "\r" in term.getvalue()


def test_redirected_stderr_gets_one_line_or_nothing(capsys):
    assert list(progress(range(50), desc="scoring", unit="batches", summary=True)) == list(range(50))
    assert list(progress(range(50), desc="epoch 1/3")) == list(range(50))
    with progress(total=10, desc="decoding", unit="img") as bar:
        bar.update(10)
        bar.set_postfix({"loss": 1.0})
    assert list(progress(range(3), desc="quiet", enabled=False, summary=True)) == [0, 1, 2]
    err = capsys.readouterr().err
    assert err.splitlines() == [err.splitlines()[0]] and err.startswith("[adcgan] scoring: 50 batches in ")
