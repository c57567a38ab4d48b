"""mlpspec init: a commented starter spec that validates, never written over a file."""

from __future__ import annotations

from mlpspec.cli.main import main
from mlpspec.core.spec import load_spec


def test_writes_a_valid_commented_spec(tmp_path, monkeypatch, capsys, registry):
    monkeypatch.chdir(tmp_path)
    assert main(["init"]) == 0
    assert "wrote spec.toml" in capsys.readouterr().out
    text = (tmp_path / "spec.toml").read_text()
    assert text.count("#") > 20  # commented
    spec = load_spec(tmp_path / "spec.toml", registry)
    assert spec.model.name == "my-first-mlp" and spec.data.dataset.name == "mnist"
    assert main(["validate", "spec.toml"]) == 0


def test_a_name_becomes_the_file_and_the_model_name(tmp_path, monkeypatch, registry):
    monkeypatch.chdir(tmp_path)
    assert main(["init", "digits"]) == 0
    assert load_spec(tmp_path / "digits.toml", registry).model.name == "digits"
    assert main(["init", "sub/other.toml"]) == 1  # no such folder: said, not a traceback
    (tmp_path / "sub").mkdir()
    assert main(["init", "sub/other.toml"]) == 0
    assert (tmp_path / "sub" / "other.toml").is_file()


def test_refuses_to_overwrite(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "spec.toml").write_text("mine")
    assert main(["init"]) == 2
    assert "exists already" in capsys.readouterr().err
    assert (tmp_path / "spec.toml").read_text() == "mine"
