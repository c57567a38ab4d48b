"""Run hooks: a third-party plugin observes every event of a run, may stop it and keep ids in
its record, and never costs the run when it raises; plugins that fail to load, whatever they
raise, are reported and skipped (attack report D3, D14)."""

from __future__ import annotations

import json
import signal
import types

import pytest

from mlpspec import hookimpl, run, validate_spec
from mlpspec.cli.main import main
from mlpspec.core.errors import Interrupted, TrainingError
from mlpspec.core.hooks import HookWarning
from mlpspec.core.plugins import PluginSource, discover, load_registry
from mlpspec.core.registry import Provider
from mlpspec.core.spec import parse_toml
from mlpspec.run.runner import resume

from ..conftest import SPIRALS_SPEC, write_spec
from ..test_resume import StopInFirstEpoch


class Recorder:
    """A run-hook plugin, as a module of functions would be: it notes every event."""

    def __init__(self) -> None:
        self.events: list[tuple] = []

    @hookimpl
    def mlpspec_run_start(self, run):
        self.events.append(("start", run.resumed, run.record.status, dict(run.labels)))
        run.record.tracking["recorder"] = f"id-{len(self.events)}"

    @hookimpl
    def mlpspec_run_evaluation(self, run, evaluation):
        self.events.append(("evaluation", evaluation.epoch, sorted(evaluation.train)))

    @hookimpl
    def mlpspec_run_failure(self, run, error, record):
        self.events.append(("failure", type(error).__name__, record.status))

    @hookimpl
    def mlpspec_run_end(self, run, record):
        self.events.append(("end", record.status, record.tracking.get("recorder")))


def module_plugin(name: str, **hooks) -> PluginSource:
    module = types.ModuleType(name)
    for hook, function in hooks.items():
        setattr(module, hook, function)
    return PluginSource(Provider(name, f"{name}-dist", "1.0"), lambda: module)


def spec_of(registry, text=SPIRALS_SPEC):
    return validate_spec(parse_toml(text), registry)


def test_a_hook_plugin_sees_every_event_of_a_run_in_order(registry, tmp_path):
    recorder = Recorder()
    result = run(
        spec_of(registry),
        registry,
        out_dir=tmp_path,
        observers=[("recorder", recorder)],
        labels={"trial": "3"},
    )
    assert recorder.events == [
        ("start", False, "running", {"trial": "3"}),
        *(("evaluation", epoch, ["accuracy", "loss"]) for epoch in range(1, 6)),
        ("end", "completed", "id-1"),
    ]
    saved = json.loads((result.run_dir / "summary.json").read_text())
    assert saved["tracking"] == {"recorder": "id-1"}
    # the observer was registered for that run only
    again = Recorder()
    run(spec_of(registry), registry, out_dir=None, observers=[("again", again)])
    assert len(recorder.events) == 7 and len(again.events) == 7


def test_an_installed_plugin_module_gets_the_run_hooks_too(tmp_path):
    events = []
    registry = load_registry(
        sources=[
            *discover(),
            module_plugin(
                "watcher",
                mlpspec_run_start=lambda run: events.append("start"),
                mlpspec_run_end=lambda run, record: events.append(record.status),
            ),
        ]
    )
    run(spec_of(registry), registry, out_dir=None)
    assert events == ["start", "completed"]


def test_a_failed_and_an_interrupted_run_end_with_their_status(registry, tmp_path):
    failing = Recorder()
    text = SPIRALS_SPEC.replace("lr = 0.1", "lr = 1e35").replace('"tanh"', '"relu"')
    with pytest.raises(TrainingError):
        run(spec_of(registry, text), registry, out_dir=tmp_path, observers=[("r", failing)])
    assert failing.events[-2:] == [
        ("failure", "NumericalFault", "failed"),
        ("end", "failed", "id-1"),
    ]
    stopped, resumed = Recorder(), Recorder()
    with pytest.raises(Interrupted):
        run(
            spec_of(registry),
            registry,
            out_dir=tmp_path / "stopped",
            observers=[("r", stopped)],
            callbacks=[StopInFirstEpoch()],
        )
    assert stopped.events[-1] == ("end", "interrupted", "id-1")
    (folder,) = (tmp_path / "stopped").iterdir()
    resume(folder, registry, observers=[("r", resumed)])
    # the resumed run starts knowing the id its tracker kept the first time
    assert resumed.events[0][:3] == ("start", True, "running")
    assert resumed.events[-1] == ("end", "completed", "id-1")


def test_a_hook_that_raises_is_named_and_never_costs_the_run(registry, tmp_path):
    class Broken:
        @hookimpl
        def mlpspec_run_evaluation(self, run, evaluation):
            raise ValueError("tracking server down")

        @hookimpl
        def mlpspec_run_end(self, run, record):
            raise SystemExit(3)  # a plugin's SystemExit is its fault, not an exit

    with pytest.warns(HookWarning, match="plugin 'broken' failed in mlpspec_run_"):
        result = run(
            spec_of(registry), registry, out_dir=tmp_path, observers=[("broken", Broken())]
        )
    assert result.record.status == "completed"
    warnings = json.loads((result.run_dir / "summary.json").read_text())["warnings"]
    assert len(warnings) == 2  # one per failing hook, not one per evaluation
    assert "ValueError: tracking server down" in warnings[0] and "SystemExit: 3" in warnings[1]


def test_a_hook_can_stop_training_as_a_pruner_does(registry):
    class Pruner:
        @hookimpl
        def mlpspec_run_evaluation(self, run, evaluation):
            if evaluation.epoch == 2:
                run.request_stop("pruned at epoch 2")

    result = run(spec_of(registry), registry, out_dir=None, observers=[("pruner", Pruner())])
    assert result.record.status == "completed"
    assert result.record.stop_reason == "pruned at epoch 2" and result.record.epochs_run == 2
    assert result.record.test_accuracy is not None


@pytest.mark.parametrize(
    "body", ["import sys\nsys.exit(0)\n", "raise KeyboardInterrupt\n", "raise SystemExit(2)\n"]
)
def test_a_plugin_that_exits_or_interrupts_at_import_is_skipped(
    tmp_path, monkeypatch, body, capsys
):
    (tmp_path / "quits.py").write_text(body)
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = write_spec(tmp_path, SPIRALS_SPEC)
    assert main(["run", str(spec), "--plugin", "quits", "--no-save", "-q"]) == 0
    captured = capsys.readouterr()
    assert "warning: plugin 'quits' was not loaded" in captured.err
    assert captured.out.startswith("test accuracy")


def test_a_real_ctrl_c_while_plugins_load_still_interrupts(tmp_path, monkeypatch):
    import os

    (tmp_path / "slow_plugin.py").write_text(
        "import os, signal\nos.kill(os.getpid(), signal.SIGINT)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(KeyboardInterrupt):
        load_registry(["slow_plugin"])
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert os.getpid()


def test_the_allow_list_loads_only_the_named_plugins(monkeypatch, capsys):
    monkeypatch.setenv("MLPSPEC_PLUGINS", "mlpspec_layers,no_such_plugin")
    registry = load_registry()
    loaded = {provider.plugin for provider in registry.plugins}
    assert "mlpspec_layers" in loaded and "mlpspec_optim" not in loaded
    assert "mlpspec.layers" in loaded  # the built-ins always load
    assert ("MLPSPEC_PLUGINS", "no_such_plugin") in registry.unknown_names
    assert main(["list", "--plugins"]) == 0
    assert "MLPSPEC_PLUGINS names 'no_such_plugin'" in capsys.readouterr().err
    monkeypatch.setenv("MLPSPEC_DISABLE_PLUGINS", "typo_plugin")
    assert ("MLPSPEC_DISABLE_PLUGINS", "typo_plugin") in load_registry().unknown_names


def test_a_plugin_registering_a_name_twice_is_skipped_not_fatal(registry):
    from mlpspec.builtins.activations import Tanh

    def twice(register):
        register("twice.act", Tanh)
        register("twice.act", Tanh)

    loaded = load_registry(
        sources=[*discover(), module_plugin("twice", mlpspec_register_activations=twice)]
    )
    assert "twice.act" not in loaded.names("activation")
    assert "registers activation 'twice.act' twice" in loaded.failures[0].reason
    assert "tanh" in loaded.names("activation")
