"""The run folder survives crashes: atomic replacement under SIGKILL, torn metrics lines,
and damaged files that are reported with their names."""

from __future__ import annotations

import random
import subprocess
import sys
import time

import numpy as np
import pytest

from mlpspec import DataError, load_run, run, validate_spec
from mlpspec.core.spec import parse_toml
from mlpspec.run.rundir import MODEL, RunDirectory

from .conftest import SPIRALS_SPEC

SIZE = 4 * 2**20
WRITER = f"""
import sys
from pathlib import Path
from mlpspec.run.rundir import atomic_write

path = Path(sys.argv[1])
print("ready", flush=True)
while True:
    for letter in b"ab":
        atomic_write(path, bytes([letter]) * {SIZE})
"""


def leftovers(folder):
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_a_writer_killed_at_random_moments_leaves_old_or_new_never_half(tmp_path):
    target = tmp_path / "model.npz"
    target.write_bytes(b"a" * SIZE)
    chance = random.Random(6)
    for _ in range(6):
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE, text=True
        )
        assert writer.stdout.readline() == "ready\n"
        time.sleep(chance.uniform(0.01, 0.2))
        writer.kill()
        writer.wait()
        content = target.read_bytes()
        assert len(content) == SIZE and content in (b"a" * SIZE, b"b" * SIZE)
        assert len(leftovers(tmp_path)) <= 1  # at most the one being written when killed
    from mlpspec.run.rundir import atomic_write

    atomic_write(target, b"done")  # the next write clears what a killed writer left
    assert leftovers(tmp_path) == [] and target.read_bytes() == b"done"


def test_a_torn_last_metrics_line_is_left_out_and_a_bad_line_is_named(tmp_path):
    folder = RunDirectory(tmp_path)
    folder.append_metrics({"epoch": 1, "train_loss": 0.5})
    with open(tmp_path / "metrics.jsonl", "ab") as handle:
        handle.write(b'{"epoch": 2, "train_lo')  # a crash mid-append
    assert folder.read_metrics() == [{"epoch": 1, "train_loss": 0.5}]
    (tmp_path / "metrics.jsonl").write_bytes(b'{"epoch": 1}\n{oops}\n')
    with pytest.raises(DataError, match=r"metrics\.jsonl, line 2: not valid JSON"):
        folder.read_metrics()


@pytest.fixture
def saved_run(tmp_path, registry):
    spec = validate_spec(parse_toml(SPIRALS_SPEC), registry)
    return run(spec, registry, out_dir=tmp_path).run_dir


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],  # truncated
        lambda data: data[:10],
        lambda data: b"",
        lambda data: data[:100] + bytes(200) + data[300:],  # overwritten inside
    ],
)
def test_a_damaged_model_file_is_a_data_error_naming_it(saved_run, registry, damage):
    path = saved_run / MODEL
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(DataError) as caught:
        load_run(saved_run, registry)
    assert str(path) in str(caught.value)


def test_a_model_file_that_needs_pickle_is_refused(saved_run, registry):
    path = saved_run / MODEL
    np.savez(path, **{"layers.0.weight": np.array([object()], dtype=object)})
    with pytest.raises(DataError, match=r"model\.npz: layers\.0\.weight holds Python objects"):
        load_run(saved_run, registry)


def test_a_damaged_summary_is_named(saved_run, registry):
    (saved_run / "summary.json").write_text('{"name": "tiny", ')
    with pytest.raises(DataError, match=r"summary\.json: not valid JSON"):
        load_run(saved_run, registry)


def test_a_truncated_csv_names_the_file(registry, tmp_path):
    from mlpspec.data import DataContext

    (tmp_path / "cut.csv").write_text("0.1,0.2,1\n0.3,0.4,0\n0.5,")
    spec = {"type": "csv", "path": "cut.csv"}
    from mlpspec.testing import create

    with pytest.raises(DataError, match=r"cut\.csv"):
        create(registry, "dataset", spec, DataContext(base_dir=tmp_path))
