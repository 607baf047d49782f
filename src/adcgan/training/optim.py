"""torch's Adam and AdamW whose fused kernel updates channels-last weights where they lie.

With ``fused=True`` torch hands every parameter, gradient and moment tensor to one kernel, which copies a
tensor that is not contiguous (every 4-D weight of a channels-last network) to a contiguous one and back:
for the 32x32 critic's 2048 x 1024 x 3 x 3 weight those copies took 39 of the step's 64 ms on two Xeon
cores (``bench/optim.py``). Adam is element-wise, so when a parameter, its gradient and its two moments
are dense and laid out alike, the kernel can run on flat views of their storage instead: the same
elements, the same arithmetic, bit for bit (tests/test_optim.py). Everything else is torch's optimiser.
This reads torch's private ``_init_group`` (:func:`adcgan.torch_compat.adam_group_lists`); where it is not the
one probed, the steps are torch's own.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from adcgan import torch_compat

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

    def _init_group(self, group: dict[str, Any], *args: Any, **kwargs: Any) -> bool:
        """torch's ``_init_group`` (any signature); then, where it is the probed one, flat views in its lists."""
        has_complex = super()._init_group(group, *args, **kwargs)  # type: ignore[misc]
        lists = torch_compat.adam_group_lists(args) if group.get("fused") and not group.get("amsgrad") else None
        if lists is not None:
            params = lists[0]
            for i, p in enumerate(params):
                if flat_view(p) is not None and all(lst[i].stride() == p.stride() for lst in lists[1:]):
                    for lst in lists:  # same strides as the dense parameter: each is dense too
                        lst[i] = lst[i].as_strided((p.numel(),), (1,))
        return has_complex


class Adam(_FlatViews, torch.optim.Adam):
    """``torch.optim.Adam``; with ``fused=True`` channels-last weights are updated without copies."""


class AdamW(_FlatViews, torch.optim.AdamW):
    """``torch.optim.AdamW``; with ``fused=True`` channels-last weights are updated without copies."""
