"""From a validated spec to live objects: the model, its optimizer and its scheduler.

Every object is created through the registry from the names in the spec. Randomness is
split into independent streams by purpose (each layer, batch sampling) from the spec's seed,
so that adding dropout to one layer does not change another layer's initial weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mlpspec.core.components import BuildContext, Optimizer, Schedule, Scheduler
from mlpspec.core.errors import MlpspecError, PluginError, Problem, SpecError
from mlpspec.core.registry import ComponentConfig, Registry
from mlpspec.core.spec import Spec
from mlpspec.engine.model import Model
from mlpspec.run.budget import check_memory

LAYER_STREAM, SAMPLING_STREAM = 0, 1


def rng_for(seed: int, *purpose: int) -> np.random.Generator:
    """An independent random generator for one purpose of a run with this seed."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=purpose))


def create(registry: Registry, config: ComponentConfig, spec: Spec, where: str, *args: Any) -> Any:
    """Build a component; a factory that raises is reported with its place and its plugin.

    ``ValueError`` means the params do not work together (a component's own refusal: a bad
    spec); anything else is a fault of the plugin, named as such.
    """
    try:
        return registry.create(config, *args)
    except MlpspecError:
        raise
    except ValueError as exc:
        raise SpecError(
            spec.source, [Problem(where, f"{config.kind} {config.name!r}: {exc}")]
        ) from exc
    except Exception as exc:
        provider = registry.get(config.kind, config.name).provider.describe()
        raise PluginError(
            f"{where}: {config.kind} {config.name!r} from {provider} failed to build: "
            f"{type(exc).__name__}: {exc}"
        ) from exc


def build_model(
    spec: Spec,
    registry: Registry,
    features: int,
    classes: Sequence[str],
    examples: int | None = None,
) -> Model:
    """The network the spec describes, for inputs of ``features`` columns and these classes.

    A network too large for memory is refused before anything is allocated; the last layer's
    width and the loss are checked against the classes before any training. ``examples``
    (the training set's size) sizes full-batch activations in the memory estimate.
    """
    check_memory(spec, features, examples)
    dtype = np.dtype(spec.model.dtype)
    layers, generators = [], {}
    width = features
    for index, config in enumerate(spec.layers):
        where = f"layers[{index}]"
        generators[f"layers.{index}"] = rng_for(spec.model.seed, LAYER_STREAM, index)
        ctx = BuildContext(
            dtype=dtype,
            rng=generators[f"layers.{index}"],
            create=lambda ref, where=where: create(registry, ref, spec, where),
        )
        layer = create(registry, config, spec, where, width, ctx)
        layers.append(layer)
        width = layer.out_features
    if width != len(classes):
        last = len(spec.layers) - 1
        raise SpecError(
            spec.source,
            [
                Problem(
                    f"layers[{last}]",
                    f"the last layer ({spec.layers[last].name}) has {width} outputs, but the "
                    f"dataset has {len(classes)} classes: make them equal",
                )
            ],
        )
    loss = create(registry, spec.loss, spec, "loss")
    try:
        loss.check_output(width)
    except ValueError as exc:
        raise SpecError(
            spec.source, [Problem("loss", f"loss {spec.loss.name!r} cannot take the output: {exc}")]
        ) from None
    return Model(layers, loss, classes, dtype, generators)


def build_optimizer(spec: Spec, registry: Registry) -> Optimizer:
    return create(registry, spec.optimizer, spec, "optimizer")


def build_scheduler(
    spec: Spec, registry: Registry, optimizer: Optimizer, epochs: int, steps_per_epoch: int
) -> Scheduler | None:
    if spec.scheduler is None:
        return None
    schedule = Schedule(base_lr=optimizer.lr, epochs=epochs, steps_per_epoch=steps_per_epoch)
    return create(registry, spec.scheduler, spec, "scheduler", schedule)
