"""Inference copies (adcgan.scoring.inference): every rewrite is exact, copies follow weight changes."""

import numpy as np
import pytest
import torch
from torch import nn

from adcgan import ADCGAN
from adcgan.detectors.adcgan.networks import Critic, Encoder, Generator, LatentDiscriminator
from adcgan.nets.layers import sn
from adcgan.scoring.inference import InferenceDeconv, NarrowConv, SmallOutputConv, fold_batchnorm, inference_copy, \
    plain_copy, rewrite_for_inference


def test_point_input_deconv_by_hand():
    conv = nn.ConvTranspose2d(2, 1, 2, 2)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]], [[[10.0, 20.0], [30.0, 40.0]]]]))
        conv.bias.fill_(0.5)
    x = torch.tensor([1.0, -1.0]).view(1, 2, 1, 1)          # out[i, j] = w0[i, j] - w1[i, j] + 0.5
    y = InferenceDeconv(conv)(x)
    assert torch.equal(y, torch.tensor([[[[-8.5, -17.5], [-26.5, -35.5]]]]))


@pytest.mark.parametrize("k,s,p,op,size", [(4, 2, 0, 0, 1), (5, 2, 0, 0, 1), (2, 2, 0, 0, 1), (2, 2, 0, 0, 15), (4, 2, 1, 0, 1), (3, 2, 1, 0, 8), (5, 2, 2, 1, 1), (4, 1, 0, 0, 6)])
def test_inference_deconv_matches_conv_transpose(k, s, p, op, size):
    x = torch.randn(5, 16, size, size).contiguous(memory_format=torch.channels_last)
    for conv in (nn.ConvTranspose2d(16, 8, k, s, p, output_padding=op),
                 nn.ConvTranspose2d(16, 8, k, s, p, output_padding=op, bias=False),
                 nn.ConvTranspose2d(16, 8, k, s, p, output_padding=op, groups=2),
                 nn.ConvTranspose2d(16, 8, k, s, p, output_padding=op, dilation=2)):
        if op >= s and op >= conv.dilation[0]:
            continue  # not a valid ConvTranspose2d
        torch.testing.assert_close(InferenceDeconv(conv)(x), conv(x), rtol=1e-5, atol=1e-5)


def test_narrow_conv_by_hand():
    conv = nn.Conv2d(1, 1, 2, bias=True)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[[[1.0, 0.0], [0.0, -1.0]]]]))  # x[i, j] - x[i+1, j+1] + 1
        conv.bias.fill_(1.0)
    x = torch.arange(9.0).view(1, 1, 3, 3)
    assert torch.equal(NarrowConv(conv)(x), torch.full((1, 1, 2, 2), -3.0))


@pytest.mark.parametrize("cout,k,pad", [(1, 3, 0), (1, 3, 1), (3, 3, 1), (3, 4, 0), (2, 5, 2)])
def test_narrow_conv_matches_conv(cout, k, pad):
    conv = nn.Conv2d(12, cout, k, 1, pad)
    x = torch.randn(3, 12, 11, 11).contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(NarrowConv(conv)(x), conv(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("k,s,size", [(3, 1, 5), (4, 1, 6), (3, 2, 5), (5, 2, 7), (3, 1, 9), (6, 1, 6)])
def test_small_output_conv_matches_conv(k, s, size):
    conv = nn.Conv2d(16, 8, k, s)
    x = torch.randn(3, 16, size, size).contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(SmallOutputConv(conv)(x), conv(x), rtol=1e-5, atol=1e-5)


def test_small_output_conv_by_hand():
    conv = nn.Conv2d(2, 1, 2, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[[[1.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 2.0]]]]))
    x = torch.arange(18.0).view(1, 2, 3, 3)   # y[i, j] = x0[i, j] + 2 x1[i+1, j+1]
    assert torch.equal(SmallOutputConv(conv)(x), torch.tensor([[[[26.0, 29.0], [35.0, 38.0]]]]))


@pytest.mark.parametrize("transposed", [False, True])
def test_fold_batchnorm_is_exact(transposed):
    conv = (nn.ConvTranspose2d if transposed else nn.Conv2d)(4, 6, 3)
    bn = nn.BatchNorm2d(6)
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1), bn.running_var.uniform_(0.5, 2)
        bn.weight.uniform_(0.5, 1.5), bn.bias.uniform_(-1, 1)
    seq = nn.Sequential(conv, bn).eval()
    x = torch.randn(2, 4, 7, 7)
    ref = seq(x)
    folded = fold_batchnorm(plain_copy(seq))
    assert isinstance(folded[1], nn.Identity)
    torch.testing.assert_close(folded(x), ref, rtol=1e-5, atol=1e-5)


def test_prelu_becomes_leaky_relu_and_in_place_only_after_fresh_tensors():
    prelu = nn.PReLU()
    with torch.no_grad():
        prelu.weight.fill_(0.3)
    seq = rewrite_for_inference(nn.Sequential(nn.LeakyReLU(0.2), nn.Conv2d(2, 2, 1), nn.Dropout2d(), prelu))
    assert isinstance(seq[3], nn.LeakyReLU) and seq[3].negative_slope == pytest.approx(0.3) and seq[3].inplace
    assert not seq[0].inplace                        # would overwrite the caller's input
    x = torch.randn(1, 2, 3, 3)
    x0 = x.clone()
    seq.eval()(x)
    assert torch.equal(x, x0)


def test_plain_copy_leaves_the_original_parametrised():
    m = sn(nn.Conv2d(3, 4, 3))
    plain_copy(m)
    assert hasattr(m, "parametrizations") and m(torch.randn(1, 3, 5, 5)).shape == (1, 4, 3, 3)


def test_inference_copies_run_the_product_layers_on_onednn_and_leave_the_originals_fast():
    """Scoring has no backward pass and batches of 256: oneDNN's convolution beat the training-time product
    form there (2-14 % faster scoring, docs/speed.md); maps of at most 9 pixels go to SmallOutputConv's product."""
    from adcgan.nets.gemm import GemmConv2d
    critic = Critic((32, 32, 3)).eval()
    copy_ = inference_copy(critic)
    layers = [m for m in copy_.modules() if isinstance(m, GemmConv2d)]
    assert layers and not any(m.fast for m in layers)
    assert all(m.fast for m in critic.modules() if isinstance(m, GemmConv2d))
    assert any(isinstance(m, SmallOutputConv) for m in copy_.modules())



def test_kernel_equals_stride_deconv_keeps_its_bias_inside_one_call_in_the_copies():
    """Training adds a transposed convolution's bias apart (out of place: a new map); the copies call oneDNN once."""
    from torch.utils._python_dispatch import TorchDispatchMode

    from adcgan.nets.gemm import GemmConvTranspose2d

    class Ops(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.names: list[str] = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
            self.names.append(func.__name__)
            return func(*args, **(kwargs or {}))

    gen = Generator((28, 28, 1), 16).eval()
    copy_ = inference_copy(gen)
    wrapped = [m for m in copy_.modules() if isinstance(m, InferenceDeconv) and not m.overlap]
    assert len(wrapped) == 1 and not wrapped[0].conv.fast
    assert all(m.fast for m in gen.modules() if isinstance(m, GemmConvTranspose2d))
    c = wrapped[0].conv
    x = torch.randn(3, c.in_channels, 5, 5).contiguous(memory_format=torch.channels_last)
    with torch.no_grad(), Ops() as ops:
        y = wrapped[0](x)
    assert [n for n in ops.names if "add" in n or "conv" in n] == ["convolution.default"]
    ref = torch.nn.functional.conv_transpose2d(x, c.weight, c.bias, c.stride)
    torch.testing.assert_close(y, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("geometry", [(28, 28, 1), (32, 32, 3), (64, 64, 3)])
def test_inference_copies_match_every_network(geometry):
    torch.manual_seed(0)
    h, _, ch = geometry
    z = 200 if h == 64 else 100
    nets = [Encoder(geometry, z), Generator(geometry, z), Critic(geometry), LatentDiscriminator(z)]
    x, code = torch.rand(3, ch, h, h), torch.randn(3, z, 1, 1)
    for net in nets:  # non-trivial BatchNorm statistics and spectral-norm estimates
        net.train()
        with torch.no_grad():
            for _ in range(2):
                net(code) if isinstance(net, Generator) else net(code, code) if isinstance(net, LatentDiscriminator) \
                    else net(x)
        net.eval()
    enc, gen, critic, dz = nets
    with torch.no_grad():
        pairs = [(enc, (x,)), (gen, (code,)), (dz, (code, code))]
        for net, args in pairs:
            torch.testing.assert_close(inference_copy(net)(*args), net(*args), rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(inference_copy(critic).local_features(x), critic.local_features(x),
                                   rtol=1e-4, atol=1e-5)


def _blobs(n, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((n, 28, 28, 1)) * 255).astype(np.uint8)


def test_fast_scores_equal_reference_and_follow_weight_changes():
    det = ADCGAN(epochs=1, warmup_epochs=1, batch_size=8, seed=0).fit(_blobs(32), progress=False)
    x = _blobs(12, seed=1)

    def both():
        det.config.fast_scoring = False
        ref = det.score_components(x, batch_size=5)
        det.config.fast_scoring = True
        return det.score_components(x, batch_size=5), ref

    fast, ref = both()
    for k in ref:
        np.testing.assert_allclose(fast[k], ref[k], rtol=1e-4, atol=1e-6)
    with torch.no_grad():  # an in-place weight change (as an optimiser step makes) must be seen
        next(det.nets["G"].out.parameters()).mul_(0.5)
    fast2, ref2 = both()
    assert not np.allclose(fast2["LGR"], fast["LGR"])
    np.testing.assert_allclose(fast2["score"], ref2["score"], rtol=1e-4, atol=1e-6)


def test_running_on_switches_networks_and_state_and_restores_them_after_an_error():
    det = ADCGAN(batch_size=8, epochs=1, warmup_epochs=0)
    det.build((28, 28, 1))
    nets, state = det.nets, det.scoring_state
    other, other_state = nn.ModuleDict({"E": nn.Identity()}), {"z": torch.zeros(1)}
    with det.running_on(other, other_state):
        assert det.nets is other and det.scoring_state is other_state
    assert det.nets is nets and det.scoring_state is state
    with pytest.raises(RuntimeError, match="inside"):
        with det.running_on(other):
            assert det.nets is other and det.scoring_state is state  # state kept when not given
            raise RuntimeError("inside")
    assert det.nets is nets


def test_inference_scorer_reads_the_detectors_scoring_state_without_copying_it():
    det = ADCGAN(batch_size=8, epochs=1, warmup_epochs=0)
    det.build((28, 28, 1))
    det.set_train(False)
    det.prepare_scoring()
    x = torch.rand(4, 1, 28, 28)
    scorer = det._scorer(4)
    with torch.no_grad():
        before = scorer(x)["LFL"]
        det.scoring_state["ez"] = det.scoring_state["ez"] + 1.0  # the scorer sees the change at once
        after = scorer(x)["LFL"]
    assert det.nets is not scorer.nets and not torch.allclose(before, after)
