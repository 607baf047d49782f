"""Learning test: AD-CGAN on real Fashion-MNIST, one-vs-all, normal = Trouser, a short CPU budget."""
from __future__ import annotations

import json

import pytest

from adcgan.experiment import RunSpec, run_experiment
from conftest import FMNIST_DIR, need

# Budget: 1 AE warm-up + 1 main epoch on 1,000 of the 5,400 normal training images, scored on a
# stratified 2,000-image subset of the 10,000-image test split (200 Trouser, 1,800 anomalies).
BUDGET = {"epochs": 1, "warmup_epochs": 1, "max_train_images": 1000}
# Calibration (this 2-core CPU, 2026-11-28): seeds 0/1/2 gave ROC-AUC 0.9xx (see the closing
# note of the foundation issue). "Trouser" is the paper's easiest F-MNIST class (95.9), but at
# this budget the model has seen 2,000 images; a broken loss, score sign or protocol
# lands at or below 0.5 (a reversed score at ~0.05). The floor 0.85 sits well under every
# measured value and far above chance.
FLOOR = 0.85


@pytest.mark.slow
def test_adcgan_learns_fashion_mnist_trouser(tmp_path):
    need(FMNIST_DIR)
    spec = RunSpec(detector="adcgan", dataset="fashion-mnist", scheme="one-vs-all", cls="Trouser", seed=0,
                   max_test_images=2000, detector_config=BUDGET)
    m = run_experiment(spec, tmp_path / "run", progress=False)
    assert m["budget"]["train_images"] == 1000 and m["n_test"] == 2000 and m["n_normal"] == 200
    assert m["roc_auc"] > FLOOR, json.dumps(m["component_auroc"])
    # the reconstruction residual alone must already separate Trouser from the rest
    assert m["component_auroc"]["LGR"] > FLOOR
