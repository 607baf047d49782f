"""GPU paths: run only where CUDA is present (skipped otherwise)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from adcgan import ADCGAN
from adcgan.registry import create_detector, list_detectors

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")]


def _data(n: int, geometry=(28, 28, 1), seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random((n, *geometry)) * 255).astype(np.uint8)


@pytest.mark.parametrize("geometry", [(28, 28, 1), (32, 32, 3), (64, 64, 3)])
def test_adcgan_trains_and_scores_on_cuda(geometry):
    det = ADCGAN(device="cuda", epochs=1, warmup_epochs=1, batch_size=8).fit(_data(40, geometry), progress=False)
    assert det.device.type == "cuda" and next(det.nets["G"].parameters()).is_cuda
    x = _data(20, geometry, seed=1)
    s1, s20 = det.score_samples(x, batch_size=1), det.score_samples(x, batch_size=20)
    assert np.all(np.isfinite(s20))
    np.testing.assert_allclose(s1, s20, rtol=1e-4, atol=1e-5)


def test_cuda_checkpoint_loads_on_cpu_with_matching_scores(tmp_path):
    det = ADCGAN(device="cuda", epochs=1, warmup_epochs=0, batch_size=8).fit(_data(40), progress=False)
    det.save(tmp_path / "m")
    cpu = ADCGAN.load(tmp_path / "m", device="cpu")
    x = _data(16, seed=2)
    np.testing.assert_allclose(det.score_samples(x), cpu.score_samples(x), rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("name", [n for n in list_detectors() if n != "ocsvm"])
def test_every_detector_runs_a_step_on_cuda(name):
    det = create_detector(name, device="cuda", epochs=1, warmup_epochs=0, batch_size=8)
    det.fit(_data(32), progress=False)
    assert np.all(np.isfinite(det.score_samples(_data(8, seed=3))))


@pytest.mark.skipif(not torch.cuda.is_available() or not torch.cuda.is_bf16_supported(),
                    reason="no CUDA device with bfloat16")
def test_adcgan_trains_in_bf16_on_cuda_and_scores_in_fp32():
    det = ADCGAN(device="cuda", epochs=1, warmup_epochs=1, batch_size=8, precision="bf16").fit(_data(40), progress=False)
    assert {p.dtype for p in det.nets["D"].parameters()} == {torch.float32}
    assert np.all(np.isfinite(det.score_samples(_data(8, seed=3))))
