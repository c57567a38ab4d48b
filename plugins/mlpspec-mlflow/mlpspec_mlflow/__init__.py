"""mlpspec-mlflow: logs mlpspec runs to MLflow (``mlpspec run SPEC --track mlflow``), through
mlpspec's public run hooks only.

From Python, a tracker is an observer of a run::

    import mlpspec
    from mlpspec_mlflow import MlflowTracker, TrackerParams

    tracker = MlflowTracker(TrackerParams(tracking_uri="http://127.0.0.1:5000"))
    mlpspec.run(spec, registry, observers=[("mlflow", tracker)])
"""

from mlpspec_mlflow.tracker import MlflowTracker, TrackerParams

__all__ = ["MlflowTracker", "TrackerParams"]
