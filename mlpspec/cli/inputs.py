"""New inputs for ``mlpspec predict``: rows of a .npy, .npz or .csv file, or images.

Values are raw, in the dataset's own units (0–255 pixels for MNIST); the run's preprocessing
is applied afterwards, as in training. An image is read as greyscale, resized to the
dataset's image shape if needed and, by default, inverted: a digit drawn dark on light
becomes light on dark, as MNIST stores it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlpspec.core.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff")


@dataclass
class Inputs:
    """Raw rows and a name for each (``digits.npy[3]``, ``seven.png``)."""

    names: list[str]
    rows: np.ndarray


def read_inputs(
    paths: Sequence[Path],
    features: int,
    image_shape: tuple[int, int] | None,
    invert: bool = True,
) -> Inputs:
    """Every row of every file, checked against the model's number of ``features``."""
    names: list[str] = []
    blocks: list[np.ndarray] = []
    for path in map(Path, paths):
        if not path.is_file():
            raise DataError(f"{path}: no such file")
        suffix = path.suffix.lower()
        if suffix in IMAGE_SUFFIXES:
            if image_shape is None:
                raise DataError(f"{path}: this run's dataset is not made of images")
            block = read_image(path, image_shape, invert).reshape(1, -1)
            names.append(path.name)
        else:
            block = _rows(_read_array(path, suffix), features, path)
            names += [f"{path.name}[{i}]" for i in range(len(block))]
        if block.shape[1] != features:
            raise DataError(
                f"{path}: {block.shape[1]} values per example, but the model takes {features}"
            )
        blocks.append(block.astype(np.float64))
    return Inputs(names, np.concatenate(blocks) if blocks else np.zeros((0, features)))


def read_image(path: Path, shape: tuple[int, int], invert: bool = True) -> np.ndarray:
    """A greyscale image as 0–255 values of ``shape`` (rows, columns)."""
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise DataError(
            "reading images needs Pillow, which comes with the plot extra: "
            "pip install 'mlpspec[plot]'"
        ) from None
    try:
        with Image.open(path) as image:
            grey = image.convert("L")
            if grey.size != (shape[1], shape[0]):
                grey = grey.resize((shape[1], shape[0]), Image.Resampling.LANCZOS)
            pixels = np.asarray(grey, dtype=np.float64)
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"{path}: not a readable image ({exc})") from None
    return 255.0 - pixels if invert else pixels


def _read_array(path: Path, suffix: str) -> np.ndarray:
    try:
        if suffix == ".npy":
            return np.load(path, allow_pickle=False)
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                if len(archive.files) == 1:
                    return archive[archive.files[0]]
                if "x" in archive.files:
                    return archive["x"]
                raise DataError(
                    f"{path}: holds {', '.join(archive.files)}; name the inputs 'x' "
                    "or save them alone"
                )
        if suffix == ".csv":
            return _read_csv(path)
    except DataError:
        raise
    except Exception as exc:  # format errors of every kind, and pickle refusals
        raise DataError(f"{path}: not readable as {suffix} ({exc})") from None
    raise DataError(f"{path}: unknown kind of file; use .npy, .npz, .csv or an image")


def _read_csv(path: Path) -> np.ndarray:
    """Numbers separated by commas, one example a line; a header line is skipped."""
    try:
        return np.loadtxt(path, delimiter=",", ndmin=2)
    except ValueError:
        return np.loadtxt(path, delimiter=",", ndmin=2, skiprows=1)


def _rows(array: np.ndarray, features: int, path: Path) -> np.ndarray:
    """One example (a row or an image) or many, as a 2-D array of rows."""
    if not np.issubdtype(array.dtype, np.number):
        raise DataError(f"{path}: holds {array.dtype} values, not numbers")
    if array.size == features:
        return array.reshape(1, features)
    if array.ndim >= 2:
        return array.reshape(len(array), -1)
    raise DataError(f"{path}: {array.size} values, but the model takes {features} per example")
