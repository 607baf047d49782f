"""Learning test: AD-CGAN on real Fashion-MNIST, one-vs-all, normal = Trouser, a short CPU budget."""
from __future__ import annotations

import json

import pytest

from adcgan.experiment import RunSpec, run_experiment
from conftest import FMNIST_DIR, need

# Budget: 1 AE warm-up + 6 main epochs on 1,000 of the 5,400 normal training images (186 GAN
# steps), scored on a stratified 2,000-image subset of the 10,000-image test split (200 Trouser,
# 1,800 anomalies); about 2 minutes on the 2-core CPU.
BUDGET = {"epochs": 6, "warmup_epochs": 1, "max_train_images": 1000}
# Calibration (this 2-core CPU, 2026-11-28, same budget): seeds 0/1/2 gave ROC-AUC 0.987 / 0.981 /
# 0.976 (LGR alone 0.988 / 0.977 / 0.960). A shorter budget (1 + 1 epochs) is unstable: seed 2 gave
# 0.448 because the generator collapses in its first ~100 GAN steps before the autoencoder loss
# recovers (README, "make demo"). A broken loss, score sign or protocol lands near or below 0.5
# (a reversed score near 0.02). The floor 0.90 sits well under every measured value and far above
# chance.
FLOOR = 0.90


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
