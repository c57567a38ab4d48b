"""``mlpspec new plugin``: the package it writes passes the conformance kit and trains, for
every kind alone and all together; and, installed for real with pip into a new environment,
it passes ``mlpspec check`` and its own tests as written."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from mlpspec.cli.main import main
from mlpspec.cli.scaffold import KINDS

from .conftest import ROOT


def new_plugin(tmp_path: Path, name: str, *options: str) -> Path:
    folder = tmp_path / f"mlpspec-{name}"
    assert main(["new", "plugin", name, "--dir", str(folder), *options]) == 0
    return folder


@pytest.mark.parametrize("kinds", [",".join(KINDS), *KINDS])
def test_the_package_passes_the_kit_and_its_example_trains(tmp_path, monkeypatch, capsys, kinds):
    name = "gen_" + kinds.replace(",", "_")[:40]  # a module name of its own per case
    folder = new_plugin(tmp_path, name, "--kinds", kinds)
    monkeypatch.syspath_prepend(str(folder))
    module = f"mlpspec_{name}.plugin"
    capsys.readouterr()
    assert main(["check", "--plugin", module, f"{name}.*"]) == 0
    out = capsys.readouterr().out
    count = len(kinds.split(","))
    assert f"{count} of {count} components pass" in out and "warn" not in out
    assert main(["run", str(folder / "example.toml"), "--no-save", "-q", "--plugin", module]) == 0
    accuracy = float(capsys.readouterr().out.split("test accuracy ")[1].split("%")[0])
    assert accuracy > 70


def test_it_writes_the_package_the_guide_describes(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["new", "plugin", "mlpspec-Extras-2", "--kinds", "activation,metric"]) == 0
    folder = tmp_path / "mlpspec-extras-2"  # the name is the plugin's, however it was given
    written = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert written == [
        "README.md",
        "example.toml",
        "mlpspec_extras_2/__init__.py",
        "mlpspec_extras_2/activations.py",
        "mlpspec_extras_2/metrics.py",
        "mlpspec_extras_2/plugin.py",
        "pyproject.toml",
        "tests/test_conformance.py",
        "tests/test_extras_2.py",
    ]
    pyproject = (folder / "pyproject.toml").read_text()
    assert 'name = "mlpspec-extras-2"' in pyproject
    assert 'extras_2 = "mlpspec_extras_2.plugin"' in pyproject
    assert 'mlpspec_package = "mlpspec-extras-2"' in pyproject
    out = capsys.readouterr().out
    assert f"{sys.executable} -m pip install -e" in out  # the environment mlpspec runs from


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["new", "plugin", "Extras!"], "'Extras!' is not a plugin name"),
        (["new", "plugin", "extras", "--kinds", "layer,tracker"], "--kinds takes"),
    ],
)
def test_bad_names_and_kinds_are_bad_input(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_it_never_writes_into_a_folder_that_holds_something(tmp_path, capsys):
    (tmp_path / "mine.txt").write_text("keep me")
    assert main(["new", "plugin", "extras", "--dir", str(tmp_path)]) == 2
    assert "is not an empty folder" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["mine.txt"]


def _copy_of_mlpspec(to: Path) -> Path:
    """The files a pip install of mlpspec reads, so that building it writes nothing here."""
    to.mkdir()
    for name in ("pyproject.toml", "README.md", "_mlpspec_pytest.py"):
        shutil.copy2(ROOT / name, to / name)
    shutil.copytree(ROOT / "mlpspec", to / "mlpspec", ignore=shutil.ignore_patterns("__pycache__"))
    return to


@pytest.mark.slow
def test_installed_with_pip_into_a_new_environment_it_passes_check_and_its_tests(tmp_path):
    """The real thing: a new virtual environment, mlpspec and the new package installed by
    pip (wheels built, entry points registered), then the commands its README gives."""
    env_dir = tmp_path / "env"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MLPSPEC_")}
    environ["PATH"] = f"{env_dir / 'bin'}{os.pathsep}{environ.get('PATH', '')}"

    def run(*command: str | Path, cwd: Path = tmp_path) -> str:
        done = subprocess.run(
            [str(part) for part in command],
            cwd=cwd,
            env=environ,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, f"{command}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    run(python, "-m", "pip", "install", "-q", _copy_of_mlpspec(tmp_path / "mlpspec-src"))
    run(env_dir / "bin" / "mlpspec", "new", "plugin", "extras")
    package = tmp_path / "mlpspec-extras"
    run(python, "-m", "pip", "install", "-q", "-e", f"{package}[test]")
    assert "mlpspec-extras 0.1.0 (extras)" in run(env_dir / "bin" / "mlpspec", "list", "--plugins")
    checked = run(env_dir / "bin" / "mlpspec", "check", "--package", "mlpspec-extras")
    assert "8 of 8 components pass" in checked
    tested = run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=package)
    assert " passed" in tested and "failed" not in tested
    assert "test accuracy" in run(
        env_dir / "bin" / "mlpspec", "run", "example.toml", "--no-save", "-q", cwd=package
    )
