"""The figures bench/speed.py prints beside every rate: FLOP counts, GEMM ceiling fractions, the machine."""
import pytest
import torch
from torch import nn

from adcgan.bench.machine import ceiling_fraction, copy_bytes_per_s, count_flops, gemm_flops_per_s, machine_info


def test_count_flops_of_a_linear_layer_by_hand():
    """Forward of Linear(10 -> 20) on 4 rows: 2 * 4 * 10 * 20 = 1,600 FLOPs; backward (input and
    weight gradients) twice that again: 4,800 in all."""
    layer, x = nn.Linear(10, 20), torch.randn(4, 10, requires_grad=True)
    assert count_flops(lambda: layer(x)) == 1600
    assert count_flops(lambda: layer(x).sum().backward()) == 4800


def test_count_flops_of_a_convolution_by_hand():
    """Conv 3 -> 8, 3x3, on one 5x5 image, padding 0: 3x3 outputs x 8 channels x 27 MACs x 2 = 3,888."""
    conv = nn.Conv2d(3, 8, 3)
    assert count_flops(lambda: conv(torch.randn(1, 3, 5, 5))) == 3888


def test_ceiling_fraction_by_hand():
    """100 GFLOP/s over 1 GFLOP per image is a ceiling of 100 images/s; 46 images/s is 46 % of it."""
    ceiling, frac = ceiling_fraction(46.0, 1e9, 100e9)
    assert ceiling == pytest.approx(100.0) and frac == pytest.approx(0.46)
    with pytest.raises(ValueError):
        ceiling_fraction(1.0, 0.0, 1e9)


def test_gemm_rate_and_machine_info_are_real_measurements():
    rate = gemm_flops_per_s(128, repeats=3)
    assert 1e7 < rate < 1e15  # between a slow phone and a rack of GPUs
    assert 1e8 < copy_bytes_per_s(16, repeats=3) < 1e14  # 0.1 GB/s .. 100 TB/s
    info = machine_info()
    assert info["logical_cpus"] >= 1 and info["torch_threads"] >= 1 and isinstance(info["isa"], list)
    assert info["cpu"]


def test_layer_bench_args_parse_flags_set_threads_and_print_the_machine(monkeypatch, capsys):
    from adcgan.bench.machine import layer_bench_args
    before = torch.get_num_threads()
    monkeypatch.setattr("sys.argv", ["bench", "--geometries", "32", "--threads", "1", "--reps", "5"])
    try:
        a = layer_bench_args("doc", batch=32)
        assert (a.geometries, a.threads, a.rounds, a.reps, a.batch) == ("32", 1, 3, 5, 32)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    out = capsys.readouterr().out
    assert out.startswith("machine: ") and out.rstrip().endswith("1 threads")


def test_parse_geometries_names_every_unknown_entry():
    from adcgan.bench.machine import parse_geometries
    assert parse_geometries("28,64") == [28, 64]
    with pytest.raises(ValueError, match=r"--geometries: 30,x not among 28,32,64"):
        parse_geometries("28,30,x")
