"""From a dataset's raw arrays to what training reads: flat rows of the model's dtype,
preprocessed, with a validation set held out of the training set."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mlpspec.core.errors import DataError
from mlpspec.data.checks import check_dataset, check_finite, describe
from mlpspec.data.dataset import Dataset

Array = np.ndarray


@dataclass
class Splits:
    """Training, validation and test sets, ready for the network."""

    x_train: Array
    y_train: Array
    x_val: Array | None
    y_val: Array | None
    x_test: Array | None
    y_test: Array | None
    classes: Sequence[str]
    image_shape: tuple[int, int] | None
    preprocessing: dict[str, float | str]
    """The preprocessing and the training-set statistics it used (see :func:`statistics`),
    saved with a run so that new inputs are scaled exactly as the training data was."""

    @property
    def features(self) -> int:
        return self.x_train.shape[1]


def prepare(
    dataset: Dataset,
    *,
    preprocess: str,
    validation: int | float | None,
    dtype: np.dtype,
    name: str = "the dataset",
) -> Splits:
    """Check (:func:`~mlpspec.data.checks.check_dataset`), flatten, hold out the last
    ``validation`` training examples, and preprocess; ``name`` names the dataset in errors.

    Statistics (mean, std, range) come from the training part only, and are applied unchanged
    to the validation and test sets.
    """
    dataset = check_dataset(dataset, name)
    x, y = dataset.x_train.reshape(len(dataset.x_train), -1), dataset.y_train
    held = held_out(validation, len(x))
    if held >= len(x):
        raise DataError(
            f"data.validation holds out {held} examples, but the training set has only {len(x)}"
        )
    cut = len(x) - held
    preprocessing = statistics(preprocess, x[:cut], dataset.value_range)

    def ready(rows: Array | None, part: str, offset: int = 0) -> Array | None:
        """The rows preprocessed, in ``dtype``: a value that is finite in the data but not
        after scaling into ``dtype`` (1e300 in float32) is refused here, not in training."""
        if rows is None:
            return None
        done = preprocess_rows(rows, preprocessing, dtype)
        check_finite(
            done,
            describe(dataset, part, name),
            f"after preprocessing ({preprocess}) in {np.dtype(dtype).name}, beyond its range: "
            "scale the data, or use model.dtype = \"float64\"",
            offset,
        )
        return done

    return Splits(
        x_train=ready(x[:cut], "x_train"),
        y_train=_labels(y[:cut]),
        x_val=ready(x[cut:], "x_train", cut) if held else None,
        y_val=_labels(y[cut:]) if held else None,
        x_test=ready(dataset.x_test, "x_test"),
        y_test=None if dataset.y_test is None else _labels(dataset.y_test),
        classes=list(dataset.classes),
        image_shape=dataset.image_shape,
        preprocessing=preprocessing,
    )


def held_out(validation: int | float | None, examples: int) -> int:
    """How many of ``examples`` training rows ``data.validation`` holds out: a count as
    given, a fraction of the rows rounded."""
    return round(validation * examples) if isinstance(validation, float) else int(validation or 0)


def _labels(y: Array) -> Array:
    return np.asarray(y, dtype=np.int64)


def statistics(
    name: str, x_train: Array, value_range: tuple[float, float] | None
) -> dict[str, float | str]:
    """What preprocessing ``name`` needs to know of the training set, as plain numbers."""
    if name == "none":
        return {"name": name}
    if name == "standardize":
        # one scalar mean and std over all training values, as document 004 does
        mean, std = moments(x_train)
        return {"name": name, "mean": mean, "std": std or 1.0}
    if name in ("scale", "scale_symmetric"):
        low, high = (
            value_range if value_range is not None else (float(x_train.min()), float(x_train.max()))
        )
        return {"name": name, "low": float(low), "high": float(high)}
    raise ValueError(f"unknown preprocessing {name!r}")


STATISTICS_PIECE = 1 << 18
"""Values taken at a time for a training set's statistics: temporaries of at most 2 MB."""


def moments(x: Array) -> tuple[float, float]:
    """The mean and the (population) standard deviation of every value of ``x``, in float64.

    ``np.std`` would first build ``x − mean`` in float64, a copy at 8 bytes a value (345 MB
    for MNIST's training images, and most of a second spent faulting its pages in); here the
    values are taken a piece at a time. Integers of 16 bits or fewer, which image data
    mostly is, are counted instead: the moments of at most 65,536 distinct values, summed
    exactly (``math.fsum``). Other data takes two passes, the mean and then the squared
    deviations from it, so that nothing cancels.
    """
    flat = x.reshape(-1)
    pieces = [
        flat[start : start + STATISTICS_PIECE] for start in range(0, flat.size, STATISTICS_PIECE)
    ]
    if flat.dtype.kind in "iu" and flat.dtype.itemsize <= 2:
        # count bit patterns (the unsigned view), then read each pattern as the dtype's value
        unsigned = np.dtype(f"u{flat.dtype.itemsize}")
        patterns = 1 << (8 * flat.dtype.itemsize)
        counts = np.zeros(patterns, np.int64)
        for piece in pieces:
            counts += np.bincount(piece.view(unsigned), minlength=patterns)
        seen = np.flatnonzero(counts)
        values = np.arange(patterns, dtype=unsigned)[seen].view(flat.dtype).astype(np.float64)
        weights = counts[seen].astype(np.float64)
        mean = math.fsum(weights * values) / flat.size
        return mean, math.sqrt(math.fsum(weights * (values - mean) ** 2) / flat.size)
    mean = math.fsum(float(np.sum(piece, dtype=np.float64)) for piece in pieces) / flat.size
    squares = 0.0
    for piece in pieces:
        deviation = np.subtract(piece, mean, dtype=np.float64)
        squares += float(np.sum(np.square(deviation, out=deviation)))
    return mean, math.sqrt(squares / flat.size)


def preprocess_rows(rows: Array, preprocessing: dict[str, float | str], dtype: np.dtype) -> Array:
    """Flatten ``rows`` and scale them as :func:`statistics` describes, in ``dtype``: the one
    path by which training, validation, test and new inputs (``mlpspec predict``) pass.

    The rows are copied once, into the model's dtype, and scaled there in place, so the peak
    memory is one copy of the data (statistics are float64, from the raw training rows).
    """
    shift, scale = shift_and_scale(preprocessing)
    # a value beyond dtype's range becomes inf here, quietly: callers check for it and name it
    with np.errstate(over="ignore", invalid="ignore"):
        flat = np.array(rows.reshape(len(rows), math.prod(rows.shape[1:])), dtype=dtype, order="C")
        if shift:
            flat -= shift
        if scale != 1:
            flat /= scale
    return flat


def shift_and_scale(stats: dict[str, float | str]) -> tuple[float, float]:
    """Every preprocessing is (x − shift) / scale, in the model's dtype here and in an
    exported ONNX graph alike; ``ValueError`` names what is wrong with
    statistics that do not describe one (a run folder's summary.json, damaged)."""
    name = stats.get("name")
    if name == "none":
        return 0.0, 1.0
    if name == "standardize":
        mean, std = _number(stats, "mean"), _number(stats, "std")
        if std <= 0:
            raise ValueError(f"std must be above 0, got {std}")
        return mean, std
    if name not in ("scale", "scale_symmetric"):
        raise ValueError(f"unknown preprocessing {name!r}")
    low, high = _number(stats, "low"), _number(stats, "high")
    if high < low:
        raise ValueError(f"high ({high}) is below low ({low})")
    span = (high - low) or 1.0
    if name == "scale":
        return low, span
    return low + span / 2, span / 2  # (x − low)/span·2 − 1 = (x − (low + span/2)) / (span/2)


def _number(stats: dict[str, float | str], key: str) -> float:
    value = stats.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{key} must be a finite number, got {value!r:.40}")
    return float(value)
