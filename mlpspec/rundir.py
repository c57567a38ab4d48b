"""The run directory: everything a run leaves behind, each file written atomically.

``spec.toml`` (the resolved spec, every default filled in), ``metrics.jsonl`` (one line per
evaluation, appended as training goes), ``model.npz`` (weights, loadable with
``allow_pickle=False``), ``components.json`` (which package supplied each component) and
``summary.json`` (the outcome); ``predictions.npz`` (the test set's labels and predicted
probabilities, and the first misclassified images) and the plots' PNG files once it is done.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import tomli_w

from mlpspec.errors import DataError

SPEC, METRICS, MODEL, COMPONENTS, SUMMARY, PREDICTIONS = (
    "spec.toml",
    "metrics.jsonl",
    "model.npz",
    "components.json",
    "summary.json",
    "predictions.npz",
)


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` so that ``path`` holds either its old content or all of the new."""
    path.parent.mkdir(parents=True, exist_ok=True)
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
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "run"
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
        with open(self.path / METRICS, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def write_weights(self, state: dict[str, np.ndarray]) -> None:
        self.write_arrays(MODEL, state)

    def write_arrays(self, name: str, arrays: dict[str, np.ndarray]) -> None:
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        atomic_write(self.path / name, buffer.getvalue())

    def read_json(self, name: str) -> Any:
        path = self.path / name
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DataError(f"{path}: no such file; is {self.path} a run folder?") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: not valid JSON ({exc})") from None

    def read_metrics(self) -> Iterable[dict[str, Any]]:
        path = self.path / METRICS
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    yield json.loads(line)

    def read_weights(self) -> dict[str, np.ndarray]:
        return self.read_arrays(MODEL)

    def read_arrays(self, name: str) -> dict[str, np.ndarray]:
        path = self.path / name
        try:
            with np.load(path, allow_pickle=False) as archive:
                return {key: archive[key] for key in archive.files}
        except FileNotFoundError:
            raise DataError(f"{path}: no such file") from None
        except Exception as exc:  # zip, format and pickle refusals alike
            raise DataError(f"{path}: not a readable array file ({exc})") from None
