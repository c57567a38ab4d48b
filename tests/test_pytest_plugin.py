"""mlpspec's pytest plugin, run with pytester as pytest tests its own plugins: one test
function checks every component of a package, a package that did not load fails, and a
project that does not ask for it is left alone (mlpspec is not even imported)."""

from __future__ import annotations

import textwrap

import pytest

from mlpspec.testing import check_names, package_components

pytest_plugins = ["pytester"]

CONFORMANCE_TEST = """
def test_conformance(mlpspec_check):
    mlpspec_check()
"""


def expected_cases(registry, package: str) -> int:
    return sum(len(check_names(c.kind)) for c in package_components(registry, package).components)


def test_one_test_function_checks_every_component_and_check_of_the_package(pytester, registry):
    pytester.makeini("[pytest]\nmlpspec_package = mlpspec-layers\n")
    pytester.makepyfile(test_package=CONFORMANCE_TEST)
    result = pytester.runpytest("-v", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=expected_cases(registry, "mlpspec-layers"))
    result.stdout.fnmatch_lines(["*test_conformance?layer:batchnorm:size? PASSED*"])


def test_the_package_is_the_projects_own_by_default(pytester, registry):
    pytester.makepyprojecttoml('[project]\nname = "mlpspec_optim"\nversion = "0"\n')
    pytester.makepyfile(test_package=CONFORMANCE_TEST)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=expected_cases(registry, "mlpspec-optim"))


BROKEN_PLUGIN = """
from mlpspec import Params


class P(Params):
    lr: float = 0.1


class OwnLr:
    '''SGD that uses its own lr, not the scheduler's.'''

    def __init__(self, params):
        self.lr = params.lr

    def step(self, parameters, lr):
        for p in parameters:
            p.value -= self.lr * p.grad

    def state(self):
        return {}

    def load_state(self, state):
        pass


def mlpspec_register_optimizers(register):
    register("own_lr", OwnLr, P)
"""


@pytest.fixture
def broken_package(pytester):
    """An installed distribution, ``broken-dist``: one plugin with an optimizer that ignores
    the lr it is given, one whose module does not exist."""
    info = pytester.mkdir("broken_dist-0.1.dist-info")
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-dist\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[mlpspec.plugins]\nbroken_ok = broken_plugin\nbroken_gone = a_module_that_is_gone\n"
    )
    pytester.makepyfile(broken_plugin=BROKEN_PLUGIN)
    pytester.syspathinsert()
    pytester.makeini("[pytest]\nmlpspec_package = broken-dist\n")
    pytester.makepyfile(test_package=CONFORMANCE_TEST)


def test_a_broken_component_and_a_plugin_that_did_not_load_fail(pytester, broken_package):
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=4, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*_ test_conformance?broken-dist:broken_gone:load? _*",
            "mlpspec_check = <mlpspec_check: plugin broken_gone of broken-dist>",
            "E   * AssertionError: plugin 'broken_gone' of broken-dist failed to load: "
            "ModuleNotFoundError*",
            "*_ test_conformance?optimizer:own_lr:lr? _*",
            "mlpspec_check = <mlpspec_check: optimizer own_lr, lr>",
            "E   * AssertionError: optimizer 'own_lr' fails lr: a step at lr 0.05 moves the "
            "parameters exactly as one at lr 0.1*",
        ]
    )


def test_a_package_that_is_not_installed_fails_instead_of_checking_nothing(pytester):
    pytester.makeini("[pytest]\nmlpspec_package = mlpspec-nothing\n")
    pytester.makepyfile(test_package=CONFORMANCE_TEST)
    result = pytester.runpytest("-p", "no:cacheprovider", "-rf")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*unknown package 'mlpspec-nothing'*pip install -e .*"])


def test_without_a_package_name_the_test_fails_saying_how_to_name_it(pytester):
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(test_package=CONFORMANCE_TEST)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["E * say which package to check: mlpspec_package = *"])


def test_a_project_that_does_not_use_it_does_not_even_import_mlpspec(pytester):
    pytester.makepyfile(
        test_plain="""
        import sys

        def test_mlpspec_was_not_imported():
            assert "mlpspec" not in sys.modules
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_a_clone_folder_shadowing_mlpspec_is_explained(pytester):
    """``python -m pytest`` from a folder holding a clone named ``mlpspec`` imports the clone's
    root as an empty namespace package (the trial's G8): say so before anything fails."""
    pytester.mkdir("mlpspec").joinpath("pyproject.toml").write_text("")
    pytester.makepyfile(test_plain="def test_nothing():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, warnings=1)
    text = textwrap.dedent(result.stdout.str())
    assert "'import mlpspec' finds the folder" in text
    assert "Run pytest from inside your plugin's folder" in text
