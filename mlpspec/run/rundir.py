"""The run directory: everything a run leaves behind, each file written atomically.

``spec.toml`` (the resolved spec, every default filled in), ``metrics.jsonl`` (one line per
evaluation, appended as training goes), ``model.npz`` (weights, loadable with
``allow_pickle=False``), ``components.json`` (which package supplied each component) and
``summary.json`` (the outcome); ``predictions.npz`` (the test set's labels and predicted
probabilities, and the first misclassified images) and the plots' PNG files once it is done;
``checkpoints/`` when training was interrupted or ``train.checkpoint_every`` is set.

Every file is replaced atomically, except ``metrics.jsonl``, which grows by one line per
evaluation: rewriting it whole each time would cost time quadratic in the evaluations. Each
line goes out in a single write ending in a newline, so a crash can at worst leave a final
fragment without one; :meth:`RunDirectory.read_metrics` ignores such a torn last line, and a
resumed run rewrites the file (atomically) from its checkpoint's history.
"""

from __future__ import annotations

import glob
import io
import json
import os
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import tomli_w
from filelock import FileLock, Timeout

from mlpspec.core.errors import DataError, MlpspecError, UsageError
from mlpspec.core.files import FileProblem, read_limited
from mlpspec.core.text import file_name_part
from mlpspec.data.npz import read_npz
from mlpspec.engine.training import Evaluation
from mlpspec.run.record import RunRecord

SPEC, METRICS, MODEL, COMPONENTS, SUMMARY, PREDICTIONS = (
    "spec.toml",
    "metrics.jsonl",
    "model.npz",
    "components.json",
    "summary.json",
    "predictions.npz",
)


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` so that ``path`` holds either its old content or all of the new.

    The data goes to a temporary file beside ``path``, is flushed to disk, and renamed over
    ``path``; the folder is then synced so that the rename itself survives a power cut. A
    process killed mid-write leaves its temporary file behind: the next write of the same
    path removes it (one process writes a run folder, so no other writer's file is at risk).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        stale.unlink(missing_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def new_run_dir(base: Path, name: str) -> Path:
    """A fresh folder ``base/NAME-YYYYmmdd-HHMMSS`` (with a counter if that exists)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    safe = file_name_part(name) or "run"
    for attempt in range(1000):
        path = base / (f"{safe}-{stamp}" + (f"-{attempt}" if attempt else ""))
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free run folder name under {base}")


class RunDirectory:
    """Writes and reads the files of one run."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def write_spec(self, spec: dict[str, Any]) -> None:
        atomic_write(self.path / SPEC, tomli_w.dumps(spec).encode())

    def write_json(self, name: str, data: Any) -> None:
        atomic_write(self.path / name, (json.dumps(data, indent=2) + "\n").encode())

    def append_metrics(self, record: dict[str, Any]) -> None:
        """Add one evaluation, in a single write that ends the line (see the module's notes)."""
        with open(self.path / METRICS, "ab") as handle:
            handle.write((json.dumps(record) + "\n").encode())
            handle.flush()
            os.fsync(handle.fileno())

    def write_metrics(self, records: Iterable[dict[str, Any]]) -> None:
        """Replace the metrics with ``records``, atomically (a resumed run's history so far)."""
        atomic_write(self.path / METRICS, "".join(json.dumps(r) + "\n" for r in records).encode())

    def write_weights(self, state: dict[str, np.ndarray]) -> None:
        self.write_arrays(MODEL, state)

    def write_arrays(self, name: str, arrays: dict[str, np.ndarray]) -> None:
        save_arrays(self.path / name, arrays)

    def read_json(self, name: str) -> Any:
        return _parse_json(read_run_file(self.path / name), self.path / name)

    def read_metrics(self) -> list[dict[str, Any]]:
        """The evaluations written so far; a torn last line (a crash mid-append) is left out."""
        path = self.path / METRICS
        if not path.exists():
            return []
        lines = read_run_file(path).split(b"\n")
        # lines[-1] is unterminated
        return [_parse_json(line, f"{path}, line {n}") for n, line in enumerate(lines[:-1], 1)]

    def write_record(self, record: RunRecord) -> None:
        atomic_write(self.path / SUMMARY, record.to_json().encode())

    def read_record(self) -> RunRecord:
        return load_record(self.path / SUMMARY)

    def read_evaluations(self) -> list[Evaluation]:
        """``metrics.jsonl`` as evaluations; a line that is not one is an error naming it."""
        evaluations = []
        for number, line in enumerate(self.read_metrics(), start=1):
            try:
                evaluations.append(Evaluation.from_dict(line))
            except (KeyError, TypeError, ValueError, AttributeError):
                raise DataError(
                    f"{self.path / METRICS}, line {number}: not an evaluation"
                ) from None
        return evaluations

    def read_weights(self, expected: Mapping[str, Any] | None = None) -> dict[str, np.ndarray]:
        """``model.npz``, checked against ``expected`` (a model's state) before decompressing."""
        return read_npz(self.path / MODEL, what="model file", expected=expected)

    def read_arrays(self, name: str) -> dict[str, np.ndarray]:
        return read_npz(self.path / name)


RUN_FILE_LIMIT = 256 * 2**20
"""The most a run folder's text file (record, components, metrics) may hold: far above what
a run writes (a line per evaluation), far below what would exhaust memory."""


def read_run_file(path: Path, folder: str = "run folder") -> bytes:
    """A file of a run folder (or of another ``folder`` mlpspec writes: a sweep folder), read
    as :mod:`mlpspec.core.files` reads anything a user may point at: a regular file of bounded
    size (a FIFO or ``/dev/zero`` in its place is refused at once); any problem is a
    :class:`DataError` naming it, and a missing file asks whether its folder is one."""
    try:
        return read_limited(path, RUN_FILE_LIMIT, f"{folder}'s file")
    except FileProblem as exc:
        hint = f"; is {path.parent} a {folder}?" if str(exc) == "no such file" else ""
        raise DataError(f"{path}: {exc}{hint}") from None


def _parse_json(raw: bytes, where: object) -> Any:
    try:
        return json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise DataError(f"{where}: not valid JSON (nested too deeply)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{where}: not valid JSON ({exc!r:.80})") from None


def load_record(path: Path) -> RunRecord:
    """Read the record (``summary.json``) at ``path``; every damage is a :class:`DataError`
    naming it."""
    return RunRecord.from_json(_parse_json(read_run_file(path), path), path)


def save_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write named arrays as an .npz file, atomically (see :func:`atomic_write`)."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write(path, buffer.getvalue())


LOCK = ".lock"
"""The lock file that keeps one writer per run or sweep folder."""


@contextmanager
def exclusive(folder: Path, what: str) -> Iterator[None]:
    """Hold ``folder``'s lock for the block, or refuse at once: one writer per ``what`` (a run
    folder, a sweep folder), so that two ``--resume`` at once can never interleave."""
    lock = FileLock(folder / LOCK)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise UsageError(
            f"{folder}: another mlpspec process is using this {what}; wait for it to end (or "
            "stop it) and try again"
        ) from None
    except OSError as exc:
        raise MlpspecError(f"{folder}: cannot lock the {what} ({exc})") from None
    try:
        yield
    finally:
        lock.release()
