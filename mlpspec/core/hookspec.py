"""Every extension point of mlpspec, in one documented file.

There are two families of hooks.

**Registration hooks** fill the component registry. mlpspec knows ten kinds of component
(:mod:`mlpspec.core.kinds` describes each: its contract, its factory call, whether specs name
it). Each kind has one registration hook, and every component, built-in or third-party, enters
the registry through these hooks and nothing else: the built-ins are plugins found through the
same ``mlpspec.plugins`` entry-point group as any other package's. A hook receives
``register``, a function to call once per component::

    register(name, factory, params=ParamsModel)

``name`` is what specs write (``type = "dense"``, ``activation = "tanh"``); lower case letters,
digits and underscores, optionally dotted (``myplugin.adam``, ``myplugin.swish.v2``).
``params`` is a pydantic model (best derived from :class:`mlpspec.Params`) that validates the
component's parameters; it must forbid unknown keys. Omit it for a component with none. Its
JSON Schema goes into ``mlpspec schema`` for editors, and the ``examples`` in it are the
params :mod:`mlpspec.testing` checks the component with (required when a param is).
``factory`` is called with the validated params and builds the component; what else it
receives, and what it must return, depends on the kind:

============  ========================================  ==========================================
kind          factory call                              returns
============  ========================================  ==========================================
layer         ``factory(params, in_features, ctx)``     a :class:`~.components.Layer`
activation    ``factory(params)``                       an :class:`~.components.Activation`
initializer   ``factory(params)``                       an :class:`~.components.Initializer`
loss          ``factory(params)``                       a :class:`~.components.Loss`
optimizer     ``factory(params)``                       an :class:`~.components.Optimizer`
scheduler     ``factory(params, schedule)``             a :class:`~.components.Scheduler`
dataset       ``factory(params, ctx)``                  a :class:`mlpspec.data.Dataset`
metric        ``factory(params)``                       a :class:`~.components.Metric`
tracker       ``factory(params)``                       an object implementing run hooks
executor      ``factory(params)``                       a sweep executor (:mod:`mlpspec.sweep`)
============  ========================================  ==========================================

**Run hooks** observe and extend a run while it happens, in pytest's manner: the plugin
manager stays alive for the whole process and calls them at each stage. Installed plugins
implement them as module functions; a run may also be given objects of its own (a tracker
chosen with ``--track``, a sweep's pruner) that implement them as methods, for that run only.
Every implementation is called on its own: one that raises is reported with its plugin's name
and the run goes on (a hook never costs a training run).

A plugin is any module (or object) with functions named after these hooks, marked with
:data:`hookimpl` or not: every callable whose name starts with ``mlpspec_`` is taken as a hook
implementation, so a misspelled one is reported as an error instead of being ignored.

Plugins built for this hook API may say so with a module attribute
``MLPSPEC_HOOK_API = HOOK_API_VERSION``; a plugin naming a version this mlpspec does not
serve is refused at load with a message, before it can fail in the middle of a run. Version 1
(registration hooks only) is version 2 without the run hooks: version-1 plugins load and work
unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:  # annotations only: the hooks sit below every layer that defines these
    from mlpspec.engine.training import Evaluation
    from mlpspec.run.record import RunContext, RunRecord

PROJECT_NAME = "mlpspec"
HOOK_API_VERSION = 2
SUPPORTED_HOOK_APIS = (1, 2)
"""Version 1 added nothing version 2 removed, so its plugins need no adapter."""

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

Register = Callable[..., None]
"""``register(name: str, factory: Callable[..., Any], params: type[BaseModel] | None = None)``"""


# ---------------------------------------------------------------------------------------------
# Registration hooks: one per component kind (see mlpspec.core.kinds)


@hookspec
def mlpspec_register_layers(register: Register) -> None:
    """Register layers: ``factory(params, in_features, ctx) -> Layer``.

    ``in_features`` is the width of the layer's input; ``ctx`` is a
    :class:`~.components.BuildContext` with the dtype, a random generator of the layer's
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
    """Register optimizers: ``factory(params) -> Optimizer``; params must include ``lr``,
    the base learning rate the schedule starts from."""


@hookspec
def mlpspec_register_schedulers(register: Register) -> None:
    """Register learning-rate schedulers: ``factory(params, schedule) -> Scheduler``.

    ``schedule`` is a :class:`~.components.Schedule`: the base learning rate (the optimizer's
    ``lr`` param), the number of epochs and the number of steps in one epoch.
    """


@hookspec
def mlpspec_register_datasets(register: Register) -> None:
    """Register datasets: ``factory(params, ctx) -> Dataset``.

    ``ctx`` is a :class:`~mlpspec.data.DataContext`: where to look for files, whether and from
    where to download them, and a random generator for synthetic data.
    """


@hookspec
def mlpspec_register_metrics(register: Register) -> None:
    """Register metrics: ``factory(params) -> Metric``, computed at every evaluation.

    ``[train] metrics = ["accuracy", {type = "top_k_accuracy", k = 3}]`` names them; each is
    recorded as ``train_NAME`` and ``val_NAME`` and may be monitored (``monitor = "val_NAME"``).
    """


@hookspec
def mlpspec_register_trackers(register: Register) -> None:
    """Register experiment trackers: ``factory(params) -> tracker``, chosen with ``--track``.

    A tracker is an object implementing any of the run hooks below as methods of the same
    names (``def mlpspec_run_start(self, run)``); it is registered for the runs of the command
    that chose it, and for those only.
    """


@hookspec
def mlpspec_register_executors(register: Register) -> None:
    """Register sweep executors: ``factory(params) -> Executor`` (``mlpspec sweep``)."""


# ---------------------------------------------------------------------------------------------
# Run hooks: called during every run, in this order


@hookspec
def mlpspec_run_start(run: RunContext) -> None:
    """A run begins (or resumes: ``run.resumed``): the resolved spec is validated, the data
    loaded and the run folder (``run.run_dir``, ``None`` with ``--no-save``) written.

    ``run.record`` is the run's :class:`~mlpspec.run.record.RunRecord` as it will be saved; a
    hook may note an id of its own in ``run.record.tracking`` (saved, and there again when the
    run is resumed). A sweep's trial has ``run.labels`` ``sweep`` (the sweep's folder),
    ``sweep_name`` and ``trial`` (its number), so a tracker can file trials under one parent.
    """


@hookspec
def mlpspec_run_evaluation(run: RunContext, evaluation: Evaluation) -> None:
    """An evaluation is done: ``evaluation.train`` and ``evaluation.val`` map each metric
    (``loss`` included) to its value, with the epoch, step and learning rate.

    ``run.request_stop(reason)`` ends training after this evaluation (a sweep's pruner does).
    """


@hookspec
def mlpspec_run_failure(run: RunContext, error: BaseException, record: RunRecord) -> None:
    """A run failed: ``record`` says why and names the culprit; called before
    :func:`mlpspec_run_end`."""


@hookspec
def mlpspec_run_end(run: RunContext, record: RunRecord) -> None:
    """A run ended, whatever the outcome (``record.status``: ``completed``, ``failed`` or
    ``interrupted``); its folder holds every file it will have, but the plots."""
