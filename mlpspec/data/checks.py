"""The one check every dataset passes before anything trains on it, built-in or plugin.

A dataset component returns raw arrays (:class:`~mlpspec.data.dataset.Dataset`); whatever
file or code they came from, they are checked here, once, in the shared data path:

- features are real numbers (booleans, integers or floats: not complex numbers, strings,
  Python objects, dates), finite (no NaN, no infinity), with at least one value per example;
- labels are one integer class index per example (a 1-D array: not a column ``(N, 1)``, not
  floats), from 0 to the number of classes − 1;
- the test set, when there is one, has as many values per example as the training set;
- no split is empty (an empty test set is refused here, not after training);
- ``image_shape`` and ``value_range``, when given, fit the data.

Each refusal is a :class:`~mlpspec.core.errors.DataError` naming the file the array came from
(``Dataset.sources``), or else the dataset and the part (``dataset 'acme.digits', training
labels``), and the place in the array (``[5, 12]``). Without this, a label file of shape
``(N, 1)`` trains to "700 % accuracy" by broadcasting, and a NaN in the data is reported as a
learning rate that is too high.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from mlpspec.core.errors import DataError
from mlpspec.data.dataset import Dataset

Array = np.ndarray

PARTS = {
    "x_train": "training examples",
    "y_train": "training labels",
    "x_test": "test examples",
    "y_test": "test labels",
}
_KINDS = {
    "c": "complex numbers",
    "U": "text",
    "S": "bytes",
    "O": "Python objects",
    "M": "dates",
    "m": "time spans",
    "V": "records",
}
_CHUNK = 4096
"""Rows checked for finite values at a time: the check's memory stays small on large sets."""


def check_dataset(dataset: Dataset, name: str = "the dataset") -> Dataset:
    """``dataset`` with its arrays as numpy arrays, once every rule above holds; ``name``
    (``dataset 'mnist'``) names the arrays that ``dataset.sources`` does not."""

    def where(part: str) -> str:
        return describe(dataset, part, name)

    if dataset.x_train is None or dataset.y_train is None:
        raise DataError(f"{name}: has no training examples or labels (x_train, y_train)")
    if (dataset.x_test is None) != (dataset.y_test is None):
        given, missing = ("x_test", "y_test") if dataset.y_test is None else ("y_test", "x_test")
        raise DataError(
            f"{name}: has {given} but no {missing}: give both, or neither for no test set"
        )
    classes = list(dataset.classes)
    if not classes:
        raise DataError(f"{name}: has no classes")
    arrays = {}
    for part in ("x_train", "y_train", "x_test", "y_test"):
        value = getattr(dataset, part)
        if value is not None:
            arrays[part] = _array(value, where(part))
    features = _check_features(arrays["x_train"], where("x_train"), "training")
    _check_labels(arrays["y_train"], len(arrays["x_train"]), len(classes), where("y_train"))
    if "x_test" in arrays:
        test_features = _check_features(arrays["x_test"], where("x_test"), "test")
        if test_features != features:
            raise DataError(
                f"{where('x_test')}: {_values(test_features)} per example, but the training "
                f"examples ({where('x_train')}) have {features}: the test set must have as "
                "many"
            )
        _check_labels(arrays["y_test"], len(arrays["x_test"]), len(classes), where("y_test"))
    _check_image_shape(dataset.image_shape, features, name)
    _check_value_range(dataset.value_range, name)
    return dataclasses.replace(dataset, **arrays, classes=classes)


def describe(dataset: Dataset, part: str, name: str) -> str:
    """Where a part (``x_train``...) of ``dataset`` came from: its file, else the dataset's
    ``name`` and the part."""
    return dataset.sources.get(part) or f"{name}, {PARTS[part]}"


def _array(value: object, where: str) -> Array:
    try:
        return np.asarray(value)
    except (ValueError, TypeError):  # a ragged list, or something that is no array at all
        raise DataError(f"{where}: not an array (rows of unequal length?)") from None


def _values(count: int) -> str:
    return f"{count:,} value{'s' if count != 1 else ''}"


def _check_features(x: Array, where: str, split: str) -> int:
    """Raise unless ``x`` holds finite real numbers, one example per row; its width."""
    kind = _KINDS.get(x.dtype.kind)
    if kind is not None:
        raise DataError(f"{where}: holds {kind} ({x.dtype}); features must be real numbers")
    if x.ndim == 0:
        raise DataError(f"{where}: a single value; features need one example per row")
    if len(x) == 0:
        hint = "" if split == "training" else ": leave the test set out for none"
        raise DataError(f"{where}: the {split} set is empty{hint}")
    features = math.prod(x.shape[1:])
    if features == 0:
        raise DataError(f"{where}: the examples have no values (shape {x.shape})")
    check_finite(x, where, "features must be finite numbers (no NaN or infinity)")
    return features


def check_finite(x: Array, where: str, why: str, offset: int = 0) -> None:
    """Raise, naming the first place and ``why`` it matters, unless ``x`` is all finite;
    ``x``'s rows are rows ``offset``... of the array ``where`` names."""
    at = first_non_finite(x)
    if at is not None:
        place = (offset + at[0], *at[1:])
        raise DataError(f"{where}: the value at {list(place)} is {x[at]}; {why}")


def first_non_finite(x: Array) -> tuple[int, ...] | None:
    """The index of the first NaN or infinity in ``x`` (rows first), or None. Checked a chunk
    of rows at a time, so that a large array never needs a mask of its own size."""
    if x.dtype.kind not in "fc":
        return None
    for start in range(0, len(x), _CHUNK):
        finite = np.isfinite(x[start : start + _CHUNK])
        if not finite.all():
            place = tuple(int(i) for i in np.argwhere(~finite)[0])
            return (start + place[0], *place[1:])
    return None


def _check_labels(y: Array, examples: int, classes: int, where: str) -> None:
    """Raise unless ``y`` is one integer class index in ``0..classes − 1`` per example."""
    check_label_shape(y, where)
    if y.dtype.kind not in "iu":
        kind = _KINDS.get(y.dtype.kind, f"{y.dtype} values")
        raise DataError(
            f"{where}: labels must be integer class indices from 0, but they are {kind}"
        )
    if len(y) != examples:
        raise DataError(f"{where}: {len(y):,} labels for {examples:,} examples")
    outside = (y < 0) | (y >= classes)
    if outside.any():
        first = int(np.argmax(outside))
        raise DataError(
            f"{where}: label [{first}] is {y[first]}, outside the {classes} classes "
            f"(0..{classes - 1})"
        )


def check_label_shape(y: Array, where: str) -> None:
    """Raise unless ``y`` is 1-D: one label per example (a column of them is refused, since
    it would broadcast against the predictions)."""
    if y.ndim != 1:
        hint = " (a column: flatten it)" if y.ndim == 2 and y.shape[1] == 1 else ""
        raise DataError(
            f"{where}: labels must be one class per example, a 1-D array, but they have "
            f"shape {y.shape}{hint}"
        )


def _check_image_shape(shape: tuple[int, int] | None, features: int, name: str) -> None:
    if shape is None:
        return
    if (
        len(shape) != 2
        or not all(isinstance(side, (int, np.integer)) and side > 0 for side in shape)
        or shape[0] * shape[1] != features
    ):
        raise DataError(
            f"{name}: image_shape {tuple(shape)} does not fit examples of "
            f"{_values(features)}"
        )


def _check_value_range(value_range: tuple[float, float] | None, name: str) -> None:
    if value_range is None:
        return
    try:
        low, high = (float(v) for v in value_range)
    except (TypeError, ValueError):
        raise DataError(f"{name}: value_range must be two numbers, (low, high)") from None
    if not (math.isfinite(low) and math.isfinite(high) and low <= high):
        raise DataError(f"{name}: value_range {value_range} is not a finite range low ≤ high")
