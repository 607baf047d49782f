"""adcgan.bench.products: a step's matrix products recorded, replayed alone, and summed (bench/roofline.py)."""
import math

import pytest
import torch
from torch import nn

from adcgan.bench.products import ProductCall, TensorSpec, products_summary, record_products, time_products

aten = torch.ops.aten


def _conv_step(conv: nn.Conv2d, x: torch.Tensor) -> None:
    conv(x).relu().sum().backward()


def test_a_convolution_step_records_its_two_products_with_the_flops_by_hand():
    """Conv 3 -> 8, 3x3, on 2 images of 6x6: 2 x 4x4 outputs x 8 channels x 27 MACs x 2 = 13,824 FLOPs forward;
    the backward pass computes the input and the weight gradient, 2 x 13,824. ReLU and sum are not products."""
    conv, x = nn.Conv2d(3, 8, 3), torch.randn(2, 3, 6, 6, requires_grad=True)
    calls = record_products(lambda: _conv_step(conv, x))
    assert sorted(c.op.__name__ for c in calls) == ["convolution.default", "convolution_backward.default"]
    time_products(calls, repeats=2)
    flops = {c.op: c.flops for c in calls}
    assert flops[aten.convolution.default] == 13_824
    assert flops[aten.convolution_backward.default] == 27_648
    assert all(c.count == 1 and 0 < c.seconds < 1 for c in calls)


def test_repeated_calls_of_one_layout_are_one_entry_with_a_count():
    a, b = torch.randn(4, 5), torch.randn(5, 6)
    calls = record_products(lambda: [a @ b for _ in range(3)] + [a.t() @ a])
    by_shapes = {tuple(s.shape for s in c.args): c.count for c in calls}
    assert by_shapes == {((4, 5), (5, 6)): 3, ((5, 4), (4, 5)): 1}


def test_replay_keeps_the_recorded_layout():
    """A channels-last input is replayed channels-last (the strides decide which kernel runs)."""
    x = torch.randn(2, 3, 5, 5).to(memory_format=torch.channels_last)
    calls = record_products(lambda: nn.Conv2d(3, 4, 3)(x))
    spec = calls[0].args[0]
    assert spec == TensorSpec((2, 3, 5, 5), (75, 1, 15, 3), torch.float32, "cpu")
    made = spec.make()
    assert made.stride() == (75, 1, 15, 3) and made.is_contiguous(memory_format=torch.channels_last)
    assert "convolution 2x3x5x5 4x3x3x3 4" == calls[0].describe()


def test_replays_run_in_the_recorded_dtype_even_under_autocast():
    """A product recorded in fp32 is replayed in fp32 inside a bf16 autocast region (bench/roofline.py replays a
    bf16 step's products under the fit loop's autocast); one recorded under autocast is bf16 already."""
    a, b = torch.randn(8, 8), torch.randn(8, 8)
    fp32 = record_products(lambda: a @ b)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        bf16 = record_products(lambda: a @ b)
        replayed = record_products(lambda: time_products(fp32 + bf16, repeats=1))
    dtypes = lambda calls: [s.dtype for c in calls for s in c.args if isinstance(s, TensorSpec)]  # noqa: E731
    assert dtypes(fp32) == [torch.float32] * 2 and dtypes(bf16) == [torch.bfloat16] * 2
    assert sorted(map(str, dtypes(replayed))) == ["torch.bfloat16"] * 2 + ["torch.float32"] * 2


def test_summary_by_hand():
    """Two products of 1 GFLOP, one made twice (10 ms each) and one once (20 ms): 3 GFLOP in 40 ms = 75 GFLOP/s,
    half of a 150 GFLOP/s ceiling; a 60 ms step leaves 20 ms for the rest and reaches 3e9 / 0.06 / 150e9 = 1/3."""
    calls = [ProductCall(aten.mm.default, (), {}, count=2, flops=10**9, seconds=0.010),
             ProductCall(aten.mm.default, (), {}, count=1, flops=10**9, seconds=0.020)]
    s = products_summary(calls, step_seconds=0.060, flops_per_s=150e9)
    assert s["product_gflop"] == pytest.approx(3.0) and s["product_ms"] == pytest.approx(40.0)
    assert s["rest_ms"] == pytest.approx(20.0) and s["step_ms"] == pytest.approx(60.0)
    assert s["product_fraction"] == pytest.approx(0.5) and s["step_fraction"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError):
        products_summary(calls, step_seconds=0.0, flops_per_s=150e9)


def test_a_detector_training_step_is_recorded_whole():
    """A tiny AD-CGAN step: the replayed products carry exactly the FLOPs the flop counter counts in the step."""
    from adcgan.bench.machine import count_flops
    from adcgan.registry import create_detector
    det = create_detector("adcgan", device="cpu", batch_size=4, warmup_epochs=0, epochs=1)
    det.build((28, 28, 1))
    det.set_train(True)
    x = torch.rand(4, 1, 28, 28)
    calls = record_products(lambda: det.train_step(x, epoch=0))
    time_products(calls, repeats=1)
    assert sum(c.flops * c.count for c in calls) == count_flops(lambda: det.train_step(x, epoch=0))
    assert all(math.isfinite(c.seconds) and c.seconds > 0 for c in calls)


@pytest.mark.parametrize("settings,gflop", [([], 36.404), (["--set", "variant=plus"], 54.09)])
def test_the_roofline_script_prints_both_rows_with_consistent_totals(settings, gflop):
    """bench/roofline.py on the 28x28 model with the smallest counts: a training and a scoring row whose
    rest is the step minus the products, and the tiny-batch line; adcgan+ is calibrated before it scores."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    out = subprocess.run([sys.executable, str(root / "bench" / "roofline.py"), "--geometries", "28", "--threads", "1",
                          "--steps", "1", "--warmup-steps", "0", "--replays", "1", "--score-batch", "8", "--top", "2", *settings],
                         capture_output=True, text=True, env=env, timeout=600, check=True).stdout
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert [r["what"].split()[2:4] for r in rows] == [["train", "step"], ["score", "batch"]]
    for r in rows:
        assert r["product_gflop"] > 0 and r["product_ms"] > 0
        assert r["rest_ms"] == pytest.approx(r["step_ms"] - r["product_ms"], abs=2e-3)
    assert rows[0]["product_gflop"] == pytest.approx(gflop, rel=1e-3)  # paper: 1,138 MFLOP per trained image x 32
    assert "a batch-2 step:" in out and out.startswith("machine: ")
