"""What an mlpspec run becomes in MLflow: its params, tags and metrics, as plain values.

Nothing here talks to MLflow, so all of it is tested without a store. Names follow mlpspec's
own: metrics are named as in ``metrics.jsonl`` and ``summary.json`` (``train_loss``,
``val_accuracy``, ``lr``; ``test_accuracy`` at the end), params by the paths ``--set`` takes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import mlpspec

TAG = "mlpspec"
"""The prefix of every tag this tracker sets (besides MLflow's own ``mlflow.*``)."""

NOT_METRICS = ("epoch", "step", "seconds")
"""The fields of an evaluation that are not metrics: the epoch is MLflow's step."""


def spec_params(spec: Mapping[str, Any]) -> dict[str, str]:
    """The resolved spec as MLflow params: one per value, named by its ``--set`` path.

    MLflow names cannot hold brackets, so a list index is a path segment of its own:
    ``layers[0].units`` is logged as ``layers.0.units``. An empty table or list is kept as
    ``{}`` or ``[]``, so that no key of the spec goes missing.
    """
    params: dict[str, str] = {}

    def walk(node: Any, path: str) -> None:
        if isinstance(node, Mapping) and node:
            for key, value in node.items():
                walk(value, f"{path}.{key}" if path else str(key))
        elif isinstance(node, list) and node:
            for index, value in enumerate(node):
                walk(value, f"{path}.{index}")
        else:
            params[path] = param_value(node)

    walk(spec, "")
    return params


def param_value(value: Any) -> str:
    """A value as TOML spells it (``true``, ``0.05``, ``[]``), so that pasting it into
    ``--set`` gives the same value back; a string is itself."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (Mapping, list)):
        return json.dumps(value)
    return str(value)


def start_tags(
    run: mlpspec.RunContext, components: Iterable[Mapping[str, Any]]
) -> dict[str, str]:
    """The tags a run starts with: mlpspec's version, the spec file and the run folder, the
    package that supplied each component, and the labels the caller gave (a sweep's trial)."""
    tags = {f"{TAG}.version": mlpspec.__version__, f"{TAG}.spec": run.record.spec}
    if run.run_dir is not None:
        tags[f"{TAG}.run_dir"] = str(Path(run.run_dir).resolve())
    tags |= component_tags(components)
    tags |= {f"{TAG}.label.{key}": str(value) for key, value in run.labels.items()}
    return tags


def component_tags(components: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """``mlpspec.component.KIND.NAME`` = ``mlpspec-optim 0.1.0``, from ``components.json``'s
    entries; a component from a module outside any package is named by its module."""
    tags = {}
    for entry in components:
        distribution, version = entry.get("distribution"), entry.get("version")
        if distribution:
            source = f"{distribution} {version}" if version else str(distribution)
        else:
            source = f"{entry.get('plugin')} (local module)"
        tags[f"{TAG}.component.{entry['kind']}.{entry['name']}"] = source
    return tags


def evaluation_metrics(flat: Mapping[str, float | int]) -> dict[str, float]:
    """An evaluation's metrics from its flat form (:meth:`Evaluation.to_dict`, or a line of
    ``metrics.jsonl``): ``train_*``, ``val_*`` and ``lr``."""
    return {key: float(value) for key, value in flat.items() if key not in NOT_METRICS}


def outcome_metrics(record: mlpspec.RunRecord) -> dict[str, float]:
    """The test set's metrics (``test_loss``, ``test_accuracy``...) and each validation
    metric's best value over the run (``best_val_loss``...), logged once at the end."""
    values = {f"test_{name}": value for name, value in record.test.items()}
    values |= {f"best_val_{name}": value for name, value in record.best_val.items()}
    return values


def outcome_tags(record: mlpspec.RunRecord) -> dict[str, str]:
    """How the run ended, in mlpspec's words: status, and why it stopped or failed."""
    tags = {f"{TAG}.status": record.status}
    if record.stop_reason:
        tags[f"{TAG}.stop_reason"] = record.stop_reason
    if record.best_epoch is not None:
        tags[f"{TAG}.best_epoch"] = str(record.best_epoch)
    if record.error:
        tags[f"{TAG}.error"] = record.error
    if record.culprit is not None:
        tags[f"{TAG}.culprit"] = record.culprit.describe()
    return tags


def read_components(run_dir: Path | None) -> list[dict[str, Any]]:
    """``components.json`` of the run folder: which package supplied each component (none
    without a folder)."""
    if run_dir is None:
        return []
    path = Path(run_dir) / "components.json"
    if not path.is_file():
        return []
    return list(json.loads(path.read_text(encoding="utf-8")))


def read_evaluations(run_dir: Path | None) -> list[dict[str, Any]]:
    """The lines of ``metrics.jsonl`` (the history a resumed run starts from); a torn last
    line, which a crash can leave, is skipped as mlpspec itself skips it."""
    if run_dir is None:
        return []
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return []
    evaluations = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            evaluations.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return evaluations
