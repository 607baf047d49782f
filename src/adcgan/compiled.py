"""Optional ``torch.compile`` of a detector's scoring pass (``compile_scoring=True``).

The scoring copy has BatchNorm folded into the preceding convolutions (exact in
eval mode; done here because inductor's own ``freezing`` pass folded BatchNorm into
transposed convolutions wrongly in torch 2.13) and inductor fuses the element-wise
tails (bench/speed.py --compile measures it). Compilation itself takes 10-60 s,
so it pays off on large scoring jobs only. The compiled pass runs
on plain copies of the networks (spectral-norm parametrisations baked in), and
every batch is padded to the same size so that one graph serves all batches.
"""
from __future__ import annotations

import copy
import warnings
from typing import Any, Callable

import torch
from torch import nn
from torch.nn.utils import parametrize


def plain_copy(module: nn.Module) -> nn.Module:
    """A deep copy with every parametrisation (spectral norm) replaced by its current value.

    ``torch.nn.utils.parametrize.remove_parametrizations`` cannot be used on a deep copy:
    it deletes the property from the parametrised class, which the copy shares with the
    original, and would break the original module.
    """
    m = copy.deepcopy(module)
    with torch.no_grad():
        for sub in list(m.modules()):
            if not parametrize.is_parametrized(sub):
                continue
            values = {name: getattr(sub, name).detach().clone() for name in sub.parametrizations}
            del sub._modules["parametrizations"]
            sub.__class__ = sub.__class__.__bases__[0]
            for name, value in values.items():
                sub.register_parameter(name, nn.Parameter(value, requires_grad=False))
    return fold_batchnorm(m.eval())


def fold_batchnorm(module: nn.Module) -> nn.Module:
    """Fold eval-mode BatchNorm2d into the (transposed) convolution right before it, in place.

    Conv2d weights are (out, in, k, k); ConvTranspose2d weights are (in, out, k, k), so the
    per-output-channel scale goes on dim 0 or dim 1. The BatchNorm becomes an Identity.
    """
    for seq in [s for s in module.modules() if isinstance(s, nn.Sequential)]:
        names = list(seq._modules)
        for a, b in zip(names, names[1:]):
            conv, bn = seq._modules[a], seq._modules[b]
            if isinstance(conv, (nn.Conv2d, nn.ConvTranspose2d)) and isinstance(bn, nn.BatchNorm2d) \
                    and not parametrize.is_parametrized(conv) and bn.track_running_stats:
                _fold(conv, bn)
                seq._modules[b] = nn.Identity()
    return module


@torch.no_grad()
def _fold(conv: nn.Module, bn: nn.BatchNorm2d) -> None:
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps) if bn.affine else 1.0 / torch.sqrt(bn.running_var + bn.eps)
    shift = (bn.bias if bn.affine else 0.0) - bn.running_mean * scale
    shape = (1, -1, 1, 1) if isinstance(conv, nn.ConvTranspose2d) else (-1, 1, 1, 1)
    conv.weight.mul_(scale.reshape(shape))
    bias = conv.bias if conv.bias is not None else torch.zeros_like(shift)
    conv.bias = nn.Parameter(bias * scale + shift, requires_grad=False)


class CompiledScorer:
    """Runs ``det.score_batch`` compiled, on frozen plain copies of ``det.nets``."""

    def __init__(self, det: Any, batch_size: int) -> None:
        self.det, self.batch_size = det, batch_size
        self.clone = copy.copy(det)  # shallow: shares config and scoring state, not the networks
        self.clone.nets = nn.ModuleDict({k: plain_copy(v) for k, v in det.nets.items()})
        self.fn: Callable[[torch.Tensor], dict[str, torch.Tensor]] = torch.compile(self._call, dynamic=False)
        self.failed = False

    def _call(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        for k, v in vars(self.det).items():  # scoring state set by prepare_scoring (e.g. LFL's fixed z)
            if k.startswith("_score"):
                setattr(self.clone, k, v)
        return self.clone.score_batch(x)

    def __call__(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Score one batch (padded to ``batch_size``); falls back to eager if compilation fails."""
        if self.failed:
            return self.det.score_batch(x)
        n = len(x)
        if n < self.batch_size:
            pad = x[-1:].expand(self.batch_size - n, *x.shape[1:])
            x = torch.cat([x, pad]).contiguous(memory_format=torch.channels_last
                                               if x.is_contiguous(memory_format=torch.channels_last)
                                               else torch.contiguous_format)
        import torch._inductor.config as inductor_config

        try:
            # constant weights, prepacked for oneDNN (BatchNorm is pre-folded); scoped, not process-wide
            with inductor_config.patch(freezing=True):
                out = self.fn(x)
        except Exception as exc:  # noqa: BLE001 - no compiler toolchain, unsupported op, ...
            warnings.warn(f"torch.compile of the scoring pass failed ({str(exc).splitlines()[0]}); "
                          "scoring eagerly", RuntimeWarning, stacklevel=2)
            self.failed = True
            return self.det.score_batch(x[:n])
        return {k: v[:n] for k, v in out.items()}
