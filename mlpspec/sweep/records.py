"""What a sweep leaves besides its trials' run folders: ``trials.jsonl`` (one
:class:`TrialRecord` per finished trial) and ``sweep.json`` (a :class:`SweepRecord`).

Both are derived from the study's journal, which stays the one source of truth: a record line
lost to a crash is written again from it when the sweep resumes or ends.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from mlpspec.core.errors import DataError
from mlpspec.run.rundir import atomic_write, read_run_file
from mlpspec.sweep.trial import TrialOutcome

TRIALS_FILE = "trials.jsonl"
SWEEP_RECORD = "sweep.json"
State = Literal["complete", "pruned", "failed"]


class TrialRecord(BaseModel):
    """One finished trial, as a line of ``trials.jsonl``."""

    model_config = ConfigDict(extra="ignore")

    number: int
    params: dict[str, Any]
    """The searched values, by path, as the trial's spec has them."""
    state: State
    value: float | None = None
    """The sweep's metric; for a pruned trial, at the epoch it was pruned."""
    epochs: int | None = None
    pruned_at: int | None = None
    seconds: float | None = None
    host: str | None = None
    pid: int | None = None
    run_dir: str | None = None
    """The trial's run folder, relative to the sweep's (``trials/0003``)."""
    reason: str | None = None
    """Why it failed (a lost worker included), or what pruned it."""

    @classmethod
    def of(cls, outcome: TrialOutcome, params: dict[str, Any], run_dir: str | None) -> TrialRecord:
        state: State = "failed" if outcome.status in ("failed", "lost") else outcome.status  # type: ignore[assignment]
        reason = outcome.reason
        if outcome.status == "lost":
            reason = f"lost: {reason}"
        fields = outcome.model_dump(exclude={"status", "reason", "number"})
        return cls(number=outcome.number, params=params, state=state, run_dir=run_dir,
                   reason=reason, **fields)


def best(records: Iterable[TrialRecord], goal: str) -> TrialRecord | None:
    """The complete trial with the best value (the first of equals)."""
    complete = [r for r in records if r.state == "complete" and r.value is not None]
    if not complete:
        return None
    sign = -1.0 if goal == "maximize" else 1.0
    return min(complete, key=lambda r: (sign * float(r.value or 0.0), r.number))


def ranked(records: Iterable[TrialRecord], goal: str) -> list[TrialRecord]:
    """Complete trials best first, then pruned ones by value, then failed ones."""
    sign = -1.0 if goal == "maximize" else 1.0
    order = {"complete": 0, "pruned": 1, "failed": 2}

    def key(record: TrialRecord) -> tuple[int, float, int]:
        value = sign * record.value if record.value is not None else float("inf")
        return order[record.state], value, record.number

    return sorted(records, key=key)


def write_trials(path: Path, records: Sequence[TrialRecord]) -> None:
    """Replace ``trials.jsonl`` with ``records``, by number, atomically."""
    lines = [r.model_dump_json() + "\n" for r in sorted(records, key=lambda r: r.number)]
    atomic_write(path, "".join(lines).encode())


def append_trial(path: Path, record: TrialRecord) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(record.model_dump_json() + "\n")


class SweepRecord(BaseModel):
    """``sweep.json``: what the sweep is, and how far it got."""

    name: str
    status: Literal["running", "completed", "interrupted", "failed"] = "running"
    metric: str
    goal: str
    trials: int
    """How many trials it runs in all."""
    started: str
    updated: str = ""
    executor: str = ""
    """Where its trials ran last."""
    error: str | None = None

    def save(self, folder: Path) -> None:
        self.updated = now()
        atomic_write(folder / SWEEP_RECORD, (self.model_dump_json(indent=2) + "\n").encode())

    @classmethod
    def load(cls, folder: Path) -> SweepRecord:
        path = folder / SWEEP_RECORD
        try:
            return cls.model_validate_json(read_run_file(path, "sweep folder"))
        except (ValidationError, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: damaged sweep record ({exc!r:.80})") from None


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
