"""Training: the one loop every detector shares, and where a run executes (device, seeds).

* :mod:`~adcgan.training.loop`: epochs, batching, progress, history, per-epoch checkpoints,
  resume and the NaN/inf guard (:func:`fit_loop`);
* :mod:`~adcgan.training.runtime`: device resolution, seeding, the versions recorded with results;
* :mod:`~adcgan.training.optim`: torch's Adam/AdamW, fused without copying channels-last weights;
* :mod:`~adcgan.training.precision`: fp32 or bf16 mixed-precision training steps.
"""
from adcgan.training.loop import CHECKPOINT_NAME, HISTORY_NAME, TrainingDivergedError, fit_loop
from adcgan.training.runtime import resolve_device, seed_everything, versions

__all__ = ["CHECKPOINT_NAME", "HISTORY_NAME", "TrainingDivergedError", "fit_loop", "resolve_device",
           "seed_everything", "versions"]
