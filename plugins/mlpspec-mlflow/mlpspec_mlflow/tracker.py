"""The ``mlflow`` tracker: an mlpspec run, logged to MLflow while it happens.

mlpspec calls the tracker's run hooks (``mlpspec_run_start``, ``mlpspec_run_evaluation``,
``mlpspec_run_end``) like any plugin's; it uses nothing of mlpspec but its public API. The
tracker never costs the run: the first call the store fails (unreachable, locked, refusing a
value) ends the logging of that run, since every further call could stall as long, and the
run's record gets one warning saying why and what was not logged.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import mlpspec
from mlpspec_mlflow import logged
from mlpspec_mlflow.errors import StoreError

if TYPE_CHECKING:  # the store imports MLflow, which is slow: only when a run starts
    from mlpspec_mlflow.store import Store

TRACKING_KEY = "mlflow"
"""Where the MLflow run id is kept in the run's record (``record.tracking``): a resumed run
continues the same MLflow run."""

DEFAULT_STORE = "mlflow.db"
"""The SQLite file in the current folder that runs are logged to by default; MLflow 3.7+'s
own default, so ``mlflow ui`` started in the same folder shows them."""

STATUS = {"completed": "FINISHED", "failed": "FAILED", "interrupted": "KILLED"}
"""mlpspec's outcome -> the MLflow run's status."""

CHECKPOINTS = "checkpoints"
"""The run folder's checkpoints, for resuming it where it is: not logged."""

SUMMARY = "summary.json"


class Evaluation(Protocol):
    """What the tracker reads of an evaluation (mlpspec exports no name for its class)."""

    def to_dict(self) -> dict[str, float | int]: ...


class TrackerParams(mlpspec.Params):
    """Where to log. ``--track mlflow`` takes the defaults, which the environment sets."""

    tracking_uri: str | None = None
    """The MLflow tracking URI; default ``$MLFLOW_TRACKING_URI``, else
    ``sqlite:///mlflow.db`` in the current folder."""
    experiment: str | None = None
    """The MLflow experiment; default ``$MLFLOW_EXPERIMENT_NAME``, else the spec's
    ``model.name``."""

    def uri(self) -> str:
        """Never MLflow's ``./mlruns`` file store, which is deprecated."""
        default = f"sqlite:///{Path.cwd() / DEFAULT_STORE}"
        return self.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or default

    def experiment_name(self, spec: mlpspec.Spec) -> str:
        return self.experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME") or spec.model.name


class MlflowTracker:
    """Logs each run it sees to MLflow: params, tags, metrics by epoch, files, status.

    One tracker may serve several runs one after the other (a command that runs several);
    what it knows of each is kept apart.
    """

    def __init__(self, params: TrackerParams | None = None) -> None:
        self.params = params or TrackerParams()
        self._runs: dict[int, _RunLog] = {}

    def mlpspec_run_start(self, run: mlpspec.RunContext) -> None:
        log = _RunLog(self.params.uri())
        self._runs[id(run)] = log
        log.start(run, self.params.experiment_name(run.spec))

    def mlpspec_run_evaluation(self, run: mlpspec.RunContext, evaluation: Evaluation) -> None:
        log = self._runs.get(id(run))
        if log is not None:
            log.evaluation(evaluation.to_dict())

    def mlpspec_run_end(self, run: mlpspec.RunContext, record: mlpspec.RunRecord) -> None:
        log = self._runs.pop(id(run), None)
        if log is None:
            return
        log.end(run, record)
        record.warnings += log.warnings()


@dataclass
class _RunLog:
    """One run's logging: where it goes, how far it got, and what was not logged."""

    uri: str
    store: Store | None = None
    """None before the start, and for good after the first failure."""
    run_id: str | None = None
    experiment_id: str | None = None
    parent: str | None = None
    logged_through: int = 0
    """The last epoch whose metrics the MLflow run has (a resumed run's, from before)."""
    logged_params: frozenset[str] = frozenset()
    """The params a continued MLflow run has already (a param, once logged, is fixed)."""
    failure: str | None = None
    missed: list[str] = field(default_factory=list)
    """The steps not logged, in order."""
    missed_epochs: list[int] = field(default_factory=list)
    epochs_at: int = 0
    """Where the missed epochs go among the missed steps: after those missed before them."""
    notes: list[str] = field(default_factory=list)

    # -- the hooks -----------------------------------------------------------------------------

    def start(self, run: mlpspec.RunContext, experiment: str) -> None:
        try:
            from mlpspec_mlflow.store import Store

            self.store = Store(self.uri)
            self._open(run, experiment)
        except Exception as exc:
            self._failed("the start", exc)
            return
        run.record.tracking[TRACKING_KEY] = self._id()
        tags = logged.start_tags(run, logged.read_components(run.run_dir))
        params = {
            key: value
            for key, value in logged.spec_params(run.spec.to_dict()).items()
            if key not in self.logged_params
        }
        self._attempt("the tags", lambda store, run_id: store.set_tags(run_id, tags))
        self._attempt("the spec's params", lambda store, run_id: store.log_params(run_id, params))
        if run.resumed:
            self._attempt(
                "the metrics before the checkpoint",
                lambda store, run_id: self._backfill(store, run_id, run.run_dir),
            )

    def evaluation(self, flat: dict[str, float | int]) -> None:
        epoch = int(flat["epoch"])
        if epoch <= self.logged_through:
            return  # logged before the run was interrupted, from the same checkpointed state
        values = logged.evaluation_metrics(flat)

        def log(store: Store, run_id: str) -> None:
            store.log_metrics(run_id, [(epoch, values)])

        if self._attempt(f"epoch {epoch}'s metrics", log, listed=False):
            self.logged_through = epoch
            return
        if not self.missed_epochs:
            self.epochs_at = len(self.missed)
        self.missed_epochs.append(epoch)

    def end(self, run: mlpspec.RunContext, record: mlpspec.RunRecord) -> None:
        if self.run_id is None:
            return  # the start failed: its warning says nothing was logged
        status = STATUS[record.status]
        outcome = logged.outcome_metrics(record)
        if outcome:
            self._attempt(
                "the test metrics",
                lambda store, run_id: store.log_metrics(run_id, [(record.epochs_run, outcome)]),
            )
        tags = logged.outcome_tags(record)
        self._attempt("the outcome's tags", lambda store, run_id: store.set_tags(run_id, tags))
        if run.run_dir is not None:
            files = _run_files(Path(run.run_dir))
            self._attempt(
                "the run folder's files",
                lambda store, run_id: store.log_files(run_id, files, {SUMMARY: record.to_json()}),
                fatal=False,  # the artifact store is often another service than the tracking one
            )
        self._attempt(
            f"the final status {status} (it stays RUNNING)",
            lambda store, run_id: store.terminate(run_id, status),
        )
        if self.parent is not None:
            parent, experiment = self.parent, self.experiment_id or ""
            self._attempt(
                "the sweep's parent run's status",
                lambda store, run_id: store.close_parent(experiment, parent),
            )

    def warnings(self) -> list[str]:
        """What the run's record should say: notes, and the failure with what it cost."""
        if self.failure is None:
            return [f"mlflow: {note}" for note in self.notes]
        if self.run_id is None:
            lost = "nothing of this run was logged to MLflow"
        else:
            missed = list(self.missed)
            if self.missed_epochs:
                first, last = self.missed_epochs[0], self.missed_epochs[-1]
                epochs = f"epoch {first}" if first == last else f"epochs {first}-{last}"
                missed.insert(self.epochs_at, f"the metrics of {epochs}")
            lost = f"not logged to MLflow run {self.run_id}: {', '.join(missed)}"
        return [*(f"mlflow: {note}" for note in self.notes), f"mlflow: {self.failure}; {lost}"]

    # -- steps ---------------------------------------------------------------------------------

    def _open(self, run: mlpspec.RunContext, experiment: str) -> None:
        """Continue the MLflow run a resumed run was logged to, or start one (in its sweep)."""
        store = self._store()
        previous = run.record.tracking.get(TRACKING_KEY)
        if previous:
            reopened = store.reopen(previous)
            if reopened is not None:
                self.run_id, self.experiment_id = previous, reopened.experiment_id
                self.logged_through, self.parent = reopened.last_epoch, reopened.parent
                self.logged_params = reopened.params
                return
            self.notes.append(
                f"this run's MLflow run {previous} is not in {self.uri}: logging to a new one"
            )
        self.experiment_id = store.experiment_id(experiment)
        sweep = run.labels.get("sweep")
        if sweep:
            name = run.labels.get("sweep_name") or Path(sweep).name or sweep
            version = {f"{logged.TAG}.version": mlpspec.__version__}
            self.parent = store.sweep_parent(self.experiment_id, sweep, name, version)
        self.run_id = store.create_run(self.experiment_id, _run_name(run), {}, self.parent)

    def _backfill(self, store: Store, run_id: str, run_dir: Path | None) -> None:
        """A resumed run's history up to its checkpoint, where the MLflow run lacks it (it
        was logged to another store before, or not tracked at all)."""
        steps = [
            (int(flat["epoch"]), logged.evaluation_metrics(flat))
            for flat in logged.read_evaluations(run_dir)
            if int(flat["epoch"]) > self.logged_through
        ]
        if steps:
            store.log_metrics(run_id, steps)
            self.logged_through = steps[-1][0]

    def _attempt(
        self,
        what: str,
        action: Callable[[Store, str], None],
        *,
        fatal: bool = True,
        listed: bool = True,
    ) -> bool:
        """Do one logging step, unless an earlier failure ended the logging; a failure is
        noted with ``what`` it lost (among the missed steps if ``listed``) and, if ``fatal``,
        ends the logging of this run."""
        if self.store is None or self.run_id is None:
            if listed:
                self.missed.append(what)
            return False
        try:
            action(self.store, self.run_id)
        except Exception as exc:
            if listed:
                self.missed.append(what)
            self._failed(what, exc, fatal=fatal)
            return False
        return True

    def _failed(self, what: str, exc: Exception, *, fatal: bool = True) -> None:
        if self.failure is None:
            self.failure = f"logging to {self.uri} failed at {what} ({_describe(exc)})"
        if fatal:
            self.store = None

    def _store(self) -> Store:
        assert self.store is not None
        return self.store

    def _id(self) -> str:
        assert self.run_id is not None
        return self.run_id


def _run_name(run: mlpspec.RunContext) -> str:
    """``trial 3`` in a sweep, else the run folder's name (the spec's name without one)."""
    if "trial" in run.labels:
        return f"trial {run.labels['trial']}"
    return Path(run.run_dir).name if run.run_dir is not None else run.spec.model.name


def _run_files(folder: Path) -> list[Path]:
    """What the run folder holds for others to see: not its checkpoints, lock or temporary
    files."""
    hidden = (CHECKPOINTS, ".")
    return sorted(path for path in folder.iterdir() if not path.name.startswith(hidden))


def _describe(exc: Exception) -> str:
    """The error in one line: MLflow's messages can run to a page of SQL."""
    lines = str(exc).strip().splitlines()
    text = lines[0][:300] if lines else ""
    if isinstance(exc, StoreError):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
