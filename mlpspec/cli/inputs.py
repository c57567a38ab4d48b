"""New inputs for ``mlpspec predict``: rows of a .npy, .npz or .csv file, or images.

Values are raw, in the dataset's own units (0–255 pixels for MNIST); the run's preprocessing
is applied afterwards, as in training. An image is read as greyscale, resized to the
dataset's image shape if needed and, by default, inverted: a digit drawn dark on light
becomes light on dark, as MNIST stores it.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlpspec.core.errors import DataError
from mlpspec.core.files import FileProblem, open_regular
from mlpspec.data.checks import first_non_finite
from mlpspec.data.npz import array_names, read_npy, read_npz
from mlpspec.data.table import read_table

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff")


MAX_IMAGE_PIXELS = 50_000_000
"""The largest image read (Pillow warns of decompression bombs from 89 Mpx): a digit to
classify needs a few thousand pixels, and a bigger image is decoded whole before resizing."""


@dataclass
class Inputs:
    """Raw rows and a name for each (``digits.npy[3]``, ``rows.csv:4``, ``seven.png``)."""

    names: list[str]
    rows: np.ndarray


def read_inputs(
    paths: Sequence[Path],
    features: int,
    image_shape: tuple[int, int] | None,
    invert: bool = True,
) -> Inputs:
    """Every row of every file, checked against the model's number of ``features``, and
    refused, naming the row, if it holds a value that is not a finite number."""
    names: list[str] = []
    blocks: list[np.ndarray] = []
    for path in map(Path, paths):
        suffix = path.suffix.lower()
        if suffix in IMAGE_SUFFIXES:
            if image_shape is None:
                raise DataError(f"{path}: this run's dataset is not made of images")
            block = read_image(path, image_shape, invert).reshape(1, -1)
            labels = [path.name]
        elif suffix == ".csv":
            table = read_table(path, header=None)
            block, labels = table.values, [f"{path.name}:{line}" for line in table.lines]
        else:
            block = _rows(_read_array(path, suffix), features, path)
            labels = [f"{path.name}[{i}]" for i in range(len(block))]
        if block.shape[1] != features:
            raise DataError(
                f"{path}: {block.shape[1]} values per example, but the model takes {features}"
            )
        block = block.astype(np.float64)
        check_rows(block, labels, "inputs must be finite numbers (no NaN or infinity)")
        names += labels
        blocks.append(block)
    return Inputs(names, np.concatenate(blocks) if blocks else np.zeros((0, features)))


def check_rows(
    rows: np.ndarray, names: Sequence[str], why: str, what: str = "value {} of the row"
) -> None:
    """Raise a :class:`DataError` naming the first row (by ``names``) and column (``what``,
    numbered from 1) that holds a value that is not finite, and ``why`` that matters."""
    at = first_non_finite(rows)
    if at is not None:
        row, column = at
        raise DataError(
            f"{names[row]}: {what.format(column + 1)} is {rows[row, column]}; {why}"
        )


def read_image(path: Path, shape: tuple[int, int], invert: bool = True) -> np.ndarray:
    """A greyscale image as 0–255 values of ``shape`` (rows, columns).

    Only a still image of at most :data:`MAX_IMAGE_PIXELS` is decoded: the size is read from
    the header first, so a decompression bomb costs nothing; an animated image is refused
    rather than read as its first frame without a word."""
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise DataError(
            "reading images needs Pillow, which comes with the plot extra: "
            "pip install 'mlpspec[plot]'"
        ) from None
    try:
        handle = open_regular(path)
    except FileProblem as exc:
        raise DataError(f"{path}: {exc}") from None
    try:
        with handle, warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(handle) as image:
                width, height = image.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise Image.DecompressionBombError(f"{width}×{height} pixels")
                frames = getattr(image, "n_frames", 1)
                if frames > 1:
                    raise DataError(
                        f"{path}: an animated image of {frames} frames; save the frame to "
                        "classify as an image of its own"
                    )
                grey = image.convert("L")
                if grey.size != (shape[1], shape[0]):
                    grey = grey.resize((shape[1], shape[0]), Image.Resampling.LANCZOS)
                pixels = np.asarray(grey, dtype=np.float64)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DataError(
            f"{path}: an image this large is not read (more than {MAX_IMAGE_PIXELS:,} pixels: "
            f"a decompression bomb?); the model takes {shape[1]}×{shape[0]} images"
        ) from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable image ({exc})") from None
    return 255.0 - pixels if invert else pixels


def _read_array(path: Path, suffix: str) -> np.ndarray:
    """The array of a ``.npy`` file, or of an ``.npz`` file's only (or ``x``) array: only that
    one is read, its size checked before it is decompressed."""
    if suffix == ".npy":
        return read_npy(path)
    if suffix == ".npz":
        names = array_names(path)
        if len(names) != 1 and "x" not in names:
            raise DataError(
                f"{path}: holds {', '.join(names) or 'no arrays'}; name the inputs 'x' "
                "or save them alone"
            )
        key = names[0] if len(names) == 1 else "x"
        return read_npz(path, what=".npz file", names={key})[key]
    raise DataError(f"{path}: unknown kind of file; use .npy, .npz, .csv or an image")


def _rows(array: np.ndarray, features: int, path: Path) -> np.ndarray:
    """One example (a row or an image) or many, as a 2-D array of rows."""
    if array.dtype.kind not in "iuf":
        raise DataError(f"{path}: holds {array.dtype} values, not real numbers")
    if array.size == 0:
        raise DataError(f"{path}: holds no values (shape {array.shape})")
    if array.size == features:
        return array.reshape(1, features)
    if array.ndim >= 2:
        return array.reshape(len(array), -1)
    raise DataError(f"{path}: {array.size} values, but the model takes {features} per example")
