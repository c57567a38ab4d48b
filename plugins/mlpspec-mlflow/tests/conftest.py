"""Fixtures: a real MLflow store (SQLite in a temporary folder) and the environment cleared
of the user's MLflow settings. The helpers the tests share are in ``mlflow_runs``."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from mlflow_runs import SPEC

import mlpspec

MLFLOW_ENVIRONMENT = ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "MLPSPEC_TRACK")


@pytest.fixture(autouse=True)
def _no_user_settings(monkeypatch, tmp_path):
    """Nothing from the user's MLflow settings; and a temporary current folder, where MLflow
    puts the files of runs logged to a SQLite store (./mlruns), as it does for users."""
    for name in MLFLOW_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def registry() -> mlpspec.Registry:
    return mlpspec.load_registry()


@pytest.fixture(scope="session")
def store_uri(tmp_path_factory) -> str:
    """One SQLite store for the session (creating its tables takes seconds); each test logs
    to an experiment of its own."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture
def experiment() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def spec_file(tmp_path) -> Path:
    path = tmp_path / "tracked.toml"
    path.write_text(SPEC, encoding="utf-8")
    return path
