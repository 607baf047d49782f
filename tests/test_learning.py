"""Learning tests on real data, short CPU budgets: AD-CGAN on Fashion-MNIST (one-vs-all), adcgan+'s rotation
head on CIFAR-10's training split."""
from __future__ import annotations

import json

import pytest
import torch

from adcgan.evaluation.experiment import RunSpec, run_experiment
from adcgan.training.precision import bf16_support
from conftest import SKIP_NO_BF16, real_data

# Budget: 1 AE warm-up + 6 main epochs on 1,000 of the 5,400 normal training images (186 GAN
# steps), scored on a stratified 2,000-image subset of the 10,000-image test split (200 Trouser,
# 1,800 anomalies); about 2 minutes on the 2-core CPU.
BUDGET = {"epochs": 6, "warmup_epochs": 1, "max_train_images": 1000}
# Calibration (this 2-core Intel Xeon, 2 threads, same budget): 2026-11-28, seeds 0/1/2 gave ROC-AUC
# 0.987 / 0.981 / 0.976 (LGR alone 0.988 / 0.977 / 0.960). Re-measured 2026-12-02 after the small-output
# convolutions became matrix products (nets.gemm.GemmConv2d; the same computation per step to float
# rounding, tests/test_fast_training.py, but a GAN's trajectory over 186 steps amplifies rounding):
# seeds 0/1/2 gave 0.890 / 0.974 / 0.960 on that fast path, 0.975 / 0.960 / 0.969 on the plain eager
# path (fast_training=False) and seed 0 0.981 on the fast path without GemmConv2d; so one run of this
# budget ranges over 0.89-0.98 with the float details alone. A shorter budget (1 + 1 epochs) is
# unstable: seed 2 gave 0.448 because the generator collapses in its first ~100 GAN steps before the
# autoencoder loss recovers (docs/results.md, "`make demo`: ROC-AUC run to run"). A broken loss, score sign or protocol lands near or
# below 0.5 (a reversed score near 0.02). The floor 0.85 sits under every measured value and far above
# chance. On an AMD EPYC (AVX-512, 2026-12-07) the same code gives seed 0 0.882 with LGR alone 0.833
# (2 threads; identical with the code of 71b5cc0, so the CPU and not a change moved it), and seeds 1/2
# 0.984 / 0.925 (LGR 0.984 / 0.924; 1 thread). LGR's own floor is therefore 0.75: under every measured
# value, and a residual that stopped separating Trouser lands near 0.5.
FLOOR = 0.85
LGR_FLOOR = 0.75


def fmnist_run(tmp_path, cls: str, config: dict) -> dict:
    """One seed-0 one-vs-all run on real Fashion-MNIST, scored on 2,000 stratified test images."""
    spec = RunSpec(detector="adcgan", dataset="fashion-mnist", scheme="one-vs-all", cls=cls, seed=0,
                   max_test_images=2000, detector_config=config, data_dir=str(real_data("fashion-mnist")))
    return run_experiment(spec, tmp_path / "run", progress=False)


@pytest.mark.slow
def test_adcgan_learns_fashion_mnist_trouser(tmp_path):
    m = fmnist_run(tmp_path, "Trouser", BUDGET)
    assert m["budget"]["train_images"] == 1000 and m["n_test"] == 2000 and m["n_normal"] == 200
    assert m["roc_auc"] > FLOOR, json.dumps(m["component_auroc"])
    # the reconstruction residual alone must already separate Trouser from the rest
    assert m["component_auroc"]["LGR"] > LGR_FLOOR


# adcgan+ at a smaller budget: 2 main + 1 warm-up epochs on 600 T-shirt/top images (a harder class than
# Trouser: the paper variant reached 0.746 on it at the 5 + 1-epoch `dev` budget), 2,000 stratified test
# images. Calibration (this 2-core CPU, 2026-12-01, same budget): seeds 0/1/2 gave ROC-AUC 0.900 / 0.895 /
# 0.849, while the paper's raw Eq. 4 total of the same models gave 0.796 / 0.517 / 0.443 and LFL alone
# 0.34-0.76. A score that lost its calibration, its KNN or ROT component, or its sign lands near or below
# 0.5-0.8; the floor 0.80 sits under every measured value.
PLUS_BUDGET = {"variant": "plus", "epochs": 2, "warmup_epochs": 1, "max_train_images": 600}
PLUS_FLOOR = 0.80


@pytest.mark.slow
def test_adcgan_plus_learns_fashion_mnist_tshirt(tmp_path):
    m = fmnist_run(tmp_path, "T-shirt/top", PLUS_BUDGET)
    assert m["combine"]["mode"] == "mixed" and set(m["component_auroc"]) >= {"KNN", "ROT"}
    assert m["roc_auc"] > PLUS_FLOOR, json.dumps(m["component_auroc"])


# The same budget in bf16 mixed precision (precision="bf16", issue 9). Calibration (this 2-core Xeon with AMX,
# 2 threads, 2026-12-03): seeds 0/1/2 gave ROC-AUC 0.876 / 0.894 / 0.901 in bf16 (training 13.0-13.7 s) and
# 0.896 / 0.891 / 0.907 in fp32 (16.1-16.7 s); before the casts were made once per block (nets.gemm.block_weight)
# bf16 gave 0.901 / 0.882 / 0.923. The fp32 floor applies.
@pytest.mark.slow
@pytest.mark.skipif(bf16_support(torch.device("cpu")) is not None, reason=SKIP_NO_BF16)
def test_adcgan_plus_learns_fashion_mnist_tshirt_in_bf16(tmp_path):
    m = fmnist_run(tmp_path, "T-shirt/top", {**PLUS_BUDGET, "precision": "bf16"})
    assert m["budget"]["precision"] == "bf16"
    assert m["roc_auc"] > PLUS_FLOOR, json.dumps(m["component_auroc"])


# adcgan+ on colour photos (issue 24): CIFAR-10 (JPEG copy), normal = automobile, the development protocol
# (--test-set holdout: training split only), half-width critic, 1 + 1 epochs on 400 images, 1,000 held-out
# images (100 automobiles); about 1.5 minutes of one core. At this budget the total is near chance and only
# the rotation head separates. Calibration (2-core AMD EPYC, 1 thread, 2026-12-07), seeds 0/1/2: ROT
# 0.616 / 0.631 / 0.668, held-out rotation accuracy 0.570 / 0.539 / 0.518 (chance 0.25), the total
# 0.559 / 0.481 / 0.545, KNN 0.49-0.61, LGR/LGD/LFE/LFL 0.40-0.58; seed 0 at 1 + 3 epochs: ROT 0.641, total
# 0.618. So this test guards the colour pipeline (JPEG decoding, the 3-channel 32x32 networks, the rotation
# head and its score, the holdout split), not the detector's CIFAR-10 figure: a broken head or pipeline gives
# a rotation accuracy near 0.25 and ROT near 0.5 (standard error about 0.03 with 100 normal images). A
# learning test of the total on CIFAR-10 needs a budget that does not fit in a test (`dev`: 15-55 minutes
# per class on one core).
CIFAR_BUDGET = {"variant": "plus", "critic_width": 0.5, "epochs": 1, "warmup_epochs": 1, "max_train_images": 400}
CIFAR_ROT_FLOOR, CIFAR_ROTATION_ACCURACY_FLOOR = 0.56, 0.40


@pytest.mark.slow
def test_adcgan_plus_rotation_head_learns_cifar10_automobile_on_the_training_split(tmp_path):
    spec = RunSpec(detector="adcgan", dataset="cifar10-jpeg", scheme="one-vs-all", cls="automobile", seed=0,
                   test_set="holdout", max_test_images=1000, detector_config=CIFAR_BUDGET,
                   data_dir=str(real_data("cifar10-jpeg")))
    m = run_experiment(spec, tmp_path / "run", progress=False)
    assert m["n_test"] == 1000 and m["n_normal"] == 100 and m["budget"]["train_images"] == 400
    assert m["train_info"]["heldout_rotation_accuracy"] > CIFAR_ROTATION_ACCURACY_FLOOR
    assert m["component_auroc"]["ROT"] > CIFAR_ROT_FLOOR, json.dumps(m["component_auroc"])
