"""The paper's published ROC-AUCs (Tables 1, 3 and 4), read from ``resources/paper_results.csv``.

The CSV is a literal transcription: ``mean`` in percent as printed, ``std``
exactly as printed (blank where the paper has none). The paper's ``±``
values are in AUROC units (``0.04`` = 4 points): for the "Average" rows they
match the spread of the ten per-class means, not a spread over seeds.
``marker`` keeps the paper's symbols: ``†`` (Table 1: "results reported from
our implementations") and ``?`` (Table 3: "results reported from the
original paper"). CatsVsDogs is listed under one-vs-all in the paper; here its
scheme is ``cats-vs-dogs``, as in :mod:`adcgan.evaluation.protocols`.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

PAPER_DATASET = {"cifar10-jpeg": "cifar10"}
"""Our data set -> the paper's row it may be compared with (the JPEG copy only with its own label)."""
PAPER_DISPLAY = {"cifar10": "CIFAR-10", "fashion-mnist": "fMNIST", "mnist": "MNIST", "catsvsdogs": "CatsVsDogs"}


@dataclass(frozen=True)
class PaperResult:
    """One published number."""

    table: int
    dataset: str
    scheme: str
    detector: str
    variant: str
    cls: str
    class_label: str
    mean: float
    std: float | None
    marker: str

    def text(self) -> str:
        """``"93.9 ± 0.02"`` / ``"75.4†"`` as printed in the paper."""
        std = f" ± {self.std:.2f}" if self.std is not None else ""
        return f"{self.mean:.1f}{std}{self.marker}"


def _norm(name: str) -> str:
    """Detector names compared without case and punctuation (``AE-GAN`` == ``aegan``)."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


@lru_cache(maxsize=1)
def load_paper_results() -> tuple[PaperResult, ...]:
    """All rows of ``paper_results.csv``."""
    text = resources.files("adcgan").joinpath("resources/paper_results.csv").read_text(encoding="utf-8")
    return tuple(PaperResult(int(r["table"]), r["dataset"], r["scheme"], r["detector"], r["variant"], r["class"],
                             r["class_label"], float(r["mean"]), float(r["std"]) if r["std"] else None, r["marker"])
                 for r in csv.DictReader(io.StringIO(text)))


def paper_value(table: int, dataset: str, scheme: str, detector: str, cls: str | int = "avg",
                variant: str = "") -> PaperResult | None:
    """The published number for one cell, or None if the paper has none.

    ``dataset`` is our registry name; ``cifar10-jpeg`` maps to the paper's CIFAR-10 row.
    """
    ds = PAPER_DATASET.get(dataset, dataset)
    for r in load_paper_results():
        if (r.table, r.dataset, r.scheme, r.variant, r.cls) == (table, ds, scheme, variant, str(cls)) \
                and _norm(r.detector) == _norm(detector):
            return r
    return None
