"""The one exception of :mod:`adcgan.data` (a leaf module: it imports nothing of adcgan)."""
from __future__ import annotations


class DataError(Exception):
    """A data problem the user can fix (missing, corrupt or malformed files)."""
