"""torch's Adam and AdamW whose fused kernel updates channels-last weights where they lie.

With ``fused=True`` torch hands every parameter, gradient and moment tensor to one kernel, which copies a
tensor that is not contiguous (every 4-D weight of a channels-last network) to a contiguous one and back:
for the 32x32 critic's 2048 x 1024 x 3 x 3 weight those copies took 39 of the step's 64 ms on two Xeon
cores (``bench/optim.py``). Adam is element-wise, so when a parameter, its gradient and its two moments
are dense and laid out alike, the kernel can run on flat views of their storage instead: the same
elements, the same arithmetic, bit for bit (tests/test_optim.py). Everything else is torch's optimiser.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

__all__ = ["Adam", "AdamW", "flat_view"]


def flat_view(t: Tensor) -> Tensor | None:
    """A 1-D view of every element of ``t`` in storage order when ``t`` is dense (no gaps, no overlap)
    but not contiguous, else ``None``."""
    if t.is_contiguous():
        return None
    expected = 1
    for size, stride in sorted(zip(t.shape, t.stride()), key=lambda d: d[1]):
        if size != 1 and stride != expected:
            return None
        expected *= size
    return t.as_strided((t.numel(),), (1,))


class _FlatViews:
    """Mixin over torch's Adam: after torch gathers a group's tensors, dense same-layout ones become flat views."""

    def _init_group(self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor], exp_avgs: list[Tensor],
                    exp_avg_sqs: list[Tensor], max_exp_avg_sqs: list[Tensor], state_steps: list[Tensor]) -> bool:
        has_complex = super()._init_group(group, params, grads, exp_avgs,  # type: ignore[misc]
                                          exp_avg_sqs, max_exp_avg_sqs, state_steps)
        if group.get("fused") and not group.get("amsgrad"):
            lists = (params, grads, exp_avgs, exp_avg_sqs)
            for i, p in enumerate(params):
                if flat_view(p) is not None and all(lst[i].stride() == p.stride() for lst in lists[1:]):
                    for lst in lists:  # same strides as the dense parameter: each is dense too
                        lst[i] = lst[i].as_strided((p.numel(),), (1,))
        return has_complex


class Adam(_FlatViews, torch.optim.Adam):
    """``torch.optim.Adam``; with ``fused=True`` channels-last weights are updated without copies."""


class AdamW(_FlatViews, torch.optim.AdamW):
    """``torch.optim.AdamW``; with ``fused=True`` channels-last weights are updated without copies."""
