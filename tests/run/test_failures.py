"""Failures are recorded, always: whatever raises once a run folder exists, the folder ends
``failed`` with the reason, the culprit (component, place, package) and the last good weights,
and the caller gets one line naming the culprit (attack report D1; review F2)."""

from __future__ import annotations

import errno
import json
import types
from pathlib import Path

import numpy as np
import pytest

from mlpspec import MlpspecError, Params, SpecError, TrainingError, run, validate_spec
from mlpspec.cli.main import main
from mlpspec.core.plugins import PluginSource, discover, load_registry
from mlpspec.core.registry import Provider
from mlpspec.core.spec import parse_toml
from mlpspec.run.runner import RunFailed

from ..conftest import SPIRALS_SPEC, write_spec

FAIL_AT = 30
"""Calls before a faulty component raises: a few epochs into training (10 steps an epoch)."""


class Countdown:
    """Raises once it has been called ``FAIL_AT`` times: a plugin bug that shows mid-run."""

    def __init__(self) -> None:
        self.calls = 0

    def tick(self) -> None:
        self.calls += 1
        if self.calls > FAIL_AT:
            raise RuntimeError("plugin bug")


class FaultyActivation(Countdown):
    def __init__(self, params) -> None:
        super().__init__()

    def forward(self, z):
        self.tick()
        return np.tanh(z)

    def backward(self, z, a, grad):
        return grad * (1 - a * a)


class FaultyLayer(Countdown):
    def __init__(self, params, in_features, ctx) -> None:
        super().__init__()
        self.out_features = in_features

    def forward(self, x, *, training):
        self.tick()
        return x

    def backward(self, grad, *, need_input_grad=True):
        return grad

    def parameters(self):
        return {}

    def buffers(self):
        return {}

    def penalty(self):
        return 0.0


class FaultyLoss(Countdown):
    reduction = "mean"

    def __init__(self, params) -> None:
        super().__init__()
        from mlpspec.builtins.losses import ReductionParams, SoftmaxCrossEntropy

        self.inner = SoftmaxCrossEntropy(ReductionParams())

    def per_example(self, output, target, *, grad):
        self.tick()
        return self.inner.per_example(output, target, grad=grad)

    def value_and_grad(self, output, target):
        values, gradient = self.per_example(output, target, grad=True)
        return float(np.mean(values)), gradient / len(output)

    def probabilities(self, output):
        return self.inner.probabilities(output)

    def check_output(self, width):
        pass


class LrParams(Params):
    lr: float = 0.1


class FaultyOptimizer(Countdown):
    def __init__(self, params) -> None:
        super().__init__()

    def step(self, parameters, lr):
        self.tick()
        for p in parameters:
            p.value -= lr * p.grad

    def state(self):
        return {}

    def load_state(self, state):
        pass


class FaultyScheduler(Countdown):
    def __init__(self, params, schedule) -> None:
        super().__init__()
        self.base = schedule.base_lr

    def lr(self, epoch, step):
        self.tick()
        return self.base


class FaultyMetric(Countdown):
    greater_is_better = True

    def __init__(self, params) -> None:
        super().__init__()

    def reset(self):
        pass

    def update(self, probabilities, labels):
        self.calls += 1
        if self.calls > 5:  # called twice an evaluation, not at every step
            raise RuntimeError("plugin bug")

    def result(self):
        return 0.5


def faulty_plugin(**hooks) -> PluginSource:
    module = types.ModuleType("faulty")
    for name, hook in hooks.items():
        setattr(module, name, hook)
    return PluginSource(Provider("faulty", "faulty-dist", "9.9"), lambda: module)


FAULTY = faulty_plugin(
    mlpspec_register_activations=lambda register: register("faulty.act", FaultyActivation),
    mlpspec_register_layers=lambda register: register("faulty.layer", FaultyLayer),
    mlpspec_register_losses=lambda register: register("faulty.loss", FaultyLoss),
    mlpspec_register_optimizers=lambda register: register(
        "faulty.opt", FaultyOptimizer, LrParams
    ),
    mlpspec_register_schedulers=lambda register: register("faulty.sched", FaultyScheduler),
    mlpspec_register_metrics=lambda register: register("faulty.metric", FaultyMetric),
)


@pytest.fixture(scope="module")
def faulty_registry():
    return load_registry(sources=[*discover(), FAULTY])


LAYER = '[[layers]]\ntype = "faulty.layer"\n\n[[layers]]\ntype = "dense"\nunits = 2'
CASES = {
    "activation": (
        ('activation = "tanh"', 'activation = "faulty.act"'),
        "layers[0].activation",
        "faulty.act",
    ),
    "layer": (('[[layers]]\ntype = "dense"\nunits = 2', LAYER), "layers[1]", "faulty.layer"),
    "loss": (('type = "softmax_cross_entropy"', 'type = "faulty.loss"'), "loss", "faulty.loss"),
    "optimizer": (
        ('type = "sgd_momentum"\nlr = 0.1', 'type = "faulty.opt"\nlr = 0.1'),
        "optimizer",
        "faulty.opt",
    ),
    "scheduler": (
        ("[train]", '[scheduler]\ntype = "faulty.sched"\n\n[train]'),
        "scheduler",
        "faulty.sched",
    ),
    "metric": (
        ("batch_size = 16", 'batch_size = 16\nmetrics = ["accuracy", "faulty.metric"]'),
        "train.metrics[1]",
        "faulty.metric",
    ),
}


@pytest.mark.parametrize("kind", list(CASES))
def test_a_component_failing_mid_run_leaves_a_failed_record_naming_it(
    faulty_registry, tmp_path, kind
):
    (old, new), place, name = CASES[kind]
    assert old in SPIRALS_SPEC
    text = SPIRALS_SPEC.replace(old, new).replace("epochs = 5", "epochs = 8")
    spec = validate_spec(parse_toml(text), faulty_registry)
    with pytest.raises(RunFailed) as caught:
        run(spec, faulty_registry, out_dir=tmp_path)
    message = str(caught.value)
    assert f"{place} ({kind} '{name}' from faulty-dist 9.9 (faulty))" in message
    assert "RuntimeError: plugin bug" in message and "\n" not in message
    (folder,) = tmp_path.iterdir()
    record = json.loads((folder / "summary.json").read_text())
    assert record["status"] == "failed"
    assert record["culprit"] == {
        "place": place,
        "kind": kind,
        "name": name,
        "package": "faulty-dist 9.9 (faulty)",
    }
    assert record["error"] == "RuntimeError: plugin bug"
    # the weights of the last good evaluation are kept, and are finite
    metrics = (folder / "metrics.jsonl").read_text().splitlines()
    with np.load(folder / "model.npz", allow_pickle=False) as saved:
        assert saved.files and all(np.all(np.isfinite(saved[k])) for k in saved.files)
    if metrics:
        assert record["epochs_run"] >= json.loads(metrics[-1])["epoch"]


def test_the_culprit_is_named_on_the_command_line_with_exit_status_1(tmp_path, capsys):
    plugin = tmp_path / "badfwd.py"
    plugin.write_text(
        "import numpy as np\n"
        "class Boom:\n"
        "    calls = 0\n"
        "    def __init__(self, params): pass\n"
        "    def forward(self, z):\n"
        "        Boom.calls += 1\n"
        "        if Boom.calls > 40: raise RuntimeError('plugin bug')\n"
        "        return np.tanh(z)\n"
        "    def backward(self, z, a, g): return g * (1 - a * a)\n"
        "def mlpspec_register_activations(register):\n"
        "    register('rt.boom', Boom)\n"
    )
    import sys

    sys.path.insert(0, str(tmp_path))
    try:
        spec = write_spec(tmp_path, SPIRALS_SPEC.replace('"tanh"', '"rt.boom"'))
        status = main(
            ["run", str(spec), "--plugin", "badfwd", "--out", str(tmp_path / "runs"), "-q"]
        )
    finally:
        sys.path.remove(str(tmp_path))
    err = capsys.readouterr().err
    assert status == 1
    assert "layers[0].activation (activation 'rt.boom' from badfwd (local module))" in err
    assert "internal error" not in err and "Traceback" not in err
    (folder,) = (tmp_path / "runs").iterdir()
    assert json.loads((folder / "summary.json").read_text())["status"] == "failed"


def test_a_full_disk_after_training_is_recorded_as_failed(registry, tmp_path, monkeypatch):
    """ENOSPC while saving the test predictions: the run says so, and is not left running."""
    from mlpspec.run import rundir

    original = rundir.RunDirectory.write_arrays

    def full(self, name, arrays):
        if name == rundir.PREDICTIONS:
            raise OSError(errno.ENOSPC, "No space left on device", str(self.path / name))
        original(self, name, arrays)

    monkeypatch.setattr(rundir.RunDirectory, "write_arrays", full)
    spec = validate_spec(parse_toml(SPIRALS_SPEC), registry)
    with pytest.raises(RunFailed, match="No space left on device"):
        run(spec, registry, out_dir=tmp_path)
    (folder,) = tmp_path.iterdir()
    record = json.loads((folder / "summary.json").read_text())
    assert record["status"] == "failed" and "predictions.npz" in record["error"]
    assert record["culprit"] is None  # our own write, no component to blame


def test_early_stopping_with_a_validation_share_that_rounds_to_no_rows(registry):
    """F2: the rule is checked where the rows are known, before any training."""
    text = SPIRALS_SPEC.replace("validation = 40", "validation = 0.001").replace(
        "epochs = 5", "epochs = 5\nearly_stopping = true"
    )
    with pytest.raises(SpecError) as caught:
        run(validate_spec(parse_toml(text), registry), registry, out_dir=None)
    (problem,) = caught.value.problems
    assert problem.location == "data.validation" and "rounds to 0" in problem.message


class NaNActivation:
    """An activation that turns the third row's values into NaN: a plugin bug."""

    def __init__(self, params) -> None:
        pass

    def forward(self, z):
        out = np.tanh(z)
        out[2:3] = np.nan
        return out

    def backward(self, z, a, grad):
        return grad * (1 - a * a)


def test_a_nan_from_a_plugin_is_traced_to_it_not_to_the_learning_rate(tmp_path):
    registry = load_registry(
        sources=[
            *discover(),
            faulty_plugin(
                mlpspec_register_activations=lambda register: register("nan.act", NaNActivation)
            ),
        ]
    )
    spec = validate_spec(parse_toml(SPIRALS_SPEC.replace('"tanh"', '"nan.act"')), registry)
    with pytest.raises(TrainingError) as caught:
        run(spec, registry, out_dir=tmp_path)
    message = str(caught.value)
    assert "layers[0] gave the first non-finite values" in message
    assert "activation 'nan.act' from faulty-dist 9.9" in message
    assert "learning rate" not in message
    (folder,) = tmp_path.iterdir()
    assert json.loads((folder / "summary.json").read_text())["culprit"]["place"] == "layers[0]"


def test_nan_in_the_data_is_blamed_on_the_data(registry, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((120, 2))
    x[50, 1] = np.nan
    np.savez(tmp_path / "d.npz", x_train=x, y_train=rng.integers(0, 2, 120))
    text = SPIRALS_SPEC.replace(
        'dataset = { type = "spirals", classes = 2, points = 100 }',
        f'dataset = {{ type = "npz", path = "{tmp_path / "d.npz"}" }}',
    )
    with pytest.raises(MlpspecError) as caught:
        run(validate_spec(parse_toml(text), registry), registry, out_dir=None)
    assert "learning rate" not in str(caught.value)
    assert "NaN" in str(caught.value) or "nan" in str(caught.value)


def test_no_run_is_left_running_by_an_error_before_training(registry, tmp_path, monkeypatch):
    """An error between creating the folder and training (here: writing the spec) is still
    recorded: the record is the last thing that fails."""
    from mlpspec.run import rundir

    def broken(self, spec):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(rundir.RunDirectory, "write_spec", broken)
    with pytest.raises(RunFailed, match="Read-only file system"):
        run(validate_spec(parse_toml(SPIRALS_SPEC), registry), registry, out_dir=tmp_path)
    (folder,) = tmp_path.iterdir()
    assert json.loads((folder / "summary.json").read_text())["status"] == "failed"


def test_culprits_are_found_for_objects_built_by_the_builder(registry):
    """The builder remembers where each built object was named, nested ones included."""
    from mlpspec.run.builder import Builder

    spec = validate_spec(parse_toml(SPIRALS_SPEC), registry)
    builder = Builder(spec, registry)
    builder.model(2, ["a", "b"])
    assert set(builder.placed) >= {
        "layers[0]",
        "layers[0].activation",
        "layers[0].init",
        "layers[0].bias_init",
        "layers[1]",
        "loss",
    }
    assert [p.place for p in builder.nested("layers[0]")] == [
        "layers[0].init",
        "layers[0].bias_init",
        "layers[0].activation",
    ]
    assert Path(spec.source).name == "<spec>"
