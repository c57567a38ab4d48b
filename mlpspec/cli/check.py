"""``mlpspec check``: the conformance kit on installed components, as a table.

It is a gate for CI, so it never passes by checking less than it was asked to: it exits 1
when a component fails a check, and also when a plugin failed to load or was skipped (its
components were not checked at all), or when ``$MLPSPEC_PLUGINS`` names a plugin that is not
installed. ``--package DIST`` checks one distribution's components, and then only that
distribution's plugins count. Warnings (a layer the memory guard cannot estimate, a plugin
that does not declare its hook API) are printed and do not fail it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from mlpspec.core.errors import UnknownComponentError
from mlpspec.core.kinds import KINDS
from mlpspec.core.plugins import ENABLE_ENV, discover
from mlpspec.core.registry import Component, Provider, Registry


def add_parser(
    sub: Any,
    common: argparse.ArgumentParser,
    registry_of: Callable[[argparse.Namespace], Registry],
) -> None:
    """Add ``check`` to the ``mlpspec`` parser."""
    p = sub.add_parser(
        "check",
        parents=[common],
        help="check installed components against their contracts",
        description="Run the conformance kit on installed components. Exit status 1 when a "
        "component fails a check, or a plugin failed to load or was skipped; 2 for a name "
        "or package that matches nothing.",
    )
    p.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help="a component NAME, KIND:NAME, or a pattern such as 'extras.*' (default: all)",
    )
    p.add_argument(
        "--package",
        metavar="DIST",
        help="check only the components of this installed distribution (as pip names it)",
    )
    p.set_defaults(command=cmd_check, registry_of=registry_of)


@dataclass(frozen=True)
class Scope:
    """What a ``check`` covers: the components, and the plugins it should have covered but
    could not (each a line saying why)."""

    components: list[Component]
    not_loaded: list[str]
    """Plugins that failed to load or were skipped: fatal."""
    not_checked: list[str]
    """Plugins the user disabled on purpose: reported, not fatal."""
    plugins: list[Provider]
    """The loaded plugins whose components are in scope."""


def cmd_check(args: argparse.Namespace) -> int:
    """Run the conformance kit on the selected components and print a row per component."""
    from mlpspec.testing import check_component

    registry = args.registry_of(args)
    scope = _scope(registry, args.package, args.names)
    name_width = max([22, *(len(c.name) + 1 for c in scope.components)])
    source_width = max([16, *(len(_source(c)) + 1 for c in scope.components)])
    print(f"{'kind':<12} {'name':<{name_width}} {'from':<{source_width}} {'result':<6}  checks")
    failed = warned = 0
    for component in scope.components:
        results = check_component(registry, component.kind, component.name)
        ok = all(r.passed for r in results)
        failed += not ok
        warned += any(r.warnings for r in results)
        marks = " ".join(f"{r.check}:{_mark(r.passed, bool(r.warnings))}" for r in results)
        print(
            f"{component.kind:<12} {component.name:<{name_width}} "
            f"{_source(component):<{source_width}} {'pass' if ok else 'FAIL':<6}  {marks}",
            flush=True,
        )
        for result in results:
            if not result.passed:
                print(f"{'':<12} {result.check}: {result.detail}")
            for note in result.warnings:
                print(f"{'':<12} {result.check}: warning: {note}")
    count = len(scope.components)
    summary = f"\n{count - failed} of {count} components pass"
    if warned:
        summary += f", {warned} with {'a warning' if warned == 1 else 'warnings'}"
    print(summary)
    for line in scope.not_checked:
        print(f"not checked: {line}")
    for plugin in _undeclared(scope.plugins, args.plugins):
        print(
            f"warning: plugin {plugin!r} does not say which hook API it was made for: add "
            "MLPSPEC_HOOK_API = HOOK_API_VERSION to it, so that an mlpspec with another hook "
            "API refuses it with a message instead of failing in the middle of a run"
        )
    if scope.not_loaded:
        noun = "plugin" if len(scope.not_loaded) == 1 else "plugins"
        print(f"{len(scope.not_loaded)} {noun} not loaded, so not checked:")
        for line in scope.not_loaded:
            print(f"  {line}")
    if not count and not scope.not_loaded:
        print("nothing was checked", file=sys.stderr)
        return 1
    return 1 if failed or scope.not_loaded else 0


def _undeclared(plugins: list[Provider], modules: Sequence[str]) -> list[str]:
    """The third-party plugins in scope without ``MLPSPEC_HOOK_API`` (they loaded, so
    loading them again only looks them up)."""
    found = []
    for source in discover(modules):
        if source.builtin or source.provider not in plugins:
            continue
        if not hasattr(source.load(), "MLPSPEC_HOOK_API"):
            found.append(source.provider.plugin)
    return found


def _mark(passed: bool, warned: bool) -> str:
    return "FAIL" if not passed else "warn" if warned else "ok"


def _source(component: Component) -> str:
    return component.provider.distribution or component.provider.plugin


def _scope(registry: Registry, package: str | None, names: Sequence[str]) -> Scope:
    if package is None:
        not_loaded = [f"{f.plugin}: {f.reason}" for f in registry.failures]
        not_loaded += [
            f"{name}: ${variable} names it, but no installed plugin has that name"
            for variable, name in registry.unknown_names
            if variable == ENABLE_ENV
        ]
        not_checked = [f"{name}: disabled" for name in registry.disabled]
        components = _select(list(registry.components()), names, registry)
        return Scope(components, not_loaded, not_checked, registry.plugins)
    from mlpspec.testing import package_components

    found = package_components(registry, package)
    not_loaded = [f"{f.plugin} ({found.package}): {f.reason}" for f in found.failures]
    not_loaded += [
        f"{name} ({found.package}): disabled (-p no:{name}, $MLPSPEC_DISABLE_PLUGINS or "
        f"${ENABLE_ENV})"
        for name in found.disabled
    ]
    loaded = [p for p in found.plugins if p in registry.plugins]
    return Scope(_select(found.components, names, registry), not_loaded, [], loaded)


def _select(
    components: list[Component], names: Sequence[str], registry: Registry
) -> list[Component]:
    """Components named ``NAME`` (in any kind), ``KIND:NAME``, or matching a pattern
    (``extras.*``, ``KIND:extras_*``); every one when no name is given."""
    if not names:
        return components
    selected: list[Component] = []
    for name in names:
        kind, sep, bare = name.rpartition(":")
        if sep and kind not in KINDS:
            raise UnknownComponentError("kind", kind, list(KINDS))
        found = [
            c
            for c in components
            if (not sep or c.kind == kind) and fnmatchcase(c.name, bare)
        ]
        if not found:
            raise UnknownComponentError(
                f"{kind} component" if sep else "component",
                bare,
                sorted({c.name for c in components if not sep or c.kind == kind}),
                _plugin_hint(registry, bare),
            )
        selected += [c for c in found if c not in selected]
    return selected


def _plugin_hint(registry: Registry, name: str) -> list[str]:
    """A note when ``name`` is a plugin's or a distribution's name rather than a component's."""
    from mlpspec.testing import canonical_name

    for provider in registry.plugins:
        distribution = provider.distribution
        if distribution and name in (provider.plugin, distribution, canonical_name(distribution)):
            return [
                f"{name!r} is a plugin of {distribution}: check it with --package {distribution}"
            ]
    return []
