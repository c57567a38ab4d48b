"""The component registry: one table of names, for every kind, filled through the hooks.

The same table drives everything that deals in names: resolving a spec, suggesting a close
match for a typo, ``mlpspec list``, the saved record of which package supplied what. It knows
which plugin supplied each name, refuses a second plugin claiming a name already taken, and
remembers the plugins that failed so that an unknown name can be explained.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from mlpspec.core.errors import PluginError, UnknownComponentError
from mlpspec.core.hooks import RunHooks
from mlpspec.core.kinds import KINDS

_NAME = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*")


class Params(BaseModel):
    """Base class of component parameter models: unknown keys are errors, values immutable.

    A field's docstring becomes its description in the JSON Schema (``mlpspec schema``), so
    editors show it; ``json_schema_extra={"examples": [...]}`` in a model's config gives the
    params :mod:`mlpspec.testing` checks the component with. Values are strict: TOML's types
    are the types, so ``units = "16"`` is an error rather than a guess.
    """

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        validate_default=True,
        use_attribute_docstrings=True,
        strict=True,
    )


class NoParams(Params):
    """The parameters of a component that takes none."""


@dataclass(frozen=True)
class Provider:
    """Where a component came from: the plugin, and the installed package that ships it."""

    plugin: str
    distribution: str | None = None
    version: str | None = None

    def describe(self) -> str:
        if self.distribution is None:
            return f"{self.plugin} (local module)"
        return f"{self.distribution} {self.version} ({self.plugin})"


@dataclass(frozen=True)
class Component:
    """One registered name: how to build it, how to check its params, who supplied it."""

    kind: str
    name: str
    factory: Callable[..., Any]
    params: type[BaseModel]
    provider: Provider

    @property
    def summary(self) -> str:
        """The first line of the factory's docstring."""
        doc = inspect.getdoc(self.factory) or ""
        return doc.splitlines()[0] if doc else ""


@dataclass(frozen=True)
class ComponentConfig:
    """A validated reference to a component in a spec: its kind, name and checked params."""

    kind: str
    name: str
    params: BaseModel

    def to_dict(self) -> dict[str, Any]:
        """The TOML form, ``{"type": name, **params}`` (``None`` is left out: TOML has no null)."""
        return {"type": self.name, **self.params.model_dump(mode="json", exclude_none=True)}


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that could not be loaded or raised while registering, and why."""

    plugin: str
    reason: str


@dataclass
class Registry:
    """Every component of every kind, by name, with the plugin that supplied it."""

    _table: dict[str, dict[str, Component]] = field(
        default_factory=lambda: {kind: {} for kind in KINDS}
    )
    plugins: list[Provider] = field(default_factory=list)
    failures: list[PluginFailure] = field(default_factory=list)
    disabled: list[str] = field(default_factory=list)
    unknown_names: list[tuple[str, str]] = field(default_factory=list)
    """``(variable, name)``: plugins named to enable or disable that are not installed."""
    hooks: RunHooks = field(default_factory=RunHooks)
    """The plugin manager, alive for as long as the registry: run hooks are called on it."""

    def add_plugin(self, provider: Provider, components: list[Component]) -> None:
        """Add one plugin's components, all or none; a name taken already is an error."""
        for component in components:
            taken = self._table[component.kind].get(component.name)
            if taken is not None:
                raise PluginError(
                    f"{component.kind} {component.name!r} is supplied already by "
                    f"{taken.provider.describe()}; uninstall one, or block one with "
                    f"-p no:NAME or MLPSPEC_DISABLE_PLUGINS=NAME"
                )
        seen: set[tuple[str, str]] = set()
        for component in components:
            key = (component.kind, component.name)
            if key in seen:
                raise PluginError(
                    f"plugin {provider.plugin!r} registers {component.kind} "
                    f"{component.name!r} twice"
                )
            seen.add(key)
        for component in components:
            self._table[component.kind][component.name] = component
        self.plugins.append(provider)

    def get(self, kind: str, name: str) -> Component:
        """The component ``name`` of ``kind``, or an error with close matches and the choices."""
        try:
            return self._table[kind][name]
        except KeyError:
            notes = [f"plugin {f.plugin!r} failed to load ({f.reason})" for f in self.failures]
            notes += [f"plugin {name!r} is disabled" for name in self.disabled]
            raise UnknownComponentError(kind, name, self.names(kind), notes) from None

    def names(self, kind: str) -> list[str]:
        return sorted(self._table[kind])

    def components(self, kind: str | None = None) -> Iterator[Component]:
        kinds = KINDS if kind is None else (kind,)
        for each in kinds:
            yield from (self._table[each][name] for name in self.names(each))

    def create(self, config: ComponentConfig, *args: Any, **kwargs: Any) -> Any:
        """Build the component a validated reference names."""
        return self.get(config.kind, config.name).factory(config.params, *args, **kwargs)


def make_register(kind: str, provider: Provider, into: list[Component]) -> Callable[..., None]:
    """The ``register`` function a hook of ``kind`` receives, collecting into ``into``."""

    def register(
        name: str, factory: Callable[..., Any], params: type[BaseModel] | None = None
    ) -> None:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise PluginError(
                f"{kind} name {name!r} is not valid: use lower case letters, digits and "
                f"underscores, optionally dotted (e.g. 'myplugin.adam')"
            )
        if not callable(factory):
            raise PluginError(f"{kind} {name!r}: the factory {factory!r} is not callable")
        params = NoParams if params is None else params
        if not (isinstance(params, type) and issubclass(params, BaseModel)):
            raise PluginError(f"{kind} {name!r}: params must be a pydantic model class")
        if params.model_config.get("extra") != "forbid":
            raise PluginError(
                f"{kind} {name!r}: its params model {params.__name__} must forbid unknown "
                f"keys (derive it from mlpspec.Params, or set extra='forbid')"
            )
        into.append(Component(kind, name, factory, params, provider))

    return register
