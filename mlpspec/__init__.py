"""mlpspec: declarative, plugin-based multi-layer perceptrons on numpy.

From Python, the same path as ``mlpspec run``::

    import mlpspec

    registry = mlpspec.load_registry()
    spec = mlpspec.load_spec("specs/quickstart.toml", registry)
    result = mlpspec.run(spec, registry, out_dir=None)   # data, build, train, test
    print(result.test_accuracy)

    splits = mlpspec.load_data(spec, registry)           # or step by step
    model = mlpspec.build_model(spec, registry, splits.features, splits.classes)
    saved = mlpspec.load_run("runs/quickstart-spirals-...")   # a saved run: .predict()
    mlpspec.resume("runs/NAME-DATE", registry)               # an interrupted run, continued
"""

from mlpspec._version import __version__
from mlpspec.core.components import (
    BuildContext,
    ExportContext,
    Layer,
    Loss,
    Metric,
    Parameter,
    Schedule,
)
from mlpspec.core.errors import (
    DataError,
    MlpspecError,
    PluginError,
    SpecError,
    TrainingError,
    UnknownComponentError,
)
from mlpspec.core.hookspec import HOOK_API_VERSION, hookimpl
from mlpspec.core.plugins import load_registry
from mlpspec.core.registry import Params, Registry
from mlpspec.core.spec import Spec, component_ref, load_spec, validate_spec
from mlpspec.run.builder import build_model, load_data
from mlpspec.run.record import RunContext, RunRecord
from mlpspec.run.runner import RunFailed, RunResult, resume, run
from mlpspec.run.saved import LoadedRun, load_run

__all__ = [
    "HOOK_API_VERSION",
    "BuildContext",
    "DataError",
    "ExportContext",
    "Layer",
    "LoadedRun",
    "Loss",
    "Metric",
    "MlpspecError",
    "Parameter",
    "Params",
    "PluginError",
    "Registry",
    "RunContext",
    "RunFailed",
    "RunRecord",
    "RunResult",
    "Schedule",
    "Spec",
    "SpecError",
    "TrainingError",
    "UnknownComponentError",
    "__version__",
    "build_model",
    "component_ref",
    "hookimpl",
    "load_data",
    "load_registry",
    "load_run",
    "load_spec",
    "resume",
    "run",
    "validate_spec",
]
