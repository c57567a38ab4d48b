"""The coordinator of a sweep: it owns the study, hands trials to an executor, records them.

A sweep's folder ``sweeps/NAME-YYYYmmdd-HHMMSS/`` holds everything: ``sweep.toml`` (the sweep
file resolved: no ``extends``, data paths relative to the folder), ``journal.log`` (the Optuna
study), ``trials/NNNN/`` (each trial a normal run folder), ``trials.jsonl`` (one line per
finished trial), ``sweep.json`` (its status), and at the end ``best.toml`` and the plots.

The coordinator alone asks the study for trials (so one worker reproduces a seeded sweep) and
tells their outcomes; workers only report evaluations to it, for pruning. Nothing is lost when
a process dies:

- a worker killed mid-trial: its executor reports the trial ``lost``, recorded as failed with
  that reason; the sweep goes on (a Dask cluster retries a dead worker's task: the retry sees
  the trial started before and reports it lost rather than running it twice);
- Ctrl-C (or SIGTERM): running trials stop at their epoch's end with a checkpoint, nothing new
  starts, and ``mlpspec sweep --resume FOLDER`` continues each interrupted trial from its
  checkpoint, then the rest; a second signal aborts the running trials (they start again on
  resume), a third stops the coordinator at once;
- the coordinator itself killed: its local workers stop their trials cleanly when it goes; on
  resume, a trial the study still counts as running is settled from its run folder (finished,
  resumed, started again, or lost), after waiting for any process still holding the folder.
"""

from __future__ import annotations

import collections
import shutil
import signal
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import tomli_w
from filelock import FileLock, Timeout

from mlpspec.core.errors import MlpspecError, SpecError, UsageError
from mlpspec.core.registry import Registry
from mlpspec.core.spec import Spec
from mlpspec.run import checkpoint, figures
from mlpspec.run.rundir import LOCK, SUMMARY, RunDirectory, atomic_write, exclusive, new_run_dir
from mlpspec.sweep import journal
from mlpspec.sweep.executor import Executor
from mlpspec.sweep.file import SweepFile, first_values, load_sweep
from mlpspec.sweep.records import (
    TRIALS_FILE,
    SweepRecord,
    TrialRecord,
    append_trial,
    best,
    now,
    write_trials,
)
from mlpspec.sweep.space import Values
from mlpspec.sweep.trial import TRIALS, TrialOutcome, TrialTask, outcome_of, trial_dir

SWEEP_FILE = "sweep.toml"
BEST = "best.toml"
POLL = 0.5
"""Seconds between looks at the executor for finished trials."""


@dataclass(frozen=True)
class SweepOptions:
    """What the workers need besides the trial: the coordinator's plugin choices and data
    folders."""

    plugins: tuple[str, ...] = ()
    blocked: tuple[str, ...] = ()
    data_dirs: tuple[str, ...] = ()


@dataclass
class SweepResult:
    """How a sweep (or this session of it) ended."""

    folder: Path
    sweep: SweepFile
    records: list[TrialRecord]
    best: TrialRecord | None
    best_spec: Path | None
    plots: list[Path] = field(default_factory=list)
    signal: int | None = None
    """The signal that stopped it, if one did: resume it with ``--resume``."""
    warnings: list[str] = field(default_factory=list)

    @property
    def goal(self) -> str:
        return self.sweep.settings.goal or "minimize"


def create_sweep(sweep: SweepFile, out_dir: Path, registry: Registry) -> Path:
    """A fresh folder ``out_dir/NAME-YYYYmmdd-HHMMSS`` with the resolved ``sweep.toml`` (its
    goal stated) and ``sweep.json``."""
    folder = new_run_dir(Path(out_dir), sweep.name).resolve()
    goal = sweep.goal(sweep.trial_spec(first_values(sweep.parameters), registry), registry)
    data = sweep.resolved(folder)
    data["sweep"]["goal"] = goal
    atomic_write(folder / SWEEP_FILE, tomli_w.dumps(data).encode())
    SweepRecord(
        name=sweep.name,
        metric=sweep.settings.metric,
        goal=goal,
        trials=sweep.trials,
        started=now(),
    ).save(folder)
    return folder


def run_sweep(
    folder: Path,
    registry: Registry,
    executor: Executor,
    options: SweepOptions = SweepOptions(),
    on_trial: Callable[[TrialRecord], None] = lambda record: None,
    *,
    started: bool = False,
) -> SweepResult:
    """Run (or resume) the sweep in ``folder`` until it has all its trials, or a signal stops
    it; ``on_trial`` hears of each trial as it finishes. The executor is started when the
    first trial is handed out, unless ``started`` says the caller did (to find a cluster
    unreachable before making a folder); it is closed at the end either way."""
    folder = Path(folder).resolve()
    with ExitStack() as held:
        try:
            if not (folder / SWEEP_FILE).is_file():
                raise UsageError(f"{folder}: not a sweep folder (it has no {SWEEP_FILE})")
            held.enter_context(exclusive(folder, "sweep folder"))
        except BaseException:
            if started:
                executor.close()
            raise
        coordinator = _Coordinator(folder, registry, executor, options, on_trial, started)
        return coordinator.go()


class _Coordinator:
    def __init__(
        self,
        folder: Path,
        registry: Registry,
        executor: Executor,
        options: SweepOptions,
        on_trial: Callable[[TrialRecord], None],
        started: bool,
    ) -> None:
        self.folder, self.registry, self.executor = folder, registry, executor
        self.options, self.on_trial = options, on_trial
        self.started = started
        try:
            self._open()
        except BaseException:
            if started:
                executor.close()
            raise

    def _open(self) -> None:
        """Read the sweep and open its study."""
        folder = self.folder
        self.sweep = load_sweep(folder / SWEEP_FILE)
        self.record = SweepRecord.load(folder)
        optuna = journal.optuna_module()
        settings = self.sweep.settings
        self.storage = journal.storage(folder)
        self.study = optuna.create_study(
            study_name=self.sweep.name,
            storage=self.storage,
            direction=settings.goal or "minimize",
            pruner=journal.pruner(settings.pruner),
            load_if_exists=True,
        )
        grid = {p.path: p.form.choices for p in self.sweep.searched if isinstance(p.form, Values)}
        self.study.sampler = journal.sampler(
            settings.sampler, settings.seed, self._created(), grid
        )
        self.study_id = self.storage.get_study_id_from_name(self.sweep.name)
        self.distributions = {p.path: p.distribution() for p in self.sweep.searched}
        self.pending: collections.deque[TrialTask] = collections.deque()
        self.running: dict[int, TrialTask] = {}
        self.warnings: list[str] = []

    # -- the run -----------------------------------------------------------------------------

    def go(self) -> SweepResult:
        self.record.status, self.record.error, self.record.executor = "running", None, ""
        self.record.save(self.folder)
        write_trials(self.folder / TRIALS_FILE, self._records())
        signals = _Signals()
        try:
            self._settle_earlier()
            with signals.caught():
                self._loop(signals)
        except KeyboardInterrupt:  # a third signal, or one while settling an earlier session
            self.record.status = "interrupted"
            self.record.save(self.folder)
            raise
        except BaseException as error:
            self.record.status = "failed"
            self.record.error = str(error) if isinstance(error, MlpspecError) else repr(error)
            self.record.save(self.folder)
            raise
        finally:
            if self.started:
                self.executor.close()
        return self._finish(signals.first)

    def _loop(self, signals: _Signals) -> None:
        stopping = aborting = False
        while True:
            if signals.count >= 1 and not stopping:
                stopping = True
                self._note(signals.first, "stopping: the running trials stop at their epoch's "
                           "end, with a checkpoint (send it again to abort them)")
                self.executor.interrupt()
            if signals.count >= 2 and not aborting:
                aborting = True
                self._note(signals.first, "aborting the running trials (a third signal stops "
                           "at once)")
                self.executor.interrupt()
            if not stopping:
                self._hand_out()
                if not self._more_to_do():
                    # the last trials run: a worker that ended has nothing left to take, so a
                    # core is free for the import the plots at the end need
                    figures.preload()
            if not self.running and (stopping or not self._more_to_do()):
                return
            for outcome in self.executor.wait(POLL):
                self._ended(outcome)

    def _more_to_do(self) -> bool:
        return bool(self.pending) or self._created() < self.sweep.trials

    def _hand_out(self) -> None:
        while self._more_to_do():
            if not self.started:
                self.executor.start()
                self.started = True
            if not self.record.executor:
                self.record.executor = self.executor.describe()
                self.record.save(self.folder)
            if self.executor.slots() <= 0:
                return
            task = self.pending.popleft() if self.pending else self._ask()
            if task is not None:
                self.executor.submit(task)
                self.running[task.number] = task

    def _ask(self) -> TrialTask | None:
        trial = self.study.ask(fixed_distributions=self.distributions)
        try:
            return self._task(trial.number, trial.params, resume=False)
        except SpecError as exc:  # a point inside the space that makes no valid spec
            reason = " ".join(str(exc).split())
            self._record(TrialOutcome(number=trial.number, status="failed", reason=reason))
            return None

    def _task(self, number: int, stored: dict[str, Any], *, resume: bool) -> TrialTask:
        spec = self.sweep.trial_spec(self._values(stored), self.registry)
        settings, folder = self.sweep.settings, str(self.folder)
        return TrialTask(
            sweep_dir=folder,
            study=self.sweep.name,
            number=number,
            attempt=uuid.uuid4().hex,
            spec=spec.to_dict(),
            source=str(self.folder / SWEEP_FILE),
            metric=settings.metric,
            pruner=settings.pruner,
            resume=resume,
            plugins=list(self.options.plugins),
            blocked=list(self.options.blocked),
            labels={"sweep": folder, "sweep_name": self.sweep.name, "trial": str(number)},
            data_dirs=list(self.options.data_dirs),
        )

    def _values(self, stored: dict[str, Any]) -> dict[str, Any]:
        """The spec values of what the study stored for a trial."""
        return {p.path: p.value_of(stored[p.path]) for p in self.sweep.searched}

    def _ended(self, outcome: TrialOutcome) -> None:
        self.running.pop(outcome.number, None)
        if outcome.status == "interrupted":
            return  # the study keeps it running: --resume continues it
        if outcome.status == "lost":
            outcome = _mark_lost(trial_dir(self.folder, outcome.number), outcome)
        self._record(outcome)

    def _record(self, outcome: TrialOutcome) -> None:
        from optuna.trial import TrialState

        trial_id = self.storage.get_trial_id_from_study_id_trial_number(
            self.study_id, outcome.number
        )
        self.storage.set_trial_user_attr(trial_id, "outcome", outcome.model_dump(mode="json"))
        if outcome.status == "complete":
            self.study.tell(outcome.number, outcome.value)
        else:
            state = TrialState.PRUNED if outcome.status == "pruned" else TrialState.FAIL
            self.study.tell(outcome.number, state=state)
        record = self._trial_record(outcome, self.storage.get_trial(trial_id).params)
        append_trial(self.folder / TRIALS_FILE, record)
        self.on_trial(record)

    def _trial_record(self, outcome: TrialOutcome, stored: dict[str, Any]) -> TrialRecord:
        folder = trial_dir(self.folder, outcome.number)
        run_dir = f"{TRIALS}/{folder.name}" if (folder / SUMMARY).is_file() else None
        return TrialRecord.of(outcome, self._values(stored), run_dir)

    # -- an earlier session's trials ---------------------------------------------------------

    def _settle_earlier(self) -> None:
        """Settle the trials the study still counts as running from an earlier session."""
        from optuna.trial import TrialState

        for trial in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            folder = trial_dir(self.folder, trial.number)
            _wait_for(folder, trial.number)
            if not (folder / SUMMARY).is_file():  # it never got as far as its run folder
                self.pending.append(self._task(trial.number, trial.params, resume=False))
                continue
            outcome = outcome_of(trial.number, RunDirectory(folder), self.sweep.settings.metric)
            if outcome.status == "interrupted":
                if checkpoint.find(folder):
                    self.pending.append(self._task(trial.number, trial.params, resume=True))
                else:  # aborted before any checkpoint: it starts again
                    shutil.rmtree(folder)
                    self.pending.append(self._task(trial.number, trial.params, resume=False))
                continue
            attempts = [v for k, v in trial.user_attrs.items() if k.startswith("attempt:")]
            if attempts:
                outcome = outcome.model_copy(update=attempts[-1])
            if outcome.status == "lost":
                outcome = _mark_lost(folder, outcome)
            self._record(outcome)

    # -- the end -----------------------------------------------------------------------------

    def _finish(self, stopped_by: int | None) -> SweepResult:
        records = self._records()
        write_trials(self.folder / TRIALS_FILE, records)
        top = best(records, self.sweep.settings.goal or "minimize")
        best_spec = self._write_best(top) if top is not None else None
        plots = self._plots(records)
        self.record.status = "interrupted" if stopped_by is not None else "completed"
        self.record.save(self.folder)
        return SweepResult(
            self.folder, self.sweep, records, top, best_spec, plots, stopped_by, self.warnings
        )

    def _records(self) -> list[TrialRecord]:
        """Every finished trial, from the journal."""
        records = []
        for trial in self.study.get_trials(deepcopy=False):
            if not trial.state.is_finished():
                continue
            found = trial.user_attrs.get("outcome")
            outcome = (
                TrialOutcome.model_validate(found)
                if found is not None
                else TrialOutcome(number=trial.number, status="failed", reason="not recorded")
            )
            records.append(self._trial_record(outcome, trial.params))
        return records

    def _write_best(self, top: TrialRecord) -> Path:
        """``best.toml``: the base spec with the best trial's values, runnable on its own."""
        composed = self.sweep.base.copy()
        for parameter in self.sweep.parameters:
            value = top.params.get(parameter.path, getattr(parameter.form, "value", None))
            composed.set(parameter.path, value, "best")
        settings = self.sweep.settings
        header = (
            f"# The best trial of sweep {self.sweep.name}: trial {top.number}, "
            f"{settings.metric} = {top.value:.6g} ({top.run_dir}).\n"
            f"# It stands alone: mlpspec run {self.folder / BEST}\n"
        )
        order = list(Spec.model_fields)  # sections in the order specs write them
        data = dict(sorted(composed.data.items(), key=lambda item: _rank(order, item[0])))
        path = self.folder / BEST
        atomic_write(path, (header + tomli_w.dumps(data)).encode())
        return path

    def _plots(self, records: list[TrialRecord]) -> list[Path]:
        from mlpspec.sweep import plots

        if not figures.available() or not any(r.value is not None for r in records):
            return []
        try:
            return plots.plot_sweep(self.folder, self.sweep, records)
        except Exception as exc:  # a picture must never cost a finished sweep
            self.warnings.append(f"the plots were not made: {type(exc).__name__}: {exc}")
            return []

    def _created(self) -> int:
        return len(self.study.get_trials(deepcopy=False))

    def _note(self, signum: int | None, text: str) -> None:
        name = signal.Signals(signum).name if signum else "signal"
        print(f"\n{name}: {text}", file=sys.stderr, flush=True)


def _rank(order: list[str], key: str) -> int:
    return order.index(key) if key in order else len(order)


def _wait_for(folder: Path, number: int) -> None:
    """Wait while another process (a worker of an earlier session) holds the trial's run
    folder."""
    if not folder.is_dir():
        return
    lock = FileLock(folder / LOCK)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        print(f"waiting for trial {number}, still running in another process", file=sys.stderr)
        lock.acquire()
    lock.release()


def _mark_lost(folder: Path, outcome: TrialOutcome) -> TrialOutcome:
    """A lost trial's run folder says ``failed`` rather than ``running`` forever; the outcome
    gets the epoch of its last evaluation."""
    if not (folder / SUMMARY).is_file():
        return outcome
    run = RunDirectory(folder)
    record = run.read_record()
    if record.status == "running":
        record.status, record.error = "failed", f"lost: {outcome.reason}"
        run.write_record(record)
    evaluations = run.read_evaluations()
    return outcome.model_copy(update={"epochs": evaluations[-1].epoch if evaluations else 0})


class _Signals:
    """SIGINT and SIGTERM counted, while the sweep runs: the loop decides what each means; a
    third stops the coordinator at once."""

    def __init__(self) -> None:
        self.received: list[int] = []

    @property
    def count(self) -> int:
        return len(self.received)

    @property
    def first(self) -> int | None:
        return self.received[0] if self.received else None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.received.append(signum)
        if len(self.received) >= 3:
            raise KeyboardInterrupt

    @contextmanager
    def caught(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {s: signal.signal(s, self) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
