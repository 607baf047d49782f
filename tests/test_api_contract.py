"""The scikit-learn / PyOD contract of every registered detector (in the shape of PyOD's detector tests).

Tiny detectors (the widths of tests/test_baselines.py, one epoch, no warm-up) on random 28x28x1
uint8 images; the module fixture ``fitted`` fits one detector per registered name once (via
``fit_predict``) and the tests share it. Expected numbers are computed by hand in the tests.
"""
from __future__ import annotations

import math
import os
import runpy
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import sklearn.datasets
import torch
from sklearn.base import clone

import adcgan.evaluation.protocols
from adcgan import ADCGAN, load_detector
from adcgan.config import DetectorConfig, stored_threshold_quantile
from adcgan.detectors.base import BaseDetector
from adcgan.registry import create_detector, list_detectors
from test_adcgan import blobs

DETECTORS = tuple(list_detectors())
EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "sklearn_example.py"
COMMON = {"device": "cpu", "epochs": 1, "warmup_epochs": 0, "batch_size": 16, "seed": 0}
TINY = {  # as in tests/test_baselines.py (warm-up off): a fit takes well under a second, AD-CGAN a few
    "alad": {"width": 8, "latent_dim": 8},
    "adgan": {"width": 8, "latent_dim": 8, "n_seed": 2, "k_steps": 2},
    "aegan": {"width": 8, "latent_dim": 8},
    "adcgan": {"batch_size": 32, "lfl_draws": 2, "bn_recalibration_batches": 2},
}
CONTAMINATION = 0.1
X_TRAIN, X_VAL, X_TEST = blobs(64, 0), blobs(20, 1), blobs(16, 2)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One torch thread (``ADCGAN_TEST_THREADS`` overrides), as in tests/test_baselines.py."""
    before = torch.get_num_threads()
    torch.set_num_threads(int(os.environ.get("ADCGAN_TEST_THREADS", "1")))
    yield
    torch.set_num_threads(before)


def tiny(name: str, **over: object) -> BaseDetector:
    return create_detector(name, **{**COMMON, **TINY.get(name, {}), **over})


def hand_quantile(values: np.ndarray, q: float) -> float:
    """The q-quantile by linear interpolation between order statistics (numpy's default method)."""
    v = np.sort(np.asarray(values, dtype=np.float64))
    pos = (len(v) - 1) * q
    lo = int(math.floor(pos))
    hi = min(lo + 1, len(v) - 1)
    return float(v[lo] + (pos - lo) * (v[hi] - v[lo]))


@dataclass
class Fitted:
    det: BaseDetector
    labels: np.ndarray  # what fit_predict returned


@pytest.fixture(scope="module", params=DETECTORS)
def fitted(request) -> Fitted:
    """One tiny detector per registered name, fitted with ``fit_predict`` (contamination 0.1)."""
    det = tiny(request.param, contamination=CONTAMINATION)
    return Fitted(det, det.fit_predict(X_TRAIN, X_VAL, progress=False))


# ---- fitted attributes ---------------------------------------------------------------------------
def test_fitted_attributes(fitted):
    det = fitted.det
    scores, labels = det.decision_scores_, det.labels_
    assert scores.shape == (len(X_TRAIN),) and scores.dtype == np.float64 and np.isfinite(scores).all()
    assert not scores.flags.writeable  # the cache cannot be changed by accident
    assert type(det.threshold_) is float
    assert labels.shape == (len(X_TRAIN),) and labels.dtype.kind == "i" and set(np.unique(labels)) <= {0, 1}
    np.testing.assert_array_equal(labels, [int(s > det.threshold_) for s in scores])
    np.testing.assert_allclose(scores, det.decision_function(X_TRAIN), rtol=1e-6, atol=1e-9)


def test_fit_predict_returns_labels_(fitted):
    assert fitted.labels.shape == (len(X_TRAIN),)
    np.testing.assert_array_equal(fitted.labels, fitted.det.labels_)


def test_threshold_is_the_contamination_quantile_of_the_validation_scores(fitted):
    val = fitted.det.decision_function(X_VAL)
    # 20 scores, q = 0.9: position 19 * 0.9 = 17.1 between the 18th and 19th smallest
    v = np.sort(val)
    expected = v[17] + 0.1 * (v[18] - v[17])
    assert fitted.det.threshold_ == pytest.approx(expected, rel=1e-6, abs=1e-9)
    assert fitted.det.train_info["val_images"] == len(X_VAL)


# ---- prediction outputs ----------------------------------------------------------------------------
def test_decision_function_and_predict(fitted):
    det = fitted.det
    scores = det.decision_function(X_TEST)
    assert scores.shape == (len(X_TEST),) and np.isfinite(scores).all()
    np.testing.assert_allclose(det.score_samples(X_TEST), scores, rtol=1e-6, atol=1e-9)
    pred = det.predict(X_TEST)
    assert pred.shape == (len(X_TEST),) and pred.dtype.kind == "i"
    np.testing.assert_array_equal(pred, [int(s > det.threshold_) for s in scores])


def test_predict_proba_linear_and_unify(fitted):
    det = fitted.det
    scores, train = det.decision_function(X_TEST), det.decision_scores_
    lo, hi, mu, sd = train.min(), train.max(), train.mean(), train.std()
    expected = {
        "linear": [min(max((s - lo) / (hi - lo), 0.0), 1.0) for s in scores],
        "unify": [min(max(math.erf((s - mu) / (sd * math.sqrt(2))), 0.0), 1.0) for s in scores],
    }
    for method, p_anomaly in expected.items():
        proba = det.predict_proba(X_TEST, method=method)
        assert proba.shape == (len(X_TEST), 2)
        assert ((proba >= 0) & (proba <= 1)).all()
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
        np.testing.assert_allclose(proba[:, 1], p_anomaly, rtol=1e-6, atol=1e-9, err_msg=method)
    np.testing.assert_array_equal(det.predict_proba(X_TEST), det.predict_proba(X_TEST, method="linear"))
    with pytest.raises(ValueError, match="linear, unify"):
        det.predict_proba(X_TEST, method="softmax")


# ---- clone, laziness, fit returns self -------------------------------------------------------------
def test_clone_is_unfitted_then_refits_lazily_to_the_same_model(fitted, monkeypatch):
    det = fitted.det
    twin = clone(det)
    assert type(twin) is type(det) and twin is not det
    assert twin.get_params() == det.get_params()
    assert twin.get_params()["geometry"] is None  # fit does not change the parameters
    assert not twin.__sklearn_is_fitted__()
    for attr in ("threshold_", "decision_scores_", "labels_"):
        assert not hasattr(twin, attr)
    with pytest.raises(AttributeError, match="not fitted"):
        twin.decision_scores_
    scored: list[int] = []
    raw = twin.raw_components
    monkeypatch.setattr(twin, "raw_components", lambda X, *a, **k: scored.append(len(X)) or raw(X, *a, **k))
    assert twin.fit(X_TRAIN, X_VAL, progress=False) is twin
    assert scored == [len(X_VAL)]  # fit scores the validation images only
    scores = twin.decision_scores_
    assert scored == [len(X_VAL), len(X_TRAIN)]  # the training images on first access...
    assert twin.decision_scores_ is scores and twin.labels_.shape == (len(X_TRAIN),)
    assert scored == [len(X_VAL), len(X_TRAIN)]  # ...and never again
    np.testing.assert_allclose(scores, det.decision_scores_, rtol=1e-5, atol=1e-7)  # same settings, same seed
    assert twin.threshold_ == pytest.approx(det.threshold_, rel=1e-5)


def test_loaded_detector_keeps_threshold_but_has_no_training_scores(fitted, tmp_path):
    det = fitted.det
    det.save(tmp_path / "model")
    loaded = load_detector(tmp_path / "model")
    assert loaded.threshold_ == det.threshold_
    for attr in ("decision_scores_", "labels_"):
        with pytest.raises(AttributeError, match="loaded from disk"):
            getattr(loaded, attr)
    with pytest.raises(AttributeError, match="loaded from disk"):
        loaded.predict_proba(X_TEST)
    np.testing.assert_array_equal(loaded.predict(X_TEST), det.predict(X_TEST))
    assert clone(loaded).get_params() == loaded.get_params()


# ---- parameters ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", DETECTORS)
def test_get_params_set_params_round_trip(name):
    det = tiny(name)
    params = det.get_params()
    assert list(params) == det.Config.field_names()
    assert params["epochs"] == 1 and params["contamination"] == 0.05 and params["geometry"] is None
    assert det.get_params(deep=False) == params
    assert type(det)(**params).get_params() == params
    assert clone(det).get_params() == params
    assert det.set_params(epochs=3, contamination=0.2) is det
    assert det.get_params() == {**params, "epochs": 3, "contamination": 0.2}
    assert det.config.epochs == 3 and det.config.threshold_quantile == pytest.approx(0.8)
    det.set_params(**params)
    assert det.get_params() == params and det.config.epochs == 1 and det.config.contamination == 0.05


@pytest.mark.parametrize("name", DETECTORS)
def test_set_params_rejects_unknown_keys_and_invalid_values(name):
    det = tiny(name)
    params = det.get_params()
    with pytest.raises(ValueError, match="no_such_setting") as err:
        det.set_params(no_such_setting=1)
    assert "valid parameters:" in str(err.value) and "contamination" in str(err.value)
    with pytest.raises(ValueError, match="batch_size"):
        det.set_params(batch_size=1)  # re-validated
    assert det.get_params() == params and det.config.batch_size == params["batch_size"]


@pytest.mark.parametrize("name", DETECTORS)
def test_contamination_out_of_range_raises(name):
    for bad in (0.0, -0.1, 0.51, 1.0, "0.1"):
        with pytest.raises(ValueError, match=r"contamination must be a number in \(0, 0.5\]"):
            tiny(name, contamination=bad)
    det = tiny(name, contamination=0.5)  # the upper end is allowed
    with pytest.raises(ValueError, match="contamination"):
        det.set_params(contamination=0.7)
    assert det.config.contamination == 0.5


@pytest.mark.parametrize("name", DETECTORS)
def test_default_contamination_is_the_old_95_percent_quantile(name):
    det = tiny(name)
    vals = np.random.default_rng(5).normal(size=37)
    thr = det.set_threshold(vals)
    assert det.config.contamination == 0.05 and det.config.threshold_quantile == 0.95
    assert thr == np.quantile(vals, 0.95)  # bit for bit what the 95 % quantile gave before contamination
    assert thr == pytest.approx(hand_quantile(vals, 0.95), rel=1e-12)


def test_get_params_keeps_unresolved_variant_defaults():
    det = ADCGAN(variant="plus")
    assert det.config.combine == "mixed" and det.get_params()["combine"] is None
    assert clone(det).get_params()["combine"] is None
    det.set_params(variant="paper")  # None is resolved again, for the new variant
    assert det.config.combine == "raw" and det.config.lfl_draws == 8


def test_legacy_threshold_quantile_in_stored_configs():
    old = DetectorConfig.from_dict({"threshold_quantile": 0.95})
    assert old.contamination == 0.05 and old.threshold_quantile == 0.95
    assert DetectorConfig.from_dict({"threshold_quantile": 0.99}).contamination == 0.01
    assert stored_threshold_quantile({"contamination": 0.25}) == 0.75
    assert stored_threshold_quantile({"threshold_quantile": 0.9}) == 0.9
    assert stored_threshold_quantile({}) == 0.95


# ---- scikit-learn Pipeline: the documented example -------------------------------------------------
def test_docs_sklearn_example_runs_in_a_pipeline(monkeypatch):
    """Runs docs/sklearn_example.py on 140 random flat rows (120 train / 20 test) and 1 epoch."""
    rows = blobs(140, 7).reshape(140, 784).astype(np.float64)
    y = np.array(["1"] * 100 + ["7"] * 20 + ["1"] * 20, dtype=object)

    def fake_fetch_openml(name: str, **kw: object) -> tuple[np.ndarray, np.ndarray]:
        assert name == "Fashion-MNIST" and kw["return_X_y"] and kw["as_frame"] is False
        return rows, y

    monkeypatch.setattr(sklearn.datasets, "fetch_openml", fake_fetch_openml)
    monkeypatch.setattr(adcgan.evaluation.protocols, "paper_epochs", lambda scheme: (1, 0))
    ns = runpy.run_path(str(EXAMPLE))
    det = ns["pipe"][-1]
    assert isinstance(det, ADCGAN) and (det.config.epochs, det.config.warmup_epochs) == (1, 0)
    assert det.decision_scores_.shape == (100,)  # the 100 class-"1" rows of the training part
    scores = det.decision_function(rows[120:].reshape(-1, 28, 28, 1) / 255.0)
    np.testing.assert_array_equal(ns["labels"], [int(s > det.threshold_) for s in scores])
    lo, hi = det.decision_scores_.min(), det.decision_scores_.max()
    np.testing.assert_allclose(ns["proba"], np.clip((scores - lo) / (hi - lo), 0, 1), rtol=1e-6, atol=1e-9)
    assert clone(ns["pipe"])[-1].get_params() == det.get_params()
