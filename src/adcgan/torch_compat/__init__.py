"""The one seam between adcgan and torch's internals: every private torch name adcgan reads is read here.

The fast paths lean on torch internals: spectral norm's power-iteration state, the cache of
``parametrize.cached()``, private layer helpers, Adam's ``_init_group``, tensor version counters, the class
torch injects into a parametrised module, inductor's config. Each is registered in :data:`INTERNALS` with a
probe (:mod:`.probes`): a tiny computation through its accessor (:mod:`.access`, the only code that names
internals) whose result is known. The first time a path asks (:func:`supported`), the probe runs, once per
process, leaving RNG, grad mode and autocast as they were; a failing probe gives one
:class:`TorchInternalWarning` naming the internal and the torch version, and the paths that read it stay
off: the plain torch code runs instead, with the same results up to float rounding
(tests/test_torch_compat.py). A torch outside :data:`TESTED_TORCH` (pyproject.toml's range) gives one
warning too; there its probes still decide.

The switches: :func:`fast_training_supported` (``DetectorConfig.fast_training``: the product layers,
FastPReLU, fused Adam) and :func:`fast_scoring_supported` (``fast_scoring``: the inference copies).
"""
from __future__ import annotations

import contextlib
import re
import warnings
from typing import Any, Callable, ContextManager, Iterator, NamedTuple

import torch
from torch import Tensor

from adcgan.torch_compat import probes
from adcgan.torch_compat.access import ADAM_INIT_GROUP_ARGS, BATCH_NORM_TYPES, CPU_BF16_FLAGS, \
    ONNX_REGISTRATION_LOGGER, SpectralNormState, bake_parametrizations, block_cache, conv_forward, \
    conv_transpose_output_padding, cpu_bf16_flags, dispatch_mode_class, inductor_config, leaky_relu_backward, \
    mkldnn_bf16, spectral_norm_state, version_counter

__all__ = ["BATCH_NORM_TYPES", "INTERNALS", "ONNX_REGISTRATION_LOGGER", "SCORING", "TESTED_TORCH", "TRAINING",
           "Internal", "SpectralNormState", "TorchInternalWarning", "adam_group_lists", "bake_parametrizations",
           "block_cache", "conv_forward", "conv_transpose_output_padding", "cpu_bf16_native", "dispatch_mode_base",
           "fast_scoring_supported", "fast_training_supported", "inductor_freezing", "leaky_relu_backward",
           "mkldnn_bf16_supported", "report", "reset", "spectral_norm_state", "supported", "torch_release",
           "tested_releases", "version_counter"]

TESTED_TORCH = "torch>=2.13,<2.15"
"""The torch releases the test suite has passed on: the requirement in pyproject.toml (a test keeps them equal)."""

SPECTRAL_NORM, PARAMETRIZE_CACHE, OUTPUT_PADDING = "spectral_norm", "parametrize_cache", "output_padding"
CONV_FORWARD, LEAKY_RELU_BACKWARD, ADAM_INIT_GROUP = "conv_forward", "leaky_relu_backward", "adam_init_group"
PARAMETRIZED_CLASS, TENSOR_VERSION, INDUCTOR_FREEZING = "parametrized_class", "tensor_version", "inductor_freezing"
MKLDNN_BF16, CPU_BF16, PYTHON_DISPATCH = "mkldnn_bf16", "cpu_bf16", "python_dispatch"
TRAINING = (SPECTRAL_NORM, PARAMETRIZE_CACHE, OUTPUT_PADDING, CONV_FORWARD, LEAKY_RELU_BACKWARD, ADAM_INIT_GROUP)
"""What ``fast_training`` reads: with any of them missing it is off (plain layers, torch's own Adam loop)."""
SCORING = (PARAMETRIZED_CLASS, TENSOR_VERSION)
"""What ``fast_scoring`` reads: with either missing, scoring runs on the training networks."""


class TorchInternalWarning(RuntimeWarning):
    """A torch internal is missing or behaves differently, so a fast path is off (once per process)."""


class Internal(NamedTuple):
    """One torch internal: what it is (as a warning names it), what runs without it, and its probe."""

    what: str
    fallback: str
    probe: Callable[[], bool]


_TRAINING_OFF = "the plain layers and torch's own Adam loop train instead (as with fast_training=False)"
_SCORING_OFF = "scoring runs on the training networks instead (as with fast_scoring=False)"
INTERNALS: dict[str, Internal] = {
    SPECTRAL_NORM: Internal("torch.nn.utils.parametrizations._SpectralNorm (_u, _v, dim, eps, n_power_iterations)",
                            _TRAINING_OFF, probes.spectral_norm),
    PARAMETRIZE_CACHE: Internal("torch.nn.utils.parametrize._cache / _cache_enabled", _TRAINING_OFF,
                                probes.parametrize_cache),
    OUTPUT_PADDING: Internal("torch.nn.ConvTranspose2d._output_padding", _TRAINING_OFF, probes.output_padding),
    CONV_FORWARD: Internal("torch.nn.Conv2d._conv_forward", _TRAINING_OFF, probes.conv_forward_with_weight),
    LEAKY_RELU_BACKWARD: Internal("torch.ops.aten.leaky_relu_backward", _TRAINING_OFF, probes.leaky_relu_gradient),
    ADAM_INIT_GROUP: Internal("torch.optim.Adam._init_group", _TRAINING_OFF, probes.adam_init_group),
    PARAMETRIZED_CLASS: Internal("the class torch.nn.utils.parametrize injects (__bases__[0], _modules"
                                 "['parametrizations'])", _SCORING_OFF + "; ONNX exports keep the parametrisations",
                                 probes.parametrized_class),
    TENSOR_VERSION: Internal("torch.Tensor._version", _SCORING_OFF, probes.tensor_version),
    INDUCTOR_FREEZING: Internal("torch._inductor.config.freezing", "compile_scoring compiles without freezing",
                                probes.inductor_freezing),
    MKLDNN_BF16: Internal("torch.ops.mkldnn._is_mkldnn_bf16_supported", "precision=bf16 is refused on the CPU",
                          probes.mkldnn_bf16_query),
    CPU_BF16: Internal("torch.cpu." + " / ".join(CPU_BF16_FLAGS), "bf16 runs are noted as emulated",
                                 probes.cpu_bf16_queries),
    PYTHON_DISPATCH: Internal("torch.utils._python_dispatch.TorchDispatchMode",
                              "adcgan.bench.products cannot record a step's products", probes.python_dispatch),
}
"""Every torch internal adcgan uses, by key: :func:`supported` runs its probe once per process."""

_results: dict[str, bool] = {}


def supported(*keys: str) -> bool:
    """Whether every internal named by ``keys`` (of :data:`INTERNALS`) is usable on this torch: probed once
    per process, each missing one warned about once."""
    if not _results:
        _warn_outside_tested_range()
    return all([_check(key) for key in keys])  # a list: every key is probed, so each missing one warns


def fast_training_supported() -> bool:
    """Whether the fast training path (``DetectorConfig.fast_training``) can run on this torch."""
    return supported(*TRAINING)


def fast_scoring_supported() -> bool:
    """Whether the inference copies of ``DetectorConfig.fast_scoring`` can be made on this torch."""
    return supported(*SCORING)


def report() -> dict[str, bool]:
    """Every internal's probe result on this torch (probing those not yet probed)."""
    return {key: supported(key) for key in INTERNALS}


def reset() -> None:
    """Forget the probe results: the next :func:`supported` probes (and warns) again (tests)."""
    _results.clear()


def torch_release(version: str | None = None) -> tuple[int, int]:
    """(major, minor) of ``version`` (default: the installed torch's; ``2.14.1+cu130`` -> (2, 14))."""
    found = re.match(r"(\d+)\.(\d+)", version or torch.__version__)
    if found is None:
        raise ValueError(f"not a torch version: {version or torch.__version__!r}")
    return int(found[1]), int(found[2])


def tested_releases() -> tuple[tuple[int, int], tuple[int, int]]:
    """[lowest, first untested) (major, minor) of :data:`TESTED_TORCH`."""
    low, high = re.fullmatch(r"torch>=([\d.]+),<([\d.]+)", TESTED_TORCH).groups()  # type: ignore[union-attr]
    return torch_release(low), torch_release(high)


def _warn_outside_tested_range() -> None:
    """The version check: one warning when the installed torch is outside :data:`TESTED_TORCH`."""
    low, high = tested_releases()
    if not low <= torch_release() < high:
        warnings.warn(f"adcgan: torch {torch.__version__} is outside the tested {TESTED_TORCH}; the fast paths "
                      "run where the probes of the torch internals they read pass", TorchInternalWarning,
                      stacklevel=4)


def _check(key: str) -> bool:
    """The probe result of ``key``, probing (and warning when it fails) on first use."""
    if key not in _results:
        internal = INTERNALS[key]
        try:
            with _probe_context():
                ok, why = bool(internal.probe()), "its probe gave an unexpected result"
        except Exception as exc:  # noqa: BLE001 - a missing or changed internal can fail in any way
            ok, why = False, f"{type(exc).__name__}: {exc}"
        _results[key] = ok
        if not ok:
            warnings.warn(f"adcgan: {internal.what} is missing or changed in torch {torch.__version__} ({why}); "
                          f"{internal.fallback}", TorchInternalWarning, stacklevel=4)
    return _results[key]


@contextlib.contextmanager
def _probe_context() -> Iterator[None]:
    """Probes leave the caller's state alone: the global RNG, inference mode, grad mode, CPU autocast, and the
    cache of an enclosing ``parametrize.cached()`` block (entries of the probes' modules, whose ids are reused)."""
    cache: dict[Any, Any] | None = None
    with contextlib.suppress(Exception):  # the cache itself may be the internal that is missing
        cache = block_cache()
    known = set(cache or ())
    try:
        with torch.random.fork_rng(devices=[]), torch.inference_mode(False), torch.no_grad(), \
                torch.autocast("cpu", enabled=False):
            yield
    finally:
        for key in set(cache or ()) - known:
            del cache[key]  # type: ignore[index]


# ---- accessors that ask first ------------------------------------------------------------------------------
def adam_group_lists(args: tuple[Any, ...]) -> tuple[list[Tensor], ...] | None:
    """(params, grads, exp_avgs, exp_avg_sqs): the lists the kernel updates, from the arguments of
    ``Adam._init_group`` after ``group``; ``None`` where that method is not the one probed."""
    if len(args) != len(ADAM_INIT_GROUP_ARGS) - 1 or not supported(ADAM_INIT_GROUP):
        return None
    return tuple(args[:4])


def inductor_freezing() -> ContextManager[object]:
    """Inductor's ``freezing`` (constant weights prepacked for oneDNN) for the block, where it exists."""
    return inductor_config().patch(freezing=True) if supported(INDUCTOR_FREEZING) else contextlib.nullcontext()


def mkldnn_bf16_supported() -> bool | None:
    """Whether oneDNN has bfloat16 kernels on this CPU; ``None`` where this torch does not say."""
    return bool(mkldnn_bf16()) if supported(MKLDNN_BF16) else None


def cpu_bf16_native() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (AVX-512 BF16 or AMX); ``False`` where torch does not say."""
    return supported(CPU_BF16) and any(cpu_bf16_flags())


def dispatch_mode_base() -> type:
    """torch's ``TorchDispatchMode``, which the bench's product recorder subclasses (it has no plain form)."""
    if not supported(PYTHON_DISPATCH):
        raise RuntimeError(f"adcgan.bench.products needs TorchDispatchMode, missing in torch {torch.__version__}")
    return dispatch_mode_class()
