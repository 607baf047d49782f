"""The model folder format: ``config.json`` (metadata) + ``weights.pt`` (state_dicts only).

Reading never unpickles objects (``torch.load(weights_only=True)``). A *run* folder of
``adcgan train``/``evaluate`` keeps its model in the subfolder :data:`MODEL_SUBDIR`.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from adcgan.io.files import atomic_torch_save, atomic_write_json
from adcgan.training.runtime import versions

if TYPE_CHECKING:  # pragma: no cover
    from adcgan.detectors.base import BaseDetector

FORMAT = "adcgan-model"
FORMAT_VERSION = 1
MODEL_SUBDIR = "model"
"""The model folder inside a run folder."""


class CheckpointError(ValueError):
    """A model folder that cannot be loaded (missing, foreign, other detector or geometry)."""


def model_folder(path: str | Path) -> Path:
    """``path`` itself, or its ``model/`` when ``path`` is a run folder holding one.

    Args:
        path: A model folder or a run folder.

    Returns:
        The folder to read the model from.
    """
    path = Path(path)
    return path / MODEL_SUBDIR if has_model_subfolder(path) else path


def has_model_subfolder(run_dir: str | Path) -> bool:
    """True when ``run_dir/model/config.json`` exists."""
    return (Path(run_dir) / MODEL_SUBDIR / "config.json").exists()


def write_checkpoint(path: str | Path, meta: dict[str, Any], state: dict[str, Any], overwrite: bool = False) -> Path:
    """Write ``weights.pt`` then ``config.json`` into the folder ``path`` (each atomically).

    Args:
        path: The model folder (created if missing).
        meta: The JSON half (see :meth:`BaseDetector.metadata`).
        state: Tensors only: ``nets``, ``extra``, ``val_components``.
        overwrite: Replace a model already in ``path``.

    Returns:
        ``path``.

    Raises:
        FileExistsError: ``path`` holds a model and ``overwrite`` is false.
    """
    path = Path(path)
    if (path / "config.json").exists() and not overwrite:
        raise FileExistsError(f"{path} already holds a model; choose another folder or pass overwrite=True")
    atomic_torch_save(state, path / "weights.pt")
    atomic_write_json(path / "config.json", meta)
    return path


def detector_metadata(det: "BaseDetector") -> dict[str, Any]:
    """The JSON half of a checkpoint: format, detector name, config and the fitted scalars."""
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "detector": det.name,
            "config": det.config.to_dict(), "threshold": det.threshold, "calibration": det.calibration,
            "preprocess": det.preprocess, "train_info": det.train_info, "versions": versions()}


def load_model(path: str | Path, device: str | None = None, expected: type | None = None) -> "BaseDetector":
    """Rebuild the detector saved in the folder ``path`` (its class is read from ``config.json``).

    Args:
        path: A model folder.
        device: Overrides the stored ``device`` setting.
        expected: A detector class the model must be of (``None``: any).

    Raises:
        CheckpointError: Not a model folder, another detector than ``expected``, or unusable weights.
    """
    from adcgan.registry import get_detector_class

    meta, state = read_checkpoint(path)
    target = get_detector_class(meta["detector"])
    if expected is not None and target is not expected:
        raise CheckpointError(f"{path} holds a {meta['detector']!r} model, not {expected.name!r}")
    cfg = target.Config.from_dict(meta["config"])
    if device is not None:
        cfg.device = device
    det = target(cfg)
    det.build(tuple(cfg.geometry))
    restore_state(det, meta, state, path)
    return det


def detector_state(det: "BaseDetector") -> dict[str, Any]:
    """The tensor half of a checkpoint: network state_dicts, extra state, raw validation components."""
    return {"nets": {k: v.state_dict() for k, v in det.nets.items()}, "extra": det.extra_state(),
            "val_components": {k: torch.from_numpy(np.asarray(v, dtype=np.float64))
                               for k, v in det.val_components.items()}}


def restore_state(det: "BaseDetector", meta: dict[str, Any], state: dict[str, Any], path: str | Path) -> None:
    """Load a checkpoint read by :func:`read_checkpoint` into a built detector (then in eval mode).

    Raises:
        CheckpointError: The weights do not fit the detector's networks.
    """
    try:
        for k, net in det.nets.items():
            net.load_state_dict(state["nets"][k])
    except (KeyError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: weights do not match the {det.name} networks for geometry "
                              f"{det.config.geometry}: {str(exc).splitlines()[0]}") from None
    det.load_extra_state({k: v.to(det.device) for k, v in state.get("extra", {}).items()})
    det.threshold = meta.get("threshold")
    det.calibration = meta.get("calibration") or {}
    det.val_components = {k: v.numpy() for k, v in state.get("val_components", {}).items()}
    det.preprocess = meta.get("preprocess", "none")
    det.train_info = meta.get("train_info", {})
    det.set_train(False)


def read_checkpoint(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read ``config.json`` and ``weights.pt`` safely (``weights_only=True``).

    Args:
        path: The model folder, or one of its two files.

    Returns:
        ``(metadata, state)``.

    Raises:
        CheckpointError: Not a model folder, not valid JSON, a foreign or newer format, unreadable weights.
    """
    path = Path(path)
    if path.is_file() and path.name in ("config.json", "weights.pt"):
        path = path.parent
    cfg_file, w_file = path / "config.json", path / "weights.pt"
    if not cfg_file.is_file() or not w_file.is_file():
        raise CheckpointError(f"{path} is not a model folder (expected config.json and weights.pt)")
    try:
        meta = json.loads(cfg_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{cfg_file} is not valid JSON: {exc}") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{cfg_file} is not an adcgan model file")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(f"{cfg_file} was written by a newer adcgan (format {meta['format_version']})")
    try:
        state = torch.load(w_file, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure here means an unusable file
        raise CheckpointError(f"{w_file} cannot be read safely: {str(exc).splitlines()[0]}") from None
    return meta, state
