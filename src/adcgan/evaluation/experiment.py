"""One experiment = train on a protocol's normal data, score its test set, write the report folder.

Used by ``adcgan train`` / ``adcgan evaluate`` and by the benchmark grid.
"""
from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from adcgan.data import Dataset, load_dataset, load_user_data, resolve_class
from adcgan.data.folders import MAX_LISTED
from adcgan.detectors.base import BaseDetector
from adcgan.detectors.checkpoint import MODEL_SUBDIR, model_folder
from adcgan.io.files import atomic_write_json
from adcgan.evaluation.protocols import ProtocolSplit, make_split, subsample_stratified
from adcgan.registry import get_detector_class
from adcgan.evaluation import variants
from adcgan.evaluation.variants import SCORING_SETTINGS
from adcgan.evaluation.report import write_report
from adcgan.evaluation.spec import RunSpec
from adcgan.io.tensors import as_image_tensor
from adcgan.training.graphs import check_graphs
from adcgan.training.precision import bf16_native, check_precision
from adcgan.training.runtime import cpu_model, resolve_device, versions
from adcgan.training.split import holdout_split


@dataclass
class TestData:
    """A protocol's test set, materialised."""

    images: torch.Tensor      # NCHW uint8
    labels: np.ndarray        # 1 = anomaly
    ids: list[str]
    description: str
    budget: dict[str, Any]


class RunFolderError(FileExistsError):
    """The output folder already holds results that must not be overwritten."""


def flip_invariant(dataset: str) -> bool:
    """Whether mirrored images of the named data set are as normal as the originals."""
    from adcgan.data.specs import DATASETS

    spec = DATASETS.get(dataset)
    return bool(spec is not None and spec.flip_invariant)


def load_data(spec: RunSpec) -> Dataset:
    """The data set of ``spec`` (a named data set or a user's folders)."""
    geometry = tuple(int(v) for v in spec.geometry) if spec.geometry else None
    if spec.dataset == "user":
        u = spec.user_dirs or {}
        return load_user_data(u["train"], u["test_normal"], u["test_anomalous"], geometry, spec.preprocess)
    return load_dataset(spec.dataset, spec.data_dir, preprocess=spec.preprocess, geometry=geometry)


def protocol_split(spec: RunSpec, ds: Dataset, val_fraction: float) -> ProtocolSplit:
    """The seeded protocol split of ``spec`` on ``ds``."""
    scheme, cls = ("one-vs-all", 0) if spec.dataset == "user" else (spec.scheme, resolve_class(ds, spec.cls))
    test_labels = None if spec.test_set == "holdout" else ds.test.labels  # holdout never reads the test split
    return make_split(ds.train.labels, test_labels, scheme, cls, test_set=spec.test_set,
                      val_fraction=val_fraction, seed=spec.seed, n_classes=len(ds.class_names),
                      class_names=list(ds.class_names))


def test_data(spec: RunSpec, ds: Dataset, split: ProtocolSplit) -> TestData:
    """Concatenate the test images (test split, then train-split anomalies) and apply ``max_test_images``."""
    imgs, ids = ds.train.images[split.test_from_train_idx], [ds.train.ids[i] for i in split.test_from_train_idx]
    if len(split.test_idx):  # the holdout test set has none: the test split is not touched
        imgs = np.concatenate([ds.test.images[split.test_idx], imgs])
        ids = [ds.test.ids[i] for i in split.test_idx] + ids
    y = split.y_test
    full = len(y)
    if spec.max_test_images is not None and spec.max_test_images < full:
        keep = subsample_stratified(y, spec.max_test_images, spec.seed)
        imgs, y, ids = imgs[keep], y[keep], [ids[i] for i in keep]
    budget = {"test_images": int(len(y)), "test_images_full": int(full), "max_test_images": spec.max_test_images}
    return TestData(as_image_tensor(imgs), y, ids, split.description, budget)


def check_out_dir(out_dir: Path, resume: bool) -> None:
    """Refuse to overwrite a finished or started run unless resuming it."""
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise RunFolderError(f"{out_dir} exists and is not a folder")
    if (out_dir / "metrics.json").exists() and not resume:
        raise RunFolderError(f"{out_dir} already holds a finished run; choose a new --out folder")
    if any(out_dir.iterdir()) and not resume:
        raise RunFolderError(f"{out_dir} is not empty; choose a new --out folder, or pass --resume to continue "
                             "the run saved there")


def _print(msg: str, progress: bool) -> None:
    if progress:
        print(msg, flush=True)


def evaluate(det: BaseDetector, spec: RunSpec, ds: Dataset, split: ProtocolSplit, out_dir: Path,
             extra: dict[str, Any], progress: bool = True) -> dict[str, Any]:
    """Score the protocol's test set with ``det`` and write the report folder."""
    td = test_data(spec, ds, split)
    if td.budget["max_test_images"] is not None:
        _print(f"BUDGET CUT: scoring {td.budget['test_images']} of {td.budget['test_images_full']} test images "
               f"(--max-test-images, stratified, seed {spec.seed})", progress)
    t0 = time.perf_counter()
    comps = det.score_components(td.images, progress=progress)
    secs = time.perf_counter() - t0
    extra = {**extra, "score_seconds": round(secs, 3), "score_images_per_s": round(len(td.labels) / max(secs, 1e-9), 2),
             "device": str(det.device), "cpu": cpu_model(), "versions": versions(), "dataset": ds.name,
             "dataset_display_name": ds.display_name, "protocol": td.description, "detector": det.name}
    extra["budget"] = {**extra.get("budget", {}), **td.budget}
    extra["skipped_files"] = len(ds.skipped)  # unreadable images left out of the data (warned when read)
    if ds.skipped:
        extra["skipped_file_names"] = ds.skipped[:MAX_LISTED]
    title = f"{det.name} | {ds.display_name} | {td.description}"
    return write_report(out_dir, det, td.images, td.labels, td.ids, comps, extra, title)


def train_budget(det: BaseDetector, n_available: int) -> dict[str, Any]:
    """The training budget actually used (recorded in metrics.json)."""
    c, ti = det.config, det.train_info
    return {"epochs": c.epochs, "warmup_epochs": c.warmup_epochs, "epochs_done": ti.get("epochs_done"),
            "batch_size": c.batch_size, "train_images": ti.get("train_images"),
            "train_images_available": n_available, "max_train_images": c.max_train_images,
            "val_images": ti.get("val_images"), "precision": c.precision}


def _precision_note(precision: str, device: torch.device) -> str:
    """What the run's header line says of a precision other than fp32."""
    if precision == "fp32":
        return ""
    slow = "" if bf16_native(device) else " (no bfloat16 hardware on this CPU: emulated, likely slower than fp32)"
    return f"; {precision} mixed precision{slow}"


def write_resolved(out_dir: Path, spec: RunSpec, det: BaseDetector, ds: Dataset,
                   split: ProtocolSplit) -> dict[str, Any]:
    """Write the run folder's ``config.json`` (the run, the detector's resolved settings, the data and
    protocol) before training; return the resolved settings: which defaults the run used."""
    resolved = {"run": spec.to_dict(), "detector": det.name, "detector_config": det.config.to_dict(),
                "dataset": {"name": ds.name, "display_name": ds.display_name, "source": str(ds.source),
                            "class_names": list(ds.class_names), "geometry": list(ds.geometry)},
                "protocol": split.description, "versions": versions()}
    atomic_write_json(out_dir / "config.json", resolved)
    return resolved["detector_config"]


def checked_config(spec: RunSpec, det_cls: type[BaseDetector]) -> Any:
    """The run's validated detector settings; its score variants and the revision of the defaults it asks
    for checked too, all before any folder or training."""
    from adcgan.detectors.adcgan.config import PLUS_REVISION, plus_revision

    cfg = det_cls.Config(**{"seed": spec.seed, **spec.detector_config})
    cfg.validate()
    variants.check_score_variants(spec.score_variants)
    if spec.defaults_revision != plus_revision(spec.detector, spec.detector_config):
        raise ValueError(f"this run asks for adcgan+ defaults revision {spec.defaults_revision or 1}, and this "
                         f"code has revision {PLUS_REVISION}: plan the study again (adcgan bench) to run it anew")
    return cfg


def run_experiment(spec: RunSpec, out_dir: str | Path, resume: bool = False, progress: bool = True) -> dict[str, Any]:
    """Train ``spec.detector`` on the protocol's normal data, evaluate, write the report; return metrics."""
    out_dir = Path(out_dir)
    check_out_dir(out_dir, resume)
    det_cls = get_detector_class(spec.detector)
    cfg = checked_config(spec, det_cls)
    ds = load_data(spec)
    if getattr(cfg, "flip_average", False) == "auto":  # "as the data set allows"
        cfg.flip_average = flip_invariant(ds.name)
    split = protocol_split(spec, ds, cfg.val_fraction)
    det = det_cls(cfg)
    det.preprocess = ds.preprocess
    device = resolve_device(cfg.device)  # the settings the device cannot honour: refused before the folder exists
    check_precision(cfg.precision, device)
    check_graphs(det_cls, cfg.cuda_graphs, device)
    out_dir.mkdir(parents=True, exist_ok=True)
    resolved = write_resolved(out_dir, spec, det, ds, split)  # before fitting fills in the geometry
    train = ds.train.images[split.train_idx]
    if cfg.max_train_images is not None and cfg.max_train_images < len(train):
        _print(f"BUDGET CUT: training on {cfg.max_train_images} of {len(train)} normal images "
               f"(--max-train-images, seed {spec.seed})", progress)
    _print(f"[adcgan] {det.name} on {ds.display_name}: {split.description}; "
           f"{cfg.warmup_epochs} warm-up + {cfg.epochs} epochs"
           + _precision_note(cfg.precision, det.device), progress)
    t0 = time.perf_counter()
    det.fit(train, ds.train.images[split.val_idx], run_dir=out_dir, resume=resume, progress=progress)
    train_secs = time.perf_counter() - t0
    det.save(out_dir / MODEL_SUBDIR, overwrite=True)
    n_img = det.train_info.get("images_seen", 0)
    extra = {"budget": train_budget(det, len(train)), "train_seconds": round(train_secs, 3),
             "train_images_per_s": round(n_img / max(det.train_info.get("train_seconds", 1e-9), 1e-9), 2),
             "seed": spec.seed, "run": spec.to_dict(), "train_info": det.train_info,
             "detector_config": resolved}
    metrics = evaluate(det, spec, ds, split, out_dir, extra, progress)
    if not spec.score_variants:
        return metrics
    found = variants.measure_variants(out_dir, spec, evaluate_saved, progress)
    return variants.record_variants(out_dir, metrics, found)


BANK_SETTINGS = ("knn_rotations", "knn_bank_size")
"""Of the scoring settings (:data:`SCORING_SETTINGS`), the ones that refill the KNN bank from the protocol's
normal training images."""
RECALIBRATE_FREE = ("combine", "components", "fast_scoring", "score_batch_size")
"""Of those, the ones that leave every component unchanged (the stored calibration still holds)."""


def apply_scoring_overrides(det: BaseDetector, overrides: dict[str, Any]) -> bool:
    """Set scoring-side settings on a loaded model; returns whether its calibration must be refitted."""
    bad = sorted(set(overrides) - set(SCORING_SETTINGS))
    if bad:
        raise ValueError(f"only scoring settings can change on a trained model ({', '.join(SCORING_SETTINGS)}); "
                         f"got {', '.join(bad)}: train a new model for the others")
    missing = sorted(k for k in overrides if not hasattr(det.config, k))
    if missing:
        raise ValueError(f"{det.name} has no setting {', '.join(missing)}")
    if getattr(det.config, "knn_k", 0) == 0 and (overrides.get("knn_k", 0) or set(overrides) & set(BANK_SETTINGS)):
        raise ValueError("knn_k, knn_rotations and knn_bank_size need a model trained with a KNN bank (knn_k > 0)")
    for k, v in overrides.items():
        setattr(det.config, k, v)
    det.config.validate()
    return any(k not in RECALIBRATE_FREE for k in overrides)


def evaluate_saved(model_dir: str | Path, spec: RunSpec, out_dir: str | Path, device: str | None = None,
                   batch_size: int | None = None, progress: bool = True, compile_scoring: bool = False,
                   overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """``adcgan evaluate``: load a model folder (or a run folder holding ``model/``) and evaluate it.

    ``overrides`` changes scoring settings (:data:`SCORING_SETTINGS`); when a component changes with
    them, the calibration and threshold are refitted on the protocol's normal validation split.
    """
    model_dir = model_folder(model_dir)
    out_dir = Path(out_dir)
    check_out_dir(out_dir, resume=False)
    det = BaseDetector.load(model_dir, device=device)
    if batch_size:
        det.config.score_batch_size = batch_size
    det.config.compile_scoring = bool(compile_scoring)
    recalibrate = apply_scoring_overrides(det, overrides or {})
    recalibrate = recalibrate or (det.config.combine != "raw" and not det.calibration)  # a model saved uncalibrated
    spec.preprocess = det.preprocess if det.preprocess in ("paper", "none") else spec.preprocess
    if spec.geometry is None and spec.dataset in ("folder", "user"):
        spec.geometry = list(det.geometry or ())  # resize the user's images to the model's geometry
    ds = load_data(spec)
    if tuple(ds.geometry) != tuple(det.geometry or ()):
        raise ValueError(f"model {model_dir} expects {det.geometry} images but {ds.display_name} has {ds.geometry}")
    split = protocol_split(spec, ds, det.config.val_fraction)
    if recalibrate:  # the validation split the model was trained beside (its own seed), never test images
        val_split = protocol_split(dataclasses.replace(spec, seed=det.config.seed), ds, det.config.val_fraction)
        train, val = holdout_split(ds.train.images[val_split.train_idx], ds.train.images[val_split.val_idx],
                                   det.config)  # the images fit() trained on, and its validation images
        if set(overrides or {}) & set(BANK_SETTINGS):
            det.refit_bank(train)
        det.calibrate(val)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out_dir / "config.json", {"model": str(model_dir.resolve()), "run": spec.to_dict(),
                                                "detector_config": det.config.to_dict()})
    extra = {"model": str(model_dir.resolve()), "seed": spec.seed, "run": spec.to_dict(), "train_info": det.train_info,
             "scoring_overrides": overrides or {}, "recalibrated": recalibrate}
    return evaluate(det, spec, ds, split, out_dir, extra, progress)


def metrics_line(metrics: dict[str, Any]) -> str:
    """The one-line JSON summary printed last by the CLI."""
    keys = ("detector", "dataset", "protocol", "roc_auc", "average_precision", "f1", "threshold",
            "component_auroc", "ablation_auroc", "budget", "train_seconds", "score_seconds")
    return json.dumps({k: metrics.get(k) for k in keys if k in metrics}, sort_keys=False)
