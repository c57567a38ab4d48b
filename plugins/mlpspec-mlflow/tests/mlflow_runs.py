"""What the tests of mlpspec-mlflow share: a spec that trains in about a second, running it
with the tracker, and reading back what a real MLflow store holds."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import Run
from mlpspec_mlflow import MlflowTracker, TrackerParams

import mlpspec

PLOTS = {"loss.png", "accuracy.png", "learning_rate.png", "confusion.png"}
"""The plots a tracked run of :data:`SPEC` logs as artifacts."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (for a server, or to be refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def environment(**variables: str) -> dict[str, str]:
    """This environment without the user's MLflow and mlpspec settings, with ``variables``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLPSPEC_"))}
    return clean | variables

# six evaluations, a validation set, two metrics, and an optimizer from another package
# (mlpspec-optim), so that the component tags name more than one distribution
SPEC = """
[model]
name = "tracked"
seed = 4

[data]
dataset = { type = "spirals", classes = 3, points = 300 }
validation = 60

[[layers]]
type = "dense"
units = 24
activation = "tanh"

[[layers]]
type = "dense"
units = 3

[loss]
type = "softmax_cross_entropy"

[optimizer]
type = "adam"
lr = 0.02

[train]
epochs = 6
batch_size = 24
metrics = ["accuracy", "macro_f1"]
"""

EPOCHS = 6


def tracker(uri: str, experiment: str | None = None) -> MlflowTracker:
    return MlflowTracker(TrackerParams(tracking_uri=uri, experiment=experiment))


def run_tracked(
    spec: mlpspec.Spec,
    registry: mlpspec.Registry,
    out: Path | None,
    uri: str,
    experiment: str,
    *,
    observers: Sequence[tuple[str, object]] = (),
    labels: Mapping[str, str] | None = None,
) -> mlpspec.RunResult:
    return mlpspec.run(
        spec,
        registry,
        out_dir=out,
        observers=[*observers, ("mlflow", tracker(uri, experiment))],
        labels=labels,
    )


def runs_of(uri: str, experiment: str) -> list[Run]:
    client = MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no experiment {experiment!r} in {uri}"
    return list(client.search_runs([found.experiment_id], order_by=["attributes.start_time"]))


def history(uri: str, run_id: str, key: str) -> list[tuple[int, float]]:
    """A metric's logged values as (step, value), in step order."""
    metrics = MlflowClient(uri).get_metric_history(run_id, key)
    return sorted((metric.step, metric.value) for metric in metrics)


def artifact_names(uri: str, run_id: str) -> set[str]:
    return {entry.path for entry in MlflowClient(uri).list_artifacts(run_id)}
