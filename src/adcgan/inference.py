"""Old path of :mod:`adcgan.scoring.inference` (the README's name for the inference copies), kept importable."""
from adcgan.scoring.inference import (InferenceDeconv, InferenceScorer, NarrowConv, SmallOutputConv,  # noqa: F401
                                      fold_batchnorm, inference_copy, plain_copy, rewrite_for_inference,
                                      weights_version)
from adcgan.memory import reuse_freed_memory  # noqa: F401
