"""The scikit-learn / PyOD estimator contract every detector inherits (:class:`SklearnAPIMixin`).

* ``get_params`` / ``set_params`` over the config fields, so that :func:`sklearn.base.clone`,
  ``Pipeline`` and ``GridSearchCV`` work with any registered detector.
* PyOD's fitted attributes ``threshold_``, ``decision_scores_`` and ``labels_``; the last two are
  computed on first access (scoring the training images can be slow) and cached.
* ``decision_function``, ``predict``, ``predict_proba`` and ``fit_predict`` with PyOD's meanings:
  higher score = more anomalous, label 1 = anomaly.

scikit-learn is imported only inside ``__sklearn_tags__`` (called by scikit-learn itself), so
``import adcgan`` stays free of it.
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import numpy as np
import torch

from adcgan.config import DetectorConfig

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

PROBA_METHODS = ("linear", "unify")
"""``predict_proba`` conversions of scores to probabilities (PyOD's names)."""
Self = TypeVar("Self", bound="SklearnAPIMixin")


def default_params(config_cls: type[DetectorConfig]) -> dict[str, Any]:
    """Every field of ``config_cls`` with its declared default (``None`` where it resolves later)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(config_cls):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    return out


def scores_to_proba(train: np.ndarray, scores: np.ndarray, method: str) -> np.ndarray:
    """PyOD's score -> probability conversion: an (N, 2) array, column 1 = probability of anomaly.

    ``linear``: min-max scaling by the range of the training scores ``train``, clipped to [0, 1].
    ``unify``: ``erf((s - mean) / (sd * sqrt(2)))`` with the training scores' mean and (population)
    sd, clipped to [0, 1] (Kriegel et al., 2011). A zero range or sd counts as 1, as in
    scikit-learn's ``MinMaxScaler``.

    Raises:
        ValueError: ``method`` is not one of :data:`PROBA_METHODS`.
    """
    train, scores = np.asarray(train, np.float64), np.asarray(scores, np.float64)
    if method == "linear":
        span = float(train.max() - train.min()) or 1.0
        p = (scores - train.min()) / span
    elif method == "unify":
        sd = float(train.std()) or 1.0
        p = torch.special.erf(torch.from_numpy((scores - train.mean()) / (sd * np.sqrt(2.0)))).numpy()
    else:
        raise ValueError(f"method must be one of {', '.join(PROBA_METHODS)}, got {method!r}")
    p = np.clip(p, 0.0, 1.0)
    return np.column_stack([1.0 - p, p])


class SklearnAPIMixin:
    """scikit-learn estimator / PyOD detector contract over a detector's config (see the module doc).

    The host class (:class:`adcgan.detectors.base.BaseDetector`) provides ``config``, ``Config``,
    ``threshold``, ``nets``, ``extra_state``, ``fit`` and ``score_samples``, and calls
    :meth:`_init_params` in ``__init__`` and :meth:`_keep_training_images` in ``fit``.
    """

    name: ClassVar[str]
    Config: ClassVar[type[DetectorConfig]]
    _estimator_type: ClassVar[str] = "outlier_detector"  # scikit-learn < 1.6 reads this instead of tags
    config: DetectorConfig
    threshold: float | None
    nets: "nn.ModuleDict"
    _params: dict[str, Any]
    _fit_images: Any
    _decision_scores: np.ndarray | None

    def _init_params(self, passed: dict[str, Any] | None) -> None:
        """Remember the constructor's settings: ``passed`` keyword settings over the field defaults,
        or (``None``: a config object was given) the config's values as they are."""
        if passed is None:
            self._params = {f.name: getattr(self.config, f.name) for f in dataclasses.fields(self.config)}
        else:
            self._params = {**default_params(self.Config), **passed}
        self._fit_images = None
        self._decision_scores = None

    # ---- parameters ---------------------------------------------------------------------------
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The settings (one per config field) as passed to the constructor or :meth:`set_params`.

        Values are returned unresolved (e.g. AD-CGAN's ``combine=None``, which the config turns into
        the variant's default), so that ``type(det)(**det.get_params())`` rebuilds the same detector
        and :func:`sklearn.base.clone` works. ``geometry`` stays as passed (``None``) after ``fit``.

        Args:
            deep: Ignored (a detector holds no sub-estimators); kept for scikit-learn.
        """
        return dict(self._params)

    def set_params(self: Self, **params: Any) -> Self:
        """Change settings and rebuild (and re-validate) the config; returns ``self``.

        The fitted state is kept (refit for training settings to take effect); a fitted detector
        keeps the image geometry it was built for. Cached ``decision_scores_`` are dropped.

        Raises:
            ValueError: An unknown setting (the message lists the valid ones) or an invalid value;
                the detector is then left unchanged.
        """
        unknown = sorted(set(params) - set(self._params))
        if unknown:
            raise ValueError(f"invalid parameter(s) {', '.join(unknown)} for {type(self).__name__}; "
                             f"valid parameters: {', '.join(self._params)}")
        merged = {**self._params, **params}
        config = self.Config(**merged)
        config.validate()
        if config.geometry is None:
            config.geometry = self.config.geometry
        self.config, self._params, self._decision_scores = config, merged, None
        return self

    def __repr__(self) -> str:
        """``Name(setting=value, ...)`` with the settings that differ from the defaults."""
        defaults = default_params(self.Config)
        changed = ", ".join(f"{k}={v!r}" for k, v in self._params.items() if v != defaults.get(k))
        return f"{type(self).__name__}({changed})"

    def __sklearn_tags__(self) -> Any:
        """scikit-learn (>= 1.6) tags: an unsupervised outlier detector on image arrays (3-D or 4-D)."""
        from sklearn.utils import InputTags, Tags, TargetTags

        return Tags(estimator_type="outlier_detector", target_tags=TargetTags(required=False),
                    input_tags=InputTags(two_d_array=False, three_d_array=True))

    def __sklearn_is_fitted__(self) -> bool:
        """True once the detector is fitted or loaded (it has networks or fitted state)."""
        return bool(len(self.nets)) or bool(self.extra_state())  # type: ignore[attr-defined]

    # ---- fitted attributes (PyOD) -------------------------------------------------------------
    def _keep_training_images(self, X: Any) -> None:
        """Called by ``fit``: keep a reference (no copy) to ``X`` for ``decision_scores_``."""
        self._fit_images, self._decision_scores = X, None

    @property
    def threshold_(self) -> float:
        """The anomaly threshold: the ``1 - contamination`` quantile of the normal validation scores.

        Stored in checkpoints, so it is also there on a loaded detector.

        Raises:
            AttributeError: No threshold (not fitted, or fitted without validation images).
        """
        if self.threshold is None:
            raise AttributeError(f"{type(self).__name__} has no threshold_: fit() it (with X_val, or >= 20 "
                                 "images and val_fraction > 0 so that validation images are held out)")
        return float(self.threshold)

    @property
    def decision_scores_(self) -> np.ndarray:
        """Anomaly scores of the images passed to ``fit`` (all of ``X``, held-out validation images
        included; PyOD's attribute), read-only float64 of shape ``(len(X),)``.

        Computed on first access and cached, since scoring the training images can be slow (ADGAN:
        ~5-10 images/s on a CPU); ``fit`` only keeps a reference to ``X`` (modifying ``X`` in place
        before the first access changes the result).

        Raises:
            AttributeError: Not fitted, or loaded from disk (checkpoints do not store training images).
        """
        if self._decision_scores is None:
            if self._fit_images is None:
                raise AttributeError(self._no_training_images())
            scores = np.asarray(self.decision_function(self._fit_images), dtype=np.float64)
            scores.flags.writeable = False
            self._decision_scores = scores
        return self._decision_scores

    @property
    def labels_(self) -> np.ndarray:
        """0/1 labels of the images passed to ``fit``: ``decision_scores_ > threshold_`` (1 = anomaly).

        Lazily computed like :attr:`decision_scores_` (same ``AttributeError`` cases).
        """
        return (self.decision_scores_ > self.threshold_).astype(np.int64)

    def _no_training_images(self) -> str:
        """Why ``decision_scores_`` is unavailable: not fitted, or loaded from disk."""
        cls = type(self).__name__
        if not self.__sklearn_is_fitted__():
            return f"{cls} is not fitted: call fit() before reading decision_scores_ or labels_"
        return (f"{cls} was loaded from disk: checkpoints do not store the training images, so "
                "decision_scores_ and labels_ are not available; score them with decision_function(X_train)")

    # ---- prediction (PyOD) -------------------------------------------------------------------------
    def fit_predict(self, X: Any, X_val: Any = None, **fit_kwargs: Any) -> np.ndarray:
        """``fit(X, X_val, **fit_kwargs)``, then :attr:`labels_` (0/1 per image of ``X``).

        The second argument is the validation images, where scikit-learn passes ``y``: a ``Pipeline``
        passes ``y=None``, so validation images are then held out of ``X``.
        """
        return self.fit(X, X_val, **fit_kwargs).labels_  # type: ignore[attr-defined]

    def decision_function(self, X: Any) -> np.ndarray:
        """Anomaly score per image, higher = more anomalous: :meth:`score_samples` (PyOD's name)."""
        return self.score_samples(X)  # type: ignore[attr-defined]

    def predict(self, X: Any) -> np.ndarray:
        """int64 labels per image: 1 = anomaly (score above ``threshold_``), 0 = normal.

        Raises:
            RuntimeError: No threshold (not fitted, or fitted without validation images).
        """
        if self.threshold is None:
            raise RuntimeError("no threshold: fit with validation data or call set_threshold() first")
        return (self.decision_function(X) > self.threshold).astype(np.int64)

    def predict_proba(self, X: Any, method: str = "linear") -> np.ndarray:
        """Probability of normal (column 0) and anomaly (column 1) per image: (N, 2) in [0, 1], rows sum to 1.

        Scores are converted with the training images' scores (:attr:`decision_scores_`, computed on
        the first call) by PyOD's ``method``: ``"linear"`` (min-max scaled, clipped) or ``"unify"``
        (Gaussian scaling via erf); see :func:`scores_to_proba`.

        Raises:
            ValueError: An unknown ``method``.
            AttributeError: No training scores (not fitted, or loaded from disk).
        """
        if method not in PROBA_METHODS:
            raise ValueError(f"method must be one of {', '.join(PROBA_METHODS)}, got {method!r}")
        return scores_to_proba(self.decision_scores_, self.decision_function(X), method)
