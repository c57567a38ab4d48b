"""Error paths of the run lifecycle that no other test reaches: each is a located, clean
error with its exit status, never a traceback."""

from __future__ import annotations

import types

import pytest

from mlpspec import MlpspecError, SpecError, run, validate_spec
from mlpspec.cli.main import main
from mlpspec.core.errors import Interrupted
from mlpspec.core.plugins import PluginSource, discover, load_registry
from mlpspec.core.registry import Params, Provider
from mlpspec.core.spec import parse_toml
from mlpspec.run import rundir
from mlpspec.run.runner import resume

from ..conftest import SPIRALS_SPEC, write_spec
from ..test_resume import RESUMABLE_SPEC, StopInFirstEpoch


class NoRate:
    """An optimizer whose params have no ``lr``: the schedule has nothing to start from."""

    def __init__(self, params) -> None:
        pass

    def step(self, parameters, lr):
        pass

    def state(self):
        return {}

    def load_state(self, state):
        pass


def test_an_optimizer_without_an_lr_param_is_a_located_spec_error():
    module = types.ModuleType("norate")
    module.mlpspec_register_optimizers = lambda register: register("norate", NoRate)
    registry = load_registry(
        sources=[*discover(), PluginSource(Provider("norate", "norate", "1"), lambda: module)]
    )
    text = SPIRALS_SPEC.replace('type = "sgd_momentum"\nlr = 0.1', 'type = "norate"')
    with pytest.raises(SpecError) as caught:
        run(validate_spec(parse_toml(text), registry), registry, out_dir=None)
    (problem,) = caught.value.problems
    assert problem.location == "optimizer" and "has no 'lr' param" in problem.message


def test_a_run_folder_that_cannot_be_locked_is_an_error_naming_it(registry, tmp_path, monkeypatch):
    spec = validate_spec(parse_toml(RESUMABLE_SPEC), registry)
    with pytest.raises(Interrupted):
        run(spec, registry, out_dir=tmp_path, callbacks=[StopInFirstEpoch()])
    (folder,) = tmp_path.iterdir()

    def refuse(self, timeout=None):
        raise PermissionError(13, "Permission denied", str(folder / rundir.LOCK))

    monkeypatch.setattr(rundir.FileLock, "acquire", refuse)
    with pytest.raises(MlpspecError, match=r"cannot lock the run folder .*Permission denied"):
        resume(folder, registry)


class NeedsUri(Params):
    uri: str
    """Where to log: required, with no default."""


def test_a_tracker_whose_params_have_no_defaults_is_a_usage_error(tmp_path, monkeypatch, capsys):
    (tmp_path / "strict_tracker.py").write_text(
        "from tests.run.test_error_paths import NeedsUri\n"
        "class Tracker:\n"
        "    def __init__(self, params):\n"
        "        pass\n"
        "def mlpspec_register_trackers(register):\n"
        "    register('strict', Tracker, NeedsUri)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = write_spec(tmp_path, SPIRALS_SPEC)
    argv = ["run", str(spec), "--no-save", "--plugin", "strict_tracker", "--track", "strict"]
    assert main(argv) == 2
    assert "tracker 'strict' needs settings" in capsys.readouterr().err
