"""Built-in datasets: files in each supported format, broken files, preprocessing, splits."""

from __future__ import annotations

import numpy as np
import pytest

from mlpspec import DataError
from mlpspec.data import DataContext, prepare
from mlpspec.testing import create


def load(registry, ref, tmp_path, **ctx):
    return create(
        registry, "dataset", ref, DataContext(base_dir=tmp_path, cache_dir=tmp_path / "c", **ctx)
    )


def test_mnist_from_the_shared_folder(registry, mnist_dir, tmp_path):
    data = load(registry, "mnist", tmp_path, data_dirs=[mnist_dir], download=False)
    assert data.x_train.shape == (60000, 28, 28) and data.x_test.shape == (10000, 28, 28)
    assert data.classes == [str(d) for d in range(10)] and data.value_range == (0.0, 255.0)
    assert data.image_shape == (28, 28)


def test_fashion_mnist_from_the_debian_package(registry, tmp_path):
    from pathlib import Path

    if not Path("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz").is_file():
        pytest.skip("dataset-fashion-mnist is not installed")
    data = load(registry, "fashion_mnist", tmp_path, download=False)
    assert data.x_test.shape == (10000, 28, 28) and data.classes[9] == "Ankle boot"


def test_idx_folder(registry, mnist_slice, tmp_path):
    data = load(registry, {"type": "idx", "path": str(mnist_slice)}, tmp_path)
    assert data.x_train.shape == (6000, 28, 28) and len(data.classes) == 10
    with pytest.raises(DataError, match=r"no file train-images"):
        load(registry, {"type": "idx", "path": str(tmp_path)}, tmp_path)


def test_an_idx_folder_reads_each_file_once(registry, mnist_slice, tmp_path, monkeypatch):
    from mlpspec.builtins import datasets

    read = []
    real = datasets.read_idx
    monkeypatch.setattr(datasets, "read_idx", lambda path: read.append(path.name) or real(path))
    load(registry, {"type": "idx", "path": str(mnist_slice)}, tmp_path)
    assert sorted(read) == sorted(set(read)) and len(read) == 4


def test_npz_with_arbitrary_labels(registry, tmp_path):
    np.savez(
        tmp_path / "d.npz",
        x_train=np.eye(4),
        y_train=np.array([5, 9, 5, 9]),
        x_test=np.eye(4)[:2],
        y_test=np.array([9, 5]),
    )
    data = load(registry, {"type": "npz", "path": "d.npz"}, tmp_path)
    assert data.classes == ["5", "9"]
    assert data.y_train.tolist() == [0, 1, 0, 1] and data.y_test.tolist() == [1, 0]


def test_npz_problems_name_the_file(registry, tmp_path):
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(DataError, match=r"bad\.npz: not a readable \.npz"):
        load(registry, {"type": "npz", "path": "bad.npz"}, tmp_path)
    np.savez(tmp_path / "odd.npz", features=np.eye(2))
    with pytest.raises(DataError, match=r"no array named 'x_train'"):
        load(registry, {"type": "npz", "path": "odd.npz"}, tmp_path)
    np.savez(
        tmp_path / "obj.npz", x_train=np.array([{"a": 1}], dtype=object), y_train=np.array([1])
    )
    with pytest.raises(DataError, match=r"obj\.npz"):
        load(registry, {"type": "npz", "path": "obj.npz"}, tmp_path)
    with pytest.raises(DataError, match=r"no such file"):
        load(registry, {"type": "npz", "path": "absent.npz"}, tmp_path)


def test_csv_with_header_and_last_label_column(registry, tmp_path):
    (tmp_path / "train.csv").write_text("a,b,label\n0.1,0.2,1\n0.3,0.4,0\n0.5,0.6,1\n")
    data = load(
        registry, {"type": "csv", "path": "train.csv", "header": True, "label_column": -1}, tmp_path
    )
    assert data.x_train.tolist() == [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]]
    assert data.y_train.tolist() == [1, 0, 1] and data.x_test is None


def test_csv_problems_name_the_file(registry, tmp_path):
    (tmp_path / "bad.csv").write_text("1,2\n3,oops\n")
    with pytest.raises(DataError, match=r"bad\.csv, line 2, column 2: not a number"):
        load(registry, {"type": "csv", "path": "bad.csv"}, tmp_path)
    (tmp_path / "ragged.csv").write_text("1,2,3\n3,4\n")
    with pytest.raises(DataError, match=r"ragged\.csv"):
        load(registry, {"type": "csv", "path": "ragged.csv"}, tmp_path)


def test_spirals_are_deterministic_and_mixed(registry, tmp_path):
    a = load(registry, {"type": "spirals", "classes": 3, "points": 50}, tmp_path)
    b = load(registry, {"type": "spirals", "classes": 3, "points": 50}, tmp_path)
    assert np.array_equal(a.x_train, b.x_train) and a.x_train.shape == (150, 2)
    assert set(a.y_train[-15:].tolist()) == {0, 1, 2}


def test_prepare_splits_and_standardizes_with_training_statistics(registry, tmp_path):
    data = load(registry, {"type": "spirals", "points": 100}, tmp_path)
    splits = prepare(data, preprocess="standardize", validation=50, dtype=np.dtype(np.float32))
    assert len(splits.x_train) == 150 and len(splits.x_val) == 50
    assert splits.x_train.dtype == np.float32 and splits.x_train.flags.c_contiguous
    assert abs(float(splits.x_train.mean())) < 1e-6 and float(
        splits.x_train.std()
    ) == pytest.approx(1, rel=1e-5)
    np.testing.assert_array_equal(splits.y_val, data.y_train[150:])


@pytest.mark.parametrize(("name", "low", "high"), [("scale", 0, 1), ("scale_symmetric", -1, 1)])
def test_scaling_uses_the_value_range(registry, mnist_slice, tmp_path, name, low, high):
    data = load(registry, {"type": "idx", "path": str(mnist_slice)}, tmp_path)
    splits = prepare(data, preprocess=name, validation=0.1, dtype=np.dtype(np.float32))
    assert splits.x_train.shape == (5400, 784) and len(splits.x_val) == 600
    assert splits.x_train.min() == low and splits.x_train.max() == high


def test_prepare_refuses_impossible_splits_and_bad_labels(registry, tmp_path):
    data = load(registry, {"type": "spirals", "points": 10}, tmp_path)
    with pytest.raises(DataError, match=r"holds out 20 examples"):
        prepare(data, preprocess="none", validation=20, dtype=np.dtype(np.float32))
    data.y_train[0] = 7
    with pytest.raises(DataError, match=r"label \[0\] is 7, outside the 2 classes \(0\.\.1\)"):
        prepare(data, preprocess="none", validation=0, dtype=np.dtype(np.float32))
