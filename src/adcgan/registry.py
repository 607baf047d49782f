"""Detector registry (timm style): one place for CLI choices and test parametrization.

A leaf module: it imports no detector. Importing :mod:`adcgan.detectors` (which
``import adcgan`` does, so does importing any ``adcgan.*`` module) registers
every detector through :func:`register_detector`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, TypeVar

if TYPE_CHECKING:
    from adcgan.detectors.base import BaseDetector

_REGISTRY: dict[str, type["BaseDetector"]] = {}
T = TypeVar("T")


def register_detector(cls: T) -> T:
    """Class decorator: register a detector under ``cls.name``.

    Args:
        cls: A detector class with a ``name`` attribute.

    Returns:
        ``cls`` unchanged.

    Raises:
        ValueError: Another class is already registered under that name.
    """
    name = getattr(cls, "name")
    if name in _REGISTRY and _REGISTRY[name] is not cls:
        raise ValueError(f"detector {name!r} registered twice")
    _REGISTRY[name] = cls  # type: ignore[assignment]
    return cls


def list_detectors() -> list[str]:
    """Names of all registered detectors, sorted."""
    return sorted(_REGISTRY)


def get_detector_class(name: str) -> type["BaseDetector"]:
    """The detector class for ``name``; ``ValueError`` listing the valid names otherwise."""
    key = name.strip().lower()
    if key not in _REGISTRY:
        raise ValueError(f"unknown detector {name!r}; choose one of: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[key]


def create_detector(name: str, **config: Any) -> "BaseDetector":
    """Build a detector by name with config overrides, e.g. ``create_detector("adcgan", epochs=1)``."""
    return get_detector_class(name)(**config)


Factory = Callable[..., "BaseDetector"]
