"""Optional ``torch.compile`` of a detector's scoring pass (``compile_scoring=True``).

The compiled function runs on the same inference copies as eager scoring
(:mod:`adcgan.scoring.inference`: spectral norm baked in, BatchNorm folded, exact layer
rewrites); inductor then fuses the element-wise tails and prepacks weights for
oneDNN. BatchNorm is folded by us, not by inductor's ``freezing`` pass, which folded
it into transposed convolutions wrongly in torch 2.13. Compilation takes 10-60 s and,
on this project's 2-core CPU, the compiled pass is not faster than the eager inference
copies (``bench/speed.py --compile``); it is kept for machines where it is. Every batch
is padded to the same size so that one graph serves all batches.
"""
from __future__ import annotations

import warnings
from typing import Any

import torch

from adcgan import torch_compat
from adcgan.scoring.inference import InferenceScorer


class CompiledScorer(InferenceScorer):
    """:class:`InferenceScorer` whose batch function is ``torch.compile``'d (fixed batch size)."""

    def __init__(self, det: Any, batch_size: int) -> None:
        super().__init__(det)
        self.batch_size = batch_size
        self.compiled = torch.compile(det.score_batch, dynamic=False)
        self.failed = False

    def _batch(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Score one batch (padded to ``batch_size``); falls back to eager if compilation fails."""
        if self.failed:
            return self.det.score_batch(x)
        n = len(x)
        if n < self.batch_size:
            pad = x[-1:].expand(self.batch_size - n, *x.shape[1:])
            x = torch.cat([x, pad]).contiguous(memory_format=torch.channels_last
                                               if x.is_contiguous(memory_format=torch.channels_last)
                                               else torch.contiguous_format)
        try:
            # constant weights, prepacked for oneDNN (BatchNorm is pre-folded); scoped, not process-wide
            with torch_compat.inductor_freezing():
                out = self.compiled(x)
        except Exception as exc:  # noqa: BLE001 - no compiler toolchain, unsupported op, ...
            warnings.warn(f"torch.compile of the scoring pass failed ({str(exc).splitlines()[0]}); "
                          "scoring eagerly", RuntimeWarning, stacklevel=2)
            self.failed = True
            return self.det.score_batch(x[:n])
        return {k: v[:n] for k, v in out.items()}
