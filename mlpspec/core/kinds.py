"""The component kinds: one descriptor each, and the table every part of mlpspec reads.

A kind's registration hook, its factory call, the contract its components meet, where specs
name it and which conformance checks apply are declared here together. The registry, the
spec's references, ``mlpspec list``, ``mlpspec schema`` and the conformance kit all follow
this table, so adding a kind is one :class:`Kind` here, one hook in
:mod:`mlpspec.core.hookspec`, and its built-ins.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    """What mlpspec knows of one kind of component."""

    name: str
    """As specs and commands say it: ``layer``, ``metric``."""
    plural: str
    """As listings head it: ``layers``."""
    hook: str
    """The registration hook (:mod:`mlpspec.core.hookspec`)."""
    factory_call: str
    """How the factory is called, for the guide and ``mlpspec list``."""
    contract: str
    """The dotted name of what the factory returns."""
    in_spec: bool = True
    """Whether specs name components of this kind; trackers and executors are named on the
    command line, and have no place in a spec or its schema."""


KIND_TABLE: tuple[Kind, ...] = (
    Kind(
        "layer",
        "layers",
        "mlpspec_register_layers",
        "factory(params, in_features, ctx)",
        "mlpspec.core.components.Layer",
    ),
    Kind(
        "activation",
        "activations",
        "mlpspec_register_activations",
        "factory(params)",
        "mlpspec.core.components.Activation",
    ),
    Kind(
        "initializer",
        "initializers",
        "mlpspec_register_initializers",
        "factory(params)",
        "mlpspec.core.components.Initializer",
    ),
    Kind(
        "loss",
        "losses",
        "mlpspec_register_losses",
        "factory(params)",
        "mlpspec.core.components.Loss",
    ),
    Kind(
        "optimizer",
        "optimizers",
        "mlpspec_register_optimizers",
        "factory(params)",
        "mlpspec.core.components.Optimizer",
    ),
    Kind(
        "scheduler",
        "schedulers",
        "mlpspec_register_schedulers",
        "factory(params, schedule)",
        "mlpspec.core.components.Scheduler",
    ),
    Kind(
        "dataset",
        "datasets",
        "mlpspec_register_datasets",
        "factory(params, ctx)",
        "mlpspec.data.Dataset",
    ),
    Kind(
        "metric",
        "metrics",
        "mlpspec_register_metrics",
        "factory(params)",
        "mlpspec.core.components.Metric",
    ),
    Kind(
        "tracker",
        "trackers",
        "mlpspec_register_trackers",
        "factory(params)",
        "an object implementing run hooks (mlpspec.core.hookspec)",
        in_spec=False,
    ),
    Kind(
        "executor",
        "executors",
        "mlpspec_register_executors",
        "factory(params)",
        "mlpspec.sweep.Executor",
        in_spec=False,
    ),
)

KINDS: tuple[str, ...] = tuple(kind.name for kind in KIND_TABLE)
BY_NAME: dict[str, Kind] = {kind.name: kind for kind in KIND_TABLE}
