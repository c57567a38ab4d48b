"""What a dataset component returns, and what it is given to find its files."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

Array = np.ndarray

CACHE_ENV = "MLPSPEC_CACHE_DIR"
DATA_ENV = "MLPSPEC_DATA_DIR"


@dataclass
class Dataset:
    """Raw examples and integer labels, before preprocessing and the validation split.

    ``x_*`` have one example per row (images may keep their 2-D shape: they are flattened
    later); ``y_*`` are integer class indices from 0 to ``len(classes) − 1``. ``value_range`` is
    the range raw inputs can span (0–255 for 8-bit images), used by the ``scale``
    preprocessings; ``None`` means the training set's own minimum and maximum.
    """

    x_train: Array
    y_train: Array
    x_test: Array | None
    y_test: Array | None
    classes: Sequence[str]
    value_range: tuple[float, float] | None = None
    image_shape: tuple[int, int] | None = None
    sources: Mapping[str, str] = field(default_factory=dict)
    """Where each array came from, for messages that name the file: ``x_train``,
    ``y_train``, ``x_test``, ``y_test`` mapped to a path (``digits.npz, array 'x'``). An
    array without an entry is named by the dataset's name in the spec."""


@dataclass
class DataContext:
    """Where a dataset looks for its files, in order, and whether it may download them."""

    data_dirs: list[Path] = field(default_factory=list)
    """Explicit folders first (the spec's ``data_dir``, then ``--data-dir``), then the
    ``MLPSPEC_DATA_DIR`` environment variable."""
    cache_dir: Path = field(default_factory=lambda: default_cache_dir())
    download: bool = True
    progress: bool = False
    base_dir: Path = field(default_factory=Path.cwd)
    """The folder relative paths in the spec are taken from (the spec's own folder)."""

    def search_dirs(self, system_dirs: Sequence[Path] = ()) -> list[Path]:
        """Every folder to look in, in order: explicit, environment, cache, system."""
        return [*self.data_dirs, self.cache_dir, *system_dirs]

    def resolve(self, path: str | Path) -> Path:
        return (self.base_dir / Path(path).expanduser()).resolve()


def default_cache_dir() -> Path:
    """``$MLPSPEC_CACHE_DIR``, else the user cache folder (``~/.cache/mlpspec`` on Linux)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    import pooch

    return Path(pooch.os_cache("mlpspec"))


def env_data_dirs() -> list[Path]:
    value = os.environ.get(DATA_ENV, "")
    return [Path(part).expanduser() for part in value.split(os.pathsep) if part]
