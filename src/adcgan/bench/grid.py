"""Benchmark grid: budget presets, the grid spec, and its expansion into hashed runs.

A grid is the cross product detectors x datasets x schemes x classes x seeds
under one training/test budget. Every run is a fully resolved ``RunSpec``;
its hash (of the resolved spec, budget included) is the run's identity in
the study database.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adcgan.evaluation.protocols import paper_epochs

if TYPE_CHECKING:  # pragma: no cover
    from adcgan.evaluation.experiment import RunSpec

BUDGET_KEYS = ("epochs", "warmup_epochs", "batch_size", "max_train_images", "max_test_images")
EXECUTION_KEYS = ("device", "num_threads")
"""Detector settings that change where/how fast a run goes, not its result: not hashed."""


@dataclass(frozen=True)
class Budget:
    """A training/test budget; ``epochs``/``warmup_epochs`` ``None`` = the paper's per-scheme value.

    Attributes:
        name: Preset name as recorded in the store (``paper``, ``quick``, ``quick+epochs=3``).
        epochs: Main epochs (``None``: 15 one-vs-all, 35 all-vs-one).
        warmup_epochs: Warm-up epochs (``None``: 5 one-vs-all, 15 all-vs-one).
        batch_size: Training batch size (paper: 32).
        max_train_images: Cap on training images (``None``: all; a recorded budget cut).
        max_test_images: Stratified seeded test subset (``None``: the whole test split).
    """

    name: str
    epochs: int | None = None
    warmup_epochs: int | None = None
    batch_size: int = 32
    max_train_images: int | None = None
    max_test_images: int | None = None

    def resolve(self, scheme: str) -> dict[str, Any]:
        """The concrete budget numbers for ``scheme``."""
        ep, wu = paper_epochs(scheme)
        return {"epochs": ep if self.epochs is None else self.epochs,
                "warmup_epochs": wu if self.warmup_epochs is None else self.warmup_epochs,
                "batch_size": self.batch_size, "max_train_images": self.max_train_images,
                "max_test_images": self.max_test_images}

    def with_overrides(self, **kw: Any) -> "Budget":
        """A copy with the non-``None`` overrides applied, renamed ``<name>+k=v,...`` if anything changed."""
        changed = {k: v for k, v in kw.items() if v is not None and getattr(self, k) != v}
        if not changed:
            return self
        suffix = ",".join(f"{k}={v}" for k, v in changed.items())
        return replace(self, name=f"{self.name}+{suffix}", **changed)


PRESETS: dict[str, Budget] = {
    "paper": Budget("paper"),
    # ~2 min for one F-MNIST AD-CGAN run on a 2-core CPU: 3 epochs x 1800 images at ~50 img/s + 2000 scored.
    "quick": Budget("quick", epochs=2, warmup_epochs=1, max_train_images=2000, max_test_images=2000),
    # the CPU development budget of issue 8: 5 + 1 epochs on 2,000 normal images, the full test split.
    "dev": Budget("dev", epochs=5, warmup_epochs=1, max_train_images=2000),
    # seconds per run: for smoke tests and CI only, results are meaningless.
    "smoke": Budget("smoke", epochs=1, warmup_epochs=0, max_train_images=64, max_test_images=64),
}


BUDGET_COLS = ("preset", "epochs", "warmup_epochs", "batch_size", "max_train_images", "max_test_images")
"""The budget columns of a study row, in the order of :func:`budget_key` and :func:`budget_text`."""


def budget_key(row: dict[str, Any]) -> tuple:
    """The budget part of a row's grouping key."""
    return tuple(row[c] for c in BUDGET_COLS)


def budget_text(key: tuple) -> str:
    """``quick: 2 epochs + 1 warm-up, batch 32, train cap 2000, test cap 2000``."""
    name, ep, wu, bs, mtr, mte = key
    cap = lambda v: "none" if v is None else str(int(v))  # noqa: E731
    return f"{name}: {ep} epochs + {wu} warm-up, batch {bs}, train cap {cap(mtr)}, test cap {cap(mte)}"


def is_paper_budget(budget: dict[str, Any], scheme: str) -> bool:
    """True when the resolved ``budget`` equals Appendix A.3 for ``scheme``."""
    return {k: budget.get(k) for k in BUDGET_KEYS} == PRESETS["paper"].resolve(scheme)


def get_budget(preset: str, custom: dict[str, dict[str, Any]] | None = None, **overrides: Any) -> Budget:
    """Look up a preset (built-in or from a config file's ``[presets.NAME]``) and apply overrides.

    Raises:
        ValueError: for an unknown preset or an unknown budget key.
    """
    table = dict(PRESETS)
    for name, values in (custom or {}).items():
        unknown = sorted(set(values) - set(BUDGET_KEYS))
        if unknown:
            raise ValueError(f"preset {name!r}: unknown key(s) {', '.join(unknown)}; use {', '.join(BUDGET_KEYS)}")
        table[name] = Budget(name, **values)
    if preset not in table:
        raise ValueError(f"unknown preset {preset!r}; choose one of: {', '.join(table)}")
    return table[preset].with_overrides(**overrides)


@dataclass
class GridSpec:
    """What to run: the cross product of the lists below under one budget."""

    detectors: list[str] = field(default_factory=lambda: ["adcgan"])
    datasets: list[str] = field(default_factory=lambda: ["fashion-mnist"])
    schemes: list[str] = field(default_factory=lambda: ["one-vs-all"])
    classes: list[int | str] | str = "all"
    seeds: list[int] = field(default_factory=lambda: [0])
    budget: Budget = field(default_factory=lambda: PRESETS["quick"])
    test_set: str = "standard"
    preprocess: str = "paper"
    data_dir: str | None = None
    device: str | None = None
    detector_config: dict[str, Any] = field(default_factory=dict)
    score_variants: list[dict[str, Any]] | None = None


@dataclass
class PlannedRun:
    """One resolved cell of the grid."""

    spec: "RunSpec"
    hash: str
    budget_name: str
    budget: dict[str, Any]
    cls_name: str
    stage: int = 0

    @property
    def folder_name(self) -> str:
        """``<hash[:12]>-<detector>-<dataset>-<scheme>-c<cls>-s<seed>``."""
        s = self.spec
        return f"{self.hash[:12]}-{s.detector}-{s.dataset}-{s.scheme}-c{s.cls}-s{s.seed}"


def spec_hash(spec_dict: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a resolved run spec, execution-only settings left out.

    ``device`` and ``num_threads`` do not change a run's result; ``data_dir``
    only names where a registry data set lives, so it counts only for the
    ``folder`` and ``user`` data sets, whose identity is their folder.
    Settings that are ``None`` are left out, so that a new optional field of
    ``RunSpec`` (default ``None``) keeps the hashes of existing studies.
    """
    d = json.loads(json.dumps(spec_dict, sort_keys=True, default=str))
    d = {k: v for k, v in d.items() if v is not None}
    d["detector_config"] = {k: v for k, v in (d.get("detector_config") or {}).items()
                            if k not in EXECUTION_KEYS and v is not None}
    if d.get("dataset") not in ("folder", "user"):
        d.pop("data_dir", None)
    if d.get("data_dir"):
        d["data_dir"] = str(Path(d["data_dir"]).expanduser().resolve())
    blob = json.dumps(d, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def schemes_for(dataset: str, schemes: list[str], n_classes: int) -> list[str]:
    """Schemes that apply: CatsVsDogs only has ``cats-vs-dogs`` (paper A.2); that scheme needs 2 classes."""
    if dataset == "catsvsdogs":
        return ["cats-vs-dogs"]
    return [s for s in schemes if s != "cats-vs-dogs" or n_classes == 2]


def class_names_of(dataset: str, data_dir: str | None) -> list[str]:
    """Class names of a data set; folder data sets are listed from disk (loading them once)."""
    from adcgan.data import get_spec, load_dataset

    names = list(get_spec(dataset).class_names)
    if names:
        return names
    return list(load_dataset(dataset, data_dir, download=False).class_names)


def resolve_classes(names: list[str], classes: list[int | str] | str) -> list[tuple[int, str]]:
    """``"all"`` or a list of indices/names -> sorted unique ``(index, name)`` pairs."""
    from adcgan.data import resolve_class

    if isinstance(classes, str) and classes.strip().lower() == "all":
        return list(enumerate(names))
    items = classes.split(",") if isinstance(classes, str) else classes
    idx = sorted({resolve_class(names, c.strip() if isinstance(c, str) else c) for c in items})
    return [(i, names[i]) for i in idx]


def _detector_config(grid: GridSpec, budget: dict[str, Any]) -> dict[str, Any]:
    cfg = {**grid.detector_config, **{k: budget[k] for k in ("epochs", "warmup_epochs", "batch_size")}}
    if budget["max_train_images"] is not None:
        cfg["max_train_images"] = budget["max_train_images"]
    if grid.device:
        cfg["device"] = grid.device
    return cfg


def expand(grid: GridSpec) -> list[PlannedRun]:
    """All runs of the grid, in a stable order (detector, dataset, scheme, class, seed)."""
    from adcgan.data import get_spec
    from adcgan.detectors.adcgan.config import plus_revision
    from adcgan.evaluation.experiment import RunSpec

    runs: list[PlannedRun] = []
    names_of = {get_spec(ds).name: class_names_of(get_spec(ds).name, grid.data_dir) for ds in grid.datasets}
    for det in grid.detectors:
        for ds_name, names in names_of.items():
            classes = resolve_classes(names, grid.classes)
            for scheme in schemes_for(ds_name, grid.schemes, len(names)):
                budget = grid.budget.resolve(scheme)
                for cls, cls_name in classes:
                    for seed in grid.seeds:
                        spec = RunSpec(detector=det, dataset=ds_name, scheme=scheme, cls=cls, seed=int(seed),
                                       test_set=grid.test_set, data_dir=grid.data_dir, preprocess=grid.preprocess,
                                       max_test_images=budget["max_test_images"],
                                       detector_config=_detector_config(grid, budget),
                                       score_variants=grid.score_variants,
                                       defaults_revision=plus_revision(det, grid.detector_config))
                        runs.append(PlannedRun(spec, spec_hash(spec.to_dict()), grid.budget.name, budget, cls_name))
    return runs
