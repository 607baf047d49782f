"""GPU paths: run only where CUDA is present (skipped otherwise)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import SKIP_NO_CUDA, SKIP_NO_CUDA_BF16

from adcgan import ADCGAN
from adcgan.registry import create_detector, list_detectors

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason=SKIP_NO_CUDA)]


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
                    reason=SKIP_NO_CUDA_BF16)
def test_adcgan_trains_in_bf16_on_cuda_and_scores_in_fp32():
    det = ADCGAN(device="cuda", epochs=1, warmup_epochs=1, batch_size=8, precision="bf16").fit(_data(40), progress=False)
    assert {p.dtype for p in det.nets["D"].parameters()} == {torch.float32}
    assert np.all(np.isfinite(det.score_samples(_data(8, seed=3))))


def _graph_pair(geometry=(28, 28, 1), variant="paper"):
    """Two AD-CGANs on CUDA with the same seed and initial weights: (eager, graphed) step runners."""
    dets = []
    for graphs in (False, True):
        torch.manual_seed(0)
        det = ADCGAN(device="cuda", variant=variant, batch_size=32, epochs=1, warmup_epochs=1, cuda_graphs=graphs)
        det.build(geometry)
        det.set_train(True)
        dets.append(det)
    for k, net in dets[1].nets.items():
        net.load_state_dict(dets[0].nets[k].state_dict())
    return dets


@pytest.mark.parametrize("variant", ["paper", "plus"])
def test_cuda_graph_steps_equal_eager_steps(variant):
    """Warm-up and main phase, each through its eager side-stream steps, its capture and three replays,
    from the same weights, batches and CUDA random state: the graphed run's losses and weights follow the
    eager run's (the same kernels; float tolerance for the GPU's own run-to-run rounding)."""
    from adcgan.training.graphs import GRAPH_WARMUP_STEPS, GraphedSteps, step_runner
    from adcgan.training.loop import training_context

    dets = _graph_pair(variant=variant)
    runs = [step_runner(d) for d in dets]
    assert isinstance(runs[1], GraphedSteps) and not isinstance(runs[0], GraphedSteps)
    gen = torch.Generator().manual_seed(1)
    batches = [torch.rand(32, 1, 28, 28, generator=gen).cuda() for _ in range(GRAPH_WARMUP_STEPS + 4)]
    for epoch in (0, 1):  # 0: warm-up phase (AE only), 1: main phase
        for x in batches:
            losses = []
            for det, run in zip(dets, runs):
                torch.cuda.manual_seed(10)
                with training_context(det):
                    losses.append({k: float(v) for k, v in run(x, epoch).items()})
            assert losses[0].keys() == losses[1].keys()
            for k in losses[0]:
                assert losses[1][k] == pytest.approx(losses[0][k], rel=1e-2, abs=1e-4), (epoch, k)
    assert set(runs[1].graphs) == {True, False}
    for k, net in dets[0].nets.items():  # relative norm: Adam moves float-noise gradients by +-lr either way
        a = torch.cat([p.detach().flatten() for p in net.parameters()])
        b = torch.cat([p.detach().flatten() for p in dets[1].nets[k].parameters()])
        assert float((a - b).norm() / a.norm()) < 1e-2, k


def test_adcgan_fits_and_scores_with_cuda_graphs(tmp_path):
    data = _data(200)
    det = ADCGAN(device="cuda", epochs=2, warmup_epochs=1, batch_size=32, cuda_graphs=True)
    det.fit(data, run_dir=tmp_path, progress=False)
    assert [r["epoch"] for r in det.history] == [1, 2, 3]
    assert all(np.isfinite(v) for r in det.history for k, v in r.items() if k.startswith("loss_"))
    assert np.all(np.isfinite(det.score_samples(_data(16, seed=4))))
    resumed = ADCGAN(device="cuda", epochs=3, warmup_epochs=1, batch_size=32, cuda_graphs=True)
    resumed.fit(data, run_dir=tmp_path, resume=True, progress=False)  # captures after loading the checkpoint
    assert resumed.train_info["epochs_done"] == 4
