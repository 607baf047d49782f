"""The dataset registry: one :class:`DatasetSpec` row per supported dataset.

Every per-dataset difference (file layout, classes, geometry, paper
preprocessing, where to look, where to download from) lives in this table;
the loaders are generic over it.
"""
from __future__ import annotations

from dataclasses import dataclass

from adcgan.data.errors import DataError


@dataclass(frozen=True)
class Resource:
    """One downloadable file with its mirrors and published checksum.

    Attributes:
        filename: Name of the file as stored in the dataset folder.
        urls: Mirrors, tried in order.
        md5: Published MD5 of the file (empty string: unknown).
        sha256: Published SHA256 (empty string: unknown).
        extract: True for an archive to unpack (tar.gz) after verification.
    """

    filename: str
    urls: tuple[str, ...]
    md5: str = ""
    sha256: str = ""
    extract: bool = False


@dataclass(frozen=True)
class DatasetSpec:
    """How to find, read and preprocess one dataset.

    Attributes:
        name: Registry name.
        display_name: Human-readable name used in reports.
        class_names: Names indexed by label (empty: inferred from subfolders).
        geometry: (H, W, C) after preprocessing (None: inferred / requested).
        format: ``"idx"``, ``"cifar-pickle"`` or ``"image-folders"``.
        paper_pad: Zero padding on each side before resizing back to
            ``geometry`` under ``preprocess="paper"`` (0: no padding).
        aliases: Usual folder names that may hold the files under a data dir.
        system_paths: Known system-wide install locations.
        shared_subdir: Name under a ``shared/data/`` folder (project CI copy).
        resources: Official downloads (empty: no download).
        apt_package: Debian package that installs the files, if any.
        expected: Human description of the files the folder must contain.
        test_fraction: For folders without train/test: seeded per-class split.
        split_seed: Seed of that split.
        flip_invariant: A horizontally mirrored image is as normal as the image (natural
            photos; not digits, and not Fashion-MNIST, whose shoes all face one way: the
            mirror asymmetry of the training-class mean image is 0.76 / 0.58 / 0.99 for
            Sandal / Sneaker / Ankle boot against 0.06-0.24 for the clothes): detectors may then
            average scores over both (``flip_average="auto"``).
    """

    name: str
    display_name: str
    class_names: tuple[str, ...]
    geometry: tuple[int, int, int] | None
    format: str
    paper_pad: int = 0
    aliases: tuple[str, ...] = ()
    system_paths: tuple[str, ...] = ()
    shared_subdir: str | None = None
    resources: tuple[Resource, ...] = ()
    apt_package: str | None = None
    expected: str = ""
    test_fraction: float = 0.2
    split_seed: int = 0
    flip_invariant: bool = False


IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/",
                 "https://storage.googleapis.com/cvdf-datasets/mnist/",
                 "http://yann.lecun.com/exdb/mnist/")
MNIST_MD5 = ("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
             "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c")
FMNIST_MIRRORS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)
FMNIST_MD5 = ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
              "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")
IDX_EXPECTED = "the four IDX files " + ", ".join(f"{f}.gz" for f in IDX_FILES) + " (gzip'd or raw)"


def _idx_resources(mirrors: tuple[str, ...], md5s: tuple[str, ...]) -> tuple[Resource, ...]:
    """Resources for the four IDX .gz files served from ``mirrors``."""
    return tuple(Resource(f"{f}.gz", tuple(m + f"{f}.gz" for m in mirrors), md5)
                 for f, md5 in zip(IDX_FILES, md5s))


DATASETS: dict[str, DatasetSpec] = {s.name: s for s in (
    DatasetSpec(
        "mnist", "MNIST", tuple(str(i) for i in range(10)), (28, 28, 1), "idx", paper_pad=4,
        aliases=("mnist", "MNIST", "MNIST/raw"), system_paths=("/usr/share/datasets/mnist",),
        shared_subdir="mnist", resources=_idx_resources(MNIST_MIRRORS, MNIST_MD5),
        expected=IDX_EXPECTED),
    DatasetSpec(
        "fashion-mnist", "Fashion-MNIST",
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"), (28, 28, 1), "idx", paper_pad=4,
        aliases=("fashion-mnist", "fashion_mnist", "FashionMNIST", "FashionMNIST/raw"),
        system_paths=("/usr/share/datasets/fashion-mnist",), shared_subdir="fashion-mnist",
        resources=_idx_resources(FMNIST_MIRRORS, FMNIST_MD5),
        apt_package="dataset-fashion-mnist", expected=IDX_EXPECTED),
    DatasetSpec(
        "cifar10", "CIFAR-10", CIFAR10_CLASSES, (32, 32, 3), "cifar-pickle", paper_pad=3,
        aliases=("cifar-10-batches-py", "cifar10", "cifar-10"), shared_subdir="cifar10",
        resources=(Resource("cifar-10-python.tar.gz",
                            ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
                            md5="c58f30108f718f92721af3b95e74349a", extract=True),),
        expected="the python batches data_batch_1..data_batch_5 and test_batch "
                 "(the cifar-10-batches-py folder of the official release)", flip_invariant=True),
    DatasetSpec(
        "cifar10-jpeg", "CIFAR-10 (JPEG q75 copy)", CIFAR10_CLASSES, (32, 32, 3),
        "image-folders", paper_pad=3, aliases=("cifar10-jpeg",), shared_subdir="cifar10-jpeg",
        expected="train/<class>/*.jpg and test/<class>/*.jpg for the ten CIFAR-10 classes", flip_invariant=True),
    DatasetSpec(
        "catsvsdogs", "CatsVsDogs", ("Cat", "Dog"), (64, 64, 3), "image-folders",
        aliases=("PetImages", "catsvsdogs", "kagglecatsanddogs_5340/PetImages"),
        shared_subdir="catsvsdogs",
        expected="Cat/ and Dog/ subfolders of JPEGs (the PetImages folder of "
                 "Microsoft's kagglecatsanddogs release)", flip_invariant=True),
    DatasetSpec(
        "cifar10-catdog", "CIFAR-10 cat & dog at 64x64 (a stand-in for CatsVsDogs)", ("cat", "dog"),
        (64, 64, 3), "image-folders", aliases=("cifar10-jpeg",), shared_subdir="cifar10-jpeg",
        expected="train/cat, train/dog, test/cat and test/dog of the CIFAR-10 JPEG copy (upscaled to 64x64)",
        flip_invariant=True),
    DatasetSpec(
        "folder", "Image folder", (), None, "image-folders",
        expected="one subfolder of images per class (optionally inside train/ and test/)"),
)}


def list_datasets() -> list[str]:
    """Names of all registered datasets."""
    return list(DATASETS)


def get_spec(name: str) -> DatasetSpec:
    """Look up a dataset by (case-insensitive) name.

    Raises:
        DataError: for an unknown name, listing the known ones.
    """
    key = name.strip().lower().replace("_", "-")
    key = {"fmnist": "fashion-mnist", "fashionmnist": "fashion-mnist",
           "cifar-10": "cifar10", "cats-vs-dogs": "catsvsdogs"}.get(key, key)
    if key not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}")
    return DATASETS[key]
