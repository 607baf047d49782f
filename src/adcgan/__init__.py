"""adcgan: AD-CGAN anomaly detection (Sevyeri & Fevens, 2021) with baselines and evaluation protocols.

Quick start::

    from adcgan import ADCGAN
    det = ADCGAN(epochs=15, warmup_epochs=5).fit(normal_images)   # uint8 (N, 28, 28, 1)
    scores = det.score_samples(test_images)                       # higher = more anomalous
    det.save("model"); det = ADCGAN.load("model")
"""
__version__ = "0.1.0"

from adcgan import detectors  # noqa: E402,F401  (registers every detector before any registry lookup)
from adcgan.detectors.adcgan import ADCGAN, ADCGANConfig  # noqa: E402
from adcgan.detectors.base import BaseDetector, load_detector  # noqa: E402
from adcgan.registry import create_detector, list_detectors  # noqa: E402

__all__ = ["ADCGAN", "ADCGANConfig", "BaseDetector", "create_detector", "list_detectors", "load_detector",
           "__version__"]
