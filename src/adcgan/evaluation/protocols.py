"""Anomaly-detection protocols: which images are normal, trained on, and tested.

Pure functions over label arrays; label 1 means anomaly in ``y_test``.

Schemes:
    * ``one-vs-all`` (c): normal = {c}, anomalous = every other class.
    * ``all-vs-one`` (c): anomalous = {c}, normal = every other class.
    * ``cats-vs-dogs`` (c): a 2-class dataset, normal = c, anomalous = the other.

Test sets:
    * ``standard``: the test split only.
    * ``paper`` (as the paper's released code): normal test images from the
      test split; anomalies from BOTH the test split and the train split (the
      train-split anomalies are never trained on: training uses normal classes).
    * ``holdout`` (the development protocol): the test split is never read. A seeded
      :data:`HOLDOUT_FRACTION` of the normal training images is held out of training; the
      evaluation set is those images plus a seeded stratified sample of the other classes'
      training images, as many per normal image as the balanced test split would hold.

Validation: ``n_val = floor(n_normal_train * val_fraction + 0.5)`` (round half
up) normal training images, chosen by ``np.random.default_rng(seed)``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SCHEMES = ("one-vs-all", "all-vs-one", "cats-vs-dogs")
TEST_SETS = ("standard", "paper", "holdout")
HOLDOUT_FRACTION = 0.2
"""Share of the normal training images the ``holdout`` test set evaluates on (never trained on)."""
PAPER_EPOCHS = {"all-vs-one": (35, 15)}
"""(epochs, warm-up) per scheme under the paper's Appendix A.3; every other scheme: :data:`PAPER_DEFAULT_EPOCHS`."""
PAPER_DEFAULT_EPOCHS = (15, 5)


def paper_epochs(scheme: str) -> tuple[int, int]:
    """The paper's (epochs, warm-up epochs) for ``scheme`` (Appendix A.3).

    Args:
        scheme: One of :data:`SCHEMES` (any other name gets the default budget).

    Returns:
        ``(35, 15)`` for ``all-vs-one``, ``(15, 5)`` otherwise.
    """
    return PAPER_EPOCHS.get(scheme, PAPER_DEFAULT_EPOCHS)


@dataclass(frozen=True)
class ProtocolSplit:
    """Index sets of one protocol instance.

    Attributes:
        train_idx: Indices into the TRAIN split: normal training images (validation removed).
        val_idx: Indices into the TRAIN split: held-out normal validation images.
        test_idx: Indices into the TEST split used in the test set.
        test_from_train_idx: Indices into the TRAIN split used as test anomalies
            (``paper`` test set), else empty.
        y_test: 0/1 labels of ``concat(test_idx, test_from_train_idx)``, in that order.
        normal_classes: The normal class labels.
        description: e.g. ``"one-vs-all: normal = 1; test set = standard"``.
    """

    train_idx: np.ndarray
    val_idx: np.ndarray
    test_idx: np.ndarray
    test_from_train_idx: np.ndarray
    y_test: np.ndarray
    normal_classes: tuple[int, ...]
    description: str

    @property
    def n_test(self) -> int:
        """Total number of test images."""
        return int(self.y_test.shape[0])


def normal_classes(scheme: str, cls: int, n_classes: int) -> tuple[int, ...]:
    """The normal classes of ``scheme`` with selected class ``cls``.

    Raises:
        ValueError: for an unknown scheme, a class out of range, or
            ``cats-vs-dogs`` with a number of classes other than 2.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
    if scheme == "cats-vs-dogs" and n_classes != 2:
        raise ValueError(f"scheme 'cats-vs-dogs' needs a dataset with 2 classes, got {n_classes}")
    if isinstance(cls, bool) or not isinstance(cls, (int, np.integer)) or not 0 <= cls < n_classes:
        raise ValueError(f"class {cls!r} out of range 0..{n_classes - 1}")
    if scheme == "all-vs-one":
        return tuple(c for c in range(n_classes) if c != cls)
    return (int(cls),)


def _split_validation(idx: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (train, val) split of ``idx``; both sorted."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    n_val = int(np.floor(len(idx) * val_fraction + 0.5))
    perm = np.random.default_rng(seed).permutation(len(idx))
    return np.sort(idx[perm[n_val:]]), np.sort(idx[perm[:n_val]])


def _describe(scheme: str, cls: int, test_set: str,
              class_names: list[str] | None) -> str:
    """Human-readable description of a protocol instance."""
    name = f" ({class_names[cls]})" if class_names else ""
    role = "anomalous" if scheme == "all-vs-one" else "normal"
    return f"{scheme}: {role} = {cls}{name}; test set = {test_set}"


def make_split(train_labels: np.ndarray, test_labels: np.ndarray | None, scheme: str, cls: int,
               test_set: str = "standard", val_fraction: float = 0.1, seed: int = 0,
               n_classes: int | None = None, class_names: list[str] | None = None) -> ProtocolSplit:
    """Build the index sets of a protocol.

    Args:
        train_labels: Class labels of the train split.
        test_labels: Class labels of the test split (not used by ``holdout``: may be ``None``).
        scheme: One of :data:`SCHEMES`.
        cls: The selected class (normal for one-vs-all / cats-vs-dogs,
            anomalous for all-vs-one).
        test_set: One of :data:`TEST_SETS`.
        val_fraction: Share of normal training images held out for validation.
        seed: Seed of the validation split.
        n_classes: Number of classes (default: max label + 1).
        class_names: Optional names, used in the description only.

    Raises:
        ValueError: for unknown scheme/test set, a class out of range, or
            cats-vs-dogs on a dataset without exactly 2 classes.
    """
    if test_set not in TEST_SETS:
        raise ValueError(f"unknown test set {test_set!r}; choose one of {', '.join(TEST_SETS)}")
    train_labels = np.asarray(train_labels)
    test_labels = np.asarray(test_labels if test_set != "holdout" else [], dtype=np.int64)
    if n_classes is None:
        n_classes = int(max(train_labels.max(initial=-1), test_labels.max(initial=-1))) + 1
    normal = normal_classes(scheme, cls, n_classes)
    train_normal = np.isin(train_labels, normal)
    describe = _describe(scheme, int(cls), test_set, class_names)
    if test_set == "holdout":
        return _holdout_split(train_labels, train_normal, normal, n_classes, val_fraction, seed, describe)
    train_idx, val_idx = _split_validation(np.flatnonzero(train_normal), val_fraction, seed)
    test_idx = np.arange(len(test_labels))
    from_train = np.flatnonzero(~train_normal) if test_set == "paper" else np.empty(0, np.int64)
    y_test = np.concatenate([(~np.isin(test_labels, normal)).astype(np.int64),
                             np.ones(len(from_train), np.int64)])
    return ProtocolSplit(train_idx.astype(np.int64), val_idx.astype(np.int64), test_idx.astype(np.int64),
                         from_train.astype(np.int64), y_test, normal, describe)


def _holdout_split(train_labels: np.ndarray, train_normal: np.ndarray, normal: tuple[int, ...], n_classes: int,
                   val_fraction: float, seed: int, description: str) -> ProtocolSplit:
    """The ``holdout`` test set: every index points into the TRAIN split; ``test_idx`` is empty.

    ``round(HOLDOUT_FRACTION * n_normal)`` seeded normal images are held out (the rest is split into
    train and validation as usual); ``round(n_held * n_anomalous_classes / n_normal_classes)`` anomalies
    are drawn, stratified by class, from the other classes' training images.
    """
    normal_idx = np.flatnonzero(train_normal)
    n_held = int(np.floor(len(normal_idx) * HOLDOUT_FRACTION + 0.5))
    perm = np.random.default_rng([seed, 1]).permutation(len(normal_idx))  # a draw of its own, not the val split's
    held, rest = np.sort(normal_idx[perm[:n_held]]), np.sort(normal_idx[perm[n_held:]])
    train_idx, val_idx = _split_validation(rest, val_fraction, seed)
    pool = np.flatnonzero(~train_normal)
    n_anom = int(np.floor(n_held * (n_classes - len(normal)) / len(normal) + 0.5))
    anomalies = pool[subsample_stratified(train_labels[pool], min(n_anom, len(pool)), seed)]
    y_test = np.concatenate([np.zeros(len(held), np.int64), np.ones(len(anomalies), np.int64)])
    return ProtocolSplit(train_idx.astype(np.int64), val_idx.astype(np.int64), np.empty(0, np.int64),
                         np.concatenate([held, anomalies]).astype(np.int64), y_test, normal,
                         description + "; evaluated on held-out training images (test split not read)")


def _allocate(counts: np.ndarray, n: int) -> np.ndarray:
    """Per-class sample sizes summing to ``n`` (< counts.sum()).

    Proportional with largest-remainder rounding, at least one per class when
    ``n`` allows, never more than a class holds.
    """
    ideal = counts * n / counts.sum()
    take = np.floor(ideal).astype(np.int64)
    if n >= len(counts):
        take = np.maximum(take, 1)
    rem = ideal - take
    while take.sum() < n:  # hand out the remainder by largest fractional part
        k = int(np.argmax(np.where(take < counts, rem, -np.inf)))
        take[k], rem[k] = take[k] + 1, rem[k] - 1
    while take.sum() > n:  # the minimum-one bumps overshot: trim the most over-served class
        k = int(np.argmin(np.where(take > 1, rem, np.inf)))
        take[k], rem[k] = take[k] - 1, rem[k] + 1
    return take


def subsample_stratified(y: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Sorted indices of a seeded stratified subset of ``y`` of size ``n``.

    Keeps the class ratio (largest-remainder rounding) and at least one
    example of each class when ``n >= number of classes``. ``n >= len(y)``
    returns every index.

    Raises:
        ValueError: for a negative ``n``.
    """
    y = np.asarray(y)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if n >= len(y):
        return np.arange(len(y))
    classes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    take = _allocate(counts, n)
    rng = np.random.default_rng(seed)
    chosen = [rng.choice(np.flatnonzero(inverse == k), size=int(t), replace=False)
              for k, t in enumerate(take)]
    return np.sort(np.concatenate(chosen)).astype(np.int64)
