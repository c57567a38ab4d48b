"""``extends``: specs built on others; and dotted paths (``--set``) that cannot be set."""

from __future__ import annotations

import pytest

from mlpspec import SpecError, load_spec
from mlpspec.cli.main import main
from mlpspec.core.compose import parse_path, set_path
from mlpspec.core.spec import read_toml

from .conftest import IMAGE_SPEC, SPIRALS_SPEC, tiny_images, write_spec

CHILD = """
extends = "base.toml"

[model]
name = "child"

[optimizer]
lr = 0.02

[[layers]]
type = "dense"
units = 2
"""


def problems(caught: pytest.ExceptionInfo[SpecError]) -> dict[str, tuple[str | None, str]]:
    return {p.location: (p.origin, p.message) for p in caught.value.problems}


def test_tables_merge_arrays_are_replaced_and_the_child_wins(registry, tmp_path):
    write_spec(tmp_path, SPIRALS_SPEC, "base.toml")
    spec = load_spec(write_spec(tmp_path, CHILD, "child.toml"), registry)
    assert spec.model.name == "child" and spec.model.seed == 3  # seed from the base
    assert spec.optimizer.name == "sgd_momentum" and spec.optimizer.params.lr == 0.02
    assert [layer.params.units for layer in spec.layers] == [2]  # not the base's two layers
    assert spec.train.epochs == 5
    assert "extends" not in spec.to_dict()


def test_a_list_is_merged_in_order_later_files_winning(registry, tmp_path):
    write_spec(tmp_path, SPIRALS_SPEC, "base.toml")
    write_spec(tmp_path, "[train]\nepochs = 9\nbatch_size = 8\n", "long.toml")
    write_spec(tmp_path, "[train]\nepochs = 2\n", "short.toml")
    text = 'extends = ["base.toml", "long.toml", "short.toml"]\n[model]\nname = "m"\n'
    spec = load_spec(write_spec(tmp_path, text, "child.toml"), registry)
    assert (spec.train.epochs, spec.train.batch_size) == (2, 8)


def test_paths_are_relative_to_the_file_that_names_them(registry, tmp_path):
    (tmp_path / "shared" / "images").mkdir(parents=True)
    (tmp_path / "shared" / "nested").mkdir()
    tiny_images(tmp_path / "shared" / "images")
    # the base names its data relative to its own folder, and extends a file beside it
    write_spec(
        tmp_path / "shared",
        IMAGE_SPEC.format(path="images").replace("epochs = 6", "epochs = 1"),
        "images.toml",
    )
    write_spec(tmp_path / "shared" / "nested", 'extends = "../images.toml"\n', "base.toml")
    (tmp_path / "sweeps").mkdir()
    child = write_spec(
        tmp_path / "sweeps", 'extends = "../shared/nested/base.toml"\n', "child.toml"
    )
    spec = load_spec(child, registry)
    assert spec.data.dataset.params.path == "../shared/images"
    assert main(["run", str(child), "--no-save", "-q"]) == 0  # the data is found


def test_the_run_folder_keeps_the_resolved_spec_without_extends(tmp_path):
    write_spec(tmp_path, SPIRALS_SPEC, "base.toml")
    child = write_spec(tmp_path, 'extends = "base.toml"\n[train]\nepochs = 1\n', "child.toml")
    out = tmp_path / "runs"
    assert main(["run", str(child), "--out", str(out), "-q", "--no-plots"]) == 0
    (run,) = out.iterdir()
    saved = read_toml(run / "spec.toml")
    assert "extends" not in saved and saved["train"]["epochs"] == 1
    assert saved["model"]["name"] == "tiny"


def test_a_problem_names_the_file_that_set_the_value(registry, tmp_path):
    write_spec(tmp_path, SPIRALS_SPEC.replace("units = 16", "units = -4"), "base.toml")
    child = write_spec(tmp_path, 'extends = "base.toml"\n[train]\nepochs = 0\n', "child.toml")
    with pytest.raises(SpecError) as caught:
        load_spec(child, registry)
    found = problems(caught)
    assert found["layers[0].units"][0] == str(tmp_path / "base.toml")
    assert found["train.epochs"][0] is None  # the loaded file set it: no need to say
    assert caught.value.source == str(child)
    assert f"layers[0].units (from {tmp_path / 'base.toml'}): " in str(caught.value)


def test_a_value_set_over_a_base_s_is_not_blamed_on_the_base(registry, tmp_path):
    write_spec(tmp_path, SPIRALS_SPEC, "base.toml")
    child = write_spec(tmp_path, 'extends = "base.toml"\n', "child.toml")
    with pytest.raises(SpecError) as caught:
        load_spec(child, registry, {"train.epochs": -1, "layers[0].units": 0})
    found = problems(caught)
    assert found["train.epochs"][0] is None and found["layers[0].units"][0] is None


@pytest.mark.parametrize(
    ("files", "start", "place", "message"),
    [
        ({"a.toml": 'extends = "a.toml"'}, "a.toml", "extends", "makes a cycle"),
        (
            {"a.toml": 'extends = "b.toml"', "b.toml": 'extends = ["c.toml", "a.toml"]',
             "c.toml": ""},
            "a.toml",
            "extends[1]",
            "makes a cycle",
        ),
        ({"a.toml": 'extends = "gone.toml"'}, "a.toml", "extends", "no such file"),
        ({"a.toml": "extends = 3"}, "a.toml", "extends", "expected a spec file's path"),
        ({"a.toml": 'extends = ["b.toml", ""]'}, "a.toml", "extends", "expected a spec"),
    ],
)
def test_bad_extends_are_located_in_the_file_that_names_them(
    registry, tmp_path, capsys, files, start, place, message
):
    for name, text in files.items():
        write_spec(tmp_path, text + "\n", name)
    with pytest.raises(SpecError) as caught:
        load_spec(tmp_path / start, registry)
    (problem,) = caught.value.problems
    assert problem.location == place and message in problem.message
    closing = "b.toml" if place == "extends[1]" else start
    assert caught.value.source == str(tmp_path / closing)
    assert main(["validate", str(tmp_path / start)]) == 2
    assert message in capsys.readouterr().err


def test_a_base_with_bad_toml_is_reported_at_its_own_line(registry, tmp_path):
    write_spec(tmp_path, "[model\n", "base.toml")
    child = write_spec(tmp_path, 'extends = "base.toml"\n', "child.toml")
    with pytest.raises(SpecError) as caught:
        load_spec(child, registry)
    assert caught.value.source == str(tmp_path / "base.toml")
    assert caught.value.problems[0].location.startswith("line 1")


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("layers[9].units", "layers has 2 entries, so no entry [9]"),
        ("train.epochs.count", "train.epochs is a value (5), not a table"),
        ("model[0]", "model is not an array"),
        ("layers..units", "not a dotted path"),
        ("layers[-1].units", "not a dotted path"),
    ],
)
def test_a_path_that_cannot_be_set_is_a_located_error_not_a_crash(
    tmp_path, capsys, key, message
):
    path = write_spec(tmp_path, SPIRALS_SPEC)
    assert main(["run", str(path), "--no-save", "--set", f"{key}=3"]) == 2
    err = capsys.readouterr().err
    assert f"  {key}: " in err and message in err and "internal error" not in err


def test_paths_parse_and_set_through_tables_and_arrays():
    assert parse_path("layers[0].init.scale") == ("layers", 0, "init", "scale")
    data: dict = {"layers": [{"units": 1}]}
    set_path(data, "layers[0].init.scale", 0.5)
    set_path(data, "scheduler.type", "linear")
    assert data == {
        "layers": [{"units": 1, "init": {"scale": 0.5}}],
        "scheduler": {"type": "linear"},
    }
