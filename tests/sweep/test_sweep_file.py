"""Sweep files: their problems, each at its place (exit 2, before any trial runs), and what
``mlpspec validate`` builds to find them."""

from __future__ import annotations

import pytest

from mlpspec.cli.main import main
from mlpspec.sweep.file import check_sweep, load_sweep

from ..conftest import SPECS, SPIRALS_SPEC, write_spec
from .helpers import run_cli, sweep_file

GOOD = """
[sweep]
metric = "val_accuracy"
trials = 4
[sweep.parameters]
"optimizer.lr" = { distribution = "log_uniform", min = 0.001, max = 0.3 }
"layers[0].units" = { values = [8, 16, 32] }
"layers[0].init" = { values = ["glorot", { type = "normal", scale = 0.2 }] }
"optimizer.momentum" = { distribution = "uniform", min = 0.0, max = 0.9 }
"train.epochs" = { value = 2 }
"""

BAD = [
    ('metric = "val_acc"', "sweep.metric", "'val_acc' is not recorded; choose one of"),
    ("trialz = 4", "sweep.trialz", "unknown key 'trialz' (did you mean 'trials'?)"),
    ('sampler = "grd"', "sweep.sampler", "input should be 'tpe', 'random' or 'grid'"),
    ('pruner = "mean"', "sweep.pruner", "input should be 'none', 'median' or 'hyperband'"),
    ("trials = 0", "sweep.trials", "greater than 0"),
    (
        '"optimizer.lr" = { distribution = "log_uniform", min = 0, max = 0.3 }',
        'sweep.parameters."optimizer.lr"',
        "log_uniform needs min above 0 (min and max are the values, not their exponents",
    ),
    (
        '"optimizer.lr" = { distribution = "uniform", min = 0.3, max = 0.1 }',
        'sweep.parameters."optimizer.lr"',
        "min (0.3) must be below max (0.1)",
    ),
    (
        '"layers[0].units" = { distribution = "int_uniform", min = 4.5, max = 9 }',
        'sweep.parameters."layers[0].units"',
        "int_uniform takes whole numbers for min and max",
    ),
    (
        '"optimizer.lr" = { distribution = "gaussian", min = 0.1, max = 0.3 }',
        'sweep.parameters."optimizer.lr".distribution',
        "input should be 'uniform', 'log_uniform', 'int_uniform' or 'log_int_uniform'",
    ),
    (
        '"optimizer.lr" = { distribution = "uniform", min = 0.1 }',
        'sweep.parameters."optimizer.lr".max',
        "this key is required but missing",
    ),
    (
        '"optimizer.lr" = { distribution = "uniform", min = 0.1, max = 0.3, step = 0.1 }',
        'sweep.parameters."optimizer.lr".step',
        "unknown key 'step'",
    ),
    ('"layers[0].units" = { values = [] }', 'sweep.parameters."layers[0].units".values',
     "at least 1 item"),
    ('"layers[0].units" = { values = [8, 16, 8] }', 'sweep.parameters."layers[0].units"',
     "values[2] repeats values[0]"),
    ('"layers[0].units" = { values = [8], value = 8 }', 'sweep.parameters."layers[0].units"',
     "give one of values, value, not 2"),
    ('"layers[0].units" = 8', 'sweep.parameters."layers[0].units"',
     "expected a table with one of: distribution (and min, max), values, value"),
    ('"layers[5].units" = { values = [8, 16] }', 'sweep.parameters."layers[5].units"',
     "layers has 2 entries, so no entry [5]"),
    ('"layers[0]..units" = { values = [8] }', 'sweep.parameters."layers[0]..units"',
     "not a dotted path"),
    (
        '"layers[0].units" = { distribution = "int_uniform", min = 0, max = 8 }',
        'layers[0].units (from sweep.parameters."layers[0].units")',
        "input should be greater than 0 (got 0)",
    ),
    (
        '"layers[0].units" = { distribution = "uniform", min = 4, max = 8 }',
        'layers[0].units (from sweep.parameters."layers[0].units")',
        "input should be a valid integer (got 4.0)",
    ),
    (
        '"layers[0].activation" = { values = ["tanh", "tahn"] }',
        'layers[0].activation (from sweep.parameters."layers[0].activation")',
        "unknown activation 'tahn'; did you mean 'tanh'?",
    ),
    (
        '"optimizer" = { values = [{ type = "sgd_momentum", lr = 0.1 }, { type = "adam" }] }',
        'optimizer.lr (from sweep.parameters.optimizer)',
        "this key is required but missing",
    ),
]


def table(line: str) -> str:
    """A [sweep] table with one line changed or added (a parameter or a setting)."""
    key = line.split("=")[0].strip()
    lines = [
        'metric = "val_accuracy"',
        "trials = 4",
        "[sweep.parameters]",
        '"optimizer.lr" = { distribution = "log_uniform", min = 0.01, max = 0.3 }',
    ]
    lines = [item for item in lines if item.split("=")[0].strip() != key]
    where = len(lines) if key.startswith('"') else 0
    lines.insert(where, line)
    return "[sweep]\n" + "\n".join(lines) + "\n"


@pytest.mark.parametrize(("line", "place", "message"), BAD)
def test_a_bad_sweep_file_is_refused_at_its_place_before_any_trial(
    tmp_path, capsys, line, place, message
):
    path = sweep_file(tmp_path, table(line))
    assert main(["validate", str(path)]) == 2
    assert reported(capsys.readouterr().err, place, message)
    out = tmp_path / "sweeps"
    assert run_cli(str(path), "--out", str(out)) == 2
    assert reported(capsys.readouterr().err, place, message)
    assert not out.exists()  # nothing was created: no trial ran


def reported(err: str, place: str, message: str) -> bool:
    """Whether ``err`` has a problem line at ``place`` saying ``message``."""
    lines = [line for line in err.splitlines() if line.startswith(f"  {place}: ")]
    assert lines, f"nothing at {place}:\n{err}"
    assert any(message in line for line in lines), err
    return True


@pytest.mark.parametrize(
    ("text", "place", "message"),
    [
        (
            '[sweep]\nmetric = "val_loss"\nsampler = "grid"\n[sweep.parameters]\n'
            '"optimizer.lr" = { distribution = "uniform", min = 0.01, max = 0.3 }\n',
            'sweep.parameters."optimizer.lr"',
            "the grid sampler takes lists of values only: give values = [...]",
        ),
        (
            '[sweep]\nmetric = "val_loss"\nsampler = "grid"\ntrials = 5\n[sweep.parameters]\n'
            '"optimizer.lr" = { values = [0.01, 0.1] }\n"model.seed" = { values = [1, 2] }\n',
            "sweep.trials",
            "the grid has 4 points: 5 trials would repeat some",
        ),
        (
            '[sweep]\nmetric = "val_loss"\n[sweep.parameters]\n'
            '"optimizer.lr" = { values = [0.01, 0.1] }\n',
            "sweep.trials",
            "how many trials to run: required with the tpe sampler",
        ),
        (
            '[sweep]\nmetric = "val_loss"\ntrials = 2\n[sweep.parameters]\n'
            '"train.epochs" = { value = 2 }\n',
            "sweep.parameters",
            "nothing to search: every parameter is a fixed value",
        ),
        (
            '[sweep]\nmetric = "val_accuracy"\ntrials = 2\n[sweep.parameters]\n'
            '"optimizer.lr" = { values = [0.01, 0.1] }\n"data.validation" = { value = 0 }\n',
            "sweep.metric",
            "val_accuracy needs a validation set, but data.validation is 0",
        ),
        ("", "", "a sweep file needs a [sweep] table (this is a spec: use mlpspec run)"),
        ("sweep = 3\n", "sweep", "[sweep] must be a table"),
    ],
)
def test_sampler_and_space_rules(tmp_path, capsys, text, place, message):
    path = sweep_file(tmp_path, text)
    assert run_cli(str(path), "--out", str(tmp_path / "sweeps")) == 2
    err = capsys.readouterr().err
    if place:
        assert reported(err, place, message)
    else:
        assert f"  {message}" in err, err


def test_every_problem_of_a_sweep_file_is_reported_at_once(tmp_path, capsys):
    text = table('"layers[0].units" = { values = [8, -1, 2.5] }').replace(
        "trials = 4", "trials = 4\nseed = -1"
    )
    path = sweep_file(tmp_path, text)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "sweep.seed: input should be greater than or equal to 0" in err
    text = table('"layers[0].units" = { values = [8, -1, 2.5] }')
    path = sweep_file(tmp_path, text)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    place = 'layers[0].units (from sweep.parameters."layers[0].units")'
    assert f"{place}: input should be greater than 0 (got -1)" in err
    assert f"{place}: input should be a valid integer (got 2.5)" in err


def test_a_problem_set_by_an_extended_sweep_file_names_it(tmp_path, capsys):
    base_sweep = sweep_file(tmp_path, table('pruner = "mean"'), name="shared")
    child = write_spec(tmp_path, 'extends = "shared.toml"\n[sweep]\ntrials = 3\n', "child.toml")
    assert main(["validate", str(child)]) == 2
    err = capsys.readouterr().err
    assert f"sweep.pruner (from {base_sweep}): input should be" in err
    assert err.startswith(f"{child}: 1 problem")


def test_validate_builds_the_trial_specs_at_the_corners_and_every_listed_value(
    registry, tmp_path, capsys
):
    path = sweep_file(tmp_path, GOOD)
    sweep = load_sweep(path)
    assert [p.path for p in sweep.searched] == [
        "optimizer.lr", "layers[0].units", "layers[0].init", "optimizer.momentum",
    ]
    # 2 ranges: 4 corners; then the other values of each list: 2 + 1
    assert check_sweep(sweep, registry) == 4 + 2 + 1
    assert main(["validate", str(path), str(tmp_path / "base.toml")]) == 0
    out = capsys.readouterr().out
    assert f"{path}: ok (a sweep: 7 trial specs built" in out
    assert f"{tmp_path / 'base.toml'}: ok\n" in out


def test_trial_specs_take_any_toml_value_and_keep_the_base(registry, tmp_path):
    sweep = load_sweep(sweep_file(tmp_path, GOOD))
    values = {
        "optimizer.lr": 0.05,
        "layers[0].units": 32,
        "layers[0].init": {"type": "normal", "scale": 0.2},
        "optimizer.momentum": 0.5,
    }
    spec = sweep.trial_spec(values, registry)
    assert spec.layers[0].params.units == 32 and spec.layers[1].params.units == 2
    assert spec.layers[0].params.init.name == "normal"
    assert spec.layers[0].params.init.params.scale == 0.2
    assert (spec.optimizer.params.lr, spec.optimizer.params.momentum) == (0.05, 0.5)
    assert spec.train.epochs == 2 and spec.model.name == "tiny"
    assert sweep.goal(spec, registry) == "maximize"  # accuracy says higher is better
    assert sweep.base.data["layers"][0]["units"] == 16  # the base is not changed


def test_a_spec_is_not_a_sweep_and_validates_as_before(tmp_path, capsys):
    path = write_spec(tmp_path, SPIRALS_SPEC)
    assert main(["validate", str(path)]) == 0
    assert capsys.readouterr().out == f"{path}: ok\n"


def test_every_shipped_sweep_checks(registry):
    paths = sorted((SPECS / "sweeps").glob("*.toml"))
    assert paths
    for path in paths:
        sweep = load_sweep(path)
        assert check_sweep(sweep, registry) > 1
        assert sweep.settings.metric.startswith("val_")  # the test set decides nothing


def test_a_sweep_file_given_to_run_says_what_it_is(tmp_path, capsys):
    path = sweep_file(tmp_path, GOOD)
    assert main(["run", str(path), "--no-save"]) == 2
    assert "sweep: this is a sweep file: run it with mlpspec sweep" in capsys.readouterr().err
