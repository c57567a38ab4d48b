"""IDX parsing: real files, round trips, and every way a file can be broken."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from mlpspec import DataError
from mlpspec.data.idx import read_idx, write_idx


def test_reads_real_mnist(mnist_dir):
    labels = read_idx(mnist_dir / "mnist" / "t10k-labels-idx1-ubyte.gz")
    assert labels.shape == (10000,) and labels.dtype == np.uint8
    assert labels[:5].tolist() == [7, 2, 1, 0, 4]
    images = read_idx(mnist_dir / "mnist" / "t10k-images-idx3-ubyte.gz")
    assert images.shape == (10000, 28, 28) and images.max() == 255


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_round_trip(tmp_path, dtype, name):
    array = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    write_idx(tmp_path / name, array)
    back = read_idx(tmp_path / name)
    assert back.dtype == np.dtype(dtype).newbyteorder("=") and np.array_equal(back, array)


def corrupt(tmp_path, data: bytes, name: str = "broken-idx3-ubyte"):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(DataError) as caught:
        read_idx(path)
    assert str(path) in str(caught.value)
    return str(caught.value)


def test_truncated_body(tmp_path):
    write_idx(tmp_path / "ok", np.zeros((10, 4, 4), np.uint8))
    data = (tmp_path / "ok").read_bytes()
    assert "truncated" in corrupt(tmp_path, data[:-7])


def test_trailing_bytes(tmp_path):
    write_idx(tmp_path / "ok", np.zeros((3,), np.uint8))
    assert "longer than its header" in corrupt(tmp_path, (tmp_path / "ok").read_bytes() + b"\0")


def test_bad_magic_and_empty(tmp_path):
    assert "bad magic" in corrupt(tmp_path, b"PK\x03\x04 not idx at all")
    assert "not an IDX file" in corrupt(tmp_path, b"")
    assert "header" in corrupt(tmp_path, b"\0\0\x08\x03\0\0")


def test_broken_gzip(tmp_path):
    data = gzip.compress(b"\0\0\x08\x01\0\0\0\x03abc")
    assert "cannot read" in corrupt(tmp_path, data[:-6], "x.gz")
    assert "cannot read" in corrupt(tmp_path, b"\x1f\x8b garbage", "y.gz")
