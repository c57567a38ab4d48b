"""From a validated spec to live objects: the dataset, the model, its optimizer, scheduler and
metrics, and the plan of training.

Every object is created through the registry from the names in the spec, by one
:meth:`Builder.create`, which also remembers where in the spec each object was named and who
supplied it: when a component's code raises later, in the middle of a run, the error names it
(``layers[1].activation 'rt.boom' from badfwd``) instead of leaving a bare traceback.
Randomness is split into independent streams by purpose (each layer, batch sampling) from the
spec's seed, so that adding dropout to one layer does not change another layer's weights.
"""

from __future__ import annotations

import threading
import traceback
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlpspec.core.components import BuildContext, Metric, Optimizer, Schedule, Scheduler
from mlpspec.core.errors import MlpspecError, PluginError, Problem, SpecError
from mlpspec.core.registry import ComponentConfig, Provider, Registry
from mlpspec.core.spec import Spec, needs_validation
from mlpspec.data import DataContext, Dataset, Splits, prepare
from mlpspec.data.dataset import env_data_dirs
from mlpspec.engine import parallel
from mlpspec.engine.model import Model
from mlpspec.engine.training import LoopConfig, Plan
from mlpspec.run.budget import check_memory
from mlpspec.run.record import Culprit

LAYER_STREAM, SAMPLING_STREAM, HOLDOUT_STREAM = 0, 1, 2
"""Purposes of random streams; HOLDOUT_STREAM picks the validation rows of arrays given in
memory (mlpspec.sklearn), which, unlike a dataset's files, may come sorted by class."""


def rng_for(seed: int, *purpose: int) -> np.random.Generator:
    """An independent random generator for one purpose of a run with this seed."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=purpose))


@dataclass(frozen=True)
class Placed:
    """A component as the spec names it: where, what, and who supplied it."""

    place: str
    config: ComponentConfig
    provider: Provider

    def culprit(self) -> Culprit:
        """As a failed run's record names it."""
        config = self.config
        return Culprit(
            place=self.place, kind=config.kind, name=config.name, package=self.provider.describe()
        )


class Builder:
    """Builds what one spec names, and remembers where each built object was named."""

    def __init__(self, spec: Spec, registry: Registry) -> None:
        self.spec, self.registry = spec, registry
        self.placed: dict[str, Placed] = {}
        self._by_object: dict[int, Placed] = {}
        self._objects: list[Any] = []  # keeps the objects alive, so that their ids stay theirs

    def create(self, config: ComponentConfig, where: str, *args: Any) -> Any:
        """Build a component; a factory that raises is reported with its place and plugin.

        ``ValueError`` means the params do not work together (a component's own refusal: a bad
        spec); anything else is a fault of the plugin, named as such.
        """
        provider = self.registry.get(config.kind, config.name).provider
        placed = Placed(where, config, provider)
        try:
            built = self.registry.create(config, *args)
        except MlpspecError:
            raise
        except ValueError as exc:
            raise SpecError(
                self.spec.source, [Problem(where, f"{config.kind} {config.name!r}: {exc}")]
            ) from exc
        except Exception as exc:
            raise PluginError(
                f"{where}: {config.kind} {config.name!r} from {provider.describe()} failed to "
                f"build: {type(exc).__name__}: {exc}"
            ) from exc
        self.placed[where] = placed
        self._by_object[id(built)] = placed
        self._objects.append(built)
        return built

    # -- each part of a run --------------------------------------------------------------------

    def dataset(self, ctx: DataContext) -> Dataset:
        return self.create(self.spec.data.dataset, "data.dataset", ctx)

    def model(
        self, features: int, classes: Sequence[str], examples: int | None = None
    ) -> Model:
        """The network for inputs of ``features`` columns and these classes.

        A network too large for memory is refused before anything is allocated; the last
        layer's width and the loss are checked against the classes before any training.
        ``examples`` (the training set's size) sizes batches in the memory estimate.
        """
        spec = self.spec
        check_memory(spec, features, examples)
        parallel.threads()  # a bad $MLPSPEC_THREADS is said before anything is built
        dtype = np.dtype(spec.model.dtype)
        layers, generators = [], {}
        width = features
        for index, config in enumerate(spec.layers):
            where = f"layers[{index}]"
            generators[f"layers.{index}"] = rng_for(spec.model.seed, LAYER_STREAM, index)
            ctx = BuildContext(
                dtype=dtype,
                rng=generators[f"layers.{index}"],
                create=lambda ref, config=config, where=where: self.create(
                    ref, f"{where}.{_field_holding(config, ref)}"
                ),
            )
            layer = self.create(config, where, width, ctx)
            layers.append(layer)
            width = layer.out_features
        if width != len(classes):
            last = len(spec.layers) - 1
            raise SpecError(
                spec.source,
                [
                    Problem(
                        f"layers[{last}]",
                        f"the last layer ({spec.layers[last].name}) has {width} outputs, but "
                        f"the dataset has {len(classes)} classes: make them equal",
                    )
                ],
            )
        loss = self.create(spec.loss, "loss")
        try:
            loss.check_output(width)
        except ValueError as exc:
            raise SpecError(
                spec.source,
                [Problem("loss", f"loss {spec.loss.name!r} cannot take the output: {exc}")],
            ) from None
        return Model(layers, loss, classes, dtype, generators)

    def optimizer(self) -> Optimizer:
        return self.create(self.spec.optimizer, "optimizer")

    def plan(self, examples: int) -> Plan:
        train = self.spec.train
        return Plan.of(
            train.batch_size,
            train.sampling,
            examples,
            epochs=train.epochs,
            iterations=train.iterations,
        )

    def scheduler(self, plan: Plan) -> Scheduler:
        """The scheduler, which owns the learning rate: ``constant`` when the spec has none.
        Its base rate is the optimizer's ``lr`` param, read from the spec, not the object."""
        schedule = Schedule(
            base_lr=base_learning_rate(self.spec),
            epochs=plan.epochs,
            steps_per_epoch=plan.steps_per_epoch,
        )
        config = self.spec.scheduler
        if config is None:
            constant = self.registry.get("scheduler", "constant")
            config = ComponentConfig("scheduler", "constant", constant.params())
        return self.create(config, "scheduler", schedule)

    def metrics(self) -> dict[str, Metric]:
        return {
            config.name: self.create(config, f"train.metrics[{index}]")
            for index, config in enumerate(self.spec.train.metrics)
        }

    def loop(self) -> LoopConfig:
        return LoopConfig(self.spec.train.sampling, self.spec.train.eval_every)

    def monitor_mode(self, metrics: dict[str, Metric]) -> str:
        """``min`` or ``max`` for ``train.monitor``: as the spec says, else from the metric."""
        train = self.spec.train
        if train.mode is not None:
            return train.mode
        name = train.monitor.partition("_")[2]
        if name == "loss":
            return "min"
        return "max" if getattr(metrics[name], "greater_is_better", True) else "min"

    # -- blame ---------------------------------------------------------------------------------

    def culprit(self, error: BaseException, place: str | None = None) -> Placed | None:
        """The built component whose code raised ``error``, as precisely as can be told.

        The innermost frame of the traceback that runs a method of a built component names
        it; a ``place`` the engine worked out (the layer whose output first went non-finite)
        is used when the traceback names nothing more precise within it.
        """
        found = None
        for frame, _ in traceback.walk_tb(error.__traceback__):
            owner = self._by_object.get(id(frame.f_locals.get("self")))
            if owner is not None:
                found = owner  # the innermost one wins
        at_place = self.placed.get(place) if place else None
        if found is not None and (at_place is None or found.place.startswith(at_place.place)):
            return found
        return at_place

    def nested(self, place: str) -> list[Placed]:
        """The components named inside the one at ``place`` (a dense layer's activation)."""
        return [p for where, p in self.placed.items() if where.startswith(place + ".")]


def load_data(
    spec: Spec,
    registry: Registry,
    data_dirs: Sequence[Path] = (),
    progress: bool = False,
    base_dir: Path | None = None,
    *,
    builder: Builder | None = None,
    dataset: Dataset | None = None,
    cache: DataCache | None = None,
) -> Splits:
    """The spec's dataset (or ``dataset``, arrays already at hand), preprocessed and split;
    from ``cache`` when an earlier run in this process prepared the same data.

    Folders are searched in order: the spec's ``data_dir`` (relative to ``base_dir``, by
    default the spec's folder), ``data_dirs`` (``--data-dir``), ``$MLPSPEC_DATA_DIR``, the
    cache, system folders. A split that leaves no validation rows where early stopping needs
    them is refused here, at ``data.validation``, before anything trains.
    """
    base = base_dir or spec_dir(spec)
    folders = [*([base / spec.data.data_dir] if spec.data.data_dir else []), *data_dirs]
    folders += env_data_dirs()

    def prepared() -> Splits:
        found = dataset
        if found is None:
            ctx = DataContext(
                data_dirs=folders, download=spec.data.download, progress=progress, base_dir=base
            )
            found = (builder or Builder(spec, registry)).dataset(ctx)
        return prepare(
            found,
            preprocess=spec.data.preprocess,
            validation=spec.data.validation,
            dtype=np.dtype(spec.model.dtype),
            name=f"dataset {spec.data.dataset.name!r}",
        )

    if cache is None or dataset is not None:
        splits = prepared()
    else:
        key = (spec.data.model_dump_json(), spec.model.dtype, str(base), *map(str, folders))
        splits = cache.splits(key, prepared)
    if needs_validation(spec.train) and splits.x_val is None:
        raise SpecError(
            spec.source,
            [
                Problem(
                    "data.validation",
                    f"holds out no examples of the {len(splits.x_train)} (it rounds to 0), "
                    f"but early stopping on {spec.train.monitor} needs some: hold out more",
                )
            ],
        )
    return splits


class DataCache:
    """Prepared data kept across runs in one process, for runs that train one after another
    on the same data (a sweep's trials in one worker): each distinct ``[data]`` section (with
    the dtype and the folders searched) is read and preprocessed once. Reading full MNIST and
    standardizing it takes 1.3-1.5 s here, which every trial paid before.

    The arrays it holds are made read-only, so that no run can change what a later one trains
    on (a layer must not write into its input; here it would fail at once). Files changed
    while the process lives are not read again. Thread-safe: two trials at once in one
    process (a Dask worker with several threads) wait for one read.
    """

    def __init__(self, size: int = 2) -> None:
        self.size = size
        """How many prepared datasets to keep, the least recently used dropped first."""
        self._entries: OrderedDict[tuple[str, ...], Splits] = OrderedDict()
        self._lock = threading.Lock()

    def splits(self, key: tuple[str, ...], prepare_them: Callable[[], Splits]) -> Splits:
        """The splits kept under ``key``, else those ``prepare_them`` makes, kept."""
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
            splits = prepare_them()
            for array in (splits.x_train, splits.y_train, splits.x_val, splits.y_val,
                          splits.x_test, splits.y_test):
                if array is not None:
                    array.flags.writeable = False
            self._entries[key] = splits
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
            return splits


def spec_dir(spec: Spec) -> Path:
    """The folder a spec's relative paths start from: its own, or the current one."""
    return Path(spec.source).parent.resolve() if Path(spec.source).is_file() else Path.cwd()


def _field_holding(config: ComponentConfig, ref: ComponentConfig) -> str:
    """The params field of ``config`` that holds ``ref`` (``activation``), for places."""
    for name in type(config.params).model_fields:
        if getattr(config.params, name) is ref:
            return name
    return ref.kind


def base_learning_rate(spec: Spec) -> float:
    """The optimizer's ``lr`` param: every optimizer's params must include it."""
    lr = getattr(spec.optimizer.params, "lr", None)
    if not isinstance(lr, (int, float)):
        raise SpecError(
            spec.source,
            [Problem("optimizer", f"optimizer {spec.optimizer.name!r} has no 'lr' param")],
        )
    return float(lr)


def build_model(
    spec: Spec,
    registry: Registry,
    features: int,
    classes: Sequence[str],
    examples: int | None = None,
) -> Model:
    """The network the spec describes, for inputs of ``features`` columns and these classes."""
    return Builder(spec, registry).model(features, classes, examples)


def build_optimizer(spec: Spec, registry: Registry) -> Optimizer:
    return Builder(spec, registry).optimizer()
