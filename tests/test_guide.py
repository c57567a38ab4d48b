"""docs/plugins.md's code, run as written: the walk-through plugin passes the kit and trains
as the guide says, the layer example passes the kit without a warning, the validator example
rejects what it says it does."""

from __future__ import annotations

import re

import pytest

from mlpspec.cli.main import main
from mlpspec.core.spec import parse_toml

from .conftest import ROOT

GUIDE = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")


def block(language: str, containing: str) -> str:
    """The one fenced ``language`` block of the guide that holds ``containing``."""
    found = [
        text
        for text in re.findall(rf"```{language}\n(.*?)```", GUIDE, flags=re.DOTALL)
        if containing in text
    ]
    assert len(found) == 1, f"{len(found)} {language} blocks hold {containing!r}"
    return found[0]


@pytest.fixture
def walkthrough(tmp_path, monkeypatch):
    """§2–4's package, written from the guide's blocks, importable as a module."""
    package = tmp_path / "mlpspec_swish"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "plugin.py").write_text(block("python", 'register("swish", Swish, SwishParams)'))
    (tmp_path / "swish.toml").write_text(block("toml", 'name = "spirals-swish"'))
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_the_walkthrough_plugin_passes_the_kit_and_trains_as_promised(walkthrough, capsys):
    assert main(["check", "--plugin", "mlpspec_swish.plugin", "swish"]) == 0
    assert "1 of 1 components pass" in capsys.readouterr().out
    spec = str(walkthrough / "swish.toml")
    assert main(["run", spec, "--no-save", "-q", "--plugin", "mlpspec_swish.plugin"]) == 0
    accuracy = float(capsys.readouterr().out.split("test accuracy ")[1].split("%")[0])
    assert accuracy > 80  # "about 85 %"


def test_the_walkthroughs_pyproject_declares_the_entry_point_and_the_package():
    pyproject = parse_toml(block("toml", 'name = "mlpspec-swish"'))
    assert pyproject["project"]["entry-points"]["mlpspec.plugins"] == {
        "swish": "mlpspec_swish.plugin"
    }
    assert pyproject["tool"]["pytest"]["ini_options"]["mlpspec_package"] == "mlpspec-swish"


def test_the_layer_example_passes_the_kit_without_a_warning(tmp_path, monkeypatch, capsys):
    layer = block("python", "class Scale(Layer):")
    hook = block("python", 'register("scale", Scale, ScaleParams)')
    (tmp_path / "guide_scale.py").write_text(
        f"from mlpspec import hookimpl\n{layer}\n{hook}", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["check", "--plugin", "guide_scale", "layer:scale"]) == 0
    out = capsys.readouterr().out
    assert "size:ok" in out and "warning" not in out.split("components pass")[0]


def test_the_validator_example_is_reported_where_it_says(tmp_path):
    from pydantic import Field, ValidationError

    from mlpspec import Params

    namespace = {"Params": Params, "Field": Field}
    exec(block("python", "class MaxoutParams(Params):"), namespace)
    with pytest.raises(ValidationError, match="units × pieces must be at most 1024"):
        namespace["MaxoutParams"](units=600, pieces=2)
