"""Shared detector machinery: fit via the one loop, scoring, checkpoints; the scikit-learn / PyOD
contract (params, ``predict``, ``predict_proba``, fitted attributes) comes from :mod:`.sklearn_api`.

A detector subclass only defines ``build_nets``, ``build_optimizers``,
``train_step`` and ``score_batch`` (pyod ``BaseDeepLearningDetector`` style).
Higher score = more anomalous, everywhere.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, Iterator

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

from adcgan.scoring.calibration import combine, fit_calibration, jsonable_calibration, parse_components
from adcgan.config import DetectorConfig
from adcgan.detectors.checkpoint import FORMAT, FORMAT_VERSION, CheckpointError, detector_metadata, detector_state, \
    load_model, read_checkpoint, write_checkpoint
from adcgan.detectors.sklearn_api import SklearnAPIMixin
from adcgan.training.memory import reuse_freed_memory
from adcgan.nets.layers import set_fast_layers
from adcgan.io.progress import progress as progress_bar
from adcgan.scoring import InferenceScorer, select_scorer
from adcgan.io.tensors import as_image_tensor, to_float
from adcgan.training.loop import fit_loop
from adcgan.training.runtime import resolve_device, seed_everything
from adcgan.training.split import holdout_split

__all__ = ["FORMAT", "FORMAT_VERSION", "BaseDetector", "CheckpointError", "load_detector", "read_checkpoint"]


class BaseDetector(SklearnAPIMixin):
    """Base class: holds config, networks, optimisers, threshold and training record."""

    name: ClassVar[str] = "base"
    Config: ClassVar[type[DetectorConfig]] = DetectorConfig
    component_names: ClassVar[tuple[str, ...]] = ()
    two_sided_components: ClassVar[tuple[str, ...]] = ()  # components of unknown sign (combine="mixed")
    inference_scoring: ClassVar[bool] = False  # score_batch is a pure forward pass of self.nets:
                                               # it may run on inference copies (adcgan.scoring)

    def __init__(self, config: DetectorConfig | None = None, **kwargs: Any) -> None:
        passed = kwargs if config is None else None  # what get_params returns (unresolved)
        if config is None:
            try:
                config = self.Config(**kwargs)
            except TypeError as exc:
                raise TypeError(f"{self.name}: {exc}; valid settings: {', '.join(self.Config.field_names())}") from None
        elif kwargs:
            raise TypeError("pass either a config object or keyword settings, not both")
        config.validate()
        self.config = config
        self._init_params(passed)
        self.nets = nn.ModuleDict()
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.threshold: float | None = None
        self.calibration: dict[str, dict[str, float]] = {}
        self.val_components: dict[str, np.ndarray] = {}  # raw validation scores (kept for rescoring)
        self.train_info: dict[str, Any] = {}
        self.history: list[dict[str, Any]] = []
        self.preprocess = "none"
        self.device = torch.device("cpu")
        self.scoring_state: dict[str, torch.Tensor] = {}  # tensors score_batch reads besides the nets
        self._scorer_cache: Any = None

    # ---- hooks for subclasses -------------------------------------------------------------
    def build_nets(self) -> dict[str, nn.Module]:
        """Create the networks for ``self.config`` (geometry is set)."""
        raise NotImplementedError

    def build_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Create optimisers over ``self.nets`` (already on ``self.device``)."""
        raise NotImplementedError

    def train_step(self, x: torch.Tensor, epoch: int) -> dict[str, float]:
        """One optimisation step on a float batch ``x`` (N, C, H, W) in [0, 1]; returns losses."""
        raise NotImplementedError

    def score_batch(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-image scores (N,) for a float batch in [0, 1]; must contain ``"score"``."""
        raise NotImplementedError

    def prepare_scoring(self) -> None:
        """Called once before a scoring pass; puts what ``score_batch`` reads besides the networks
        (e.g. the fixed z of AD-CGAN's LFL) into ``self.scoring_state``."""

    def on_epoch_start(self, epoch: int, data: torch.Tensor) -> None:
        """Called before every epoch with all training images (NCHW, on the device)."""

    def after_fit(self, data: torch.Tensor) -> None:
        """Called once after training with the training images (e.g. to fit a centre)."""

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor | None:
        """Reconstruction of a float batch in [0, 1] (for reports); ``None`` if the model has none."""
        return None

    def sample(self, n: int, seed: int = 0) -> torch.Tensor | None:
        """``n`` generated images in [0, 1] (for reports); ``None`` if the model has no generator."""
        return None

    def active_components(self) -> tuple[str, ...]:
        """The score components this configured model produces (default: ``component_names``)."""
        return self.component_names

    def extra_state(self) -> dict[str, torch.Tensor]:
        """Tensors beyond the networks' state_dicts that a checkpoint must hold."""
        return {}

    def load_extra_state(self, state: dict[str, torch.Tensor]) -> None:
        """Restore :meth:`extra_state`."""

    # ---- building ---------------------------------------------------------------------------
    def set_train(self, mode: bool) -> None:
        """Switch every network to train or eval mode."""
        self.nets.train(mode)

    def build(self, geometry: tuple[int, int, int]) -> None:
        """Create the seeded networks and optimisers for (H, W, C) images on the device (``fit``, model loading).

        Raises ``ValueError`` for images with other than 1 or 3 channels."""
        if geometry[2] not in (1, 3):
            raise ValueError(f"images must have 1 or 3 channels, got {geometry[2]}")
        self.config.geometry = tuple(int(g) for g in geometry)  # type: ignore[assignment]
        self.device = resolve_device(self.config.device)
        if self.config.num_threads:
            torch.set_num_threads(int(self.config.num_threads))
        seed_everything(self.config.seed)
        self._scorer_cache = None
        self.scoring_state = {}
        self.nets = nn.ModuleDict(self.build_nets()).to(self.device)
        set_fast_layers(self.nets, self.config.fast_training)
        if self.config.channels_last:
            self.nets.to(memory_format=torch.channels_last)
        self.optimizers = self.build_optimizers()

    @contextmanager
    def running_on(self, nets: nn.ModuleDict, state: dict[str, torch.Tensor] | None = None) -> Iterator[None]:
        """Within the block, ``score_batch`` uses ``nets`` (e.g. inference copies) and, if given, ``state``
        in place of the training networks and ``scoring_state``: the one switch of :mod:`adcgan.scoring`."""
        saved = self.nets, self.scoring_state
        self.nets = nets
        if state is not None:
            self.scoring_state = state
        try:
            yield
        finally:
            self.nets, self.scoring_state = saved

    @property
    def geometry(self) -> tuple[int, int, int] | None:
        """``(H, W, C)`` the model was built for."""
        return self.config.geometry

    # ---- sklearn-style API ------------------------------------------------------------------
    def fit(self, X: Any, X_val: Any = None, *, run_dir: str | Path | None = None,
            resume: bool = False, progress: bool = True) -> "BaseDetector":
        """Train on normal images and set the threshold from normal validation scores.

        Args:
            X: Normal training images: a NumPy array NHWC (uint8, or float in [0, 1]) or a torch
                tensor NCHW.
            X_val: Normal validation images; ``None`` holds out ``val_fraction`` of ``X`` (seeded).
            run_dir: Folder for ``checkpoint.pt`` / ``history.jsonl`` (resumable); ``None`` = none.
            resume: Continue from ``run_dir/checkpoint.pt``.
            progress: Show progress bars.

        Returns:
            ``self``; ``decision_scores_``/``labels_`` (of ``X``) are computed on first access.
        """
        self._keep_training_images(X)
        data, val = holdout_split(X, X_val, self.config)
        self.build((data.shape[2], data.shape[3], data.shape[1]))
        self.train_info = {"train_images": len(data), "epochs_planned": self.config.epochs,
                           "warmup_epochs_planned": self.config.warmup_epochs}
        self.train_model(data, Path(run_dir) if run_dir is not None else None, resume, progress)
        if val is not None and len(val):
            self.calibrate(val)
        return self

    def calibrate(self, X_val: Any) -> dict[str, dict[str, float]]:
        """Fit the per-component calibration and the threshold on normal validation images.

        The calibration is always stored (also for ``combine="raw"``), so that a saved model can be
        rescored with another combination without retraining (``adcgan rescore``).
        """
        raw = self.raw_components(X_val)
        self.val_components, self._decision_scores = raw, None  # a new calibration changes the scores
        self.calibration = jsonable_calibration(
            fit_calibration(raw, self._calibrated_names(raw), robust=self.config.calibration_robust))
        self.set_threshold(self.combine_components(raw)["score"])
        return self.calibration

    def _calibrated_names(self, comps: dict[str, np.ndarray]) -> list[str]:
        return [n for n in self.active_components() if n in comps] or ["score"]

    def combined_names(self) -> list[str]:
        """The components the configured combination adds (``components``; empty = all)."""
        return parse_components(self.config.components, self.active_components() or ("score",))

    def combine_components(self, comps: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``comps`` with ``"score"`` replaced by the configured combination (raw total kept as
        ``"score_raw"``); unchanged for ``combine="raw"``."""
        mode = self.config.combine
        if mode == "raw":
            return comps
        if not self.calibration:
            raise RuntimeError(f"combine={mode!r} needs a calibrated model: fit with validation data or call calibrate()")
        out = dict(comps)
        out["score_raw"] = comps["score"]
        out["score"] = combine(comps, self.calibration, mode, self.combined_names(), self.two_sided_components)
        return out

    def train_model(self, data: torch.Tensor, run_dir: Path | None, resume: bool, progress: bool) -> None:
        """Train the built networks on ``data`` (NCHW): the shared loop, then :meth:`after_fit`.

        Detectors without gradient training (OC-SVM) override this.
        """
        self.history = fit_loop(self, data.to(self.device), run_dir, resume=resume, progress=progress)
        self.after_fit(data)

    def set_threshold(self, val_scores: np.ndarray) -> float:
        """Threshold = ``1 - contamination`` quantile (``threshold_quantile``) of normal validation scores."""
        self.threshold = float(np.quantile(np.asarray(val_scores, dtype=np.float64), self.config.threshold_quantile))
        self.train_info["val_images"] = int(len(val_scores))
        return self.threshold

    def _check_ready(self, t: torch.Tensor) -> None:
        if not len(self.nets) and not self.extra_state():
            raise RuntimeError(f"{self.name} is not fitted: call fit() or load() first")
        got = (t.shape[2], t.shape[3], t.shape[1])
        if self.geometry is not None and tuple(got) != tuple(self.geometry):
            h, w, c = self.geometry
            raise ValueError(f"this model expects {h}x{w}x{c} images, got {got[0]}x{got[1]}x{got[2]}")

    def score_components(self, X: Any, batch_size: int | None = None, progress: bool = False) -> dict[str, np.ndarray]:
        """All per-image score components and ``"score"`` (the configured combination)."""
        return self.combine_components(self.raw_components(X, batch_size, progress))

    def raw_components(self, X: Any, batch_size: int | None = None, progress: bool = False) -> dict[str, np.ndarray]:
        """Per-image components and the detector's own total, batched under ``no_grad``/``eval``."""
        t = as_image_tensor(X)
        self._check_ready(t)
        bs = batch_size or self.config.score_batch_size
        self.set_train(False)
        self.prepare_scoring()
        out: dict[str, list[np.ndarray]] = {}
        score = self._scorer(bs)
        with torch.no_grad(), parametrize.cached(), reuse_freed_memory(self.device.type == "cpu"):
            for i in progress_bar(range(0, len(t), bs), desc=f"{self.name} scoring", enabled=progress,
                                  unit="batches", summary=True):
                x = to_float(t[i:i + bs].to(self.device), self.config.channels_last)
                for k, v in score(x).items():
                    out.setdefault(k, []).append(v.detach().double().cpu().numpy())
        return {k: np.concatenate(v) for k, v in out.items()}

    def _scorer(self, batch_size: int) -> Any:
        """The batch scoring function of this pass (see :func:`adcgan.scoring.select_scorer`)."""
        score = select_scorer(self, self._scorer_cache, batch_size)
        if isinstance(score, InferenceScorer):  # copies (compiled or not): reused while they fit
            self._scorer_cache = score
        return score

    def score_samples(self, X: Any, batch_size: int | None = None, progress: bool = False) -> np.ndarray:
        """Anomaly score per image (higher = more anomalous)."""
        return self.score_components(X, batch_size, progress)["score"]

    def anomaly_maps(self, X: Any, batch_size: int | None = None) -> np.ndarray:
        """Per-pixel residual |x - G(E(x))| averaged over channels: float32 (N, H, W) (:mod:`adcgan.evaluation.maps`).

        Raises:
            NotImplementedError: if the detector has no reconstruction (:meth:`reconstruct` is ``None``).
        """
        from adcgan.evaluation.maps import anomaly_maps

        return anomaly_maps(self, X, batch_size)

    # ---- checkpoints ------------------------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        """The JSON half of a checkpoint: everything needed to rebuild the model."""
        return detector_metadata(self)

    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write ``config.json`` + ``weights.pt`` (state_dicts only) into the folder ``path``."""
        return write_checkpoint(path, self.metadata(), detector_state(self), overwrite=overwrite)

    @classmethod
    def load(cls, path: str | Path, device: str | None = None) -> "BaseDetector":
        """Rebuild a detector from a folder written by :meth:`save` (never unpickles objects)."""
        return load_model(path, device, None if cls is BaseDetector else cls)


def load_detector(path: str | Path, device: str | None = None) -> BaseDetector:
    """Load any saved detector (the class is read from ``config.json``)."""
    return BaseDetector.load(path, device=device)
