"""Past runs, as ``mlpspec runs`` lists them: one row per run folder, from its record.

A folder that is not a complete run (a run still going, interrupted, or damaged) is listed
with what is wrong rather than stopping the listing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from mlpspec.core.errors import MlpspecError
from mlpspec.core.text import columns
from mlpspec.run.record import RunRecord
from mlpspec.run.rundir import METRICS, MODEL, SPEC, SUMMARY, RunDirectory

RUN_FILES = (SUMMARY, SPEC, METRICS, MODEL)
"""A folder holding any of these is taken for a run folder."""


@dataclass(frozen=True)
class RunInfo:
    """One run folder and its record; ``problem`` says what is wrong when it has none."""

    path: Path
    record: RunRecord | None
    problem: str | None = None

    @property
    def name(self) -> str:
        return self.record.name if self.record else self.path.name

    @property
    def started(self) -> datetime | None:
        return self.record.started_at() if self.record else None

    @property
    def status(self) -> str:
        return self.problem or (self.record.status if self.record else "unknown")

    def to_dict(self) -> dict[str, Any]:
        """The row as ``mlpspec runs --json`` prints it."""
        started, record = self.started, self.record
        return {
            "path": str(self.path),
            "name": self.name,
            "started": started.isoformat() if started else None,
            "dataset": record.dataset if record else None,
            "epochs_run": record.epochs_run if record else None,
            "best_val_accuracy": record.best_val_accuracy if record else None,
            "test_accuracy": record.test_accuracy if record else None,
            "seconds": record.seconds if record else None,
            "status": self.status,
        }


def read_run(path: Path) -> RunInfo:
    """The run at ``path``; never raises for a damaged folder, it says what is wrong."""
    if not (path / SUMMARY).is_file():
        return RunInfo(path, None, "no summary (killed before it started?)")
    try:
        return RunInfo(path, RunDirectory(path).read_record())
    except MlpspecError as exc:
        return RunInfo(path, None, f"damaged: {exc}".replace(f"{path / SUMMARY}: ", ""))


def find_runs(root: Path) -> list[RunInfo]:
    """Every run folder directly under ``root`` (or ``root`` itself, if it is one)."""
    if _is_run(root):
        return [read_run(root)]
    if not root.is_dir():
        raise MlpspecError(f"{root}: no such folder")
    return [read_run(path) for path in sorted(root.iterdir()) if _is_run(path)]


def _is_run(path: Path) -> bool:
    return path.is_dir() and any((path / name).exists() for name in RUN_FILES)


SORT_KEYS: dict[str, tuple[Callable[[RunInfo], Any], bool]] = {
    # key: (value, whether the largest comes first)
    "date": (lambda r: r.started.timestamp() if r.started else None, True),
    "name": (lambda r: r.name.lower(), False),
    "dataset": (lambda r: r.record and r.record.dataset, False),
    "epochs": (lambda r: r.record and r.record.epochs_run, True),
    "val": (lambda r: r.record and r.record.best_val_accuracy, True),
    "test": (lambda r: r.record and r.record.test_accuracy, True),
    "time": (lambda r: r.record and r.record.seconds, False),
}
"""What ``--sort`` accepts: dates newest first, accuracies and epochs largest first, names
and datasets in alphabetical order, wall time shortest first."""


def sort_runs(runs: Sequence[RunInfo], key: str = "date", reverse: bool = False) -> list[RunInfo]:
    """Runs in ``key``'s natural order (``reverse`` flips it); runs without a value last."""
    value, descending = SORT_KEYS[key]
    known = [run for run in runs if value(run) is not None]
    unknown = [run for run in runs if value(run) is None]
    known.sort(key=value, reverse=descending != reverse)
    return known + unknown


COLUMNS = ("run", "name", "started", "dataset", "epochs", "best val", "test", "time", "status")


def table(runs: Sequence[RunInfo], root: Path) -> str:
    """An aligned text table, one row per run; numbers right-aligned."""
    numeric = {COLUMNS.index(name) for name in ("epochs", "best val", "test", "time")}
    return "\n".join(columns([COLUMNS, *(_row(run, root) for run in runs)], numeric))


def _row(run: RunInfo, root: Path) -> tuple[str, ...]:
    started, record = run.started, run.record
    folder = run.path.relative_to(root) if run.path.is_relative_to(root) else run.path
    return (
        str(folder) if str(folder) != "." else run.path.name,
        run.name,
        started.astimezone().strftime("%Y-%m-%d %H:%M") if started else "-",
        record.dataset if record and record.dataset else "-",
        _text(record and record.epochs_run, "{}"),
        _text(record and record.best_val_accuracy, "{:.2%}"),
        _text(record and record.test_accuracy, "{:.2%}"),
        _text(record and record.seconds, "{:.1f}s"),
        run.status,
    )


def _text(value: Any, form: str) -> str:
    return "-" if value is None else form.format(value)
