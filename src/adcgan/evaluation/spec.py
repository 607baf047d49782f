"""What defines one run: :class:`RunSpec`, stored in the run's ``config.json`` and a study database, its hash
the run's identity in a study (:func:`adcgan.bench.grid.spec_hash`)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RunSpec:
    """Everything that defines one run (stored in the run's ``config.json`` and the bench DB)."""

    detector: str = "adcgan"
    dataset: str = "fashion-mnist"
    scheme: str = "one-vs-all"
    cls: int | str = 1
    seed: int = 0
    test_set: str = "standard"
    data_dir: str | None = None
    preprocess: str = "paper"
    max_test_images: int | None = None
    user_dirs: dict[str, str] | None = None     # dataset "user": {"train", "test_normal", "test_anomalous"}
    geometry: list[int] | None = None           # (H, W, C) for folder/user data; None = the data set's own
    detector_config: dict[str, Any] = field(default_factory=dict)
    score_variants: list[dict[str, Any]] | None = None  # scored with the run (adcgan.evaluation.variants)
    defaults_revision: int | None = None  # adcgan+'s PLUS_REVISION the run asks for (None: revision 1)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunSpec":
        """Inverse of :meth:`to_dict`; unknown keys raise ``TypeError``."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise TypeError(f"unknown run setting(s): {', '.join(unknown)}")
        return cls(**d)
