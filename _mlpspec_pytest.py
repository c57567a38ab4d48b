"""mlpspec's pytest plugin: a plugin package's tests check all its components with one test.

In the package's tests::

    def test_conformance(mlpspec_check):
        mlpspec_check()

is parametrized over every check of every component the package supplies (``layer:
extras.scale:gradient``, ...), plus a failing case for each of its plugins that did not load,
so that the test can never pass by checking nothing. The package is the ``mlpspec_package``
ini option (``[tool.pytest.ini_options]`` in pyproject.toml), else the ``[project] name`` of
the pyproject.toml in pytest's rootdir. The ``mlpspec_registry`` fixture is the registry the
cases run on, loaded as mlpspec's commands load it (``$MLPSPEC_PLUGINS`` and
``$MLPSPEC_DISABLE_PLUGINS`` apply). ``-p no:mlpspec`` turns the plugin off.

It is a top-level module, not part of the ``mlpspec`` package, on purpose: pytest imports
every ``pytest11`` plugin of an environment when it starts, for every project run there, and
importing mlpspec (numpy, pydantic) costs about half a second. Here mlpspec is imported only
when a test asks for one of these fixtures, so that other projects' test runs, and mlpspec's
own, are left as they were. For the same reason it can tell, before anything fails, that
``mlpspec`` would be imported from a folder that is not the installed package.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from mlpspec import Registry

PACKAGE_INI = "mlpspec_package"
_REGISTRY = pytest.StashKey["Registry"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        PACKAGE_INI,
        "the distribution whose components the mlpspec_check fixture checks (default: the "
        "[project] name of pyproject.toml in the rootdir)",
        default="",
    )


def pytest_configure(config: pytest.Config) -> None:
    shadow = _shadowing_folder()
    if shadow is not None:
        config.issue_config_time_warning(
            pytest.PytestConfigWarning(
                f"'import mlpspec' finds the folder {shadow}, which has no __init__.py (a "
                "clone of mlpspec's repository?), instead of the installed mlpspec: the "
                "current folder is on sys.path (python -m pytest puts it there). Run pytest "
                "from inside your plugin's folder, or give the clone's folder another name."
            ),
            stacklevel=2,
        )


def _shadowing_folder() -> str | None:
    """The folder ``import mlpspec`` would take as a namespace package, if it would: found
    without importing anything."""
    try:
        spec = importlib.util.find_spec("mlpspec")
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin not in (None, "namespace"):
        return None
    return ", ".join(spec.submodule_search_locations or []) or None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "mlpspec_check" not in metafunc.fixturenames:
        return
    from mlpspec.testing import ConformanceCase, conformance_cases

    config = metafunc.config
    package = _package(config)
    if package is None:
        problem = (
            f'say which package to check: {PACKAGE_INI} = "mlpspec-NAME" in '
            f"[tool.pytest.ini_options], or a [project] name in pyproject.toml ({config.rootpath})"
        )
        cases = [ConformanceCase("mlpspec_package:unset", "no package named", problem=problem)]
    else:
        cases = conformance_cases(_registry(config), package)
    metafunc.parametrize("mlpspec_check", cases, ids=[case.id for case in cases], indirect=True)


def _registry(config: pytest.Config) -> Registry:
    if _REGISTRY not in config.stash:
        from mlpspec import load_registry

        config.stash[_REGISTRY] = load_registry()
    return config.stash[_REGISTRY]


def _package(config: pytest.Config) -> str | None:
    """The ini option, else the rootdir's pyproject.toml ``[project] name``, else None."""
    named = str(config.getini(PACKAGE_INI)).strip()
    if named:
        return named
    from mlpspec.core.spec import read_toml

    pyproject = config.rootpath / "pyproject.toml"
    name = read_toml(pyproject).get("project", {}).get("name") if pyproject.is_file() else None
    return name if isinstance(name, str) else None


@pytest.fixture(scope="session")
def mlpspec_registry(pytestconfig: pytest.Config) -> Registry:
    """The component registry, loaded as mlpspec's commands load it: what ``mlpspec_check``
    checks, and what a test can build components from (``mlpspec.testing.create``)."""
    return _registry(pytestconfig)


@pytest.fixture
def mlpspec_check(request: pytest.FixtureRequest) -> Any:
    """One conformance check of one component of the package under test (the
    ``mlpspec_package`` ini option, else the rootdir's pyproject.toml ``[project] name``): a
    test taking it is run once per component and check. Call it to run the check."""
    return request.param
