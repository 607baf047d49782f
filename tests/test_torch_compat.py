"""adcgan.torch_compat: every torch internal behind one seam; a missing one switches its fast path off with one
warning, and the plain path runs instead with the same results."""
from __future__ import annotations

import contextlib
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn.utils import parametrize

from adcgan import ADCGAN, torch_compat
from adcgan.nets.gemm import GemmConv2d, GemmConvTranspose2d
from adcgan.nets.layers import FastPReLU, GemmLinear, sn
from adcgan.scoring import InferenceScorer, select_scorer
from adcgan.scoring.inference import plain_copy
from adcgan.training.optim import Adam
from adcgan.training.precision import bf16_native, bf16_support

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

FAST_LAYERS = (GemmConvTranspose2d, GemmConv2d, GemmLinear, FastPReLU)
SETTINGS = {"epochs": 1, "warmup_epochs": 1, "batch_size": 8, "seed": 0}  # as tests/test_inference.py
PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


@pytest.fixture
def probes():
    """Probe afresh in the test, and again after it: a simulated failure must not outlive it."""
    torch_compat.reset()
    yield torch_compat
    torch_compat.reset()


def _deleted(key: str):
    """A probe as a deleted internal fails: with an AttributeError."""
    def probe() -> bool:
        raise AttributeError(f"simulated: {key} was deleted")
    return probe


def _break(monkeypatch, *keys: str) -> None:
    for key in keys:
        monkeypatch.setitem(torch_compat.INTERNALS, key, torch_compat.INTERNALS[key]._replace(probe=_deleted(key)))


def _internal_warnings(caught) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, torch_compat.TorchInternalWarning)]


@contextlib.contextmanager
def _recording():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # every warn call is recorded: the once-per-process is torch_compat's
        yield caught


def _built() -> ADCGAN:
    det = ADCGAN(**SETTINGS)
    det.build((28, 28, 1))
    return det


def _fast_layers(det: ADCGAN) -> list[bool]:
    return [m.fast for m in det.nets.modules() if isinstance(m, FAST_LAYERS)]


def _fused(det: ADCGAN) -> list[bool]:
    return [bool(g.get("fused")) for opt in det.optimizers.values() for g in opt.param_groups]


def _images(n: int, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).random((n, 28, 28, 1)) * 255).astype(np.uint8)


def test_every_probe_passes_on_the_installed_torch(probes):
    """The torch this suite runs on is in the tested range and has every internal: no warning, and a detector
    gets the fast layers, the fused optimiser and the inference copies."""
    low, high = torch_compat.tested_releases()
    assert low <= torch_compat.torch_release() < high, torch.__version__
    with _recording() as caught:
        assert torch_compat.report() == {key: True for key in torch_compat.INTERNALS}
        det = _built()
    assert _internal_warnings(caught) == []
    assert _fast_layers(det) and all(_fast_layers(det)) and all(_fused(det))
    assert isinstance(select_scorer(det, None, 8), InferenceScorer)


def test_the_tested_range_is_pyprojects_torch_requirement():
    deps = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["dependencies"]
    assert [d for d in deps if d.startswith("torch")] == [torch_compat.TESTED_TORCH]
    assert torch_compat.tested_releases() == ((2, 13), (2, 15))
    assert torch_compat.torch_release("2.14.1+cu130") == (2, 14) and torch_compat.torch_release("3.0.0a0") == (3, 0)


def test_a_torch_outside_the_tested_range_is_warned_about_once(probes, monkeypatch):
    monkeypatch.setattr(torch, "__version__", "2.99.0")
    with _recording() as caught:
        assert torch_compat.supported(torch_compat.TENSOR_VERSION) and torch_compat.fast_scoring_supported()
    assert len(_internal_warnings(caught)) == 1 and "torch 2.99.0 is outside" in _internal_warnings(caught)[0]


def test_probes_leave_the_random_state_alone(probes):
    """Spectral norm's probe draws its start vector: from a forked RNG, so seeded runs do not depend on it."""
    torch.manual_seed(0)
    torch_compat.report()
    after = torch.rand(4)
    torch.manual_seed(0)
    assert torch.equal(after, torch.rand(4))


def test_probes_inside_a_cached_block_leave_its_cache_as_they_found_it(probes):
    """Probing inside ``parametrize.cached()`` (the probes' parametrised layers are cached there) leaves no
    entries behind: their modules die, and a new module may get the same id within the block."""
    with parametrize.cached():
        before = dict(torch_compat.block_cache())
        assert all(torch_compat.report().values())
        assert torch_compat.block_cache() == before


@pytest.mark.parametrize("key", [*torch_compat.TRAINING, *torch_compat.SCORING])
def test_a_missing_internal_switches_its_fast_path_off_with_one_warning(probes, monkeypatch, key):
    """Training internals: every fast layer plain and no fused optimiser; scoring internals: no inference
    copies. One warning naming the internal and the torch version, however often the path asks."""
    _break(monkeypatch, key)
    with _recording() as caught:
        dets = [_built(), _built()]
        scorers = [select_scorer(det, None, 8) for det in dets]
    training_on, scoring_on = key not in torch_compat.TRAINING, key not in torch_compat.SCORING
    for det, scorer in zip(dets, scorers):
        assert _fast_layers(det) and set(_fast_layers(det)) == {training_on} and set(_fused(det)) == {training_on}
        assert isinstance(scorer, InferenceScorer) == scoring_on
    [message] = _internal_warnings(caught)
    assert torch_compat.INTERNALS[key].what in message and torch.__version__ in message and "simulated" in message


def test_a_changed_adam_init_group_leaves_torchs_own_step(probes, monkeypatch):
    """``_init_group`` with other parameter names (a changed internal, not a probe stub): the probe sees it,
    and adcgan's Adam steps a channels-last weight exactly as torch's Adam does, through the new method."""
    original = torch.optim.Adam._init_group

    def renamed(self, group, *lists):
        return original(self, group, *lists)

    monkeypatch.setattr(torch.optim.Adam, "_init_group", renamed)
    start = torch.randn(4, 3, 2, 2, generator=torch.Generator().manual_seed(0)).to(memory_format=torch.channels_last)
    ours, ref = torch.nn.Parameter(start.clone()), torch.nn.Parameter(start.clone())
    with _recording() as caught:
        for opt_cls, p in ((Adam, ours), (torch.optim.Adam, ref)):
            opt = opt_cls([p], lr=0.1, fused=True)
            for _ in range(2):
                p.grad = torch.ones_like(p)
                opt.step()
    assert torch.equal(ours, ref) and not torch.equal(ours, start)
    [message] = _internal_warnings(caught)
    assert "torch.optim.Adam._init_group" in message and "unexpected result" in message


def test_plain_copies_keep_the_parametrisations_where_they_cannot_be_baked(probes, monkeypatch):
    _break(monkeypatch, torch_compat.PARAMETRIZED_CLASS)
    layer = sn(torch.nn.Linear(5, 3)).eval()
    with _recording() as caught:
        copy_ = plain_copy(torch.nn.Sequential(layer))
    assert type(copy_[0]).__name__ == "ParametrizedLinear" and len(_internal_warnings(caught)) == 1
    x = torch.randn(2, 5)
    torch.testing.assert_close(copy_(x), layer(x))


@pytest.mark.parametrize("key,fallback", [
    (torch_compat.INDUCTOR_FREEZING, lambda: isinstance(torch_compat.inductor_freezing(), contextlib.nullcontext)),
    (torch_compat.MKLDNN_BF16, lambda: "does not say" in bf16_support(torch.device("cpu"))),
    (torch_compat.CPU_BF16, lambda: bf16_native(torch.device("cpu")) is False),
])
def test_other_internals_fall_back_with_one_warning(probes, monkeypatch, key, fallback):
    _break(monkeypatch, key)
    with _recording() as caught:
        assert fallback() and fallback()
    assert len(_internal_warnings(caught)) == 1


def test_the_product_recorder_names_a_missing_dispatch_mode(probes, monkeypatch):
    _break(monkeypatch, torch_compat.PYTHON_DISPATCH)
    with _recording(), pytest.raises(RuntimeError, match="TorchDispatchMode"):
        torch_compat.dispatch_mode_base()


def test_with_internals_missing_a_detector_trains_and_scores_as_the_plain_path(probes, monkeypatch):
    """AD-CGAN 28x28, one epoch on 64 random images, with a training internal (spectral norm's state) and a
    scoring one (version counters) missing: the fast paths are off after one warning each, and the scores are
    those of fast_training=False, fast_scoring=False. (Left on, the fast path's rounding takes these scores
    ~9 % away after one epoch: Adam's first steps move weights by +-lr on the sign of float noise.)"""
    _break(monkeypatch, torch_compat.SPECTRAL_NORM, torch_compat.TENSOR_VERSION)
    x, x_test = _images(64, 0), _images(16, 1)
    with _recording() as caught:
        det = ADCGAN(**SETTINGS).fit(x, progress=False)
        got, again = det.score_samples(x_test), det.score_samples(x_test)
    messages = _internal_warnings(caught)
    assert len(messages) == 2 and all(torch.__version__ in m for m in messages)
    assert "_SpectralNorm" in messages[0] and "Tensor._version" in messages[1]
    assert not any(_fast_layers(det)) and not any(_fused(det)) and select_scorer(det, None, 8) == det.score_batch
    plain = ADCGAN(**SETTINGS, fast_training=False, fast_scoring=False).fit(x, progress=False)
    want = plain.score_samples(x_test)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got, again)
