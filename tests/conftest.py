"""Shared fixtures: the registry, real MNIST from ../shared/data, small spec files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from mlpspec import load_registry
from mlpspec.core.registry import Registry
from mlpspec.data.idx import read_idx, write_idx

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


def tiny_images(folder: Path, seed: int = 0) -> Path:
    """IDX files of 8×8 images in three classes (a bright top, bottom or left half), with
    noise, and a tenth of the test labels wrong so that some predictions are mistakes."""
    rng = np.random.default_rng(seed)
    masks = np.zeros((3, 8, 8))
    masks[0, :4], masks[1, 4:], masks[2, :, :4] = 1, 1, 1
    for part, count in (("train", 300), ("t10k", 90)):
        labels = rng.integers(0, 3, count)
        images = np.clip(masks[labels] * 200 + rng.normal(0, 40, (count, 8, 8)), 0, 255)
        if part == "t10k":
            flip = rng.random(count) < 0.1
            labels[flip] = (labels[flip] + 1) % 3
        write_idx(folder / f"{part}-images-idx3-ubyte", images.astype(np.uint8))
        write_idx(folder / f"{part}-labels-idx1-ubyte", labels.astype(np.uint8))
    return folder


IMAGE_SPEC = """
[model]
name = "tiny-images"
seed = 5

[data]
dataset = {{ type = "idx", path = "{path}" }}
preprocess = "standardize"
validation = 60

[[layers]]
type = "dense"
units = 12
activation = "tanh"
init = "glorot"

[[layers]]
type = "dense"
units = 3

[loss]
type = "softmax_cross_entropy"

[optimizer]
type = "sgd_momentum"
lr = 0.05

[scheduler]
type = "linear"
final_lr = 0.01

[train]
epochs = 6
batch_size = 20
"""


def make_run(folder: Path, text: str, *args: str) -> Path:
    """Run ``text`` as a spec with the command line, quietly, and return its run folder."""
    from mlpspec.cli.main import main

    spec = write_spec(folder, text, "run-spec.toml")
    out = folder / "runs"
    before = set(out.iterdir()) if out.exists() else set()
    assert main(["run", str(spec), "--out", str(out), "-q", *args]) == 0
    (created,) = set(out.iterdir()) - before
    return created


@pytest.fixture(scope="session")
def image_run(tmp_path_factory) -> Path:
    """A finished run (with its plots) on :func:`tiny_images`; copy it before changing it."""
    folder = tmp_path_factory.mktemp("image-run")
    data = tiny_images(tmp_path_factory.mktemp("tiny-images"))
    return make_run(folder, IMAGE_SPEC.format(path=data))


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's header; fails unless the file is a PNG."""
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert header[12:16] == b"IHDR"
    return int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")
