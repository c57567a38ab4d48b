"""One trial, as a worker runs it: a normal run in the sweep's ``trials/NNNN/`` folder.

:func:`run_trial` is what every executor calls in its workers, whatever carries the
:class:`TrialTask` there (a pipe to a local process, a Dask task). The trial's run reports each
evaluation's metric to the study (a run-scoped observer implementing
``mlpspec_run_evaluation``), which stops it with ``run.request_stop("pruned ...")`` when the
pruner says so; the run then completes, recorded as stopped early at that epoch.

What a trial came to is read from its run folder's record whenever the folder exists
(:func:`outcome_of`): the worker's answer and a coordinator looking at the folder later (a
worker that died, a resumed sweep) agree by construction.
"""

from __future__ import annotations

import functools
import math
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from mlpspec.core.errors import Interrupted, MlpspecError, error_text
from mlpspec.core.plugins import load_registry
from mlpspec.core.registry import Registry
from mlpspec.core.spec import validate_spec
from mlpspec.engine.training import Callback, Evaluation, Trainer
from mlpspec.run.builder import DataCache
from mlpspec.run.record import RunContext, RunRecord
from mlpspec.run.rundir import SUMMARY, RunDirectory
from mlpspec.run.runner import resume, run
from mlpspec.sweep import journal

TRIALS = "trials"
PRUNED = "pruned at epoch"
"""How a pruned trial's ``stop_reason`` begins."""

Status = Literal["complete", "pruned", "failed", "interrupted", "lost"]


def trial_dir(sweep_dir: Path, number: int) -> Path:
    return Path(sweep_dir) / TRIALS / f"{number:04d}"


class TrialTask(BaseModel):
    """One trial as an executor ships it to a worker (plain JSON, so any transport will do)."""

    model_config = ConfigDict(frozen=True)

    sweep_dir: str
    """The sweep's folder, absolute: the worker must see it (the same machine, or a shared
    file system), to write the trial's run folder and report to the study's journal."""
    study: str
    number: int
    attempt: str
    """A fresh id for each time the coordinator hands the trial out: a worker that finds it
    started already knows the one before died (a Dask cluster retries a dead worker's task)."""
    spec: dict[str, Any]
    """The trial's resolved spec."""
    source: str
    """Where the spec was read from: relative data paths start from its folder."""
    metric: str
    pruner: str = "none"
    resume: bool = False
    """Continue the interrupted run in the trial's folder, from its checkpoint."""
    plugins: list[str] = []
    blocked: list[str] = []
    labels: dict[str, str] = {}
    data_dirs: list[str] = []

    @property
    def run_dir(self) -> Path:
        return trial_dir(Path(self.sweep_dir), self.number)


class TrialOutcome(BaseModel):
    """What a trial came to, as a worker (or the coordinator, from its folder) tells it."""

    number: int
    status: Status
    value: float | None = None
    """The sweep's metric (None unless it was recorded and finite)."""
    epochs: int | None = None
    pruned_at: int | None = None
    seconds: float | None = None
    host: str | None = None
    pid: int | None = None
    reason: str | None = None
    """Why it failed or was lost, or what stopped it."""


def run_trial(task: TrialTask, should_stop: Callable[[], bool] = lambda: False) -> TrialOutcome:
    """Run one trial here and say what it came to; ``should_stop`` asks for a clean stop
    (checkpoint, then ``interrupted``) and is checked about once a second while training.

    A problem of the trial (a bad component, NaN, a failing plugin) is its outcome, never an
    exception; an exception means the worker cannot run trials at all (it cannot see the
    sweep folder, say), which the coordinator reports as such.
    """
    host, pid = socket.gethostname(), os.getpid()
    here = {"host": host, "pid": pid}
    if not (Path(task.sweep_dir) / journal.JOURNAL).is_file():
        raise MlpspecError(
            f"the worker on {host} cannot see the sweep folder {task.sweep_dir}: workers must "
            "share it (run the sweep with --out on a file system they mount)"
        )
    optuna = journal.optuna_module()
    storage = _storage(task.sweep_dir)
    study = optuna.load_study(
        study_name=task.study, storage=storage, pruner=journal.pruner(task.pruner)
    )
    study_id = storage.get_study_id_from_name(task.study)
    trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, task.number)
    trial = optuna.trial.Trial(study, trial_id)
    mark = f"attempt:{task.attempt}"
    earlier = trial.user_attrs.get(mark)
    if earlier is not None:  # a Dask cluster retrying the task of a worker that died
        return TrialOutcome(
            number=task.number,
            status="lost",
            reason=f"the worker running it ({earlier['host']} pid {earlier['pid']}) died",
            host=earlier["host"],
            pid=earlier["pid"],
        )
    trial.set_user_attr(mark, here)
    registry = worker_registry(tuple(task.plugins), tuple(task.blocked))
    observers: list[tuple[str, object]] = []
    if task.pruner != "none":
        observers.append(("sweep-pruning", Pruning(trial, task.metric, task.pruner)))
    options: dict[str, Any] = {
        "data_cache": _DATA,
        "data_dirs": [Path(d) for d in task.data_dirs],
        "callbacks": [StopWhen(should_stop)],
        "observers": observers,
        "labels": task.labels,
    }
    started = time.perf_counter()
    try:
        if task.resume:
            resume(task.run_dir, registry, **options)
        else:
            spec = validate_spec(task.spec, registry, task.source)
            run(spec, registry, run_dir=task.run_dir, **options)
    except Exception as exc:
        if not (task.run_dir / SUMMARY).is_file():
            # it ended before its folder was written: building the model, reading the data
            return TrialOutcome(
                number=task.number,
                status="interrupted" if isinstance(exc, Interrupted) else "failed",
                reason=error_text(exc),
                seconds=round(time.perf_counter() - started, 3),
                **here,
            )
    outcome = outcome_of(task.number, RunDirectory(task.run_dir), task.metric)
    return outcome.model_copy(update=here)


def outcome_of(number: int, folder: RunDirectory, metric: str) -> TrialOutcome:
    """What the run in ``folder`` came to, for the sweep: its record's status, the metric's
    value (:func:`objective`), and the epoch a pruner stopped it at."""
    record = folder.read_record()
    base = {"number": number, "epochs": record.epochs_run, "seconds": record.seconds}
    if record.status == "interrupted":
        return TrialOutcome(status="interrupted", reason=f"stopped by {record.signal}", **base)
    if record.status == "running":
        return TrialOutcome(status="lost", reason="its process ended before the run did", **base)
    if record.status == "failed":
        reason, culprit = record.error or "failed", record.culprit
        if culprit is not None and culprit.place not in reason:
            reason = f"{culprit.describe()} raised {reason}"
        return TrialOutcome(status="failed", reason=reason, **base)
    value = objective(folder.read_evaluations(), record, metric)
    if record.stop_reason is not None and record.stop_reason.startswith(PRUNED):
        return TrialOutcome(status="pruned", value=value, pruned_at=record.epochs_run,
                            reason=record.stop_reason, **base)
    if value is None:
        reason = f"{metric} was not recorded, or is not a finite number"
        return TrialOutcome(status="failed", reason=reason, **base)
    return TrialOutcome(status="complete", value=value, **base)


def objective(evaluations: Sequence[Evaluation], record: RunRecord, metric: str) -> float | None:
    """The metric of the model the run kept: at its last evaluation, or at its best when early
    stopping ended it (and kept the best epoch's weights); None if missing or not finite."""
    if not evaluations:
        return None
    chosen = evaluations[-1]
    pruned = record.stop_reason is not None and record.stop_reason.startswith(PRUNED)
    if record.stop_reason is not None and record.best_epoch is not None and not pruned:
        chosen = next((e for e in evaluations if e.epoch == record.best_epoch), chosen)
    value = chosen.value(metric)
    return value if value is not None and math.isfinite(value) else None


class Pruning:
    """A run's observer: reports each evaluation's metric to the trial, and stops the run when
    the pruner says the trial is not worth finishing."""

    def __init__(self, trial: Any, metric: str, pruner: str) -> None:
        self.trial, self.metric, self.pruner = trial, metric, pruner

    def mlpspec_run_evaluation(self, run: RunContext, evaluation: Evaluation) -> None:
        value = evaluation.value(self.metric)
        if value is None:
            return
        self.trial.report(value, evaluation.epoch)
        if self.trial.should_prune():
            run.request_stop(f"{PRUNED} {evaluation.epoch} by the {self.pruner} pruner")


class StopWhen(Callback):
    """Interrupt training cleanly (a checkpoint at the epoch's end, then ``interrupted``) once
    ``asked()`` says so; asked at most every ``every`` seconds, since it may be a network
    round trip (a Dask event)."""

    def __init__(self, asked: Callable[[], bool], every: float = 1.0) -> None:
        self.asked, self.every = asked, every
        self.checked = -math.inf

    def on_step_end(self, trainer: Trainer, epoch: int, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.checked >= self.every:
            self.checked = now
            if self.asked():
                trainer.request_interrupt(signal.SIGINT)


_DATA = DataCache()
"""The prepared data of this worker's trials: a sweep's trials mostly train on the same data,
which each would otherwise read and preprocess again (1.3-1.5 s for full MNIST here)."""


@functools.lru_cache(maxsize=4)
def _storage(sweep_dir: str) -> Any:
    """One journal reader per sweep in a worker: it reads only what is new each trial, where a
    fresh one would replay the whole journal (thread-safe: it locks itself)."""
    return journal.storage(Path(sweep_dir))


@functools.lru_cache(maxsize=8)
def _registry(plugins: tuple[str, ...], blocked: tuple[str, ...], thread: int) -> Registry:
    return load_registry(plugins, blocked)


def worker_registry(plugins: tuple[str, ...], blocked: tuple[str, ...]) -> Registry:
    """The plugins, loaded once per worker thread: a run registers its observers on the
    registry's plugin manager, so two trials at once in one process must not share one."""
    return _registry(plugins, blocked, threading.get_ident())
