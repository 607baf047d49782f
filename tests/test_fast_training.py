"""The fast training path is the same computation as the plain eager one (issue 9)."""
import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from adcgan import ADCGAN
from adcgan.nets.gemm import SMALL_OUTPUT_PIXELS, GemmConv2d, GemmConvTranspose2d, _spectral_norm_of, conv_as_matmul
from adcgan.nets.layers import FastPReLU, GemmLinear, sn
from adcgan.registry import create_detector



def _plain_and_fast(layer_args, x_shape, seed=0):
    torch.manual_seed(seed)
    layer = GemmConvTranspose2d(*layer_args)
    plain = nn.ConvTranspose2d(*layer_args)
    plain.load_state_dict(layer.state_dict())
    x = torch.randn(*x_shape, requires_grad=True)
    return layer, plain, x


def _assert_same_forward_and_gradients(layer: nn.Module, plain: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The same outputs and gradients (input and every parameter) on both layers; returns the output."""
    y, y_ref = layer(x), plain(x)
    torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-6)
    g = torch.randn_like(y_ref)
    for a, b in zip(torch.autograd.grad(y, [x, *layer.parameters()], g),
                    torch.autograd.grad(y_ref, [x, *plain.parameters()], g)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    return y


@pytest.mark.parametrize("bias", [True, False])
def test_gemm_deconv_matches_conv_transpose_on_a_1x1_input(bias):
    layer, plain, x = _plain_and_fast((16, 8, 4, 2, 0, 0, 1, bias), (5, 16, 1, 1))
    assert _assert_same_forward_and_gradients(layer, plain, x).shape == (5, 8, 4, 4)


def test_gemm_deconv_matches_on_channels_last_weights():
    layer, plain, x = _plain_and_fast((16, 8, 4, 2, 0), (5, 16, 1, 1))
    layer, plain = layer.to(memory_format=torch.channels_last), plain.to(memory_format=torch.channels_last)
    _assert_same_forward_and_gradients(layer, plain, x)


def _sn_pair(fast: nn.Module, channels_last: bool) -> tuple[nn.Module, nn.Module]:
    """A spectral-normalised fast layer and a deep copy of it on PyTorch's forward."""
    plain = copy.deepcopy(fast)
    plain.fast = False
    if channels_last:
        return fast.to(memory_format=torch.channels_last), plain.to(memory_format=torch.channels_last)
    return fast, plain


def _assert_same_spectral_norm_steps(fast: nn.Module, plain: nn.Module, x: torch.Tensor, atol: float) -> None:
    """Three training forwards (the power-iteration buffers evolve) and one in eval mode: the same outputs,
    gradients of x (when it requires one) and of the weights, and the same state_dict."""
    inputs = [x] if x.requires_grad else []
    for training in (True, True, True, False):
        fast.train(training), plain.train(training)
        y, y_ref = fast(x), plain(x)
        torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=atol)
        g = torch.randn_like(y_ref)
        for a, b in zip(torch.autograd.grad(y, inputs + list(fast.parameters()), g),
                        torch.autograd.grad(y_ref, inputs + list(plain.parameters()), g)):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=atol)
        for (k, a), b in zip(fast.state_dict().items(), plain.state_dict().values()):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=k)


@pytest.mark.parametrize("channels_last", [False, True])
def test_spectral_normalised_gemm_deconv_matches_the_parametrisation(channels_last):
    """Output-side sigma: same outputs, gradients and power-iteration buffers as torch's spectral norm,
    over three training forwards (buffers evolve) and one in eval mode."""
    torch.manual_seed(0)
    fast, plain = _sn_pair(sn(GemmConvTranspose2d(16, 8, 4, 1, 0)), channels_last)
    assert _spectral_norm_of(fast) is not None and _spectral_norm_of(nn.ConvTranspose2d(2, 2, 2)) is None
    _assert_same_spectral_norm_steps(fast, plain, torch.randn(5, 16, 1, 1), atol=1e-6)


def test_gemm_deconv_value_by_hand():
    """One input channel, one output channel, 2x2 kernel: output pixel (a, b) = x * W[a, b] + bias."""
    layer = GemmConvTranspose2d(1, 1, 2, 2, 0)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]]))
        layer.bias.fill_(0.5)
    y = layer(torch.tensor([[[[2.0]]]]))
    assert y.tolist() == [[[[2.5, 4.5], [6.5, 8.5]]]]


@pytest.mark.parametrize("args,size", [((8, 4, 4, 2, 1), 5), ((6, 6, 2, 2, 0), 7), ((8, 4, 3, 2, 1, 1), 4)])
def test_gemm_deconv_adds_the_bias_apart_on_larger_inputs(args, size):
    """Larger inputs: PyTorch's transposed convolution with the bias added after it (padding, output padding,
    k = stride): the same outputs and gradients (input, weight, bias) as nn.ConvTranspose2d."""
    layer, plain, x = _plain_and_fast(args, (3, args[0], size, size))
    _assert_same_forward_and_gradients(layer, plain, x)


def test_gemm_deconv_plain_switch_and_tracing_run_pytorch_bit_for_bit():
    layer, plain, _ = _plain_and_fast((8, 4, 4, 2, 1), (1,))
    x = torch.randn(3, 8, 5, 5)
    traced = torch.jit.trace(layer, x, check_trace=False)
    assert torch.equal(traced(x), plain(x))
    layer.fast = False
    assert torch.equal(layer(x), plain(x))
    x1 = torch.randn(3, 8, 1, 1)
    assert torch.equal(layer(x1), plain(x1))


def test_conv_as_matmul_value_by_hand():
    """One channel, 2x2 kernel [[1, 2], [3, 4]], stride 1 on [[0, 1, 2], [3, 4, 5], [6, 7, 8]]: products
    0*1 + 1*2 + 3*3 + 4*4 = 27, then 37, 57, 67; divided by scale 2, plus bias 1: 14.5, 19.5, 29.5, 34.5."""
    x = torch.arange(9.0).view(1, 1, 3, 3)
    w = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    y = conv_as_matmul(x, w, torch.tensor([1.0]), (1, 1), (0, 0), scale=torch.tensor(2.0))
    assert y.tolist() == [[[[14.5, 19.5], [29.5, 34.5]]]]


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("args,size", [((8, 6, 3, 2, 0), 4), ((8, 6, 3, 1, 1), 3), ((5, 7, 4, 1, 0), 6),
                                       ((4, 3, 2, 2, 1), 5), ((6, 5, 3, 1, 0), 8)])
def test_spectral_normalised_gemm_conv_matches_the_parametrisation(args, size, channels_last):
    """Outputs, gradients (input and weights) and power-iteration buffers equal torch's spectral-normalised
    Conv2d over three training forwards and one in eval mode, with and without padding, stride, channels-last;
    8x8 inputs here give a 6x6 output (36 pixels, the largest the product takes)."""
    torch.manual_seed(0)
    fast, plain = _sn_pair(sn(GemmConv2d(*args)), channels_last)
    _assert_same_spectral_norm_steps(fast, plain, torch.randn(3, args[0], size, size, requires_grad=True), atol=1e-5)


@pytest.mark.parametrize("bias", [True, False])
def test_spectral_normalised_gemm_linear_matches_the_parametrisation(bias):
    """Output-side sigma on a Linear layer: the same outputs, gradients (input and weights) and power-iteration
    buffers as torch's spectral-normalised nn.Linear over three training forwards and one in eval mode, and the
    normalised weight is never computed on the fast path."""
    torch.manual_seed(0)
    fast, plain = _sn_pair(sn(GemmLinear(12, 7, bias=bias)), channels_last=False)
    materialised = []
    fast.parametrizations.weight[0].register_forward_hook(lambda *a: materialised.append(1))
    _assert_same_spectral_norm_steps(fast, plain, torch.randn(5, 12, requires_grad=True), atol=1e-6)
    assert not materialised
    plain(torch.randn(2, 12))
    assert plain.parametrizations.weight[0] is not None and isinstance(plain, nn.Linear)


def test_gemm_linear_plain_switch_and_no_spectral_norm_run_pytorch_bit_for_bit():
    torch.manual_seed(0)
    layer, x = sn(GemmLinear(6, 4)), torch.randn(3, 6)
    reference = copy.deepcopy(layer)
    reference.__class__.forward = nn.Linear.forward  # the parametrised class is this copy's own
    layer.fast = False
    assert torch.equal(layer(x), reference(x))
    bare = GemmLinear(6, 4)
    assert torch.equal(bare(x), F.linear(x, bare.weight, bare.bias))


@pytest.mark.parametrize("make,shape", [(lambda: GemmConv2d(8, 6, 3, 1, 1), (3, 8, 4, 4)),
                                        (lambda: GemmConvTranspose2d(8, 6, 4, 1, 0), (3, 8, 1, 1)),
                                        (lambda: GemmLinear(8, 6), (3, 8))])
def test_spectral_norm_runs_once_per_cached_block_as_the_parametrisation(make, shape):
    """Inside ``parametrize.cached()`` two forwards share one sigma (one power iteration per block, as torch's
    cached weight): the same outputs, summed gradients and buffers as the parametrised layer, block after block."""
    torch.manual_seed(0)
    fast, plain = _sn_pair(sn(make()), channels_last=len(shape) == 4)
    materialised = []
    fast.parametrizations.weight[0].register_forward_hook(lambda *a: materialised.append(1))
    x = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    x = (x.to(memory_format=torch.channels_last) if len(shape) == 4 else x).requires_grad_()
    for _ in range(3):
        outs = []
        for layer in (fast, plain):
            with parametrize.cached():
                y1, y2 = layer(x), layer(x.flip(-1))
            g = torch.autograd.grad((y1 * y1).sum() + y2.sum(), [x, *layer.parameters()])
            outs.append((y1, y2, *g))
        for a, b in zip(*outs):  # float32 sums in another order: a few 1e-5 on gradients of size ~10
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
        for (k, a), b in zip(fast.state_dict().items(), plain.state_dict().values()):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=k)
    assert not materialised  # the normalised weight was never computed: sigma divides the output


def test_gemm_conv_takes_the_product_only_for_small_outputs(monkeypatch):
    """The product runs for an output of SMALL_OUTPUT_PIXELS pixels and not for one more row of them;
    traced graphs get PyTorch's layer."""
    calls = []
    monkeypatch.setattr("adcgan.nets.gemm.conv_as_matmul", lambda *a, **k: calls.append(1) or F.conv2d(*a[:5]))
    layer = GemmConv2d(2, 2, 3)
    side = int(SMALL_OUTPUT_PIXELS ** 0.5)
    layer(torch.randn(1, 2, side + 2, side + 2))
    assert calls == [1]
    layer(torch.randn(1, 2, side + 3, side + 2))
    torch.jit.trace(layer, torch.randn(1, 2, 3, 3), check_trace=False)
    layer.fast = False
    layer(torch.randn(1, 2, 3, 3))
    assert calls == [1]


def test_fast_prelu_value_and_gradients_by_hand():
    """a = 0.25, x = (-2, 3): y = (-0.5, 3); dy = 1 gives dx = (0.25, 1) and da = -2 (the negative x)."""
    layer = FastPReLU(init=0.25)
    x = torch.tensor([-2.0, 3.0], requires_grad=True)
    y = layer(x)
    y.sum().backward()
    assert y.tolist() == [-0.5, 3.0] and x.grad.tolist() == [0.25, 1.0] and layer.weight.grad.tolist() == [-2.0]


def test_fast_prelu_matches_prelu_on_a_feature_map():
    torch.manual_seed(0)
    fast, plain = FastPReLU(), nn.PReLU()
    x = torch.randn(4, 8, 5, 5).contiguous(memory_format=torch.channels_last).requires_grad_(True)
    g = torch.randn(4, 8, 5, 5)
    got = torch.autograd.grad(fast(x), [x, fast.weight], g)
    want = torch.autograd.grad(plain(x), [x, plain.weight], g)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    with torch.no_grad():  # no grad: PyTorch's own kernel
        assert torch.equal(fast(x), plain(x))


def _detector(fast: bool, variant: str, geometry: tuple[int, int, int] = (28, 28, 1)) -> ADCGAN:
    det = ADCGAN(variant=variant, batch_size=8, epochs=3, warmup_epochs=1, seed=0, fast_training=fast)
    det.build(geometry)
    assert any(isinstance(m, GemmConvTranspose2d) and m.fast == fast for m in det.nets["G"].modules())
    assert any(isinstance(m, GemmConv2d) and m.fast == fast for m in det.nets["D"].modules())
    assert any(isinstance(m, FastPReLU) and m.fast == fast for m in det.nets["G"].modules())
    assert all(bool(g.get("fused")) == fast for o in det.optimizers.values() for g in o.param_groups)
    det.set_train(True)
    return det


def _state(det: ADCGAN) -> dict[str, torch.Tensor]:
    return {f"{k}.{n}": t.detach().clone() for k, net in det.nets.items() for n, t in net.state_dict().items()}


def _update_mismatch(before: dict, fast: dict, plain: dict) -> float:
    """||update_fast - update_plain|| / ||update_plain|| over all weights and float buffers together."""
    keys = [k for k in before if before[k].is_floating_point()]
    df = torch.cat([(fast[k].double() - before[k].double()).flatten() for k in keys])
    dp = torch.cat([(plain[k].double() - before[k].double()).flatten() for k in keys])
    return float((df - dp).norm() / dp.norm())


def _lockstep(variant: str, sgd: bool, loss_rtol: float, steps: int = 3,
              geometry: tuple[int, int, int] = (28, 28, 1)) -> list[float]:
    """Warm-up + ``steps`` main steps in lockstep: before each, the plain model gets the fast model's
    weights and optimiser state and both draw the same z. Checks the losses; returns each step's
    :func:`_update_mismatch`."""
    fast, plain = _detector(True, variant, geometry), _detector(False, variant, geometry)
    if sgd:
        for det in (fast, plain):
            det.optimizers = {k: torch.optim.SGD(net.parameters(), lr=1e-3) for k, net in det.nets.items()}
    h, w, c = geometry
    x = torch.rand(8, c, h, w, generator=torch.Generator().manual_seed(1))
    mismatch = []
    for step in range(steps + 1):  # epoch 0 is the warm-up (AE only)
        for k, net in plain.nets.items():
            net.load_state_dict(fast.nets[k].state_dict())
            plain.optimizers[k].load_state_dict(copy.deepcopy(fast.optimizers[k].state_dict()))
            for group in plain.optimizers[k].param_groups:  # a loaded state carries the fused flag along
                group["fused"] = None
        before = _state(fast)
        torch.manual_seed(100 + step)
        a = fast.train_step(x, epoch=step)
        torch.manual_seed(100 + step)
        b = plain.train_step(x, epoch=step)
        assert a.keys() == b.keys()
        for k in a:
            assert a[k] == pytest.approx(b[k], rel=loss_rtol, abs=1e-7), (step, k)
        mismatch.append(_update_mismatch(before, _state(fast), _state(plain)))
    return mismatch


@pytest.mark.parametrize("variant", ["paper", "plus"])
def test_fast_training_sgd_steps_equal_plain_eager_steps(variant):
    """With SGD a step's weight change is lr x gradient: over warm-up + 3 main steps the fast and
    plain updates agree to 1e-3 (relative norm; measured 2e-7 .. 5e-4; a wrong layer gives O(1)) and the logged losses to 1e-3
    (the G and AE losses follow earlier updates inside the same train step; measured up to 1.5e-4)."""
    assert max(_lockstep(variant, sgd=True, loss_rtol=1e-3)) < 1e-3


def test_fast_training_sgd_steps_equal_plain_eager_steps_at_32x32():
    """The 32x32 networks, where the product replaces the critic's three last convolutions (6x6, 4x4
    and 1x1 outputs) and the encoder's last two: warm-up + 1 main step. Each network's outputs and
    weight gradients agree to ~1e-6 on their own; through the six-layer critic into G and then E the
    step's losses moved by up to 1.1e-3 and the update by 7.8e-4 (measured), so 5e-3 here; a wrong
    layer gives O(1)."""
    assert max(_lockstep("plus", sgd=True, loss_rtol=5e-3, steps=1, geometry=(32, 32, 3))) < 5e-3


def test_fast_training_adam_steps_equal_plain_eager_steps():
    """The detector's own AdamW/Adam (fused kernel on the fast path, the per-tensor loop on the plain
    one): updates agree to 1e-2 (relative norm; measured ~2e-3), losses to 1e-3.
    Adam's early steps are ~lr x sign(gradient), and gradients that are zero in exact arithmetic
    (a conv bias right before BatchNorm) are float noise whose sign differs between any two summation
    orders, so such weights move by +-lr on either path alike; the critic's second step inside a
    train step already sees that."""
    assert max(_lockstep("paper", sgd=False, loss_rtol=1e-3)) < 1e-2


def test_alad_fast_training_sgd_step_equals_the_plain_eager_step():
    """ALAD (spectral-normalised GemmLinear and GemmConv2d layers, dropout): from the same weights and the
    same random state, one SGD training step on the fast and on the plain path gives the same losses (1e-4)
    and weight updates (relative norm < 1e-3; a wrong layer gives O(1))."""
    dets = []
    for fast in (True, False):
        det = create_detector("alad", batch_size=8, epochs=1, seed=0, fast_training=fast)
        det.build((28, 28, 1))
        det.set_train(True)
        det.optimizers = {k: torch.optim.SGD(net.parameters(), lr=1e-2) for k, net in det.nets.items()}
        dets.append(det)
    assert any(isinstance(m, GemmLinear) and m.fast for m in dets[0].nets["Dxz"].modules())
    for k, net in dets[1].nets.items():
        net.load_state_dict(dets[0].nets[k].state_dict())
    before = _state(dets[0])
    x = torch.rand(8, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    losses = []
    for det in dets:
        torch.manual_seed(7)
        losses.append(det.train_step(x, epoch=0))
    assert losses[0].keys() == losses[1].keys()
    for k in losses[0]:
        assert losses[0][k] == pytest.approx(losses[1][k], rel=1e-4, abs=1e-7), k
    assert _update_mismatch(before, _state(dets[0]), _state(dets[1])) < 1e-3
