"""``mlpspec check`` as a CI gate: it fails when it could not check something, checks one
package on request, selects by pattern, and warns without failing."""

from __future__ import annotations

import pytest

from mlpspec.cli.main import main

LAYERS_PACKAGE = ["batchnorm", "gelu", "leaky_relu", "he_uniform"]

UNESTIMATED_LAYER = """
import numpy as np
from mlpspec import Layer, Parameter


class Identity(Layer):
    '''Passes its input through, times a weight.'''

    def __init__(self, params, in_features, ctx):
        self.out_features = in_features
        self.w = Parameter(np.ones(in_features, dtype=ctx.dtype))

    def forward(self, x, *, training):
        self.x = x
        return x * self.w.value

    def backward(self, grad_out, *, need_input_grad=True):
        np.sum(grad_out * self.x, axis=0, out=self.w.grad)
        return grad_out * self.w.value if need_input_grad else None

    def parameters(self):
        return {"w": self.w}


def mlpspec_register_layers(register):
    register("a_layer_with_a_rather_long_name", Identity)
"""


@pytest.fixture
def local_plugins(tmp_path, monkeypatch):
    """Modules in a folder on sys.path: ``broken_import`` fails to import, ``unestimated``
    registers a layer without the memory guard's size methods."""
    (tmp_path / "broken_import.py").write_text("import a_module_that_is_not_installed\n")
    (tmp_path / "unestimated.py").write_text(UNESTIMATED_LAYER)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_a_plugin_that_failed_to_load_fails_check(local_plugins, capsys):
    assert main(["check", "--plugin", "broken_import"]) == 1
    out = capsys.readouterr().out
    assert "1 plugin not loaded, so not checked:" in out
    assert "broken_import: ModuleNotFoundError: No module named" in out


def test_an_allow_list_naming_a_missing_plugin_fails_check(monkeypatch, capsys):
    monkeypatch.setenv("MLPSPEC_PLUGINS", "mlpspec_optim,extras")
    assert main(["check", "sgd"]) == 1
    out = capsys.readouterr().out
    assert "extras: $MLPSPEC_PLUGINS names it, but no installed plugin has that name" in out
    assert "not checked: mlpspec_layers: disabled" in out


def test_package_checks_one_distributions_components(capsys):
    assert main(["check", "--package", "mlpspec_Layers"]) == 0  # spelt as pip would accept
    lines = capsys.readouterr().out.splitlines()
    assert sorted(line.split()[1] for line in lines[1:5]) == sorted(LAYERS_PACKAGE)
    assert "4 of 4 components pass" in lines[-1]


def test_package_counts_only_its_own_plugins(local_plugins, capsys):
    assert main(["check", "--plugin", "broken_import", "--package", "mlpspec-layers"]) == 0
    assert "not loaded" not in capsys.readouterr().out


def test_a_disabled_package_fails_check_of_that_package(capsys):
    assert main(["check", "--package", "mlpspec-layers", "-p", "no:mlpspec_layers"]) == 1
    out = capsys.readouterr().out
    assert "0 of 0 components pass" in out
    assert "mlpspec_layers (mlpspec-layers): disabled (-p no:mlpspec_layers" in out


def test_an_unknown_package_is_bad_input(capsys):
    assert main(["check", "--package", "mlpspec-layer"]) == 2
    assert "unknown package 'mlpspec-layer'; did you mean 'mlpspec-layers'" in (
        capsys.readouterr().err
    )


def test_names_may_be_patterns_and_a_plugins_name_gets_a_hint(capsys):
    assert main(["check", "optimizer:adam*"]) == 0
    rows = [line.split()[:2] for line in capsys.readouterr().out.splitlines()[1:3]]
    assert rows == [["optimizer", "adam"], ["optimizer", "adamw"]]
    assert main(["check", "mlpspec_optim"]) == 2
    assert "check it with --package mlpspec-optim" in capsys.readouterr().err


def test_a_layer_without_size_methods_passes_with_a_warning_and_long_names_keep_columns(
    local_plugins, capsys
):
    assert main(["check", "--plugin", "unestimated", "a_layer_*", "dense"]) == 0
    header, row, warning, dense = capsys.readouterr().out.splitlines()[:4]
    assert row.split()[3:5] == ["pass", "params:ok"]
    assert "size:warn" in row
    assert warning.split()[:2] == ["size:", "warning:"]
    assert "the memory guard cannot estimate a network holding this layer" in warning
    assert header.index("result") == row.index("pass") == dense.index("pass")


def test_a_plugin_that_does_not_declare_its_hook_api_is_warned_about(local_plugins, capsys):
    assert main(["check", "--plugin", "unestimated", "a_layer_*"]) == 0
    assert "warning: plugin 'unestimated' does not say which hook API it was made for" in (
        capsys.readouterr().out
    )
    assert main(["check", "--package", "mlpspec-optim"]) == 0  # which declares it
    assert "hook API" not in capsys.readouterr().out
