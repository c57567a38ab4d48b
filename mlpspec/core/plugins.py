"""Finding plugins and loading their components into a :class:`~mlpspec.core.registry.Registry`.

Plugins come from the ``mlpspec.plugins`` entry-point group (mlpspec's own built-ins included)
and, during development, from ``--plugin MODULE``. Each plugin is loaded and asked for its
components on its own, so one that fails to import, implements a hook that does not exist, or
raises while registering is reported by name and skipped, while the others load as usual.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

import pluggy

from mlpspec.core import hookspec
from mlpspec.core.errors import PluginError
from mlpspec.core.registry import Component, PluginFailure, Provider, Registry, make_register

ENTRY_POINT_GROUP = "mlpspec.plugins"
DISABLE_ENV = "MLPSPEC_DISABLE_PLUGINS"


@dataclass(frozen=True)
class PluginSource:
    """A plugin not yet imported: its name, where it comes from, and how to import it."""

    provider: Provider
    load: Callable[[], Any]


class PluginManager(pluggy.PluginManager):
    """A pluggy manager for which every ``mlpspec_*`` callable is a hook implementation.

    Taking unmarked functions too means a misspelled hook name is caught by
    ``check_pending()`` instead of being silently never called.
    """

    def __init__(self) -> None:
        super().__init__(hookspec.PROJECT_NAME)
        self.add_hookspecs(hookspec)

    def parse_hookimpl_opts(self, plugin: Any, name: str) -> Any:
        opts = super().parse_hookimpl_opts(plugin, name)
        if opts is None and name.startswith("mlpspec_") and callable(getattr(plugin, name)):
            return {}
        return opts


def discover(modules: Iterable[str] = ()) -> list[PluginSource]:
    """Installed plugins (entry points), then local modules named with ``--plugin``."""
    sources = []
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name):
        dist = ep.dist
        provider = Provider(ep.name, dist.name if dist else "unknown", dist.version if dist else "")
        sources.append(PluginSource(provider, ep.load))
    for module in modules:
        sources.append(
            PluginSource(Provider(module), lambda module=module: importlib.import_module(module))
        )
    return sources


def disabled_from_env() -> set[str]:
    return {name.strip() for name in os.environ.get(DISABLE_ENV, "").split(",") if name.strip()}


def load_registry(
    modules: Iterable[str] = (),
    disabled: Iterable[str] = (),
    sources: Iterable[PluginSource] | None = None,
) -> Registry:
    """Load every plugin that is not disabled and collect its components.

    A plugin that fails is recorded in ``registry.failures`` and skipped; two plugins claiming
    one name raise :class:`PluginError`, naming both.
    """
    blocked = set(disabled) | disabled_from_env()
    registry = Registry()
    manager = PluginManager()
    for source in discover(modules) if sources is None else sources:
        name = source.provider.plugin
        if name in blocked:
            registry.disabled.append(name)
            continue
        try:
            components = _load_plugin(manager, source)
        except Exception as exc:  # a plugin's failure must not take the others down
            registry.failures.append(PluginFailure(name, _describe(exc)))
            continue
        registry.add_plugin(source.provider, components)
    return registry


def _load_plugin(manager: PluginManager, source: PluginSource) -> list[Component]:
    name = source.provider.plugin
    plugin = source.load()
    api = getattr(plugin, "MLPSPEC_HOOK_API", hookspec.HOOK_API_VERSION)
    if api != hookspec.HOOK_API_VERSION:
        raise PluginError(
            f"it was built for mlpspec hook API {api}, this mlpspec has "
            f"{hookspec.HOOK_API_VERSION}: install a version of it made for this mlpspec"
        )
    manager.register(plugin, name=name)
    try:
        manager.check_pending()
        components: list[Component] = []
        for kind, hook_name in hookspec.KIND_HOOKS.items():
            register = make_register(kind, source.provider, components)
            for impl in getattr(manager.hook, hook_name).get_hookimpls():
                if impl.plugin is plugin:
                    impl.function(**{arg: register for arg in impl.argnames})
        return components
    finally:
        # The registry holds what we need; hooks are never called again.
        manager.unregister(plugin)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
