"""How a detector's ``score_batch`` is run: on the training networks, on inference copies, or compiled.

* :mod:`~adcgan.scoring.inference`: exact inference copies of the networks (the default fast path);
* :mod:`~adcgan.scoring.compiled`: the same copies under ``torch.compile`` (``compile_scoring``);

:func:`select_scorer` is the one place that picks between them.
"""
from __future__ import annotations

from typing import Any, Callable

from torch import Tensor

from adcgan import torch_compat
from adcgan.scoring.compiled import CompiledScorer
from adcgan.scoring.inference import InferenceScorer

__all__ = ["CompiledScorer", "InferenceScorer", "select_scorer"]

Scorer = Callable[[Tensor], dict[str, Tensor]]


def select_scorer(det: Any, cached: Any, batch_size: int) -> Scorer:
    """The batch scoring function of ``det`` for this pass, reusing ``cached`` when it still fits.

    Plain ``det.score_batch`` for detectors that optimise at test time (``inference_scoring``
    false), with ``fast_scoring`` and ``compile_scoring`` both off, or where the copies cannot be made on the
    installed torch (:func:`adcgan.torch_compat.fast_scoring_supported`, which warns once); else ``score_batch``
    on inference copies of the networks, compiled when ``compile_scoring`` is on. The copies are
    rebuilt when the weights changed, when ``compile_scoring`` was switched, and (compiled) when
    the batch size changed.

    Args:
        det: The detector (its ``config``, ``nets`` and ``inference_scoring``).
        cached: The scorer returned last time for ``det``, or ``None``.
        batch_size: The scoring batch size (a compiled graph serves one size).

    Returns:
        A callable mapping a float batch (N, C, H, W) in [0, 1] to the component tensors; keep it as
        the next ``cached`` when it is an :class:`InferenceScorer`.
    """
    c = det.config
    if not (det.inference_scoring and (c.fast_scoring or c.compile_scoring) and torch_compat.fast_scoring_supported()):
        return det.score_batch
    if cached is None or not cached.current() or isinstance(cached, CompiledScorer) != c.compile_scoring \
            or (c.compile_scoring and cached.batch_size != batch_size):
        return CompiledScorer(det, batch_size) if c.compile_scoring else InferenceScorer(det)
    return cached
