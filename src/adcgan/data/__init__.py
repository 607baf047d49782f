"""Datasets for adcgan: readers, lookup, verified downloads, preprocessing, caching.

Typical use::

    from adcgan.data import load_dataset, resolve_class, to_tensor
    ds = load_dataset("fashion-mnist")            # paper preprocessing, cached
    c = resolve_class(ds, "trouser")              # -> 1
    x = to_tensor(ds.train.images[ds.train.labels == c])

Registry: ``mnist``, ``fashion-mnist``, ``cifar10`` (official python batches),
``cifar10-jpeg`` (the lossy JPEG q75 copy), ``catsvsdogs`` and ``folder``
(any folder with one subfolder per class). See :mod:`adcgan.data.locate` for
where data are looked for and :mod:`adcgan.data.preprocess` for ``"paper"``.
"""
from adcgan.data.core import Dataset, ImageSet, resolve_class, to_tensor
from adcgan.data.datasets import load_dataset, load_image_files, load_image_files_partial, load_user_data
from adcgan.data.errors import DataError
from adcgan.data.locate import ENV_VAR, find_dataset
from adcgan.data.preprocess import PREPROCESS_CHOICES, paper_pad
from adcgan.data.specs import DATASETS, DatasetSpec, Resource, get_spec, list_datasets

__all__ = [
    "DATASETS", "DataError", "Dataset", "DatasetSpec", "ENV_VAR", "ImageSet", "PREPROCESS_CHOICES",
    "Resource", "find_dataset", "get_spec", "list_datasets", "load_dataset", "load_image_files",
    "load_image_files_partial", "load_user_data", "paper_pad", "resolve_class", "to_tensor",
]
