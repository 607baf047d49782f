"""Core data types shared by the readers, the loaders and the rest of adcgan.

Everything user-facing that can go wrong with data raises :class:`DataError`
with one message that names the offending file or folder.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

import numpy as np

from adcgan.data.errors import DataError

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["DataError", "Dataset", "ImageSet", "resolve_class", "to_tensor"]


@dataclass
class ImageSet:
    """A split of images with labels and stable per-image identifiers.

    Attributes:
        images: uint8 array of shape (N, H, W, C), C in {1, 3}.
        labels: int64 array of shape (N,).
        ids: One identifier per image: the file path for folder data,
            ``"train/12345"``-style ``split/index`` strings for IDX/pickle data.
    """

    images: np.ndarray
    labels: np.ndarray
    ids: list[str]

    def __len__(self) -> int:
        return int(self.labels.shape[0])


@dataclass
class Dataset:
    """A loaded dataset: both splits after preprocessing plus provenance.

    Attributes:
        name: Registry name (``"mnist"``, ``"fashion-mnist"``, ``"cifar10"``,
            ``"cifar10-jpeg"``, ``"catsvsdogs"``, ``"folder"``, ``"user"``).
        display_name: Human-readable name, e.g. ``"CIFAR-10 (JPEG q75 copy)"``.
        class_names: Names indexed by label.
        train: Training split.
        test: Test split.
        geometry: (H, W, C) of every image after preprocessing.
        preprocess: ``"paper"`` or ``"none"``.
        source: The folder the data came from.
        skipped: Unreadable image files that were left out (folder and user data).
    """

    name: str
    display_name: str
    class_names: list[str]
    train: ImageSet
    test: ImageSet
    geometry: tuple[int, int, int]
    preprocess: str
    source: str
    skipped: list[str] = field(default_factory=list)


def to_tensor(images: np.ndarray) -> "torch.Tensor":
    """Convert uint8 NHWC images to a float32 NCHW tensor in [0, 1].

    Args:
        images: uint8 array (N, H, W, C).

    Returns:
        A contiguous float32 tensor (N, C, H, W).

    Raises:
        ValueError: if ``images`` is not a 4-d uint8 array (or has other than 1 or 3 channels).
    """
    from adcgan.io.tensors import as_image_tensor, to_float  # the one conversion; torch imported on use

    arr = np.asarray(images)
    if arr.dtype != np.uint8 or arr.ndim != 4:
        raise ValueError(f"expected uint8 images of shape (N, H, W, C), got {arr.dtype} {arr.shape}")
    return to_float(as_image_tensor(arr))


def _norm(text: str) -> str:
    """Lower-case ``text`` and drop everything but letters and digits."""
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _class_names_of(obj: object) -> list[str]:
    """Class names from a Dataset, a DatasetSpec, a registry name or a list."""
    if isinstance(obj, str):
        from adcgan.data.specs import get_spec

        return list(get_spec(obj).class_names)
    names = getattr(obj, "class_names", obj)
    return [str(n) for n in names]  # type: ignore[union-attr]


def _match_name(names: Sequence[str], query: str) -> list[int]:
    """Indices of ``names`` matching ``query`` loosely (see :func:`resolve_class`)."""
    q = _norm(query)
    if not q:
        return []
    exact = [i for i, n in enumerate(names) if _norm(n) == q]
    if exact:
        return exact
    parts = [i for i, n in enumerate(names) if q in {_norm(p) for p in re.split(r"[/|,]", n)}]
    if parts:
        return parts
    q = q.rstrip("s")  # "trousers", "sandals"
    return [i for i, n in enumerate(names) if len(q) >= 3 and _norm(n).startswith(q)]


def resolve_class(dataset_or_class_names: object, cls: str | int) -> int:
    """Turn a class given as index or (loose) name into its integer label.

    Names match case-insensitively ignoring punctuation and spaces, so
    ``"Trouser"``, ``"trouser"``, ``"t-shirt"`` (a part of ``"T-shirt/top"``)
    and ``"ankle-boot"`` all work; a unique prefix of 3+ letters also works.

    Args:
        dataset_or_class_names: A :class:`Dataset`, a ``DatasetSpec``, a
            registry name (``"fashion-mnist"``) or a sequence of class names.
        cls: An index (``1`` or ``"1"``) or a class name.

    Returns:
        The label in ``range(len(class_names))``.

    Raises:
        ValueError: for an out-of-range index or an unknown/ambiguous name;
            the message lists the valid names.
    """
    names = _class_names_of(dataset_or_class_names)
    valid = ", ".join(f"{i}={n}" for i, n in enumerate(names))
    if isinstance(cls, (int, np.integer)) and not isinstance(cls, bool):
        idx = int(cls)
    elif isinstance(cls, str) and cls.strip().lstrip("+-").isdigit():
        idx = int(cls.strip())
    elif isinstance(cls, str):
        hits = _match_name(names, cls)
        if len(hits) == 1:
            return hits[0]
        what = "ambiguous" if hits else "unknown"
        raise ValueError(f"{what} class {cls!r}; valid classes: {valid}")
    else:
        raise ValueError(f"class must be an int or a name, got {cls!r}; valid classes: {valid}")
    if not 0 <= idx < len(names):
        raise ValueError(f"class index {idx} out of range 0..{len(names) - 1}; valid classes: {valid}")
    return idx
