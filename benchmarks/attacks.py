"""The outside attack's classes (issue 12), injected again with fresh triggers drawn at random:
rows of the reliability report's fault table.

Each class is tried with several triggers of its kind (not only the report's own), in the
formats it can come in, and each trial passes when the outcome the row states held: the
command refused the input with the README's exit status and a message that places the
problem, with no internal error, and nothing was read, inflated or trained beyond what the
row says. Used by ``benchmarks/reliability.py``.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import math
import os
import random
import resource
import shutil
import struct
import subprocess
import sys
import time
import tracemalloc
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlpspec import DataError, MlpspecError, SpecError, load_run
from mlpspec.cli.main import main
from mlpspec.core.registry import Registry
from mlpspec.core.spec import parse_toml, validate_spec
from mlpspec.data import Dataset
from mlpspec.data.idx import read_idx, write_idx
from mlpspec.data.npz import read_npz
from mlpspec.run import checkpoint as checkpoints
from mlpspec.run.budget import check_memory
from mlpspec.run.builder import load_data

BASE_SPEC = """
[model]
name = "attack"
seed = 1

[data]
dataset = {dataset}

[[layers]]
type = "dense"
units = 8
activation = "tanh"

[[layers]]
type = "dense"
units = 2

[loss]
type = "softmax_cross_entropy"

[optimizer]
type = "sgd"
lr = 0.1

[train]
epochs = 2
batch_size = 16
"""


@dataclass
class Row:
    """One row of the fault table: what was injected, each trial's result, what held."""

    fault: str
    trials: list[bool]
    outcome: str


def cli(*args: str) -> tuple[int, str, str]:
    """``mlpspec ARGS`` in this process: exit status, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def clean(err: str) -> bool:
    return "internal error" not in err and "Traceback" not in err


def refused_at(load: Callable[[], object], error: type[MlpspecError], *parts: str) -> bool:
    """Whether ``load`` raises ``error`` whose message holds every one of ``parts``."""
    try:
        load()
    except error as exc:
        return all(part in str(exc) for part in parts)
    except Exception:  # anything else is the failure this row looks for
        return False
    return False


class Attacks:
    """The trials, drawn from ``chance``, in the scratch folder ``work``."""

    def __init__(self, registry: Registry, work: Path, chance: random.Random) -> None:
        self.registry, self.work, self.chance = registry, work, chance
        self.work.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def fresh(self, name: str) -> Path:
        self.count += 1
        folder = self.work / f"{self.count}"
        folder.mkdir()
        return folder / name

    def spec(self, dataset: str) -> object:
        return validate_spec(parse_toml(BASE_SPEC.format(dataset=dataset)), self.registry)

    def data(self, dataset: str) -> Callable[[], object]:
        return lambda: load_data(self.spec(dataset), self.registry)

    def arrays(self, n: int = 120) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(self.chance.randrange(2**32))
        x = rng.normal(size=(n, 2))
        return x, (x[:, 0] > 0).astype(np.int64)

    # -- D2: labels ----------------------------------------------------------------------------

    def labels(self) -> bool:
        x, y = self.arrays()
        n = len(y)
        where = self.chance.choice(["idx", "npz", "plugin"])
        variants = {  # npz labels are values to encode: floats, 7 or -1 are classes there
            "idx": ["column", "one-hot", "float", "huge", "negative"],
            "npz": ["column", "one-hot", "nan"],
            "plugin": ["column", "one-hot", "float", "range", "negative", "nan"],
        }[where]
        variant = self.chance.choice(variants)
        one = np.arange(n) == self.chance.randrange(n)
        bad = {
            "column": y[:, None],
            "one-hot": np.eye(2, dtype=np.int64)[y],
            "float": y.astype(np.float32),
            "range": np.where(one, 7, y),
            "huge": np.where(one, 10**9, y),
            "negative": np.where(one, -1, y),
            "nan": np.where(one, np.nan, y),
        }[variant]
        if where == "plugin":
            dataset = Dataset(x, bad, None, None, ["a", "b"])
            spec = self.spec('"spirals"')
            return refused_at(
                lambda: load_data(spec, self.registry, dataset=dataset), DataError, "label"
            )
        if where == "npz":
            path = self.fresh("d.npz")
            np.savez(path, x_train=x, y_train=bad)
            return refused_at(self.data(f'{{ type = "npz", path = "{path}" }}'), DataError, "d.npz")
        folder = self.fresh("idx").parent
        idx_type = {"float": np.float32, "huge": np.int32, "negative": np.int8}
        bad = bad.astype(idx_type.get(variant, np.uint8))
        images = (np.abs(x) * 50).astype(np.uint8)[:, :, None]
        write_idx(folder / "train-images-idx3-ubyte", images)
        write_idx(folder / "train-labels-idx1-ubyte", bad)
        write_idx(folder / "t10k-images-idx3-ubyte", np.zeros((4, 2, 1), np.uint8))
        write_idx(folder / "t10k-labels-idx1-ubyte", np.zeros(4, np.uint8))
        return refused_at(
            self.data(f'{{ type = "idx", path = "{folder}" }}'), DataError, "labels-idx1-ubyte"
        )

    # -- D8: features --------------------------------------------------------------------------

    def features(self) -> bool:
        x, y = self.arrays()
        row, column = self.chance.randrange(len(x)), self.chance.randrange(2)
        variant = self.chance.choice(["nan", "inf", "-inf", "1e300", "complex", "text"])
        where = self.chance.choice(["npz", "csv"]) if variant not in ("complex", "text") else "npz"
        if where == "csv":
            cell = {"1e300": "1e400"}.get(variant, variant)
            lines = [f"{a:.4f},{b:.4f},{label}" for (a, b), label in zip(x, y, strict=True)]
            cells = lines[row].split(",")
            cells[column] = cell
            lines[row] = ",".join(cells)
            path = self.fresh("d.csv")
            path.write_text("\n".join(lines) + "\n")
            return refused_at(
                self.data(f'{{ type = "csv", path = "{path}", label_column = -1 }}'),
                DataError,
                f"d.csv, line {row + 1}, column {column + 1}",
            )
        bad = x.astype(complex if variant == "complex" else str if variant == "text" else float)
        if variant in ("nan", "inf", "-inf", "1e300"):
            bad[row, column] = float(variant)
        path = self.fresh("d.npz")
        np.savez(path, x_train=bad, y_train=y)
        place = "" if variant in ("complex", "text") else f"[{row}, {column}]"
        return refused_at(
            self.data(f'{{ type = "npz", path = "{path}" }}'), DataError, "array 'x_train'", place
        )

    # -- D1's data triggers: splits ------------------------------------------------------------

    def splits(self) -> bool:
        x, y = self.arrays()
        variant = self.chance.choice(["empty test", "narrow test", "wide test", "image size"])
        if variant == "image size":
            folder = self.fresh("idx").parent
            write_idx(folder / "train-images-idx3-ubyte", np.zeros((20, 4, 4), np.uint8))
            write_idx(folder / "train-labels-idx1-ubyte", np.arange(20, dtype=np.uint8) % 2)
            side = self.chance.choice([3, 5, 28])
            write_idx(folder / "t10k-images-idx3-ubyte", np.zeros((4, side, side), np.uint8))
            write_idx(folder / "t10k-labels-idx1-ubyte", np.zeros(4, np.uint8))
            load = self.data(f'{{ type = "idx", path = "{folder}" }}')
            return refused_at(load, DataError, "t10k-images-idx3-ubyte", "values per example")
        test = {"empty test": x[:0], "narrow test": x[:, :1], "wide test": np.c_[x, x]}[variant]
        path = self.fresh("d.npz")
        np.savez(path, x_train=x, y_train=y, x_test=test, y_test=y[: len(test)])
        load = self.data(f'{{ type = "npz", path = "{path}" }}')
        return refused_at(load, DataError, "array 'x_test'")

    # -- D4: CSV columns and delimiters ----------------------------------------------------------

    def csv_columns(self) -> bool:
        x, y = self.arrays()
        path = self.fresh("t.csv")
        np.savetxt(path, np.c_[x, y], delimiter=",", fmt="%.4f")
        if self.chance.random() < 0.5:
            column = self.chance.choice([3, 4, 7, 100, -4, -5, -100])
            dataset = f'{{ type = "csv", path = "{path}", label_column = {column} }}'
            return refused_at(self.data(dataset), DataError, f"label_column {column} is outside")
        delimiter = self.chance.choice(["", ";;", "1", ".", "-", "#", "\\n", "'"])
        dataset = f'{{ type = "csv", path = "{path}", delimiter = "{delimiter}" }}'
        return refused_at(self.data(dataset), SpecError, "the delimiter must be one character")

    # -- D5 and D8: predict's inputs --------------------------------------------------------------

    def predict_inputs(self, run: Path) -> bool:
        rows = [",".join(str(self.chance.randrange(256)) for _ in range(64)) for _ in range(5)]
        variant = self.chance.choice(["typo", "ragged", "nan", "inf", "1e308", "complex", "empty"])
        at = self.chance.randrange(len(rows))
        if variant in ("complex", "empty"):
            path = self.fresh("x.npy")
            np.save(path, np.ones((2, 64)) + 1j if variant == "complex" else np.zeros((0, 64)))
            code, out, err = cli("predict", str(run), str(path))
            return code == 1 and "x.npy: holds" in err and not out and clean(err)
        cells = rows[at].split(",")
        column = self.chance.randrange(64)
        cells[column] = {"typo": "O" + cells[column], "nan": "nan", "inf": "-inf"}.get(
            variant, "1e308"
        )
        if variant == "ragged":
            cells.append("1")
        rows[at] = ",".join(cells)
        path = self.fresh("x.csv")
        path.write_text("\n".join(rows) + "\n")
        code, out, err = cli("predict", str(run), str(path))
        if variant == "1e308":  # finite in float64, infinite in the model's float32
            place = f"x.csv:{at + 1}: value {column + 1} of the row, preprocessed"
        elif variant == "ragged":
            place = f"x.csv, line {2 if at == 0 else at + 1}:"
        else:
            place = f"x.csv, line {at + 1}, column {column + 1}"
        return code == 1 and place in err and not out and clean(err)

    def broken_model(self, run: Path) -> bool:
        with np.load(run / "model.npz") as saved:
            weights = dict(saved)
        name = self.chance.choice(sorted(weights))
        index = tuple(self.chance.randrange(n) for n in weights[name].shape)
        weights[name][index] = self.chance.choice([np.nan, np.inf, -np.inf])
        np.savez(run / "model.npz", **weights)
        path = self.fresh("x.npy")
        np.save(path, np.zeros((1, 64)))
        code, out, err = cli("predict", str(run), str(path))
        return code == 1 and f"model.npz: {name} holds NaN or infinite values" in err and not out

    # -- D7: bombs ------------------------------------------------------------------------------

    def bombs(self, run: Path, resumable: Path) -> tuple[list[bool], int]:
        """A 128 MiB member of zeros (128 KB deflated) as a model file, a checkpoint, an npz
        dataset and a run's predictions: each refused from its headers; returns the results
        and the peak bytes allocated."""
        dataset = self.fresh("d.npz")
        targets: dict[Path, Callable[[], object]] = {
            run / "model.npz": lambda: load_run(run, self.registry),
            checkpoints.find(resumable)[-1]: lambda: checkpoints.read(
                checkpoints.find(resumable)[-1]
            ),
            dataset: self.data(f'{{ type = "npz", path = "{dataset}" }}'),
            run / "predictions.npz": lambda: read_npz(run / "predictions.npz"),
        }
        trials, peak = [], 0
        for path, load in targets.items():
            name = self.chance.choice(["layers.0.weight", "x_train", "model/layers.0.weight"])
            _bomb(path, name, 2**27)
            tracemalloc.start()
            try:
                refused = refused_at(load, DataError, path.name)
                used = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
            trials.append(refused and used < 16 * 2**20)  # far less than the bomb holds
            peak = max(peak, used)
        return trials, peak

    # -- D16: what is not a regular file, or too much of one --------------------------------------

    def special_files(self) -> tuple[list[bool], float]:
        trials, slowest = [], 0.0
        fifo = self.fresh("fifo")
        os.mkfifo(fifo)
        big = self.fresh("big.toml")
        big.write_bytes(b"#" * (2**20 + 1))
        for path in (fifo, Path("/dev/zero"), big, fifo.parent):
            for command in ("spec", "data"):
                if command == "spec":
                    args = ["validate", str(path)]
                else:
                    spec = fifo.parent / "csv.toml"
                    dataset = f'{{ type = "csv", path = "{path}" }}'
                    spec.write_text(BASE_SPEC.format(dataset=dataset))
                    args = ["run", str(spec), "--no-save", "-q"]
                started = time.perf_counter()
                done = _child(args)
                slowest = max(slowest, time.perf_counter() - started)
                expected = 2 if command == "spec" else 1
                trials.append(
                    done is not None and done.returncode == expected and clean(done.stderr)
                    and str(path) in done.stderr
                )
        return trials, slowest

    # -- D9: IDX headers, TOML nesting, --set paths -----------------------------------------------

    def idx_headers(self) -> bool:
        ndim = self.chance.choice([3, 3, 4, 40, 255])
        dims = [self.chance.choice([2**31, 2**32 - 1, 60000, 2**20]) for _ in range(min(ndim, 4))]
        dims += [1] * (ndim - len(dims))
        code, itemsize = self.chance.choice([(8, 1), (0x0D, 4), (0x0E, 8)])
        data = bytes([0, 0, code, ndim]) + struct.pack(f">{ndim}I", *dims) + b"\0" * 64
        path = self.fresh("x-idx3-ubyte" + (".gz" if self.chance.random() < 0.5 else ""))
        path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
        # the message states what the header says: its dimensions, or its true size
        said = f"{ndim} dimensions" if ndim > 32 else f"{math.prod(dims) * itemsize:,} bytes"
        return refused_at(lambda: read_idx(path), DataError, str(path), said)

    def nesting(self) -> bool:
        depth = self.chance.randrange(200, 5000)
        form = self.chance.choice(["array", "table", "dotted", "header"])
        deep = {
            "array": "seed = " + "[" * depth + "]" * depth,
            "table": "seed = " + "{a=" * depth + "1" + "}" * depth,
            "dotted": "seed." + ".".join(["a"] * depth) + " = 1",
            "header": "[model.x." + ".".join(["a"] * depth) + "]",
        }[form]
        text = BASE_SPEC.format(dataset='"spirals"').replace("seed = 1", deep)
        path = self.fresh("deep.toml")
        path.write_text(text)
        code, _, err = cli("validate", str(path))
        return code == 2 and f"{path}: 1 problem in the spec" in err and clean(err)

    def set_paths(self, spec: Path) -> bool:
        key = self.chance.choice(
            [
                f"layers[{self.chance.randrange(2, 10**25)}].units",
                f"train.epochs.{self.chance.choice(['x', 'y'])}",
                "layers.units",
                f"layers[-{self.chance.randrange(1, 9)}].units",
                "..",
                "model.name[0]",
                "layers[0][1]",
                "[model]",
                "a b",
                "model..name",
            ]
        )
        code, _, err = cli("run", str(spec), "--no-save", "--set", f"{key}=1")
        return code == 2 and f"1 problem in the spec\n  {key}: " in err and clean(err)

    # -- D12: text from files, on the terminal --------------------------------------------------

    def terminal_text(self, run: Path) -> bool:
        escape = self.chance.choice(["\x1b[2J", "\x1b]0;title\x07", "\r", "\u202e", "\x9b31m"])
        if self.chance.random() < 0.5:
            import json

            summary = json.loads((run / "summary.json").read_text())
            summary["classes"] = [f"{escape}{c}" for c in summary["classes"]]
            (run / "summary.json").write_text(json.dumps(summary))
            path = self.fresh("x.npy")
            np.save(path, np.zeros((1, 64)))
            code, out, err = cli("predict", str(run), str(path))
            return code == 0 and escape not in out + err
        path = self.fresh(f"{escape}data.npz")
        code, _, err = cli(
            "run",
            str(self.write_spec(f'{{ type = "npz", path = "{path}" }}')),
            "--no-save",
        )
        return code == 1 and escape not in err and "no such file" in err

    def write_spec(self, dataset: str) -> Path:
        """A spec file of BASE_SPEC with ``dataset``; control characters in it written as
        TOML escapes (the text they stand for is what the spec holds)."""
        path = self.fresh("spec.toml")
        text = BASE_SPEC.format(dataset=dataset)
        path.write_text(
            "".join(f"\\u{ord(c):04x}" if ord(c) < 32 and c not in "\n\t" else c for c in text)
        )
        return path

    # -- D13: the memory estimate ---------------------------------------------------------------

    def batch_estimate(self) -> bool:
        batch = 10 ** self.chance.randrange(4, 16)
        text = BASE_SPEC.format(dataset='"spirals"')
        text = text.replace("batch_size = 16", f"batch_size = {batch}")
        spec = validate_spec(parse_toml(text), self.registry)
        try:
            check_memory(spec, features=2, examples=1000, limit=2**30)
        except SpecError:
            return False
        return True


def _bomb(path: Path, name: str, zeros: int) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            header, {"descr": "<f4", "fortran_order": False, "shape": (zeros // 4,)}
        )
        with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
            member.write(header.getvalue())
            for _ in range(zeros // 2**20):
                member.write(b"\0" * 2**20)


def _child(args: list[str], timeout: float = 20) -> subprocess.CompletedProcess | None:
    """``mlpspec ARGS`` in a child of at most 2 GB, or ``None`` if it outlived ``timeout``."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2**31, 2**31))

    try:
        return subprocess.run(
            [sys.executable, "-m", "mlpspec", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            preexec_fn=limit,
        )
    except subprocess.TimeoutExpired:
        return None


def attack_rows(
    registry: Registry, work: Path, chance: random.Random, run: Path, resumable: Path
) -> list[Row]:
    """Every attack class, tried afresh; ``run`` is a finished 8×8-image run (64 features)
    and ``resumable`` a run folder with checkpoints, both copied before they are damaged."""
    attacks = Attacks(registry, work, chance)

    def copy(folder: Path) -> Path:
        return Path(shutil.copytree(folder, attacks.fresh(folder.name)))

    spec = attacks.write_spec('"spirals"')
    bombs, peak = attacks.bombs(copy(run), copy(resumable))
    special, slowest = attacks.special_files()
    return [
        Row(
            "labels that are no class index per example: (N, 1), one-hot, float, out of "
            "range, negative, NaN; in IDX, npz and a plugin's arrays",
            [attacks.labels() for _ in range(12)],
            "refused at load, before anything trains: a DataError naming the file (or the "
            "dataset) and the label",
        ),
        Row(
            "features that are no finite real numbers: NaN, ±inf, 1e300 (inf in float32), "
            "complex, text; in npz and CSV",
            [attacks.features() for _ in range(12)],
            "refused at load: a DataError naming the file and the place (CSV: line and column)",
        ),
        Row(
            "a test set that is empty, or of another width than the training set (npz, IDX)",
            [attacks.splits() for _ in range(8)],
            "refused at load, naming the file: nothing trained, nothing lost",
        ),
        Row(
            "CSV label_column outside the table, delimiters that cannot separate numbers",
            [attacks.csv_columns() for _ in range(8)],
            "a DataError naming the file and the table's columns; a SpecError at "
            "data.dataset.delimiter",
        ),
        Row(
            "predict: a CSV row with a typo, ragged, NaN, inf or 1e308 cells; complex or "
            "empty arrays",
            [attacks.predict_inputs(run) for _ in range(14)],
            "exit 1 naming the file and line (or row) and the column; nothing predicted",
        ),
        Row(
            "predict with a model whose weights hold NaN or ±inf",
            [attacks.broken_model(copy(run)) for _ in range(4)],
            "exit 1 naming model.npz and the array",
        ),
        Row(
            "zip bombs (128 MiB of zeros in 128 KB) as model.npz, a checkpoint, an npz "
            "dataset, predictions.npz",
            bombs,
            "refused from the arrays' headers before decompressing; at most "
            f"{peak / 2**20:.1f} MiB allocated",
        ),
        Row(
            "a spec or a CSV dataset that is a FIFO, /dev/zero, a folder, or over 1 MiB",
            special,
            "refused before reading: exit 2 for a spec, 1 for data, the path named (each "
            f"command a fresh process, start-up included: {slowest:.1f} s at most)",
        ),
        Row(
            "IDX headers of 4 to 255 dimensions whose sizes overflow 64 bits or exceed memory "
            "(plain and gzip)",
            [attacks.idx_headers() for _ in range(10)],
            "a DataError naming the file and what the header says (its dimensions, or its "
            "size in bytes, computed without overflow) before any data is read",
        ),
        Row(
            "specs nested 200 to 5,000 deep (arrays, inline tables, dotted keys, headers)",
            [attacks.nesting() for _ in range(8)],
            "a SpecError at the spec (exit 2); validate goes on to the next spec",
        ),
        Row(
            "malformed --set paths (index past the end or negative, into a number or a "
            "string, a name where an index belongs, empty parts)",
            [attacks.set_paths(spec) for _ in range(10)],
            "a SpecError naming the --set key and what is there instead (exit 2)",
        ),
        Row(
            "escape sequences (ANSI, OSC title, CR, bidi override, C1) in a run folder's "
            "class names and in file paths a message quotes",
            [attacks.terminal_text(copy(run)) for _ in range(6)],
            "shown escaped: no control character reaches the terminal",
        ),
        Row(
            "a batch size far larger than the training set, in the memory estimate",
            [attacks.batch_estimate() for _ in range(4)],
            "estimated for the batch training really uses (the whole set): accepted",
        ),
    ]
