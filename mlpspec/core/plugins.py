"""Finding plugins and loading them: their components into a
:class:`~mlpspec.core.registry.Registry`, themselves into the plugin manager it keeps.

Plugins come from the ``mlpspec.plugins`` entry-point group (mlpspec's own built-ins
included, loaded first so that a third party cannot shadow them) and, during development,
from ``--plugin MODULE``. Each plugin is loaded on its own: one that fails to import, raises
anything (``SystemExit`` and ``KeyboardInterrupt`` included), implements a hook that does not
exist, or registers a name that is taken, is reported by name and skipped, while the others
load as usual. A real Ctrl-C still interrupts.

Which plugins load: all installed ones, less those blocked (``-p no:NAME``,
``$MLPSPEC_DISABLE_PLUGINS``); or, when ``$MLPSPEC_PLUGINS`` lists names (pytest's ``-p``
with autoloading off), only those and the built-ins. Names in either list that match no
plugin are reported, since a typo there would otherwise silently load or block nothing.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from mlpspec.core import hookspec
from mlpspec.core.errors import PluginError, describe
from mlpspec.core.hooks import UserInterrupt, user_interrupts
from mlpspec.core.kinds import KIND_TABLE
from mlpspec.core.registry import Component, PluginFailure, Provider, Registry, make_register

ENTRY_POINT_GROUP = "mlpspec.plugins"
DISABLE_ENV = "MLPSPEC_DISABLE_PLUGINS"
ENABLE_ENV = "MLPSPEC_PLUGINS"
BUILTIN_DISTRIBUTION = "mlpspec"


@dataclass(frozen=True)
class PluginSource:
    """A plugin not yet imported: its name, where it comes from, and how to import it."""

    provider: Provider
    load: Callable[[], Any]

    @property
    def builtin(self) -> bool:
        return self.provider.distribution == BUILTIN_DISTRIBUTION


def discover(modules: Iterable[str] = ()) -> list[PluginSource]:
    """Installed plugins (entry points; mlpspec's own first), then ``--plugin`` modules."""
    sources = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist
        provider = Provider(ep.name, dist.name if dist else "unknown", dist.version if dist else "")
        sources.append(PluginSource(provider, ep.load))
    sources.sort(key=lambda source: (not source.builtin, source.provider.plugin))
    for module in modules:
        sources.append(
            PluginSource(Provider(module), lambda module=module: importlib.import_module(module))
        )
    return sources


def names_from_env(variable: str) -> set[str]:
    return {name.strip() for name in os.environ.get(variable, "").split(",") if name.strip()}


def load_registry(
    modules: Iterable[str] = (),
    disabled: Iterable[str] = (),
    sources: Iterable[PluginSource] | None = None,
    enabled: Iterable[str] | None = None,
) -> Registry:
    """Load every plugin that is not disabled and collect its components.

    ``enabled`` (default: ``$MLPSPEC_PLUGINS``, when set) limits the third-party plugins to
    those named; ``--plugin`` modules always load. A plugin that fails is recorded in
    ``registry.failures`` and skipped; so is one that registers a name another plugin took.
    """
    modules = list(modules)
    blocked = set(disabled) | names_from_env(DISABLE_ENV)
    allowed = set(enabled) if enabled is not None else names_from_env(ENABLE_ENV) or None
    found = discover(modules) if sources is None else list(sources)
    registry = Registry()
    for source in found:
        name = source.provider.plugin
        chosen = allowed is None or name in allowed or source.builtin or name in modules
        if name in blocked or not chosen:
            registry.disabled.append(name)
            continue
        try:
            with user_interrupts():
                _load_plugin(registry, source)
        except UserInterrupt:
            raise
        except BaseException as exc:
            registry.failures.append(PluginFailure(name, describe(exc)))
    known = {source.provider.plugin for source in found}
    for variable, names in ((DISABLE_ENV, blocked), (ENABLE_ENV, allowed or set())):
        registry.unknown_names += [(variable, n) for n in sorted(names - known)]
    return registry


def _load_plugin(registry: Registry, source: PluginSource) -> None:
    """Import one plugin, collect its components, and keep it registered for run hooks."""
    manager = registry.hooks.manager
    plugin = source.load()
    api = getattr(plugin, "MLPSPEC_HOOK_API", hookspec.HOOK_API_VERSION)
    if api not in hookspec.SUPPORTED_HOOK_APIS:
        raise PluginError(
            f"it was built for mlpspec hook API {api}, this mlpspec serves "
            f"{', '.join(map(str, hookspec.SUPPORTED_HOOK_APIS))}: install a version of it "
            "made for this mlpspec"
        )
    manager.register(plugin, name=source.provider.plugin)
    try:
        manager.check_pending()
        components: list[Component] = []
        for kind in KIND_TABLE:
            register = make_register(kind.name, source.provider, components)
            for impl in getattr(manager.hook, kind.hook).get_hookimpls():
                if impl.plugin is plugin:
                    impl.function(**{arg: register for arg in impl.argnames})
        registry.add_plugin(source.provider, components)
    except BaseException:
        manager.unregister(plugin)
        raise
