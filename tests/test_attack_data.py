"""Issue 12, D2, D4, D8: data that is wrong is refused before training, by the one check of
the shared data path, whatever dataset (built-in or plugin) produced it; and the CSV and IDX
readers place what they refuse at its file, line and column.

The attack report's triggers are here, and their siblings: every wrong shape, type or value a
dataset can hand over, in each of the formats."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from mlpspec import DataError
from mlpspec.cli.main import main
from mlpspec.data import DataContext, Dataset, prepare
from mlpspec.data.idx import write_idx
from mlpspec.testing import create

from .conftest import SPIRALS_SPEC, write_spec

F32 = np.dtype(np.float32)


def run_with(tmp_path: Path, dataset: str, *args: str, units: int = 2) -> int:
    """``mlpspec run`` on SPIRALS_SPEC with ``dataset`` as its dataset, saving nothing."""
    text = SPIRALS_SPEC.replace(
        'dataset = { type = "spirals", classes = 2, points = 100 }', f"dataset = {dataset}"
    ).replace("validation = 40", "").replace("units = 2", f"units = {units}")
    spec = write_spec(tmp_path, text, "attack.toml")
    return main(["run", str(spec), "--no-save", "-q", "--no-plots", *args])


def refused(capsys, code: int, *parts: str) -> str:
    """Assert a data error (exit 1) whose message holds every one of ``parts``."""
    err = capsys.readouterr().err
    assert code == 1, err
    assert "internal error" not in err and "Traceback" not in err
    for part in parts:
        assert part in err, (part, err)
    return err


def labelled(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    return x, (x[:, 0] > 0).astype(np.int64)


# -- D2: labels that are not one class index per example ----------------------------------------


def idx_folder(folder: Path, labels: np.ndarray, test_labels: np.ndarray | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    write_idx(folder / "train-images-idx3-ubyte", rng.integers(0, 256, (30, 4, 4), np.uint8))
    write_idx(folder / "train-labels-idx1-ubyte", labels)
    write_idx(folder / "t10k-images-idx3-ubyte", rng.integers(0, 256, (10, 4, 4), np.uint8))
    test = test_labels if test_labels is not None else np.zeros(10, np.uint8)
    write_idx(folder / "t10k-labels-idx1-ubyte", test)
    return folder


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (np.zeros((30, 1), np.uint8), "shape (30, 1) (a column: flatten it)"),  # the report's
        (np.zeros((30, 2), np.uint8), "shape (30, 2)"),
        (np.arange(30, dtype=np.float32) % 2, "labels must be integer class indices"),
        (np.full(30, 2**30, np.int32), "labels go up to 1,073,741,824, for 30 examples"),
    ],
)
def test_idx_labels_that_are_not_class_indices_are_refused(
    tmp_path, capsys, labels, message
):
    folder = idx_folder(tmp_path, labels)
    code = run_with(tmp_path, f'{{ type = "idx", path = "{folder}" }}', units=10)
    refused(capsys, code, "train-labels-idx1-ubyte", message)


def test_mnist_named_labels_out_of_range_or_2d_are_refused_at_their_file(tmp_path, capsys):
    """mnist has ten fixed classes: a hostile label file there is checked by the shared step."""
    folder = idx_folder(tmp_path / "mnist", np.zeros(30, np.uint8), np.full(10, 11, np.uint8))
    code = run_with(tmp_path, '"mnist"', "--data-dir", str(tmp_path), units=10)
    refused(capsys, code, "t10k-labels-idx1-ubyte: label [0] is 11, outside the 10 classes")
    write_idx(folder / "t10k-labels-idx1-ubyte", np.zeros((10, 1), np.uint8))
    code = run_with(tmp_path, '"mnist"', "--data-dir", str(tmp_path), units=10)
    refused(capsys, code, "t10k-labels-idx1-ubyte", "shape (10, 1)")


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (lambda y: y[:, None], "shape (150, 1)"),
        (lambda y: np.eye(2)[y], "shape (150, 2)"),  # one-hot rows
        (lambda y: np.where(np.arange(150) == 3, np.nan, y), "label [3] is nan"),
        (lambda y: y + 1j, "labels must be numbers or text"),
    ],
)
def test_npz_labels_are_one_value_per_example(tmp_path, capsys, labels, message):
    x, y = labelled(150)
    np.savez(tmp_path / "d.npz", x_train=x, y_train=labels(y))
    code = run_with(tmp_path, f'{{ type = "npz", path = "{tmp_path / "d.npz"}" }}')
    refused(capsys, code, "d.npz, array 'y_train'", message)


def test_text_and_number_labels_do_not_mix(tmp_path, capsys):
    x, y = labelled(150)
    np.savez(tmp_path / "d.npz", x_train=x, y_train=y.astype(str), x_test=x, y_test=y)
    code = run_with(tmp_path, f'{{ type = "npz", path = "{tmp_path / "d.npz"}" }}')
    refused(capsys, code, "array 'y_test'", "all text or all numbers")


# -- D8: features that are not finite real numbers ------------------------------------------------


@pytest.mark.parametrize(
    ("features", "message"),
    [
        (lambda x: x * np.r_[1.0, np.nan], "[0, 1] is nan"),
        (lambda x: np.where(np.arange(150)[:, None] == 7, np.inf, x), "[7, 0] is inf"),
        (lambda x: x + 1j, "holds complex numbers"),
        (lambda x: x.astype(str), "holds text"),
        (lambda x: x.astype("datetime64[s]"), "holds dates"),
        (lambda x: x[:, :0], "have no values"),
    ],
)
def test_npz_features_must_be_finite_real_numbers(tmp_path, capsys, features, message):
    x, y = labelled(150)
    np.savez(tmp_path / "d.npz", x_train=features(x), y_train=y)
    code = run_with(tmp_path, f'{{ type = "npz", path = "{tmp_path / "d.npz"}" }}')
    refused(capsys, code, "d.npz, array 'x_train'", message)


def test_float_idx_images_with_nan_are_refused_at_their_value(tmp_path, capsys):
    images = np.zeros((30, 4, 4), np.float32)
    images[12, 2, 3] = np.nan
    idx_folder(tmp_path, np.arange(30, dtype=np.uint8) % 2)
    write_idx(tmp_path / "train-images-idx3-ubyte", images)
    code = run_with(tmp_path, f'{{ type = "idx", path = "{tmp_path}" }}')
    refused(capsys, code, "train-images-idx3-ubyte: the value at [12, 2, 3] is nan")


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("nan", "line 3, column 2: nan is not a finite number"),
        ("inf", "line 3, column 2: inf is not a finite number"),
        ("-1e400", "line 3, column 2: -inf is not a finite number"),
        ("1_0", "line 3, column 2: not a number"),
        ("", "line 3, column 2: an empty cell"),
    ],
)
def test_csv_cells_that_are_not_finite_numbers_are_placed(tmp_path, capsys, cell, message):
    rows = ["0.5,0.1,1", "0.2,0.3,0", f"0.1,{cell},1", *(f"0.{i},0.1,{i % 2}" for i in range(9))]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    path = tmp_path / "t.csv"
    code = run_with(tmp_path, f'{{ type = "csv", path = "{path}", label_column = -1 }}')
    refused(capsys, code, f"t.csv, {message}")


def test_a_value_beyond_float32_after_preprocessing_is_refused_before_training(
    tmp_path, capsys
):
    x, y = labelled(150)
    x[20, 1] = 1e300  # finite in the file, infinite in the model's float32
    np.savez(tmp_path / "d.npz", x_train=x, y_train=y)
    code = run_with(tmp_path, f'{{ type = "npz", path = "{tmp_path / "d.npz"}" }}')
    refused(capsys, code, "array 'x_train': the value at [20, 1] is inf", "float32")


# -- D1's data triggers, refused at load: an empty or narrower test set --------------------------


def test_an_empty_test_set_is_refused_at_load_not_after_training(tmp_path, capsys):
    x, y = labelled(150)
    np.savez(tmp_path / "e.npz", x_train=x, y_train=y, x_test=x[:0], y_test=y[:0])
    code = run_with(tmp_path, f'{{ type = "npz", path = "{tmp_path / "e.npz"}" }}')
    err = refused(capsys, code, "e.npz, array 'x_test': the test set is empty")
    assert "epoch" not in err  # nothing trained


def test_test_examples_of_another_width_are_refused_naming_both_files(tmp_path, capsys):
    x, y = labelled(150)
    np.savez(tmp_path / "n.npz", x_train=x, y_train=y, x_test=x[:, :1], y_test=y)
    code = run_with(tmp_path, f'{{ type = "npz", path = "{tmp_path / "n.npz"}" }}')
    refused(capsys, code, "array 'x_test': 1 value per example", "array 'x_train') have 2")
    idx_folder(tmp_path, np.arange(30, dtype=np.uint8) % 2)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((10, 5, 5), np.uint8))
    code = run_with(tmp_path, f'{{ type = "idx", path = "{tmp_path}" }}')
    refused(capsys, code, "t10k-images-idx3-ubyte: 25 values per example", "have 16")


# -- D4: the CSV label column inside the table --------------------------------------------------


@pytest.mark.parametrize("column", [7, -7, 5, -6])
def test_a_label_column_outside_the_table_is_refused_not_wrapped(tmp_path, capsys, column):
    rng = np.random.default_rng(1)
    table = np.c_[rng.integers(0, 5, (150, 4)), rng.integers(0, 2, 150)]
    np.savetxt(tmp_path / "t.csv", table, delimiter=",", fmt="%d")
    code = run_with(
        tmp_path, f'{{ type = "csv", path = "{tmp_path / "t.csv"}", label_column = {column} }}'
    )
    refused(capsys, code, f"t.csv: label_column {column} is outside the table", "5 columns")


@pytest.mark.parametrize("delimiter", ["", ";;", "1", ".", "\\n", "#"])
def test_a_delimiter_that_cannot_separate_numbers_is_a_spec_error(tmp_path, capsys, delimiter):
    (tmp_path / "t.csv").write_text("1,2\n")
    code = run_with(
        tmp_path, f'{{ type = "csv", path = "{tmp_path / "t.csv"}", delimiter = "{delimiter}" }}'
    )
    err = capsys.readouterr().err
    assert code == 2 and "data.dataset.delimiter: the delimiter must be one character" in err


def test_csv_rows_of_another_width_are_placed_at_their_line(tmp_path, capsys):
    (tmp_path / "r.csv").write_text("# a comment\n1,2,0\n\n3,4\n")
    code = run_with(tmp_path, f'{{ type = "csv", path = "{tmp_path / "r.csv"}" }}')
    refused(capsys, code, "r.csv, line 4: 2 values, but line 2 has 3")


def test_csv_errors_do_not_quote_the_file(tmp_path, capsys):
    """D12: a run folder's spec may point at any readable file; its text stays unprinted."""
    (tmp_path / "secret").write_text("root:x:0:0:secret-hash:/root\n")
    code = run_with(tmp_path, f'{{ type = "csv", path = "{tmp_path / "secret"}" }}')
    err = refused(capsys, code, "secret, line 1, column 1: not a number")
    assert "root:x" not in err and "secret-hash" not in err


# -- every dataset, plugins too: the shared check ----------------------------------------------

PLUGIN = """
import numpy as np
from mlpspec import Params
from mlpspec.data import Dataset

class P(Params):
    fault: str

def bad(params, ctx):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 2)); y = (x[:, 0] > 0).astype(int)
    parts = dict(x_train=x, y_train=y, x_test=x[:10], y_test=y[:10])
    fault = params.fault
    if fault == "float labels": parts["y_train"] = y.astype(float)
    if fault == "column labels": parts["y_train"] = y[:, None]
    if fault == "out of range": parts["y_test"] = y[:10] + 5
    if fault == "negative": parts["y_train"] = y - 1
    if fault == "count": parts["y_train"] = y[:50]
    if fault == "nan": parts["x_train"] = np.where(x > 1.5, np.nan, x)
    if fault == "objects": parts["x_train"] = x.astype(object)
    if fault == "list": parts["x_train"] = [[1.0, 2.0], [3.0]] * 30
    if fault == "no test labels": parts["y_test"] = None
    if fault == "empty train": parts.update(x_train=x[:0], y_train=y[:0])
    if fault == "scalar": parts["x_train"] = np.float64(3.0)
    classes = [] if fault == "no classes" else ["a", "b"]
    shape = (3, 3) if fault == "image shape" else None
    value_range = (5.0, float("nan")) if fault == "value range" else None
    return Dataset(**parts, classes=classes, image_shape=shape, value_range=value_range)

def mlpspec_register_datasets(register):
    register("rt.bad", bad, P)
"""


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("float labels", "training labels: labels must be integer class indices"),
        ("column labels", "training labels: labels must be one class per example"),
        ("out of range", "test labels: label [0] is 6, outside the 2 classes (0..1)"),
        ("negative", "training labels: label [2] is -1"),
        ("count", "training labels: 50 labels for 60 examples"),
        ("nan", "training examples: the value at"),
        ("objects", "training examples: holds Python objects"),
        ("list", "training examples: not an array"),
        ("no test labels", "has x_test but no y_test"),
        ("empty train", "the training set is empty"),
        ("scalar", "a single value"),
        ("no classes", "has no classes"),
        ("image shape", "image_shape (3, 3) does not fit examples of 2 values"),
        ("value range", "value_range (5.0, nan) is not a finite range"),
    ],
)
def test_a_plugin_datasets_arrays_pass_the_same_check(
    tmp_path, monkeypatch, capsys, fault, message
):
    (tmp_path / "rtdata.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    code = run_with(tmp_path, f'{{ type = "rt.bad", fault = "{fault}" }}', "--plugin", "rtdata")
    refused(capsys, code, "dataset 'rt.bad'", message)


def test_prepare_checks_arrays_given_directly():
    x, y = labelled(40)
    with pytest.raises(DataError, match=r"the dataset, training labels: labels must be one"):
        prepare(
            Dataset(x, y[:, None], None, None, ["0", "1"]),
            preprocess="none",
            validation=None,
            dtype=F32,
        )


# -- IDX headers whose sizes overflow, and gzip streams that would not end ------------------------


def idx_bytes(code: int, shape: tuple[int, ...], body: bytes = b"") -> bytes:
    return bytes([0, 0, code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape) + body


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (idx_bytes(8, (1,) * 255, b"\0"), "gives 255 dimensions"),
        (idx_bytes(0x0E, (2**31, 2**31, 4)), "promises 147,573,952,589,676,412,928 bytes"),
        (idx_bytes(8, (2**32 - 1,) * 3), "promises 79,228,162,458,924,105,385,300,197,375"),
        (b"\0\0\x08\x00", "gives 0 dimensions"),
    ],
)
def test_idx_headers_are_checked_before_reading_and_name_the_file(tmp_path, data, message):
    from mlpspec.data.idx import read_idx

    for name, content in (("plain-idx", data), ("zipped-idx.gz", gzip.compress(data))):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(DataError) as caught:
            read_idx(tmp_path / name)
        assert str(tmp_path / name) in str(caught.value) and message in str(caught.value)


def test_a_gzip_idx_is_not_inflated_past_what_its_header_promises(tmp_path):
    """A 10-byte promise followed by 64 MiB of zeros: refused without inflating them."""
    import tracemalloc
    import zlib

    from mlpspec.data.idx import read_idx

    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    stream = packer.compress(idx_bytes(8, (10,), b"\0" * 10))
    for _ in range(64):
        stream += packer.compress(b"\0" * 2**20)
    (tmp_path / "long.gz").write_bytes(stream + packer.flush())
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=r"longer than its header says"):
            read_idx(tmp_path / "long.gz")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20, f"{peak:,} bytes allocated to read a 10-byte IDX file"


def test_a_data_folder_that_cannot_be_searched_does_not_stop_the_search(
    registry, tmp_path, monkeypatch
):
    """As a user without search permission on the first data folder (where Path.is_file
    raises PermissionError), the files are still found in the next one."""
    good = idx_folder(tmp_path / "good", np.arange(30, dtype=np.uint8) % 2)
    locked = tmp_path / "locked"
    (locked / "mnist").mkdir(parents=True)
    real_is_file = Path.is_file

    def is_file(self: Path) -> bool:
        if locked in self.parents:
            raise PermissionError(13, "Permission denied", str(self))
        return real_is_file(self)

    monkeypatch.setattr(Path, "is_file", is_file)
    ctx = DataContext(data_dirs=[locked, good], download=False, cache_dir=tmp_path / "cache")
    data = create(registry, "dataset", "mnist", ctx)
    assert data.x_train.shape == (30, 4, 4)
