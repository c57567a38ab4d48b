"""What a run is and what it leaves: the typed :class:`RunRecord` saved as ``summary.json``.

This module is the only place that writes or reads a run's outcome. Every reader (``mlpspec
runs``, ``plot``, ``evaluate``, ``predict``, ``diff``, ``load_run``, ``--json``, the run hooks)
gets a :class:`RunRecord` and reads typed fields. ``record_version`` 2 is this form; a
``summary.json`` written by mlpspec 0.1 (no version, flat metric keys) is read into the same
record, so old run folders keep loading.

A record that cannot be read (not JSON, nested beyond reason, a string where a number belongs)
is a :class:`~mlpspec.core.errors.DataError` naming the file and the field, never a crash.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mlpspec._version import __version__
from mlpspec.core.errors import DataError, format_location
from mlpspec.core.spec import Spec

RECORD_VERSION = 2
Status = Literal["running", "completed", "failed", "interrupted"]
MetricValues = dict[str, float]
"""A split's values by metric name, ``loss`` included: ``{"loss": 0.31, "accuracy": 0.91}``."""


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore", validate_assignment=True)


class Examples(_Record):
    train: int = Field(ge=0)
    validation: int = Field(0, ge=0)
    test: int = Field(0, ge=0)


class Machine(_Record):
    python: str = ""
    numpy: str = ""
    platform: str = ""

    @classmethod
    def this(cls) -> Machine:
        return cls(
            python=platform.python_version(), numpy=np.__version__, platform=platform.platform()
        )


class Culprit(_Record):
    """The component whose code raised when a run failed, as the spec names it."""

    place: str
    """Where the spec names it: ``layers[1].activation``, ``optimizer``, ``train.metrics[0]``."""
    kind: str
    name: str
    package: str
    """Who supplied it: ``mlpspec-extras 1.2 (extras)`` or ``mymodule (local module)``."""

    def describe(self) -> str:
        return f"{self.place} ({self.kind} {self.name!r} from {self.package})"


class RunRecord(_Record):
    """A run's facts (fixed at its start) and its outcome (filled in as it ends)."""

    record_version: int = RECORD_VERSION
    name: str
    status: Status = "running"
    spec: str = "<spec>"
    """Where the spec was read from (the run folder's ``spec.toml`` is its resolved copy)."""
    spec_dir: str | None = None
    """The folder the spec's relative paths (data files) start from."""
    spec_fingerprint: str | None = None
    """SHA-256 of the resolved spec: a checkpoint of another spec is refused on resume."""
    started: str = ""
    dataset: str = ""
    features: int = Field(gt=0)
    classes: list[str]
    image_shape: tuple[int, int] | None = None
    preprocessing: dict[str, float | str] | None = None
    examples: Examples
    mlpspec: str = __version__
    machine: Machine = Field(default_factory=Machine)
    metrics: list[str] = Field(default_factory=lambda: ["accuracy"])
    """The metrics each evaluation records (besides the loss)."""
    monitor: str = "val_loss"
    schedule: list[float] = Field(default_factory=list)
    """The learning rate of each epoch, as the scheduler gave it."""

    epochs_run: int = Field(0, ge=0)
    steps: int = Field(0, ge=0)
    stop_reason: str | None = None
    best_epoch: int | None = None
    train: MetricValues = Field(default_factory=dict)
    """The last evaluation's values on the training set."""
    val: MetricValues = Field(default_factory=dict)
    best_val: MetricValues = Field(default_factory=dict)
    """Each validation metric's best value over the evaluations."""
    test: MetricValues = Field(default_factory=dict)
    train_seconds: float | None = None
    seconds: float | None = None

    signal: str | None = None
    error: str | None = None
    culprit: Culprit | None = None
    resumed_at_epoch: list[int] = Field(default_factory=list)
    tracking: dict[str, str] = Field(default_factory=dict)
    """Ids that trackers keep with the run (an MLflow run id), so a resumed run continues
    the same tracked run."""
    warnings: list[str] = Field(default_factory=list)
    """What went wrong without costing the run (a plugin's hook that raised)."""

    @property
    def stopped_early(self) -> bool:
        return self.stop_reason is not None

    def warn(self, *messages: str) -> None:
        """Note what went wrong without costing the run; a message already noted is kept once
        (a hook failing at every evaluation)."""
        self.warnings = self.warnings + [m for m in messages if m not in self.warnings]

    @property
    def test_accuracy(self) -> float | None:
        return self.test.get("accuracy")

    @property
    def test_loss(self) -> float | None:
        return self.test.get("loss")

    @property
    def best_val_accuracy(self) -> float | None:
        return self.best_val.get("accuracy")

    def started_at(self) -> datetime | None:
        try:
            return datetime.fromisoformat(self.started)
        except ValueError:
            return None

    def resumed(self, at_epoch: int) -> RunRecord:
        """This run's record as it continues from a checkpoint after ``at_epoch`` epochs: its
        facts kept, its outcome cleared."""
        outcome = {
            name: type(self).model_fields[name].get_default(call_default_factory=True)
            for name in OUTCOME_FIELDS
        }
        return self.model_copy(
            update=outcome | {"resumed_at_epoch": [*self.resumed_at_epoch, at_epoch]}
        )

    def to_json(self) -> str:
        return self.model_dump_json(indent=2) + "\n"

    @classmethod
    def from_json(cls, data: Any, source: str | Path) -> RunRecord:
        """A record from ``summary.json``'s parsed content, of any version."""
        if not isinstance(data, dict):
            raise DataError(f"{source}: not a run record (a JSON object is expected)")
        if "record_version" not in data:
            data = _from_version_1(data)
        elif not isinstance(data["record_version"], int) or data["record_version"] > (
            RECORD_VERSION
        ):
            raise DataError(
                f"{source}: record_version {data['record_version']!r} is newer than this "
                f"mlpspec reads ({RECORD_VERSION}): upgrade mlpspec"
            )
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = format_location(tuple(error["loc"])) or "the record"
            more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
            raise DataError(
                f"{source}: damaged run record at {where}: {error['msg']}{more}"
            ) from None

    @classmethod
    def starting(cls, spec: Spec, facts: RunFacts) -> RunRecord:
        """The record of a run about to train."""
        return cls(
            name=spec.model.name,
            spec=spec.source,
            spec_dir=str(facts.spec_dir),
            spec_fingerprint=spec.fingerprint(),
            started=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            dataset=spec.data.dataset.name,
            features=facts.features,
            classes=[str(c) for c in facts.classes],
            image_shape=facts.image_shape,
            preprocessing=facts.preprocessing,
            examples=facts.examples,
            machine=Machine.this(),
            metrics=[metric.name for metric in spec.train.metrics],
            monitor=spec.train.monitor,
        )


OUTCOME_FIELDS = (
    "status",
    "epochs_run",
    "steps",
    "stop_reason",
    "best_epoch",
    "train",
    "val",
    "best_val",
    "test",
    "train_seconds",
    "seconds",
    "signal",
    "error",
    "culprit",
    "warnings",
)
"""What a run's end fills in; the other fields are facts from its start, kept on resume."""


@dataclass(frozen=True)
class RunFacts:
    """What the data says of a run before it trains (read from its splits)."""

    spec_dir: Path
    features: int
    classes: list[str]
    image_shape: tuple[int, int] | None
    preprocessing: dict[str, float | str]
    examples: Examples


_VERSION_1_SPLITS = ("train", "val", "test")


def _from_version_1(data: dict[str, Any]) -> dict[str, Any]:
    """mlpspec 0.1's summary: the same facts, with the metrics as flat keys."""
    converted = {key: value for key, value in data.items() if not _is_flat_metric(key)}
    for split in _VERSION_1_SPLITS:
        values = {
            name: data[f"{split}_{name}"]
            for name in ("loss", "accuracy")
            if data.get(f"{split}_{name}") is not None
        }
        converted[split] = values
    if data.get("best_val_accuracy") is not None:
        converted["best_val"] = {"accuracy": data["best_val_accuracy"]}
    if data.get("stopped_early"):
        converted["stop_reason"] = "early stopping"
    converted["record_version"] = 1
    return converted


def _is_flat_metric(key: str) -> bool:
    split, _, name = key.partition("_")
    return (split in _VERSION_1_SPLITS and name in ("loss", "accuracy")) or key in (
        "best_val_accuracy",
        "stopped_early",
    )


@dataclass
class RunContext:
    """A run as the run hooks see it.

    ``spec`` is the validated spec (``spec.to_dict()`` its resolved form, ``--set`` applied,
    every default filled in); ``record`` the run's record, live; ``labels`` what the caller
    said of the run (a sweep gives ``sweep`` and ``trial``).
    """

    spec: Spec
    run_dir: Path | None
    record: RunRecord
    resumed: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    stop: Callable[[str], None] = field(default=lambda reason: None, repr=False)

    def request_stop(self, reason: str) -> None:
        """End training after the current evaluation; the run completes with this reason."""
        self.stop(reason)
