"""mlpspec diff: two runs, two specs, or one of each; and validate --set."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mlpspec.cli.diff import Change, spec_changes
from mlpspec.cli.main import main
from tests.conftest import SPIRALS_SPEC, make_run, write_spec


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("diff")
    first = make_run(folder, SPIRALS_SPEC, "--no-plots")
    changes = ["--set", "optimizer.lr=0.05", "--set", 'layers[0].activation="relu"']
    second = make_run(folder, SPIRALS_SPEC, "--no-plots", *changes)
    return first, second


def diff(capsys, *args: str) -> tuple[int, str, str]:
    status = main(["diff", *map(str, args)])
    out, err = capsys.readouterr()
    return status, out, err


def test_two_runs_show_their_spec_differences_at_set_paths_and_metrics_side_by_side(
    two_runs, capsys
):
    first, second = two_runs
    status, out, _ = diff(capsys, first, second)
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == f"A: {first} (run, completed)"
    assert "spec: 2 differences" in lines
    assert [line.split() for line in lines if "optimizer.lr" in line] == [
        ["optimizer.lr", "0.1", "0.05"]
    ]
    activation = next(line for line in lines if "layers[0].activation" in line)
    assert '{type = "tanh"}' in activation and '{type = "relu"}' in activation
    # tanh is used by the first run only, relu by the second: same package, one side each
    assert any("activation 'tanh'" in line and "(not used)" in line for line in lines)
    a, b = (json.loads((run / "summary.json").read_text()) for run in two_runs)
    test_row = next(line for line in lines if line.strip().startswith("test accuracy"))
    assert f"{a['test']['accuracy']:.2%}" in test_row and f"{b['test']['accuracy']:.2%}" in test_row
    assert "epochs run" in out and "best val loss" in out


def test_exit_status_is_0_either_way_and_diff1s_with_exit_code(two_runs, capsys):
    first, second = two_runs
    assert diff(capsys, first, second, "--exit-code")[0] == 1
    assert diff(capsys, first, first, "--exit-code")[0] == 0
    assert diff(capsys, first, first)[0] == 0


def test_two_runs_of_one_spec_do_not_differ_for_exit_code(two_runs, tmp_path, capsys):
    """Same spec and seed give the same metrics, bit for bit, on one machine; the time a run
    took is not compared."""
    again = make_run(tmp_path, SPIRALS_SPEC, "--no-plots")
    status, out, _ = diff(capsys, two_runs[0], again, "--exit-code")
    assert status == 0, out
    assert "+0.0000" in out and "+0.00 pt" in out


def test_a_run_against_the_spec_it_was_made_from_is_the_same_spec(two_runs, capsys):
    first, _ = two_runs
    spec = first.parent.parent / "run-spec.toml"
    status, out, _ = diff(capsys, first, spec, "--exit-code")
    assert status == 0
    assert "spec: the same (resolved)" in out and "components: the same packages" in out
    assert f"B: {spec} (spec)" in out


def test_json_has_every_part(two_runs, capsys):
    first, second = two_runs
    status, out, _ = diff(capsys, first, second, "--json")
    assert status == 0
    result = json.loads(out)
    assert result["differ"] is True and result["a"] == {
        "path": str(first),
        "kind": "run",
        "status": "completed",
    }
    assert {"path": "optimizer.lr", "a": 0.1, "b": 0.05} in result["spec"]
    assert result["metrics"]["b"]["test"]["accuracy"] == json.loads(
        (second / "summary.json").read_text()
    )["test"]["accuracy"]
    assert {c["name"] for c in result["components"]} == {"tanh", "relu"}


def test_a_component_version_that_differs_is_shown(two_runs, tmp_path, capsys):
    first, _ = two_runs
    older = shutil.copytree(first, tmp_path / "older")
    sources = json.loads((older / "components.json").read_text())
    for source in sources:
        if source["name"] == "dense":
            source["version"] = "0.0.9"
    (older / "components.json").write_text(json.dumps(sources))
    status, out, _ = diff(capsys, older, first, "--exit-code")
    assert status == 1
    row = next(line for line in out.splitlines() if "layer 'dense'" in line)
    assert row.split()[2:] == ["mlpspec", "0.0.9", "mlpspec", "0.1.0"]
    assert "spec: the same (resolved)" in out
    (older / "components.json").unlink()
    _, out, _ = diff(capsys, older, first)
    assert "components: unknown for" in out and "no components.json" in out


def test_two_specs_compare_resolved_values_and_need_no_run(tmp_path, capsys):
    a = write_spec(tmp_path, SPIRALS_SPEC, "a.toml")
    same = SPIRALS_SPEC.replace("epochs = 5", "epochs = 5\npatience = 1")
    b = write_spec(tmp_path, same, "b.toml")
    # patience = 1 is the default: resolved, the specs are the same
    status, out, _ = diff(capsys, a, b, "--exit-code")
    assert status == 0 and "spec: the same" in out and "metrics" not in out
    plain = SPIRALS_SPEC.replace('type = "sgd_momentum"', 'type = "sgd"')
    c = write_spec(tmp_path, plain, "c.toml")
    status, out, _ = diff(capsys, a, c)
    row = next(line for line in out.splitlines() if line.strip().startswith("optimizer"))
    assert "sgd_momentum" in row and "momentum = 0.9" in row and '{type = "sgd", lr = 0.1}' in row


def test_bad_inputs_exit_2_with_a_message(tmp_path, two_runs, capsys):
    first, _ = two_runs
    status, _, err = diff(capsys, first, tmp_path / "absent")
    assert status == 2 and "no such run folder or spec file" in err
    bad = write_spec(tmp_path, SPIRALS_SPEC.replace("units = 16", "units = 0"), "bad.toml")
    status, _, err = diff(capsys, bad, first)
    assert status == 2 and "layers[0].units" in err


@pytest.mark.parametrize(
    ("a", "b", "changes"),
    [
        (
            {"x": {"type": "p", "k": 1}},
            {"x": {"type": "q", "k": 1}},
            [Change("x", {"type": "p", "k": 1}, {"type": "q", "k": 1})],
        ),
        ({"x": {"type": "p", "k": 1}}, {"x": {"type": "p", "k": 2}}, [Change("x.k", 1, 2)]),
        ({"l": [1, 2]}, {"l": [1, 2, 3]}, [Change("l[2]", None, 3)]),
        ({"f": True}, {"f": 1}, [Change("f", True, 1)]),
        ({"n": 1}, {"n": 1.0}, []),
        ({"a": 1}, {"b": 1}, [Change("a", 1, None), Change("b", None, 1)]),
    ],
)
def test_spec_changes(a, b, changes):
    assert list(spec_changes(a, b)) == changes


def test_validate_takes_overrides(tmp_path, capsys):
    spec = write_spec(tmp_path, SPIRALS_SPEC)
    assert main(["validate", str(spec), "--set", "train.epochs=3"]) == 0
    assert capsys.readouterr().out.strip() == f"{spec}: ok"
    assert main(["validate", str(spec), "--set", "train.epochs=0"]) == 2
    assert "train.epochs: input should be greater than 0" in capsys.readouterr().err
    assert main(["validate", str(spec), "--set", "layers[7].units=3"]) == 2
    assert "layers[7].units: layers has 2 entries" in capsys.readouterr().err


def test_text_from_a_tampered_run_folder_reaches_the_terminal_escaped(two_runs, tmp_path, capsys):
    """A key in a run folder's spec.toml holding an escape or a newline is shown escaped in
    its one table cell (attack class D12), not sent to the terminal."""
    first, second = two_runs
    tampered = shutil.copytree(second, tmp_path / "tampered")
    spec = tampered / "spec.toml"
    spec.write_text(
        spec.read_text().replace('name = "tiny"', 'name = "tiny"\n"na\\u001b[2J\\nme" = 1', 1)
    )
    status, out, _ = diff(capsys, first, tampered)
    assert status == 0
    assert "\x1b" not in out and "\\x1b[2J" in out
    (row,) = [line for line in out.splitlines() if "model.na" in line]
    assert "\\n" in row
