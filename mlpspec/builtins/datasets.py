"""Built-in datasets: MNIST and Fashion-MNIST (IDX, found or downloaded), any folder of IDX
files, a user's own arrays as .npz or .csv, and interleaved spirals generated in code."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from pydantic import ConfigDict, Field, field_validator

from mlpspec.core.errors import DataError
from mlpspec.core.files import first_file
from mlpspec.core.hookspec import hookimpl
from mlpspec.core.registry import Params
from mlpspec.data.checks import PARTS, check_label_shape
from mlpspec.data.dataset import DataContext, Dataset
from mlpspec.data.fetch import RemoteFile, find_or_fetch
from mlpspec.data.idx import read_idx
from mlpspec.data.npz import read_npz
from mlpspec.data.table import check_delimiter, read_table

IDX_NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

MNIST_FILES = [
    RemoteFile("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
    RemoteFile("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
    RemoteFile("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
    RemoteFile("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
]
MNIST_MIRRORS = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
]
FASHION_FILES = [
    RemoteFile("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
    RemoteFile("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
    RemoteFile("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
    RemoteFile("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
]
FASHION_MIRRORS = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
FASHION_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]


class DownloadParams(Params):
    mirrors: list[str] | None = None
    """Base URLs to download missing files from, tried in order (default: the public ones)."""


def _idx_dataset(
    paths: list[Path], classes: list[str], train_labels: np.ndarray | None = None
) -> Dataset:
    """The four IDX files as a dataset; ``train_labels``, when the caller has read them
    already (to count the classes), are not read again."""
    x_train, x_test, y_test = (read_idx(paths[i]) for i in (0, 2, 3))
    y_train = read_idx(paths[1]) if train_labels is None else train_labels
    return Dataset(
        x_train,
        y_train,
        x_test,
        y_test,
        classes,
        value_range=(0.0, 255.0),
        image_shape=tuple(x_train.shape[1:3]) if x_train.ndim == 3 else None,
        sources=dict(zip(PARTS, map(str, paths), strict=True)),
    )


def mnist(params: DownloadParams, ctx: DataContext) -> Dataset:
    """MNIST handwritten digits: 60,000 training and 10,000 test images, 28×28 grey levels."""
    found = find_or_fetch("mnist", MNIST_FILES, ctx, params.mirrors or MNIST_MIRRORS)
    return _idx_dataset([found[f.name] for f in MNIST_FILES], [str(d) for d in range(10)])


def fashion_mnist(params: DownloadParams, ctx: DataContext) -> Dataset:
    """Fashion-MNIST: 70,000 28×28 images of 10 kinds of clothing, MNIST's format and sizes."""
    found = find_or_fetch(
        "fashion-mnist",
        FASHION_FILES,
        ctx,
        params.mirrors or FASHION_MIRRORS,
        system_dirs=[Path("/usr/share/datasets")],
    )
    return _idx_dataset([found[f.name] for f in FASHION_FILES], FASHION_CLASSES)


class IdxParams(Params):
    model_config = ConfigDict(json_schema_extra={"examples": [{"path": "data/my-digits"}]})

    path: str
    """The folder holding the four files (relative to the spec's folder)."""
    train_images: str = IDX_NAMES[0]
    train_labels: str = IDX_NAMES[1]
    test_images: str = IDX_NAMES[2]
    test_labels: str = IDX_NAMES[3]


def idx(params: IdxParams, ctx: DataContext) -> Dataset:
    """Any folder of IDX files laid out like MNIST's (each file plain or .gz)."""
    folder = ctx.resolve(params.path)
    paths = []
    for name in (params.train_images, params.train_labels, params.test_images, params.test_labels):
        path = first_file([folder / name, folder / f"{name}.gz"])
        if path is None:
            raise DataError(f"{folder}: no file {name} (or {name}.gz)")
        paths.append(path)
    labels = read_idx(paths[1])
    check_label_shape(labels, str(paths[1]))
    if labels.dtype.kind not in "iu" or not labels.size:
        raise DataError(f"{paths[1]}: labels must be integer class indices ({labels.dtype})")
    count = int(labels.max()) + 1
    if count > labels.size:  # the class names are listed: a label of 2**31 must not list them
        raise DataError(
            f"{paths[1]}: labels go up to {count - 1:,}, for {labels.size:,} examples: class "
            "indices count from 0, one class per distinct value"
        )
    return _idx_dataset(paths, [str(c) for c in range(count)], labels)


def _encode_labels(
    y_train: np.ndarray, y_test: np.ndarray | None, where: tuple[str, str]
) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """Map arbitrary label values (numbers, text) to 0..K−1, keeping their sorted order as
    class names; ``where`` names the two label arrays in errors."""
    for labels, place in ((y_train, where[0]), (y_test, where[1])):
        if labels is None:
            continue
        check_label_shape(labels, place)
        if labels.dtype.kind not in "biufUS":
            raise DataError(f"{place}: labels must be numbers or text, not {labels.dtype}")
        if labels.dtype.kind == "f" and not np.all(np.isfinite(labels)):
            first = int(np.argmax(~np.isfinite(labels)))
            raise DataError(
                f"{place}: label [{first}] is {labels[first]}: every example needs a class"
            )
    if y_test is not None and (y_train.dtype.kind in "US") != (y_test.dtype.kind in "US"):
        raise DataError(
            f"{where[1]}: the test labels are {y_test.dtype}, the training labels "
            f"{y_train.dtype}: labels must be all text or all numbers"
        )
    if y_test is not None and y_test.size:
        values = np.unique(np.concatenate([y_train, y_test]))
    else:
        values = np.unique(y_train)
    if len(values) < 2:
        raise DataError(f"{where[0]}: the labels have fewer than two distinct values")
    encode = lambda y: np.searchsorted(values, y)  # noqa: E731
    classes = [str(v) for v in values.tolist()]
    return encode(y_train), None if y_test is None else encode(y_test), classes


class NpzParams(Params):
    model_config = ConfigDict(json_schema_extra={"examples": [{"path": "data/arrays.npz"}]})

    path: str
    x_train: str = "x_train"
    y_train: str = "y_train"
    x_test: str = "x_test"
    y_test: str = "y_test"


def npz(params: NpzParams, ctx: DataContext) -> Dataset:
    """Arrays from a .npz file: x_train, y_train and, if present, x_test, y_test.

    Only these arrays are read, and their sizes are checked before they are decompressed."""
    path = ctx.resolve(params.path)
    keys = (params.x_train, params.y_train, params.x_test, params.y_test)
    arrays = read_npz(path, what=".npz file", names=set(keys))
    for key in (params.x_train, params.y_train):
        if key not in arrays:
            raise DataError(f"{path}: no array named {key!r} (it has {', '.join(arrays)})")
    has_test = params.x_test in arrays and params.y_test in arrays
    places = {part: f"{path}, array {key!r}" for part, key in zip(PARTS, keys, strict=True)}
    y_train, y_test, classes = _encode_labels(
        arrays[params.y_train],
        arrays[params.y_test] if has_test else None,
        (places["y_train"], places["y_test"]),
    )
    return Dataset(
        arrays[params.x_train],
        y_train,
        arrays[params.x_test] if has_test else None,
        y_test,
        classes,
        sources=places,
    )


class CsvParams(Params):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"path": "train.csv", "label_column": -1}]}
    )

    path: str
    """The training rows."""
    test_path: str | None = None
    label_column: int = 0
    """Which column holds the label (negative counts from the end)."""
    delimiter: str = ","
    """One character that separates the values of a row."""
    header: bool = False
    """Whether the first line names the columns (and is skipped)."""

    @field_validator("delimiter")
    @classmethod
    def _one_character(cls, delimiter: str) -> str:
        return check_delimiter(delimiter)


def csv(params: CsvParams, ctx: DataContext) -> Dataset:
    """Rows of numbers from CSV files, one column of which is the label."""

    def load(name: str) -> tuple[np.ndarray, np.ndarray, str]:
        path = ctx.resolve(name)
        table = read_table(path, delimiter=params.delimiter, header=params.header).values
        columns = table.shape[1]
        if columns < 2:
            raise DataError(f"{path}: needs a label column and at least one feature column")
        if not -columns <= params.label_column < columns:
            raise DataError(
                f"{path}: label_column {params.label_column} is outside the table, which has "
                f"{columns} columns (0 to {columns - 1}, or -{columns} to -1 from the end)"
            )
        column = params.label_column % columns
        return np.delete(table, column, axis=1), table[:, column], str(path)

    x_train, y_train, train_path = load(params.path)
    x_test, y_test, test_path = load(params.test_path) if params.test_path else (None, None, "")
    y_train, y_test, classes = _encode_labels(y_train, y_test, (train_path, test_path))
    sources = {"x_train": train_path, "y_train": train_path}
    if test_path:
        sources |= {"x_test": test_path, "y_test": test_path}
    return Dataset(x_train, y_train, x_test, y_test, classes, sources=sources)


class SpiralParams(Params):
    classes: int = Field(2, ge=2, le=100)
    points: int = Field(500, gt=0, le=1_000_000)
    """Training points per class (the test set has a fifth as many)."""
    turns: float = Field(1.5, gt=0, le=10)
    noise: float = Field(0.1, ge=0, le=10)
    seed: int = Field(0, ge=0)


def spirals(params: SpiralParams, ctx: DataContext) -> Dataset:
    """Interleaved spiral arms in the plane, one per class: needs no files at all."""
    rng = np.random.default_rng(params.seed)

    def draw(per_class: int) -> tuple[np.ndarray, np.ndarray]:
        radius = np.sqrt(rng.random((params.classes, per_class)))
        arm = np.arange(params.classes)[:, None] * (2 * math.pi / params.classes)
        angle = arm + radius * params.turns * 2 * math.pi
        x = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=-1).reshape(-1, 2)
        x += rng.normal(scale=params.noise * 0.1, size=x.shape)
        order = rng.permutation(len(x))  # mixed classes, so any held-out tail has them all
        return x[order], np.repeat(np.arange(params.classes), per_class)[order]

    x_train, y_train = draw(params.points)
    x_test, y_test = draw(max(params.points // 5, 1))
    return Dataset(x_train, y_train, x_test, y_test, [f"arm {k}" for k in range(params.classes)])


@hookimpl
def mlpspec_register_datasets(register) -> None:
    register("mnist", mnist, DownloadParams)
    register("fashion_mnist", fashion_mnist, DownloadParams)
    register("idx", idx, IdxParams)
    register("npz", npz, NpzParams)
    register("csv", csv, CsvParams)
    register("spirals", spirals, SpiralParams)
