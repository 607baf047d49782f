"""Configuration dataclasses stored inside every checkpoint (nanoGPT style).

A detector's config is a flat dataclass of JSON-friendly values, so that
``config.json`` next to the weights is enough to rebuild the networks.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from numbers import Real
from typing import Any

from adcgan.scoring.calibration import COMBINE_MODES
from adcgan.training.precision import PRECISIONS


@dataclass
class DetectorConfig:
    """Settings shared by every detector (training loop, scoring, threshold).

    Attributes:
        epochs: Main training epochs (Appendix A.3: 15 one-vs-all, 35 all-vs-one).
        warmup_epochs: Extra warm-up epochs run first (AE warm-up for AD-CGAN: 5 / 15).
        batch_size: Training mini-batch size (paper: 32).
        seed: Seeds init, batch order, z draws and the validation split.
        device: ``"auto"`` (cuda > mps > cpu), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``.
        latent_dim: Latent size; ``None`` = 100, or 200 for 64x64 images (paper).
        geometry: ``(H, W, C)`` of the input images; filled in by ``fit``.
        val_fraction: Normal images held out by ``fit`` when no validation set is given.
        contamination: Expected fraction of anomalies (PyOD's setting), in (0, 0.5]: the anomaly threshold
            is the ``1 - contamination`` quantile (:attr:`threshold_quantile`) of the scores of the normal
            validation images (default 0.05: the 95 % quantile).
        score_batch_size: Batch size for scoring (scores do not depend on it).
        max_train_images: Optional cap on training images (a recorded budget cut).
        max_val_images: Optional cap on the normal validation images scored for the threshold and the
            calibration (a seeded subset; the training images do not change). A cost setting for
            detectors whose scoring is slow: ADGAN's per-image search on the 5,400 validation images of an
            all-vs-one split takes longer than its training.
        num_threads: torch CPU threads; ``None`` leaves torch's default.
        compile_scoring: ``torch.compile`` the inference copies' scoring pass (10-60 s to
            compile; no faster than the eager copies on a 2-core CPU; detectors that optimise
            at test time ignore it).
        fast_scoring: Score on exact inference copies of the networks (spectral norm baked
            in, BatchNorm folded, faster equivalent layers: :mod:`adcgan.scoring.inference`); scores
            match the training modules to ~1e-6. ``False`` scores on the training modules.
        fast_training: Train with exact, faster equivalents of slow kernels: a transposed convolution
            on a 1x1 input as one matrix product (:class:`adcgan.nets.gemm.GemmConvTranspose2d`),
            single-slope PReLU as LeakyReLU kernels (:class:`adcgan.nets.layers.FastPReLU`) and the
            fused Adam/AdamW kernel; the same computation up to float rounding (tests/test_fast_training.py).
            ``False`` = plain PyTorch layers and optimisers.
        precision: Training arithmetic, one of :data:`adcgan.training.precision.PRECISIONS`: ``fp32``
            (default) or ``bf16``, mixed precision (bfloat16 convolutions and matrix products under
            ``torch.autocast``, fp32 weights, optimiser state and scoring). ``bf16`` changes the
            arithmetic; it needs a CPU with AVX-512/AMX or a CUDA GPU with bf16
            (:mod:`adcgan.training.precision`).
        cuda_graphs: On a CUDA device, capture the training step once per phase as a CUDA graph and
            replay it (one launch per step instead of thousands; :mod:`adcgan.training.graphs`). The same
            computation; AD-CGAN only; refused elsewhere with one message.
        channels_last: Keep networks and image batches in channels-last memory format
            (faster convolutions on CPU: see ``bench/speed.py``); results are unchanged.
        combine: How the total score is made from the components (:mod:`adcgan.scoring.calibration`):
            ``raw`` (the detector's own formula, e.g. Eq. 4), ``standardized``, ``typicality``
            or ``mixed``, the last three calibrated on the normal validation split.
        components: Comma list of the components the calibrated combination uses; empty = all.
        calibration_robust: Calibrate with median/MAD (default) instead of mean/sd.
    """

    epochs: int = 15
    warmup_epochs: int = 5
    batch_size: int = 32
    seed: int = 0
    device: str = "auto"
    latent_dim: int | None = None
    geometry: tuple[int, int, int] | None = None
    val_fraction: float = 0.1
    contamination: float = 0.05
    score_batch_size: int = 256
    max_train_images: int | None = None
    max_val_images: int | None = None
    num_threads: int | None = None
    channels_last: bool = True
    compile_scoring: bool = False
    fast_scoring: bool = True
    fast_training: bool = True
    precision: str = "fp32"
    cuda_graphs: bool = False
    combine: str = "raw"
    components: str = ""
    calibration_robust: bool = True

    def validate(self) -> None:
        """Raise ``ValueError`` with one clear message for an invalid setting."""
        checks = [
            (self.epochs >= 0, f"epochs must be >= 0, got {self.epochs}"),
            (self.warmup_epochs >= 0, f"warmup_epochs must be >= 0, got {self.warmup_epochs}"),
            (self.epochs + self.warmup_epochs > 0, "epochs + warmup_epochs must be > 0"),
            (self.batch_size >= 2, f"batch_size must be >= 2, got {self.batch_size}"),
            (self.score_batch_size >= 1, f"score_batch_size must be >= 1, got {self.score_batch_size}"),
            (0.0 <= self.val_fraction < 1.0, f"val_fraction must be in [0, 1), got {self.val_fraction}"),
            (isinstance(self.contamination, Real) and 0.0 < self.contamination <= 0.5,
             f"contamination must be a number in (0, 0.5], got {self.contamination!r}"),
            (self.max_train_images is None or self.max_train_images >= 2,
             f"max_train_images must be >= 2, got {self.max_train_images}"),
            (self.max_val_images is None or self.max_val_images >= 2,
             f"max_val_images must be >= 2, got {self.max_val_images}"),
            (self.precision in PRECISIONS, f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}"),
            (self.combine in COMBINE_MODES, f"combine must be one of {', '.join(COMBINE_MODES)}, got {self.combine!r}"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ValueError(msg)

    @property
    def threshold_quantile(self) -> float:
        """Quantile of the normal validation scores used as the threshold: ``1 - contamination``."""
        return 1.0 - self.contamination

    @property
    def z_dim(self) -> int:
        """Latent size actually used: explicit, else 200 for 64x64 and 100 otherwise."""
        if self.latent_dim is not None:
            return int(self.latent_dim)
        return 200 if self.geometry is not None and self.geometry[0] >= 64 else 100

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (tuples become lists)."""
        d = dataclasses.asdict(self)
        if d.get("geometry") is not None:
            d["geometry"] = list(d["geometry"])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DetectorConfig":
        """Rebuild from :meth:`to_dict` output; unknown keys raise ``TypeError``.

        A ``threshold_quantile`` (configs saved before ``contamination`` existed) becomes
        ``contamination = 1 - threshold_quantile``: the same threshold.
        """
        d = dict(d)
        if "threshold_quantile" in d and "contamination" not in d:
            d["contamination"] = contamination_of_quantile(float(d.pop("threshold_quantile")))
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise TypeError(f"unknown setting(s) for {cls.__name__}: {', '.join(unknown)}")
        if d.get("geometry") is not None:
            d["geometry"] = tuple(int(v) for v in d["geometry"])
        return cls(**d)

    @classmethod
    def field_names(cls) -> list[str]:
        """Names of all settings, for CLI and error messages."""
        return [f.name for f in fields(cls)]


def contamination_of_quantile(quantile: float) -> float:
    """The shortest decimal ``c`` with ``1 - c == quantile`` exactly (0.95 -> 0.05), else ``1 - quantile``."""
    for digits in range(1, 18):
        c = round(1.0 - quantile, digits)
        if 1.0 - c == quantile:
            return c
    return 1.0 - quantile


def stored_threshold_quantile(config: dict[str, Any]) -> float:
    """The threshold quantile of a stored config dict (``config.json``): ``1 - contamination``, or the
    ``threshold_quantile`` of configs saved before ``contamination`` existed (default 0.95)."""
    if config.get("contamination") is not None:
        return 1.0 - float(config["contamination"])
    return float(config.get("threshold_quantile", 0.95))


def config_field(default: Any, help: str) -> Any:  # noqa: A002 - mirrors argparse naming
    """A dataclass field carrying a help string (used by the CLI)."""
    return field(default=default, metadata={"help": help})
