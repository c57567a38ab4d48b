"""Shared fixtures: the registry, real MNIST from ../shared/data, small spec files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from mlpspec import load_registry
from mlpspec.data.idx import read_idx, write_idx
from mlpspec.registry import Registry

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
SPECS = ROOT / "specs"


@pytest.fixture(scope="session")
def registry() -> Registry:
    return load_registry()


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path_factory, monkeypatch):
    """No test reads the user's cache or data settings, or downloads into them."""
    monkeypatch.setenv("MLPSPEC_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.delenv("MLPSPEC_DATA_DIR", raising=False)
    monkeypatch.delenv("MLPSPEC_DISABLE_PLUGINS", raising=False)


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    if not (SHARED_DATA / "mnist" / "train-images-idx3-ubyte.gz").is_file():
        message = f"MNIST is not at {SHARED_DATA / 'mnist'} (../shared/data beside the project)"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI always has it: a skip there would hide a broken setup
        pytest.skip(message)
    return SHARED_DATA


@pytest.fixture(scope="session")
def mnist_slice(mnist_dir: Path, tmp_path_factory) -> Path:
    """A folder of IDX files holding the first 6,000 training and 1,000 test MNIST images."""
    folder = tmp_path_factory.mktemp("mnist-slice")
    for part, count in (("train", 6000), ("t10k", 1000)):
        for kind in ("images-idx3", "labels-idx1"):
            array = read_idx(mnist_dir / "mnist" / f"{part}-{kind}-ubyte.gz")
            write_idx(folder / f"{part}-{kind}-ubyte", np.ascontiguousarray(array[:count]))
    return folder


def write_spec(folder: Path, text: str, name: str = "spec.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


SPIRALS_SPEC = """
[model]
name = "tiny"
seed = 3

[data]
dataset = { type = "spirals", classes = 2, points = 100 }
validation = 40

[[layers]]
type = "dense"
units = 16
activation = "tanh"

[[layers]]
type = "dense"
units = 2

[loss]
type = "softmax_cross_entropy"

[optimizer]
type = "sgd_momentum"
lr = 0.1

[train]
epochs = 5
batch_size = 16
"""
