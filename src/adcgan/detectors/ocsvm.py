"""One-class SVM on raw pixels (Schölkopf et al., Neural Computation 2001), the classic shallow baseline.

Images are flattened and standardised (a StandardScaler fitted on the training
images), then ``sklearn.svm.OneClassSVM`` is fitted with an RBF kernel, nu and gamma
fixed a priori (never tuned on test data). The RBF Gram matrix is computed here with
BLAS and handed to libsvm as a precomputed kernel: libsvm's own dense kernel is
pathologically slow for long vectors (2,000 images of 64x64x3 took 160 s vs a few
seconds this way); the solution is the same problem. Score = ``-decision_function`` (higher =
more anomalous). The fitted model is stored as plain tensors (scaler mean/scale,
support vectors, dual coefficients, intercept, gamma) and the decision function
``sum_i alpha_i exp(-gamma ||x - sv_i||^2) + b`` is evaluated in torch, so a saved
and reloaded model needs no pickle and gives the same scores.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from adcgan.config import DetectorConfig, config_field
from adcgan.detectors.base import BaseDetector
from adcgan.registry import register_detector
from adcgan.io.tensors import to_float

STATE_KEYS = ("mean", "scale", "support_vectors", "dual_coef", "intercept", "gamma")


def rbf_kernel(a: Tensor, b: Tensor, gamma: float, chunk: int = 2048) -> Tensor:
    """RBF Gram matrix ``exp(-gamma ||a_i - b_j||^2)``: a (N, D), b (M, D) float64 -> (N, M).

    Uses libsvm's ``|a|^2 + |b|^2 - 2 a.b`` expansion (BLAS matmuls, in row chunks).
    """
    bb = (b * b).sum(1)
    rows = []
    for i in range(0, len(a), chunk):
        ai = a[i:i + chunk]
        d2 = (ai * ai).sum(1, keepdim=True) + bb - 2.0 * ai @ b.T
        rows.append(torch.exp(-gamma * d2))
    return torch.cat(rows) if rows else a.new_zeros(0, len(b))


@dataclass
class OCSVMConfig(DetectorConfig):
    """OC-SVM settings. ``epochs``, ``warmup_epochs``, ``batch_size`` are unused (no gradient training)."""

    nu: float = config_field(0.1, "upper bound on the fraction of training outliers (fixed a priori)")
    gamma: Any = config_field("scale", "RBF width: 'scale' = 1 / (n_features * var(X_std)), or a number")
    svm_max_train: int = config_field(10_000, "at most this many (seeded) training images go to the SVM")


@register_detector
class OCSVM(BaseDetector):
    """RBF one-class SVM on standardised raw pixels."""

    name: ClassVar[str] = "ocsvm"
    Config: ClassVar[type[DetectorConfig]] = OCSVMConfig
    component_names: ClassVar[tuple[str, ...]] = ()
    config: OCSVMConfig

    def __init__(self, config: DetectorConfig | None = None, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self._state: dict[str, Tensor] = {}

    def build_nets(self) -> dict[str, nn.Module]:
        """No networks."""
        return {}

    def build_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """No optimisers."""
        return {}

    def train_step(self, x: Tensor, epoch: int) -> dict[str, float]:
        """Not used: the SVM is fitted in one go by :meth:`fit`."""
        raise NotImplementedError("ocsvm is fitted by fit(), not by gradient steps")

    def train_model(self, data: Tensor, run_dir: Path | None, resume: bool, progress: bool) -> None:
        """Fit the scaler and the SVM in one call (no epochs; ``run_dir``/``resume``/``progress`` unused)."""
        self._fit_svm(data)

    def _fit_svm(self, data: Tensor) -> None:
        """Fit StandardScaler + OneClassSVM on (at most ``svm_max_train`` of) ``data`` (N, C, H, W)."""
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import OneClassSVM

        cfg = self.config
        if len(data) > cfg.svm_max_train:
            idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(cfg.seed + 2))[:cfg.svm_max_train]
            data = data[idx.sort().values]
        t0 = time.perf_counter()
        flat = to_float(data).flatten(1).double().numpy()
        scaler = StandardScaler().fit(flat)
        xs = torch.from_numpy(scaler.transform(flat))
        gamma = 1.0 / (xs.shape[1] * float(xs.var(unbiased=False))) if cfg.gamma == "scale" else float(cfg.gamma)
        svm = OneClassSVM(kernel="precomputed", nu=cfg.nu).fit(rbf_kernel(xs, xs, gamma).numpy())
        self._state = {k: torch.as_tensor(np.asarray(v, dtype=np.float64)) for k, v in (
            ("mean", scaler.mean_), ("scale", scaler.scale_), ("support_vectors", xs[svm.support_].numpy()),
            ("dual_coef", svm.dual_coef_[0]), ("intercept", svm.intercept_), ("gamma", np.array(gamma)))}
        secs = time.perf_counter() - t0
        self.train_info.update({"svm_train_images": len(data), "n_support": int(len(svm.support_)),
                                "gamma": float(gamma), "images_seen": len(data), "train_seconds": secs,
                                "epochs_done": 1})

    def extra_state(self) -> dict[str, Tensor]:
        """The fitted SVM as float64 tensors (empty before fitting)."""
        return dict(self._state)

    def load_extra_state(self, state: dict[str, Tensor]) -> None:
        """Restore :meth:`extra_state`."""
        missing = [k for k in STATE_KEYS if k not in state]
        if missing:
            raise ValueError(f"ocsvm checkpoint lacks {', '.join(missing)}")
        self._state = {k: state[k].detach().cpu().double() for k in STATE_KEYS}

    def decision_function_raw(self, x: Tensor) -> Tensor:
        """sklearn's ``decision_function`` for a float batch (N, C, H, W) in [0, 1] -> (N,) float64.

        ``sum_i dual_coef_i * exp(-gamma * ||x_std - sv_i||^2) + intercept`` (computed on CPU
        in float64, with libsvm's ``|x|^2 + |sv|^2 - 2 x.sv`` expansion).
        """
        s = self._state
        xs = (x.detach().cpu().double().flatten(1) - s["mean"]) / s["scale"]
        return rbf_kernel(xs, s["support_vectors"], float(s["gamma"])) @ s["dual_coef"] + s["intercept"]

    def score_batch(self, x: Tensor) -> dict[str, Tensor]:
        """``-decision_function``: (N, C, H, W) in [0, 1] -> {"score": (N,)}."""
        return {"score": -self.decision_function_raw(x)}
