"""bf16 mixed-precision training (``precision="bf16"``, issue 9): a named option; fp32 stays the default."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from conftest import SKIP_NO_BF16

from adcgan import ADCGAN
from adcgan.config import DetectorConfig
from adcgan.detectors.adcgan import losses as L
from adcgan.registry import create_detector, list_detectors
from adcgan.training import precision as P
from adcgan.training.loop import fit_loop, training_context

needs_bf16 = pytest.mark.skipif(P.bf16_support(torch.device("cpu")) is not None,
                                reason=SKIP_NO_BF16)
TRAINABLE = [n for n in list_detectors() if n != "ocsvm"]  # ocsvm has no gradient steps
PRODUCTS = (torch.ops.aten.convolution.default, torch.ops.aten.mm.default, torch.ops.aten.addmm.default,
            torch.ops.aten.bmm.default)


class _ProductDtypes(TorchDispatchMode):
    """Records the dtype of the first input of every convolution and matrix product that runs."""

    def __init__(self) -> None:
        super().__init__()
        self.dtypes: set[torch.dtype] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in PRODUCTS:
            self.dtypes.add(args[0].dtype)
        return func(*args, **(kwargs or {}))


def _ready(name: str, precision: str, **kw) -> tuple:
    """(detector built at 28x28 in training mode, batch of 8), both from fixed seeds."""
    torch.manual_seed(0)
    det = create_detector(name, device="cpu", epochs=1, warmup_epochs=0, batch_size=8, precision=precision, **kw)
    det.build((28, 28, 1))
    det.set_train(True)
    return det, torch.rand(8, 1, 28, 28, generator=torch.Generator().manual_seed(1))


def _one_step(name: str, precision: str, **kw) -> tuple:
    """(detector, losses) after one main-phase step from a fixed seed, state and batch."""
    det, x = _ready(name, precision, **kw)
    with training_context(det):
        return det, det.train_step(x, epoch=0)


def test_precision_setting_is_validated():
    DetectorConfig(precision="bf16").validate()
    with pytest.raises(ValueError, match="precision must be one of fp32, bf16, got 'fp16'"):
        DetectorConfig(precision="fp16").validate()
    assert DetectorConfig().precision == "fp32"


def test_bf16_is_refused_with_one_message_where_the_device_lacks_it(monkeypatch):
    monkeypatch.setattr(P, "bf16_support", lambda device: "this CPU has no bfloat16 kernels")
    det = create_detector("adcgan", device="cpu", epochs=1, warmup_epochs=0, batch_size=4, precision="bf16")
    det.build((28, 28, 1))
    before = {k: v.clone() for k, v in det.nets["G"].state_dict().items()}
    with pytest.raises(ValueError, match="precision=bf16 cannot train here: this CPU has no bfloat16 kernels; "
                                         "use precision=fp32"):
        fit_loop(det, torch.rand(8, 1, 28, 28), progress=False)
    assert all(torch.equal(before[k], v) for k, v in det.nets["G"].state_dict().items())  # no step ran


def test_bf16_support_names_devices_it_does_not_cover():
    assert P.bf16_support(torch.device("meta")) == "bf16 training is implemented for cpu and cuda devices, not meta"
    assert P.step_autocast("fp32", torch.device("cpu")).__class__.__name__ == "nullcontext"


def test_weights_updated_inside_the_context_are_what_the_next_forward_uses():
    """The optimiser updates weights in place inside the training context; autocast's cast cache would
    keep serving the bfloat16 copy made before the update."""
    lin, x = torch.nn.Linear(4, 2), torch.randn(3, 4)
    with P.step_autocast("bf16", torch.device("cpu")):
        before = lin(x)
        with torch.no_grad():
            lin.weight.mul_(10.0)
        after = lin(x)
    assert before.dtype == torch.bfloat16
    torch.testing.assert_close(after - lin.bias.to(torch.bfloat16), 10 * (before - lin.bias.to(torch.bfloat16)),
                               rtol=2e-2, atol=2e-2)


@needs_bf16
def test_steps_in_one_context_equal_steps_each_in_its_own():
    """Two bf16 steps of AD-CGAN (each updating weights several times) inside one training context give the
    losses of the same two steps each in a fresh context, to the last bit."""
    def two_steps(one_context: bool) -> list[dict[str, float]]:
        det, x = _ready("adcgan", "bf16")
        if one_context:
            with training_context(det):
                return [det.train_step(x, epoch=0) for _ in range(2)]
        out = []
        for _ in range(2):
            with training_context(det):
                out.append(det.train_step(x, epoch=0))
        return out
    assert two_steps(True) == two_steps(False)


def test_fp32_losses_compute_in_fp32_under_bf16_autocast():
    z = torch.zeros(4, dtype=torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = L.relativistic_d_loss(z, z)
        raw = F.softplus(-(z - z)).mean()  # the same formula without fp32_loss
    assert loss.dtype == torch.float32 and loss.item() == pytest.approx(math.log(2), abs=1e-7)
    assert raw.dtype == torch.bfloat16 and raw.item() == 0.69140625  # ln 2 rounded to bfloat16's 8 bits
    a, b = torch.randn(6), torch.randn(6)  # outside autocast the decorator is the function itself
    assert torch.equal(L.relativistic_g_loss(a, b), L.relativistic_g_loss.__wrapped__(a, b))


@needs_bf16
@pytest.mark.parametrize("name", TRAINABLE)
def test_a_bf16_step_multiplies_in_bf16_and_keeps_fp32_state(name):
    mode = _ProductDtypes()
    with mode:
        det, losses = _one_step(name, "bf16")
    assert torch.bfloat16 in mode.dtypes, mode.dtypes
    assert all(math.isfinite(v) for v in losses.values()), losses
    assert {p.dtype for net in det.nets.values() for p in net.parameters()} == {torch.float32}
    state = [t for opt in det.optimizers.values() for s in opt.state.values() for t in s.values()
             if isinstance(t, torch.Tensor) and t.is_floating_point()]
    assert state and {t.dtype for t in state} == {torch.float32}
    fp32 = _ProductDtypes()
    with fp32:
        _one_step(name, "fp32")
    assert fp32.dtypes == {torch.float32}


@needs_bf16
@pytest.mark.parametrize("variant", ["paper", "plus"])
def test_a_bf16_step_is_the_fp32_step_up_to_bfloat16_rounding(variant):
    """The first step's losses (same weights, batch and z): within 5 % of fp32's, and not equal to them."""
    _, a = _one_step("adcgan", "fp32", variant=variant)
    _, b = _one_step("adcgan", "bf16", variant=variant)
    assert a.keys() == b.keys()
    for k in a:
        assert b[k] == pytest.approx(a[k], rel=0.05), (k, a[k], b[k])
    assert any(a[k] != b[k] for k in a)


@needs_bf16
def test_a_bf16_model_saves_loads_and_scores_in_fp32(tmp_path):
    rng = np.random.default_rng(0)
    x = (rng.random((40, 28, 28, 1)) * 255).astype(np.uint8)
    det = ADCGAN(device="cpu", epochs=1, warmup_epochs=1, batch_size=8, precision="bf16").fit(x, progress=False)
    det.save(tmp_path / "m")
    back = ADCGAN.load(tmp_path / "m", device="cpu")
    assert back.config.precision == "bf16"
    mode = _ProductDtypes()
    with mode:
        s = det.score_samples(x[:10])
    assert mode.dtypes == {torch.float32}
    np.testing.assert_allclose(s, back.score_samples(x[:10]), rtol=1e-6, atol=1e-6)
    assert np.all(np.isfinite(s))


def test_the_run_header_says_when_bf16_is_emulated(monkeypatch):
    from adcgan.evaluation import experiment
    cpu = torch.device("cpu")
    assert experiment._precision_note("fp32", cpu) == ""
    monkeypatch.setattr(experiment, "bf16_native", lambda device: True)
    assert experiment._precision_note("bf16", cpu) == "; bf16 mixed precision"
    monkeypatch.setattr(experiment, "bf16_native", lambda device: False)
    assert "emulated, likely slower than fp32" in experiment._precision_note("bf16", cpu)
    assert P.bf16_native(torch.device("meta")) is False


def test_block_weight_casts_once_per_cached_block_under_autocast():
    from torch.nn.utils import parametrize
    from adcgan.nets.gemm import block_weight
    m, w = torch.nn.Linear(3, 2), torch.randn(8, 4, requires_grad=True)
    assert block_weight(m, w) is w  # no autocast: the weight itself
    with torch.autocast("cpu", dtype=torch.bfloat16):
        a, b = block_weight(m, w), block_weight(m, w)  # outside a block: a cast per call
        with parametrize.cached():
            c, d = block_weight(m, w), block_weight(m, w)
            e = block_weight(m, w, "weight")  # another name, another entry
    assert a is not b and c is d and e is not c
    assert c.dtype == torch.bfloat16 and torch.equal(c, w.detach().to(torch.bfloat16))
    (c.float() * torch.arange(32.0).view(8, 4)).sum().backward()
    assert w.grad.dtype == torch.float32 and torch.equal(w.grad, torch.arange(32.0).view(8, 4))


class _WeightCasts(TorchDispatchMode):
    """Counts fp32 -> bf16 casts of tensors with ``shape``."""

    def __init__(self, shape) -> None:
        super().__init__()
        self.shape, self.n = tuple(shape), 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func == torch.ops.aten._to_copy.default and tuple(args[0].shape) == self.shape \
                and out.dtype == torch.bfloat16:
            self.n += 1
        return out


@needs_bf16
@pytest.mark.parametrize("size", [3, 12])  # 3x3 output: the product path; 12x12: oneDNN's convolution
def test_a_critic_layer_casts_its_weight_once_per_block_with_the_same_outputs(size):
    from torch.nn.utils import parametrize
    from adcgan.nets.gemm import GemmConv2d
    from adcgan.nets.layers import sn
    torch.manual_seed(0)
    conv = sn(GemmConv2d(8, 16, 3, 1, 1)).to(memory_format=torch.channels_last)
    x = torch.randn(4, 8, size, size).to(memory_format=torch.channels_last)
    mode = _WeightCasts(conv.parametrizations.weight.original.shape)
    conv.eval()  # no power-iteration step: the two blocks see the same sigma
    with torch.autocast("cpu", dtype=torch.bfloat16), mode:
        with parametrize.cached():
            y1, y2 = conv(x), conv(x)
        casts_in_block = mode.n
        y3 = conv(x)  # no block: autocast's own cast, per forward
    assert casts_in_block == 1 and mode.n == 2
    assert torch.equal(y1, y2) and torch.equal(y1, y3)
