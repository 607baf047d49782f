"""Old home of small helpers, kept so that ``from adcgan.utils import ...`` still works.

New code imports from :mod:`adcgan.fileio` (atomic writes), :mod:`adcgan.training.runtime`
(devices, seeding, versions) and :mod:`adcgan.tensors` (image tensors).
"""
from adcgan.fileio import atomic_torch_save, atomic_write_bytes, atomic_write_json
from adcgan.tensors import as_image_tensor, to_float
from adcgan.training.runtime import resolve_device, seed_everything, versions

__all__ = ["as_image_tensor", "atomic_torch_save", "atomic_write_bytes", "atomic_write_json", "resolve_device",
           "seed_everything", "to_float", "versions"]
