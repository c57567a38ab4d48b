"""The MLflow side: an :class:`~mlflow.MlflowClient` on one tracking URI, and the calls the
tracker makes through it.

The client is MLflow's thread-safe one, with explicit run ids (the fluent ``mlflow.*`` API
keeps an "active run" per process and is not thread-safe). This module imports MLflow, which
takes a second or more: the tracker imports it when a run starts, never when mlpspec loads
its plugins. Any call may raise (an unreachable server, a locked database, a rejected value):
the tracker turns that into a warning.
"""

from __future__ import annotations

import contextlib
import hashlib
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import requests
from filelock import FileLock
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID
from mlflow.utils.validation import (
    MAX_METRICS_PER_BATCH,
    MAX_PARAM_VAL_LENGTH,
    MAX_PARAMS_TAGS_PER_BATCH,
    MAX_TAG_VAL_LENGTH,
)

from mlpspec_mlflow.errors import StoreError
from mlpspec_mlflow.logged import TAG

PROBE_SECONDS = 10
"""How long to wait for an HTTP tracking server to answer before giving up on it. MLflow's
own client retries a refused connection for minutes (``MLFLOW_HTTP_REQUEST_MAX_RETRIES``):
right for a busy server, too long for one that is not there."""

LOCK_SECONDS = 120
"""How long a trial waits for another process that is finding its sweep's parent run."""

SWEEP_PARENT = f"{TAG}.sweep_parent"
"""The tag that marks a sweep's parent run; its value is a digest of the sweep's label."""

HISTORY_METRIC = "train_loss"
"""A metric every evaluation logs: its history says which epochs a run has logged."""

T = TypeVar("T")


@dataclass(frozen=True)
class Reopened:
    """An MLflow run that a resumed mlpspec run continues."""

    experiment_id: str
    last_epoch: int
    """The last epoch it has metrics for (0 for none)."""
    params: frozenset[str]
    """The params it has (a param, once logged, cannot change)."""
    parent: str | None


class Store:
    """One tracking URI, and what the tracker does there."""

    def __init__(self, uri: str) -> None:
        # MLflow's own use of deprecated APIs (SQLAlchemy's noload, ...) is nothing an mlpspec
        # user can act on, and mlpspec's command line shows every warning
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"mlflow(\.|$)")
        self.uri = uri
        if uri.startswith(("http://", "https://")):
            _probe(uri)
        if uri.startswith("sqlite:"):
            # MLflow creates a new SQLite store's tables as a client opens it; processes doing
            # it at once (a sweep's first trials) break each other's migrations
            with FileLock(_machine_lock(uri), timeout=LOCK_SECONDS):
                self.client = MlflowClient(tracking_uri=uri)
        else:
            self.client = MlflowClient(tracking_uri=uri)

    # -- runs ----------------------------------------------------------------------------------

    def experiment_id(self, name: str) -> str:
        """The experiment called ``name``, created if there is none (by another process at the
        same moment too: the store refuses the second creation, and the first is used)."""
        experiment = self.client.get_experiment_by_name(name)
        if experiment is None:
            try:
                return self.client.create_experiment(name)
            except MlflowException as exc:
                if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
            experiment = self.client.get_experiment_by_name(name)
            if experiment is None:
                raise StoreError(f"experiment {name!r} was created, then could not be found")
        if experiment.lifecycle_stage != "active":
            raise StoreError(
                f"experiment {name!r} is deleted in {self.uri}: restore it (mlflow experiments "
                f"restore --experiment-id {experiment.experiment_id}) or log to another one "
                "(MLFLOW_EXPERIMENT_NAME)"
            )
        return experiment.experiment_id

    def create_run(
        self, experiment_id: str, name: str, tags: Mapping[str, str], parent: str | None
    ) -> str:
        """A new run, nested under ``parent`` if given (MLflow's ``mlflow.parentRunId``)."""
        if parent is not None:
            tags = {**tags, MLFLOW_PARENT_RUN_ID: parent}
        run = self.client.create_run(experiment_id, run_name=name, tags=_tag_values(tags))
        return run.info.run_id

    def reopen(self, run_id: str) -> Reopened | None:
        """Mark an existing run running again (a resumed mlpspec run continues it), and its
        sweep's parent with it; None when the store has no such run, or has deleted it."""
        try:
            run = self.client.get_run(run_id)
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise
        if run.info.lifecycle_stage != "active":
            return None
        self.client.update_run(run_id, status="RUNNING")
        parent = run.data.tags.get(MLFLOW_PARENT_RUN_ID)
        if parent is not None:
            self.client.update_run(parent, status="RUNNING")
        history = self.client.get_metric_history(run_id, HISTORY_METRIC)
        last = max((metric.step for metric in history), default=0)
        return Reopened(run.info.experiment_id, last, frozenset(run.data.params), parent)

    def terminate(self, run_id: str, status: str) -> None:
        # MLflow writes the run's web address to stdout when it ends a run on a server: on
        # stderr it still shows, and stdout stays mlpspec's (--json's lines are all JSON)
        with contextlib.redirect_stdout(sys.stderr):
            self.client.set_terminated(run_id, status)

    # -- what a run logs -----------------------------------------------------------------------

    def log_params(self, run_id: str, params: Mapping[str, str]) -> None:
        """Every param, in batches of the size MLflow takes, each value cut to its limit."""
        entries = [Param(key, value[:MAX_PARAM_VAL_LENGTH]) for key, value in params.items()]
        for batch in _batches(entries, MAX_PARAMS_TAGS_PER_BATCH):
            self.client.log_batch(run_id, params=batch)

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        entries = [RunTag(key, value) for key, value in _tag_values(tags).items()]
        for batch in _batches(entries, MAX_PARAMS_TAGS_PER_BATCH):
            self.client.log_batch(run_id, tags=batch)

    def log_metrics(
        self, run_id: str, steps: Sequence[tuple[int, Mapping[str, float]]]
    ) -> None:
        """Metrics by step (the epoch): ``[(epoch, {"train_loss": 0.3, ...}), ...]``."""
        now = int(time.time() * 1000)
        entries = [
            Metric(key, value, now, step) for step, values in steps for key, value in values.items()
        ]
        for batch in _batches(entries, MAX_METRICS_PER_BATCH):
            self.client.log_batch(run_id, metrics=batch)

    def log_files(
        self, run_id: str, files: Sequence[Path], replacements: Mapping[str, str]
    ) -> None:
        """Each file (or folder) at the top of the run's artifacts; ``replacements`` gives
        the content of files to log under their name instead of what the folder holds."""
        for path in files:
            if path.name not in replacements:
                self.client.log_artifact(run_id, str(path))
        with tempfile.TemporaryDirectory(prefix="mlpspec-mlflow-") as scratch:
            for name, text in replacements.items():
                path = Path(scratch) / name
                path.write_text(text, encoding="utf-8")
                self.client.log_artifact(run_id, str(path))

    # -- a sweep's parent run ------------------------------------------------------------------

    def sweep_parent(
        self, experiment_id: str, sweep: str, name: str, tags: Mapping[str, str]
    ) -> str:
        """The parent run of the sweep labelled ``sweep``, found by its tag or created.

        Trials of one sweep start in parallel processes: the lookup and the creation happen
        under a file lock, in the sweep's folder when ``sweep`` is one on this machine (on a
        shared file system, that covers workers on other machines too), else in the temporary
        folder. If two parents exist all the same (two machines without a shared folder,
        starting their first trials at once), every later trial takes the earliest.
        """
        key = hashlib.sha256(sweep.encode()).hexdigest()[:32]
        with FileLock(_lock_path(sweep, key, self.uri), timeout=LOCK_SECONDS):
            found = self.client.search_runs(
                [experiment_id],
                filter_string=f"tags.`{SWEEP_PARENT}` = '{key}'",
                order_by=["attributes.start_time ASC"],
                max_results=1,
            )
            if found:
                parent = found[0]
                if parent.info.status != "RUNNING":
                    self.client.update_run(parent.info.run_id, status="RUNNING")
                return parent.info.run_id
            tags = {**tags, SWEEP_PARENT: key, f"{TAG}.sweep": sweep}
            return self.create_run(experiment_id, name, tags, parent=None)

    def close_parent(self, experiment_id: str, parent: str) -> None:
        """Mark a sweep's parent finished once none of its trials is running.

        Each trial ends its own run before it looks, so of trials that end at the same
        moment, the last to look sees them all ended.
        """
        running = self.client.search_runs(
            [experiment_id],
            filter_string=(
                f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{parent}' and attributes.status = 'RUNNING'"
            ),
            max_results=1,
        )
        if not running:
            self.terminate(parent, "FINISHED")


def _probe(uri: str) -> None:
    """Fail at once if nothing answers at an HTTP tracking URI (any answer will do: a proxy in
    front of the server may not serve MLflow's ``/health``)."""
    try:
        requests.get(f"{uri.rstrip('/')}/health", timeout=PROBE_SECONDS)
    except requests.RequestException as exc:
        raise StoreError(f"no MLflow server answers at {uri} ({type(exc).__name__})") from None


def _lock_path(sweep: str, key: str, uri: str) -> Path:
    folder = Path(sweep)
    if folder.is_dir():
        return folder / ".mlpspec-mlflow.lock"
    return _machine_lock(uri, key)


def _machine_lock(*keys: str) -> Path:
    """A lock file in the temporary folder, for the processes of this machine."""
    digest = hashlib.sha256("\n".join(keys).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"mlpspec-mlflow-{digest}.lock"


def _tag_values(tags: Mapping[str, str]) -> dict[str, str]:
    return {key: value[:MAX_TAG_VAL_LENGTH] for key, value in tags.items()}


def _batches(items: Sequence[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
