"""AD-CGAN in one folder: the detector and its config, networks, losses and score, precise BN, adcgan+ parts.

* :mod:`~adcgan.detectors.adcgan.detector`: :class:`ADCGAN` (training step, score);
* :mod:`~adcgan.detectors.adcgan.config`: :class:`ADCGANConfig` and the variants' defaults;
* :mod:`~adcgan.detectors.adcgan.networks`: encoder, generator, contrastive critic, latent discriminator;
* :mod:`~adcgan.detectors.adcgan.losses`: the losses and the normality score (Eq. 1-6), Table 4's ablations;
* :mod:`~adcgan.detectors.adcgan.precise_bn`: BatchNorm recalibration after training;
* :mod:`~adcgan.detectors.adcgan.plus_parts`: the adcgan+ parts (rotation prediction, k-NN feature distance).
"""
from adcgan.detectors.adcgan.config import VARIANT_DEFAULTS, VARIANTS, ADCGANConfig
from adcgan.detectors.adcgan.detector import ADCGAN

__all__ = ["ADCGAN", "ADCGANConfig", "VARIANTS", "VARIANT_DEFAULTS"]
