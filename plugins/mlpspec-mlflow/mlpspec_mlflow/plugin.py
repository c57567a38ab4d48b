"""The plugin module the ``mlpspec.plugins`` entry point names: it registers the ``mlflow``
tracker (``mlpspec run SPEC --track mlflow``). Loading it imports no MLflow: that happens
when a tracked run starts."""

from __future__ import annotations

from mlpspec import HOOK_API_VERSION, hookimpl
from mlpspec_mlflow.tracker import MlflowTracker, TrackerParams

MLPSPEC_HOOK_API = HOOK_API_VERSION
"""The hook API this plugin was written for; mlpspec refuses it at load if it has changed."""


@hookimpl
def mlpspec_register_trackers(register) -> None:
    register("mlflow", MlflowTracker, TrackerParams)
