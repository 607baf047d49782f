"""How the fit loop calls the training step (adcgan.training.graphs) and reads its losses: on every machine.
The CUDA-graph replays themselves are tested in tests/test_gpu.py (run where CUDA is present)."""
from __future__ import annotations

import math
import pytest
import torch

from adcgan import ADCGAN
from adcgan.cli import main
from adcgan.detectors.helpers import optimizer_options
from adcgan.registry import create_detector
from adcgan.training import TrainingDivergedError
from adcgan.training.graphs import GRAPH_WARMUP_STEPS, GraphedSteps, _Captured, graph_support, step_runner
from adcgan.training.loop import _add_block, _loss_row, fit_loop


def _images(n: int = 40) -> torch.Tensor:
    return torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


def _twins(warmup_epochs: int) -> list[ADCGAN]:
    """Two AD-CGANs built in training mode from the same seed (the same initial weights), batch 8, 28x28."""
    dets = []
    for _ in range(2):
        torch.manual_seed(0)
        det = ADCGAN(device="cpu", epochs=1, warmup_epochs=warmup_epochs, batch_size=8)
        det.build((28, 28, 1))
        det.set_train(True)
        dets.append(det)
    return dets


def test_cuda_graphs_on_the_cpu_are_refused_before_any_step(tmp_path):
    det = ADCGAN(device="cpu", epochs=1, warmup_epochs=0, batch_size=8, cuda_graphs=True)
    det.build((28, 28, 1))
    before = {k: v.clone() for k, v in det.nets["D"].state_dict().items()}
    with pytest.raises(ValueError, match="^cuda_graphs=True needs a CUDA device; this run trains on cpu; "
                                         "set cuda_graphs=false$"):
        fit_loop(det, _images(), run_dir=tmp_path / "run", progress=False)
    assert all(torch.equal(before[k], v) for k, v in det.nets["D"].state_dict().items())
    assert not (tmp_path / "run").exists()  # nothing written


def test_graph_support_names_the_detectors_it_covers():
    cuda = torch.device("cuda")
    alad = create_detector("alad", device="cpu")
    assert graph_support(alad, cuda) == \
        "the alad detector's training step cannot be captured as a CUDA graph (supported: adcgan)"
    assert graph_support(ADCGAN, cuda) is None
    assert graph_support(ADCGAN, torch.device("mps")) == "cuda_graphs=True needs a CUDA device; this run trains on mps"


def test_the_eager_runner_is_the_step_that_does_not_wait():
    det = ADCGAN(device="cpu", epochs=1, warmup_epochs=0, batch_size=8)
    det.build((28, 28, 1))
    assert step_runner(det) == det.train_step_async
    alad = create_detector("alad", device="cpu", epochs=1, warmup_epochs=0, batch_size=8)
    alad.build((28, 28, 1))
    assert step_runner(alad) == alad.train_step


def test_train_step_async_returns_the_losses_train_step_returns_as_tensors():
    dets = _twins(warmup_epochs=0)
    x = torch.rand(8, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(5)
    floats = dets[0].train_step(x, epoch=0)
    torch.manual_seed(5)
    tensors = dets[1].train_step_async(x, epoch=0)
    assert all(isinstance(v, torch.Tensor) and v.dim() == 0 and not v.requires_grad for v in tensors.values())
    assert floats == {k: float(v) for k, v in tensors.items()}


def test_optimizer_options_ask_for_capturable_on_cuda_only():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert optimizer_options(True, cpu, capturable=True) == {"fused": True}
    assert optimizer_options(True, cuda, capturable=True) == {"fused": True, "capturable": True}
    assert optimizer_options(False, cuda, capturable=True) == {"capturable": True}
    assert optimizer_options(True, cuda) == {"fused": True}


def test_loss_rows_by_hand():
    row = _loss_row({"a": torch.tensor(1.5), "b": torch.tensor([2.25])})
    assert row.dtype == torch.float64 and row.tolist() == [1.5, 2.25]
    assert _loss_row({"a": 0.5, "b": 3.0}).tolist() == [0.5, 3.0]


def test_the_first_non_finite_step_of_a_block_is_named():
    nan, inf = float("nan"), float("inf")
    block = torch.tensor([[1.0, 2.0], [1.0, nan], [inf, nan]], dtype=torch.float64)
    with pytest.raises(TrainingDivergedError, match="^training diverged: loss b is not finite at epoch 3, step 21$"):
        _add_block({}, ["a", "b"], block, epoch=2, first_step=20, run_dir=None)
    sums = {"a": 0.5}
    _add_block(sums, ["a", "b"], block[:1], epoch=2, first_step=20, run_dir=None)  # finite: no error
    assert sums == {"a": 1.5, "b": 2.0}


def test_epoch_means_are_the_means_of_every_steps_losses(monkeypatch):
    """23 steps (two full blocks of 10 and a last one of 3): the logged means equal the plain mean of the
    floats of every step's losses."""
    seen = []
    step = ADCGAN.train_step_async
    monkeypatch.setattr(ADCGAN, "train_step_async",
                        lambda self, x, epoch: (lambda out: (seen.append({k: float(v) for k, v in out.items()}), out)[1])(
                            step(self, x, epoch)))
    det = ADCGAN(device="cpu", epochs=0, warmup_epochs=1, batch_size=2, seed=0)
    det.build((28, 28, 1))
    history = fit_loop(det, _images(47), progress=False)
    assert len(seen) == 23
    expected = sum(s["loss_AE"] for s in seen) / 23
    assert math.isclose(history[0]["loss_AE"], expected, rel_tol=1e-12)


def test_cli_refuses_cuda_graphs_on_the_cpu_with_one_message_and_no_folder(bar_folder, tmp_path, capsys):
    out = tmp_path / "x"
    rc = main(["train", "--dataset", "folder", "--data-dir", str(bar_folder), "--epochs", "1", "--batch-size", "8",
               "--device", "cpu", "--set", "cuda_graphs=true", "--quiet", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and "cuda_graphs=True needs a CUDA device; this run trains on cpu; set cuda_graphs=false" in err
    assert "Traceback" not in err and not out.exists()


class _FakeGraph:
    """Stands in for a captured graph on the CPU: a replay reruns the step on the static batch and writes the
    new losses into the static loss tensors, as a CUDA graph's kernels write into their captured buffers."""

    def __init__(self, fn, x, losses):
        self.fn, self.x, self.losses = fn, x, losses

    def replay(self):
        for k, v in self.fn(self.x).items():
            self.losses[k].copy_(v)


class _CpuGraphedSteps(GraphedSteps):
    """GraphedSteps with its two CUDA-only parts (side stream, capture) replaced by CPU stand-ins."""

    captures = 0

    def _side_stream_step(self, x, epoch):
        return self.det.train_step_async(x, epoch)

    def _capture(self, x, epoch):
        type(self).captures += 1
        static_x = x.clone()
        losses = {k: v.clone() for k, v in self.det.train_step_async(static_x, epoch).items()}
        return _Captured(_FakeGraph(lambda b: self.det.train_step_async(b, epoch), static_x, losses), static_x, losses)


def test_graphed_steps_warm_up_capture_and_replay_each_phase_on_its_own():
    """Warm-up phase then main phase, 6 batches each: 3 eager steps, the capture (which runs its batch), then
    replays that must read each new batch through the static input. Against plain eager steps from the same
    weights, batches and random state the losses are equal to the last bit."""
    dets = _twins(warmup_epochs=1)
    graphed = _CpuGraphedSteps(dets[1])
    gen = torch.Generator().manual_seed(3)
    for epoch in (0, 1):
        for i in range(6):
            x = torch.rand(8, 1, 28, 28, generator=gen)
            torch.manual_seed(100 + i)
            eager = {k: float(v) for k, v in dets[0].train_step_async(x, epoch).items()}
            torch.manual_seed(100 + i)
            assert {k: float(v) for k, v in graphed(x, epoch).items()} == eager, (epoch, i)
    assert _CpuGraphedSteps.captures == 2 and set(graphed.graphs) == {True, False}
    assert graphed.eager_steps == {True: GRAPH_WARMUP_STEPS, False: GRAPH_WARMUP_STEPS}
