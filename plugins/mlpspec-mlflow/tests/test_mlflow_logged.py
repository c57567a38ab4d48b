"""What a run becomes in MLflow, without a store: params by --set path, values spelled as TOML,
tags from components.json, metric names as metrics.jsonl has them."""

from __future__ import annotations

import json
import re

import pytest
import tomli_w
from mlflow_runs import SPEC
from mlpspec_mlflow import logged
from mlpspec_mlflow.tracker import TrackerParams

import mlpspec
from mlpspec.core.spec import parse_toml


def test_params_are_the_leaves_of_the_spec_under_their_set_paths():
    spec = {
        "optimizer": {"type": "sgd", "lr": 0.05},
        "layers": [{"units": 64, "activation": {"type": "tanh"}}, {"units": 3}],
        "train": {"metrics": [{"type": "accuracy"}], "early_stopping": False, "callbacks": []},
        "data": {"dataset": {}},
    }
    assert logged.spec_params(spec) == {
        "optimizer.type": "sgd",
        "optimizer.lr": "0.05",
        "layers.0.units": "64",
        "layers.0.activation.type": "tanh",
        "layers.1.units": "3",
        "train.metrics.0.type": "accuracy",
        "train.early_stopping": "false",
        "train.callbacks": "[]",
        "data.dataset": "{}",
    }


@pytest.mark.parametrize(
    ("value", "spelled"),
    [(True, "true"), (0.05, "0.05"), (1e-08, "1e-08"), (7, "7"), ("relu", "relu"), ([], "[]")],
)
def test_a_param_value_is_spelled_as_set_reads_it_back(value, spelled):
    assert logged.param_value(value) == spelled


def test_every_value_of_a_resolved_spec_is_a_param_that_set_gives_back(tmp_path, registry):
    """Each logged param, given back through --set (its path with the list index in
    brackets) to the run's resolved spec, yields that spec: nothing is lost, and no value's
    spelling changes its meaning."""
    path = tmp_path / "spec.toml"
    path.write_text(SPEC, encoding="utf-8")
    resolved = mlpspec.load_spec(path, registry).to_dict()
    params = logged.spec_params(resolved)
    assert params["layers.0.units"] == "24" and params["optimizer.lr"] == "0.02"

    def as_set_path(key: str) -> str:
        return re.sub(r"\.(\d+)(?=\.|$)", r"[\1]", key)

    def as_set_value(text: str):
        try:
            return parse_toml(f"value = {text}")["value"]
        except mlpspec.SpecError:
            return text  # as --set takes a value that is not TOML: as text

    (tmp_path / "run.toml").write_text(tomli_w.dumps(resolved), encoding="utf-8")
    given_back = {as_set_path(key): as_set_value(text) for key, text in params.items()}
    assert as_set_path("layers.0.activation.type") == "layers[0].activation.type"
    assert mlpspec.load_spec(tmp_path / "run.toml", registry, given_back).to_dict() == resolved


def test_component_tags_name_the_distribution_and_version_or_the_local_module():
    entries = [
        {"kind": "optimizer", "name": "adam", "plugin": "mlpspec_optim",
         "distribution": "mlpspec-optim", "version": "0.1.0"},
        {"kind": "activation", "name": "my.cube", "plugin": "cube_plugin",
         "distribution": None, "version": None},
    ]  # fmt: skip
    assert logged.component_tags(entries) == {
        "mlpspec.component.optimizer.adam": "mlpspec-optim 0.1.0",
        "mlpspec.component.activation.my.cube": "cube_plugin (local module)",
    }


def test_evaluation_metrics_keep_metrics_jsonl_names_and_leave_out_the_counters():
    flat = {"epoch": 3, "step": 30, "lr": 0.1, "seconds": 1.5, "train_loss": 0.4,
            "val_loss": 0.5, "val_macro_f1": 0.8}  # fmt: skip
    assert logged.evaluation_metrics(flat) == {
        "lr": 0.1,
        "train_loss": 0.4,
        "val_loss": 0.5,
        "val_macro_f1": 0.8,
    }


def test_a_torn_last_line_of_metrics_jsonl_is_skipped(tmp_path):
    lines = [json.dumps({"epoch": 1, "train_loss": 0.5}), json.dumps({"epoch": 2}), '{"epo']
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines), encoding="utf-8")
    assert [e["epoch"] for e in logged.read_evaluations(tmp_path)] == [1, 2]
    assert logged.read_evaluations(None) == []


def test_the_store_is_the_environments_else_sqlite_in_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert TrackerParams().uri() == f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert TrackerParams().uri() == "http://127.0.0.1:5000"
    assert TrackerParams(tracking_uri="sqlite:///x.db").uri() == "sqlite:///x.db"


def test_the_experiment_is_the_environments_else_the_models_name(tmp_path, registry, monkeypatch):
    path = tmp_path / "spec.toml"
    path.write_text(SPEC, encoding="utf-8")
    spec = mlpspec.load_spec(path, registry)
    assert TrackerParams().experiment_name(spec) == "tracked"
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "team-runs")
    assert TrackerParams().experiment_name(spec) == "team-runs"
    assert TrackerParams(experiment="mine").experiment_name(spec) == "mine"
