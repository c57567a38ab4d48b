"""Running the conformance kit: on one component, on one package, as pytest cases.

:func:`check_component` runs every check of a component's kind (:data:`CONTRACTS`) on every
example of its params and returns a result per check: what ``mlpspec check`` prints.
:func:`assert_conforms` is the same for a test. :func:`package_components` finds what one
installed distribution supplies, including the plugins of it that failed to load, so that
neither ``mlpspec check --package`` nor the pytest plugin can pass by checking nothing;
:func:`conformance_cases` turns that into one case per component and check, which the pytest
plugin parametrizes a test with.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from mlpspec.core.errors import UnknownComponentError
from mlpspec.core.plugins import PluginSource, discover
from mlpspec.core.registry import Component, PluginFailure, Provider, Registry
from mlpspec.testing.contracts import CONTRACTS, ConformanceWarning, Table, check_params_schema


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one contract check on one component."""

    check: str
    passed: bool
    detail: str = ""
    warnings: tuple[str, ...] = ()
    """What the check warned about (a :class:`ConformanceWarning`): the component works, but
    costs its users something."""


def examples(component: Component) -> list[Table]:
    """The params tables to check a component with: its params model's JSON Schema
    ``examples``, else the defaults (``{}``)."""
    found = component.params.model_json_schema(mode="validation").get("examples")
    return [dict(example) for example in found] if found else [{}]


def _run(name: str, check: Callable[[], None]) -> CheckResult:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConformanceWarning)
        try:
            check()
        except AssertionError as exc:
            return CheckResult(name, False, str(exc))
        except Exception as exc:  # a crash breaks the contract as surely as a wrong value
            return CheckResult(name, False, f"raised {type(exc).__name__}: {exc}")
    notes = [str(w.message) for w in caught if issubclass(w.category, ConformanceWarning)]
    for other in caught:  # anything else is not ours to swallow
        if not issubclass(other.category, ConformanceWarning):
            warnings.warn_explicit(other.message, other.category, other.filename, other.lineno)
    return CheckResult(name, True, warnings=tuple(dict.fromkeys(notes)))


def check_names(kind: str) -> list[str]:
    """The checks a component of ``kind`` gets, in order: ``params`` and its kind's."""
    return ["params", *CONTRACTS.get(kind, {})]


def run_check(registry: Registry, component: Component, check: str) -> CheckResult:
    """One check on every example of the component's params; it fails on the first example
    that breaks it, naming that example. A check other than ``params`` is not run when the
    params check fails (the examples it would use are broken)."""
    params = _run("params", lambda: check_params_schema(registry, component))
    if check == "params":
        return params
    if not params.passed:
        return CheckResult(check, False, f"not run: the params check failed: {params.detail}")
    return _run_on_examples(registry, component, check)


def _run_on_examples(registry: Registry, component: Component, check: str) -> CheckResult:
    function = CONTRACTS[component.kind][check]
    notes: list[str] = []
    for table in examples(component):
        result = _run(check, lambda t=table: function(registry, component, t))
        notes += result.warnings
        if not result.passed:
            where = f"params {table}" if table else "default params"
            return CheckResult(check, False, f"{result.detail} ({where})")
    return CheckResult(check, True, warnings=tuple(dict.fromkeys(notes)))


def check_component(registry: Registry, kind: str, name: str) -> list[CheckResult]:
    """Run every check of ``kind``'s contract on the component ``name``: one result each.

    Kind checks run once per example of the params model (see :func:`examples`); a check
    fails on the first example that breaks it, naming the example. When the params check
    fails, the others are not run.
    """
    component = registry.get(kind, name)
    results = [run_check(registry, component, "params")]
    if results[0].passed:
        results += [_run_on_examples(registry, component, c) for c in check_names(kind)[1:]]
    return results


def assert_conforms(registry: Registry, kind: str, name: str) -> None:
    """For a plugin's tests: raise AssertionError listing every failed check; each warning of
    a check that passed is issued as a :class:`ConformanceWarning` (pytest lists them)."""
    results = check_component(registry, kind, name)
    for result in results:
        for note in result.warnings:
            warnings.warn(ConformanceWarning(f"{kind} {name!r}: {note}"), stacklevel=2)
    failed = [r for r in results if not r.passed]
    if failed:
        lines = "\n".join(f"  {r.check}: {r.detail}" for r in failed)
        raise AssertionError(f"{kind} {name!r} breaks its contract:\n{lines}")


# One package's components ---------------------------------------------------------------------


def canonical_name(distribution: str) -> str:
    """A distribution's name as pip compares them (PEP 503): ``Mlpspec_Extras`` is
    ``mlpspec-extras``."""
    return re.sub(r"[-_.]+", "-", distribution).lower()


@dataclass(frozen=True)
class PackageComponents:
    """What one installed distribution supplies to a registry, and which of its plugins did
    not load (failed, or were disabled)."""

    package: str
    plugins: list[Provider]
    components: list[Component]
    failures: list[PluginFailure]
    disabled: list[str]


def package_components(
    registry: Registry, package: str, sources: Iterable[PluginSource] | None = None
) -> PackageComponents:
    """The components ``package`` (a distribution's name, as pip shows it) supplies to
    ``registry``, with its plugins that failed or were disabled.

    ``sources`` are the plugins there are to load (default: the installed ones); raises
    :class:`UnknownComponentError` when no plugin comes from ``package``.
    """
    found = list(discover() if sources is None else sources)
    wanted = canonical_name(package)
    plugins = [
        s.provider
        for s in found
        if s.provider.distribution and canonical_name(s.provider.distribution) == wanted
    ]
    if not plugins:
        installed = sorted({s.provider.distribution for s in found if s.provider.distribution})
        raise UnknownComponentError(
            "package",
            package,
            installed,
            ["name the package as pip does (pip show NAME); no installed plugin comes from it"],
        )
    names = {p.plugin for p in plugins}
    return PackageComponents(
        package=plugins[0].distribution or package,
        plugins=plugins,
        components=[c for c in registry.components() if c.provider in plugins],
        failures=[f for f in registry.failures if f.plugin in names],
        disabled=[name for name in registry.disabled if name in names],
    )


# Cases for the pytest plugin --------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class ConformanceCase:
    """One test of a package's conformance: one check of one component, or a failure to
    report without running anything (a plugin of the package that did not load). Calling it
    runs the check and raises ``AssertionError`` with the kit's message when it fails; the
    check's warnings are issued as :class:`ConformanceWarning`."""

    id: str
    """The pytest id: ``KIND:NAME:CHECK``, or ``PACKAGE:PLUGIN:load`` for a failure."""
    subject: str
    """What pytest shows as the fixture's value: ``optimizer adam, lr``."""
    component: Component | None = None
    check: str = "load"
    problem: str = ""
    """Why a case without a component fails."""
    registry: Registry | None = field(default=None, compare=False)

    @classmethod
    def of(cls, registry: Registry, component: Component, check: str) -> ConformanceCase:
        return cls(
            f"{component.kind}:{component.name}:{check}",
            f"{component.kind} {component.name}, {check}",
            component,
            check,
            registry=registry,
        )

    def __repr__(self) -> str:
        return f"<mlpspec_check: {self.subject}>"

    def __call__(self) -> None:
        __tracebackhide__ = True  # pytest shows the test's line, not this one
        if self.component is None or self.registry is None:
            raise AssertionError(self.problem)
        result = run_check(self.registry, self.component, self.check)
        where = f"{self.component.kind} {self.component.name!r}"
        for note in result.warnings:
            warnings.warn(ConformanceWarning(f"{where}: {note}"), stacklevel=2)
        if not result.passed:
            raise AssertionError(f"{where} fails {self.check}: {result.detail}")


def conformance_cases(
    registry: Registry, package: str, sources: Iterable[PluginSource] | None = None
) -> list[ConformanceCase]:
    """One case per check of every component ``package`` supplies, and one failing case per
    plugin of it that did not load; a single failing case when nothing is found, so that a
    test run over the package can never pass by checking nothing."""
    try:
        found = package_components(registry, package, sources)
    except UnknownComponentError as exc:
        problem = f"{exc}: install it (pip install -e . in its folder)"
        return [ConformanceCase(f"{package}:not-installed", f"package {package}", problem=problem)]
    name = found.package
    cases = [
        ConformanceCase(
            f"{name}:{f.plugin}:load",
            f"plugin {f.plugin} of {name}",
            problem=f"plugin {f.plugin!r} of {name} failed to load: {f.reason}",
        )
        for f in found.failures
    ]
    cases += [
        ConformanceCase(
            f"{name}:{plugin}:disabled",
            f"plugin {plugin} of {name}",
            problem=f"plugin {plugin!r} of {name} is disabled (-p no:{plugin}, "
            "$MLPSPEC_DISABLE_PLUGINS or $MLPSPEC_PLUGINS), so its components cannot be checked",
        )
        for plugin in found.disabled
    ]
    cases += [
        ConformanceCase.of(registry, component, check)
        for component in found.components
        for check in check_names(component.kind)
    ]
    if not cases:
        cases.append(
            ConformanceCase(
                f"{name}:empty", f"package {name}", problem=f"{name} registers no components"
            )
        )
    return cases


__all__ = [
    "CheckResult",
    "ConformanceCase",
    "PackageComponents",
    "assert_conforms",
    "canonical_name",
    "check_component",
    "check_names",
    "conformance_cases",
    "examples",
    "package_components",
    "run_check",
]
