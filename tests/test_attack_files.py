"""Issue 12, D7, D16, D9 (spec side): unbounded reads and inputs reported as internal errors.

A spec, a data file or an .npz can be anything: a FIFO, /dev/zero, a zip bomb, TOML nested
past what the reader can recurse. Each is refused at once, with a located message and the
README's exit status, and without reading (or inflating) more than the file may hold."""

from __future__ import annotations

import io
import os
import resource
import subprocess
import sys
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from mlpspec import DataError, SpecError
from mlpspec.cli.main import main
from mlpspec.core.spec import load_spec, read_toml
from mlpspec.data.npz import read_npz

from .conftest import SPECS, SPIRALS_SPEC, write_spec

QUICKSTART = SPECS / "quickstart.toml"


def bomb(path: Path, members: dict[str, tuple[str, tuple[int, ...]]], zeros: int = 0) -> Path:
    """An .npz whose members declare ``(dtype, shape)`` and hold ``zeros`` deflated zero bytes
    (a real bomb holds all it declares; the checks must not need to find out)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, (descr, shape) in members.items():
            header = io.BytesIO()
            np.lib.format.write_array_header_1_0(
                header, {"descr": descr, "fortran_order": False, "shape": shape}
            )
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                member.write(header.getvalue())
                for _ in range(zeros // 2**20):
                    member.write(b"\0" * 2**20)
    return path


def peak_while(call: Callable[[], object]) -> tuple[int, str]:
    """Bytes allocated at the peak while ``call`` runs and fails, and its error message."""
    tracemalloc.start()
    try:
        with pytest.raises((DataError, SpecError)) as caught:
            call()
        return tracemalloc.get_traced_memory()[1], str(caught.value)
    finally:
        tracemalloc.stop()


# -- D7: .npz members are checked before they are decompressed ------------------------------------


def test_a_model_file_bomb_is_refused_by_its_headers(image_run, tmp_path, capsys):
    """The report's bomb: one member declaring far more than the model's own array. Here 64 MiB
    of zeros are really inside (64 KB deflated); reading them is not needed to refuse."""
    import shutil

    run = Path(shutil.copytree(image_run, tmp_path / "run"))
    bomb(run / "model.npz", {"layers.0.weight": ("<f4", (2**24,))}, zeros=2**26)
    assert (run / "model.npz").stat().st_size < 2**20
    np.save(tmp_path / "x.npy", np.zeros((1, 64)))
    from mlpspec.run.saved import load_run

    peak, message = peak_while(lambda: load_run(run))
    assert "model.npz: does not fit: missing" in message
    assert peak < 16 * 2**20, f"{peak:,} bytes to refuse a model file"
    shapes = {"layers.0.weight": (2**24,), "layers.0.bias": (12,), "layers.1.weight": (12, 3)}
    bomb(run / "model.npz", {name: ("<f4", shape) for name, shape in shapes.items()}
         | {"layers.1.bias": ("<f4", (3,))})
    assert main(["predict", str(run), str(tmp_path / "x.npy")]) == 1
    err = capsys.readouterr().err
    assert "layers.0.weight is float32, shape (16777216,); expected float32, shape (64, 12)" in err


def test_an_array_that_would_inflate_a_hundredfold_is_refused_unread(tmp_path):
    path = bomb(tmp_path / "d.npz", {"x_train": ("<f8", (2**24, 2))}, zeros=2**27)
    peak, message = peak_while(lambda: read_npz(path))
    assert "x_train would inflate from" in message and "a decompression bomb?" in message
    assert peak < 16 * 2**20


def test_arrays_larger_than_the_memory_limit_are_refused_unread(tmp_path, monkeypatch):
    monkeypatch.setenv("MLPSPEC_MAX_MEMORY", "1M")
    np.savez(tmp_path / "big.npz", a=np.zeros(2**17), b=np.zeros(2**17))  # 2 MiB, stored
    with pytest.raises(DataError, match=r"big\.npz: its arrays would take .* more than the"):
        read_npz(tmp_path / "big.npz")


def test_an_npz_dataset_reads_only_the_arrays_it_names(registry, tmp_path):
    """An extra member, even a bomb, is never decompressed: only x_train and y_train are."""
    from mlpspec.data import DataContext
    from mlpspec.testing import create

    path = bomb(tmp_path / "d.npz", {"junk": ("<f8", (2**40,))})
    with zipfile.ZipFile(path, "a") as archive:
        for name, array in (("x_train", np.eye(4)), ("y_train", np.array([0, 1, 0, 1]))):
            buffer = io.BytesIO()
            np.save(buffer, array)
            archive.writestr(f"{name}.npy", buffer.getvalue())
    data = create(registry, "dataset", {"type": "npz", "path": str(path)}, DataContext())
    assert data.x_train.shape == (4, 4)


def test_a_npy_input_that_promises_more_than_its_file_is_refused(image_run, tmp_path, capsys):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (2**40, 64)}
    )
    (tmp_path / "liar.npy").write_bytes(header.getvalue() + b"\0" * 64)
    assert main(["predict", str(image_run), str(tmp_path / "liar.npy")]) == 1
    assert "liar.npy: truncated: its header promises" in capsys.readouterr().err


# -- D16: only regular files, and only so much of them -------------------------------------------


def run_cli(*args: str, timeout: float = 20) -> subprocess.CompletedProcess:
    """``mlpspec ARGS`` in a child process that may not use more than 2 GB, killed after
    ``timeout`` seconds (a read that never ends must fail the test, not hang it)."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2**31, 2**31))

    return subprocess.run(
        [sys.executable, "-m", "mlpspec", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=limit,
    )


@pytest.mark.parametrize("kind", ["fifo", "zero", "folder"])
def test_a_spec_that_is_no_regular_file_is_refused_at_once(tmp_path, kind):
    path = {"fifo": tmp_path / "spec.toml", "zero": Path("/dev/zero"), "folder": tmp_path}[kind]
    if kind == "fifo":
        os.mkfifo(path)
    done = run_cli("validate", str(path), str(QUICKSTART))
    assert done.returncode == 2, done.stderr
    what = {
        "fifo": "a FIFO (named pipe), not a file",
        "zero": "a character device, not a file",
        "folder": "a folder, not a file",
    }[kind]
    assert f"{path}: 1 problem in the spec\n  {what}" in done.stderr
    assert f"{QUICKSTART}: ok" in done.stdout  # the next spec is still validated


@pytest.mark.parametrize("kind", ["fifo", "zero"])
def test_csv_data_that_is_no_regular_file_is_refused_at_once(tmp_path, kind):
    path = tmp_path / "data.csv" if kind == "fifo" else Path("/dev/zero")
    if kind == "fifo":
        os.mkfifo(path)
    spec = write_spec(
        tmp_path,
        SPIRALS_SPEC.replace(
            'dataset = { type = "spirals", classes = 2, points = 100 }',
            f'dataset = {{ type = "csv", path = "{path}" }}',
        ),
    )
    done = run_cli("run", str(spec), "--no-save", "-q")
    assert done.returncode == 1, done.stderr
    assert f"{path}: a " in done.stderr and "not a file" in done.stderr


def test_a_spec_larger_than_the_limit_is_refused_without_reading_it_all(tmp_path):
    from mlpspec.core.spec import SPEC_MAX_BYTES

    path = tmp_path / "huge.toml"
    path.write_bytes(QUICKSTART.read_bytes() + b"#" * SPEC_MAX_BYTES)
    with pytest.raises(SpecError, match=r"larger than the 1,048,576 bytes a spec may have"):
        read_toml(path)


# -- D9, spec side: nesting, dotted keys, --set paths -------------------------------------------


@pytest.mark.parametrize(
    "deep",
    [
        "seed = " + "[" * 1000 + "]" * 1000,
        "seed = " + "{a=" * 1000 + "1" + "}" * 1000,
        "seed." + ".".join(["a"] * 1000) + " = 1",  # parses, and then the spec's checks recurse
        "seed." + ".".join(["a"] * 200_000) + " = 1",  # quadratic to parse: refused unparsed
    ],
)
def test_nesting_beyond_what_toml_readers_recurse_is_a_located_spec_error(tmp_path, deep):
    text = QUICKSTART.read_text().replace("seed = 0", deep)
    deep_spec = write_spec(tmp_path, text, "deep.toml")
    done = run_cli("validate", str(QUICKSTART), str(deep_spec), str(QUICKSTART), timeout=30)
    assert done.returncode == 2, done.stderr
    assert f"{deep_spec}: 1 problem in the spec" in done.stderr
    assert "internal error" not in done.stderr and "RecursionError" not in done.stderr
    assert done.stdout.count("ok") == 2  # validate A B C reports C too


def test_a_byte_order_mark_is_skipped(tmp_path, registry):
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + QUICKSTART.read_bytes())
    assert load_spec(path, registry).model.name == "quickstart-spirals"


@pytest.mark.parametrize("version", [0, -1])
def test_a_spec_version_below_one_is_refused(tmp_path, registry, version):
    text = QUICKSTART.read_text().replace("spec_version = 1", f"spec_version = {version}")
    with pytest.raises(SpecError) as caught:
        load_spec(write_spec(tmp_path, text), registry)
    assert caught.value.problems[0].location == "spec_version"


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("layers[99].units=3", "layers has 3 entries, so no entry [99]"),
        ("train.epochs.x=1", "train.epochs is a value (60), not a table"),
        ("layers.units=3", "layers is an array, not a table"),
        ("layers[-1].units=3", "not a dotted path"),
        ("..=1", "not a dotted path"),
        ("layers[99999999999999999999].units=1", "layers has 3 entries"),
        ("model.name[0]=1", "model.name is not an array"),
        ("layers[0][1]=2", "layers[0] is not an array"),
        ("[model]=1", "not a dotted path"),
        ("a b=1", "not a dotted path"),
    ],
)
def test_malformed_set_paths_are_located_spec_errors(capsys, setting, message):
    """(main fixed these too, in 823a4bf; these are the report's triggers and siblings)"""
    code = main(["run", str(QUICKSTART), "--no-save", "--set", setting])
    err = capsys.readouterr().err
    key = setting.partition("=")[0]
    assert code == 2, err
    assert f"1 problem in the spec\n  {key}: {message}" in err


def test_a_set_value_cannot_smuggle_in_other_keys(capsys):
    code = main(["run", str(QUICKSTART), "--no-save", "--set", "train.epochs=1\n[evil]\nx=1"])
    err = capsys.readouterr().err
    assert code == 2 and "train.epochs: input should be a valid integer" in err
