"""The plugin manager that stays alive, and how run hooks are called on it.

pluggy calls every implementation of a hook in one go and stops at the first that raises;
mlpspec calls each implementation on its own instead, so that one plugin's fault is reported
with its name and costs neither the other plugins nor the run (pytest reports a failing
plugin the same way, by name). Only a real Ctrl-C from the user goes through: a plugin that
raises ``KeyboardInterrupt`` or ``SystemExit`` itself is a faulty plugin like any other.
"""

from __future__ import annotations

import signal
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import Any

import pluggy

from mlpspec.core import hookspec
from mlpspec.core.errors import describe


class UserInterrupt(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) from the user, as opposed to a ``KeyboardInterrupt`` raised by a
    plugin's code: only this one may stop mlpspec while plugin code runs."""


class HookWarning(UserWarning):
    """A plugin's run hook raised; the run went on without it."""


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


class RunHooks:
    """Calls the run hooks of every plugin the manager holds, one implementation at a time."""

    def __init__(self, manager: PluginManager | None = None) -> None:
        self.manager = manager or PluginManager()

    def call(self, name: str, **arguments: Any) -> list[str]:
        """Call hook ``name`` on every implementation, in pluggy's order (``tryfirst`` ones
        first, then the latest registered first).

        Returns what failed, one message per implementation that raised (each also issued
        as a :class:`HookWarning`).
        """
        failures = []
        caller = getattr(self.manager.hook, name)
        for impl in reversed(caller.get_hookimpls()):  # the list is in reverse call order
            try:
                impl.function(*(arguments[arg] for arg in impl.argnames))
            except UserInterrupt:
                raise
            except BaseException as exc:
                message = f"plugin {impl.plugin_name!r} failed in {name}: {describe(exc)}"
                warnings.warn(message, HookWarning, stacklevel=2)
                failures.append(message)
        return failures

    @contextmanager
    def scoped(self, plugins: Sequence[tuple[str, object]]) -> Iterator[None]:
        """Register ``(name, object)`` plugins (a tracker, a pruner) for one run only."""
        added = []
        try:
            for name, plugin in plugins:
                taken = self.manager.get_plugin(name) is not None
                self.manager.register(plugin, name=f"{name}#{len(added)}" if taken else name)
                added.append(plugin)
            self.manager.check_pending()
            yield
        finally:
            for plugin in added:
                self.manager.unregister(plugin)


@contextmanager
def user_interrupts() -> Iterator[None]:
    """Turn a real SIGINT into :class:`UserInterrupt` while plugin code runs (importing
    plugins), so that it can be told from a ``KeyboardInterrupt`` the plugin raised.

    Outside the main thread Python cannot install handlers, and signals keep their effect.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise UserInterrupt

    previous = signal.signal(signal.SIGINT, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
