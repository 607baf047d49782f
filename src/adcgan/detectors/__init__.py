"""Detectors; importing this package registers every detector."""
from adcgan.detectors import adcgan  # noqa: F401
from adcgan.detectors import adgan  # noqa: F401
from adcgan.detectors import aegan  # noqa: F401
from adcgan.detectors import alad  # noqa: F401
from adcgan.detectors import deepsvdd  # noqa: F401
from adcgan.detectors import ocsvm  # noqa: F401
