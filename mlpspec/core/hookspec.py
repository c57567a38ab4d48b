"""Every extension point of mlpspec, in one documented file.

mlpspec knows seven kinds of component. Each kind has one registration hook, and every
component, built-in or third-party, enters the registry through these hooks and nothing else:
the built-ins are plugins found through the same ``mlpspec.plugins`` entry-point group as any
other package's.

A hook receives ``register``, a function to call once per component::

    register(name, factory, params=ParamsModel)

``name`` is what specs write (``type = "dense"``, ``activation = "tanh"``); lower case letters,
digits and underscores, optionally dotted (``myplugin.adam``).
``params`` is a pydantic model (best derived from :class:`mlpspec.Params`) that validates the
component's parameters; it must forbid unknown keys. Omit it for a component with none. Its
JSON Schema goes into ``mlpspec schema`` for editors, and the ``examples`` in it are the
params :mod:`mlpspec.testing` checks the component with (required when a param is).
``factory`` is called with the validated params and builds the component; what else it
receives, and what it must return, depends on the kind (the contracts are in
:mod:`mlpspec.core.components` and :mod:`mlpspec.data`):

============  ========================================  =========================================
kind          factory call                              returns
============  ========================================  =========================================
layer         ``factory(params, in_features, ctx)``     a :class:`~.components.Layer`
activation    ``factory(params)``                       an :class:`~.components.Activation`
initializer   ``factory(params)``                       an :class:`~.components.Initializer`
loss          ``factory(params)``                       a :class:`~.components.Loss`
optimizer     ``factory(params)``                       an :class:`~.components.Optimizer`
scheduler     ``factory(params, schedule)``             a :class:`~.components.Scheduler`
dataset       ``factory(params, ctx)``                  a :class:`~mlpspec.data.Dataset`
============  ========================================  =========================================

A plugin is any module (or object) with functions named after these hooks, marked with
:data:`hookimpl` or not: every callable whose name starts with ``mlpspec_`` is taken as a hook
implementation, so a misspelled one is reported as an error instead of being ignored.

Plugins built for this hook API may say so with a module attribute
``MLPSPEC_HOOK_API = HOOK_API_VERSION``; a plugin naming another version is refused at load
with a message, before it can fail in the middle of a run.
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

PROJECT_NAME = "mlpspec"
HOOK_API_VERSION = 1

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

Register = Callable[..., None]
"""``register(name: str, factory: Callable[..., Any], params: type[BaseModel] | None = None)``"""


@hookspec
def mlpspec_register_layers(register: Register) -> None:
    """Register layers: ``factory(params, in_features, ctx) -> Layer``.

    ``in_features`` is the width of the layer's input; ``ctx`` is a
    :class:`~mlpspec.core.components.BuildContext` with the dtype, a random generator of the layer's
    own, and ``ctx.create(ref)`` to build the components a layer names (its activation, its
    initializers).
    """


@hookspec
def mlpspec_register_activations(register: Register) -> None:
    """Register activation functions: ``factory(params) -> Activation``."""


@hookspec
def mlpspec_register_initializers(register: Register) -> None:
    """Register weight initializers: ``factory(params) -> Initializer``."""


@hookspec
def mlpspec_register_losses(register: Register) -> None:
    """Register losses: ``factory(params) -> Loss``."""


@hookspec
def mlpspec_register_optimizers(register: Register) -> None:
    """Register optimizers: ``factory(params) -> Optimizer``; params must include ``lr``."""


@hookspec
def mlpspec_register_schedulers(register: Register) -> None:
    """Register learning-rate schedulers: ``factory(params, schedule) -> Scheduler``.

    ``schedule`` is a :class:`~.components.Schedule`: the optimizer's base learning rate,
    the number of epochs and the number of steps in one epoch.
    """


@hookspec
def mlpspec_register_datasets(register: Register) -> None:
    """Register datasets: ``factory(params, ctx) -> Dataset``.

    ``ctx`` is a :class:`~mlpspec.data.DataContext`: where to look for files, whether and from
    where to download them, and a random generator for synthetic data.
    """


KIND_HOOKS: dict[str, str] = {
    "layer": "mlpspec_register_layers",
    "activation": "mlpspec_register_activations",
    "initializer": "mlpspec_register_initializers",
    "loss": "mlpspec_register_losses",
    "optimizer": "mlpspec_register_optimizers",
    "scheduler": "mlpspec_register_schedulers",
    "dataset": "mlpspec_register_datasets",
}
"""Each component kind and the hook that registers it."""

KINDS: tuple[str, ...] = tuple(KIND_HOOKS)
