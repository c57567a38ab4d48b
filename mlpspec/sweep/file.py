"""The sweep file: a spec (usually ``extends = "base.toml"``) with a ``[sweep]`` table.

::

    extends = "quickstart.toml"
    [sweep]
    metric = "val_accuracy"      # a recorded value: val_NAME or train_NAME (loss included)
    goal = "maximize"            # minimize | maximize; unset: as the metric says of itself
    trials = 40                  # unset for a grid: every point once
    sampler = "tpe"              # tpe (default) | random | grid
    seed = 0
    pruner = "median"            # none (default) | median | hyperband
    name = "lr-width"            # the sweep folder's name; unset: the file's name
    [sweep.parameters]           # keys: the paths --set takes
    "optimizer.lr" = { distribution = "log_uniform", min = 0.001, max = 0.3 }
    "layers[0].units" = { values = [64, 128, 256] }
    "train.epochs" = { value = 20 }

Every problem is reported at its place (``sweep.parameters."optimizer.lr".min``), naming the
file that set it when that is a file the sweep extends. :func:`check_sweep` goes further and
builds the trial spec at every corner of the space and at every categorical value, so a space
that makes invalid specs fails before any trial runs.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mlpspec.core.compose import Composed, KeyPath, rebase_paths
from mlpspec.core.errors import Problem, SpecError, validation_message
from mlpspec.core.registry import Registry
from mlpspec.core.spec import Spec, read_composed, validate_composed
from mlpspec.sweep.space import FORMS, Fixed, Parameter, Values, searched

SWEEP = "sweep"
CORNER_LIMIT = 1024
"""At most this many corners are built by :func:`check_sweep`; beyond, each range's ends are
tried one parameter at a time."""

Goal = Literal["minimize", "maximize"]


class SweepSettings(BaseModel):
    """The ``[sweep]`` table, but its parameters (:mod:`mlpspec.sweep.space` checks those)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    metric: str = Field(min_length=1)
    """What the trials are ranked by: ``val_NAME`` or ``train_NAME`` (``loss`` or a metric of
    ``train.metrics``), at the trial's last evaluation (its best, when early stopping ended
    it and kept the best weights)."""
    goal: Goal | None = None
    trials: int | None = Field(None, gt=0)
    sampler: Literal["tpe", "random", "grid"] = "tpe"
    seed: int = Field(0, ge=0, lt=2**32)
    pruner: Literal["none", "median", "hyperband"] = "none"
    name: str | None = Field(None, min_length=1)
    parameters: dict[str, Any] = Field(min_length=1)


@dataclass
class SweepFile:
    """A sweep file, read and checked: the base spec's data, the settings, the parameters."""

    path: Path
    base: Composed
    """The spec every trial starts from (``extends`` resolved, no ``[sweep]``)."""
    settings: SweepSettings
    parameters: list[Parameter]

    @property
    def name(self) -> str:
        return self.settings.name or self.path.stem

    @property
    def searched(self) -> list[Parameter]:
        return searched(self.parameters)

    @property
    def grid_size(self) -> int | None:
        """How many points a grid sweep has (``None`` unless every parameter is a list)."""
        if not all(isinstance(p.form, (Values, Fixed)) for p in self.parameters):
            return None
        return math.prod(len(p.form.values) for p in self.searched if isinstance(p.form, Values))

    @property
    def trials(self) -> int:
        """How many trials the sweep runs in all."""
        return self.settings.trials or self.grid_size or 0

    def trial_spec(self, values: Mapping[str, Any], registry: Registry) -> Spec:
        """The spec of one trial: the base with each parameter set (searched ones from
        ``values``, by path); a problem names the parameter that set the value."""
        composed = self.base.copy()
        problems = []
        for parameter in self.parameters:
            value = values[parameter.path] if parameter.searched else parameter.form.value
            where = _place((SWEEP, "parameters", parameter.path))
            try:
                composed.set(parameter.path, value, where)
            except ValueError as exc:
                problems.append(Problem(where, str(exc)))
        try:
            spec = validate_composed(composed, registry)
        except SpecError as exc:
            problems += exc.problems
        else:
            problems += self._metric_problems(spec)
        if problems:
            raise SpecError(str(self.path), problems)
        return spec

    def resolved(self, folder: Path) -> dict[str, Any]:
        """The sweep file as one TOML table for ``folder``: no ``extends``, data paths
        relative to ``folder``, the sweep's name stated."""
        data = rebase_paths(self.base.data, self.path.parent, folder)
        sweep = self.settings.model_dump(exclude_none=True) | {"name": self.name}
        return {**data, SWEEP: sweep}

    def goal(self, spec: Spec, registry: Registry) -> Goal:
        """``goal`` as written; unset, minimize a loss, else as the metric says of itself."""
        if self.settings.goal is not None:
            return self.settings.goal
        name = self.settings.metric.partition("_")[2]
        for config in spec.train.metrics:
            if config.name == name:
                higher = getattr(registry.create(config), "greater_is_better", True)
                return "maximize" if higher else "minimize"
        return "minimize"

    def _metric_problems(self, spec: Spec) -> list[Problem]:
        metric = self.settings.metric
        names = ["loss", *(config.name for config in spec.train.metrics)]
        recorded = [f"{split}_{name}" for split in ("val", "train") for name in names]
        where = _place((SWEEP, "metric"))
        origin = self.base.origin_of((SWEEP, "metric"))
        if metric not in recorded:
            message = (
                f"{metric!r} is not recorded; choose one of {', '.join(recorded)} (add a metric "
                "to train.metrics to rank by it)"
            )
            return [Problem(where, message, origin=origin)]
        if metric.startswith("val_") and not spec.data.validation:
            message = (
                f"{metric} needs a validation set, but data.validation is 0: hold out some "
                "training examples, or rank by a train_ value"
            )
            return [Problem(where, message, origin=origin)]
        return []


def load_sweep(path: str | Path) -> SweepFile:
    """Read a sweep file (``extends`` resolved) and check its ``[sweep]`` table."""
    path = Path(path)
    composed = read_composed(path)
    table = composed.data.pop(SWEEP, None)
    if not isinstance(table, dict):
        problem = "a sweep file needs a [sweep] table (this is a spec: use mlpspec run)"
        if table is not None:
            problem = "[sweep] must be a table"
        raise SpecError(str(path), [Problem(SWEEP if table is not None else "", problem)])
    problems: list[Problem] = []
    try:
        settings = SweepSettings.model_validate(table)
    except ValidationError as exc:
        problems += _problems(exc, (SWEEP,), composed, SweepSettings)
        settings = None
    parameters = []
    written = table.get("parameters")
    for key, raw in written.items() if isinstance(written, dict) else []:
        parameter, found = _parameter(key, raw, composed)
        problems += found
        if parameter is not None:
            parameters.append(parameter)
    if settings is not None and not problems:
        problems += _space_problems(settings, parameters, composed)
    if problems:
        raise SpecError(str(path), problems)
    assert settings is not None
    return SweepFile(path, composed, settings, parameters)


def is_sweep_file(path: str | Path) -> bool:
    """Whether the file (with what it extends) has a ``[sweep]`` table: ``mlpspec validate``
    checks such a file as a sweep."""
    try:
        return SWEEP in read_composed(path).data
    except SpecError:
        return False


def check_sweep(sweep: SweepFile, registry: Registry) -> int:
    """Build the trial spec at every corner of the space and at every categorical value;
    every problem found, at once, as a :class:`SpecError`. Returns how many specs were built."""
    problems: list[Problem] = []
    built = 0
    for values in _probes(sweep.parameters):
        try:
            spec = sweep.trial_spec(values, registry)
            sweep.goal(spec, registry)
        except SpecError as exc:
            problems += [p for p in exc.problems if p not in problems]
        built += 1
    if problems:
        raise SpecError(str(sweep.path), problems)
    return built


def first_values(parameters: Sequence[Parameter]) -> dict[str, Any]:
    """Each searched parameter at its first corner: its ``min``, or its first value."""
    return {p.path: p.form.corners()[0] for p in searched(parameters)}


def _probes(parameters: Sequence[Parameter]) -> Iterator[dict[str, Any]]:
    """The values tried by :func:`check_sweep`: every combination of each range's ends (the
    categorical parameters at their first value), then every categorical value (the others
    at their first corner). Too many corners: each range's ends one at a time."""
    space = searched(parameters)
    first = first_values(parameters)
    ranges = [p for p in space if not isinstance(p.form, Values)]
    if 2 ** len(ranges) <= CORNER_LIMIT:
        for ends in itertools.product(*(p.form.corners() for p in ranges)):
            yield first | {p.path: end for p, end in zip(ranges, ends, strict=True)}
    else:
        for parameter in ranges:
            for end in parameter.form.corners():
                yield first | {parameter.path: end}
    for parameter in space:
        if isinstance(parameter.form, Values):
            for value in parameter.form.values[1:]:
                yield first | {parameter.path: value}


def _parameter(
    key: str, raw: Any, composed: Composed
) -> tuple[Parameter | None, list[Problem]]:
    loc: KeyPath = (SWEEP, "parameters", key)
    origin = composed.origin_of(loc)
    forms = [name for name in FORMS if isinstance(raw, dict) and name in raw]
    if len(forms) != 1:
        message = (
            "expected a table with one of: distribution (and min, max), values, value; e.g. "
            '{ distribution = "log_uniform", min = 0.001, max = 0.1 } or { values = [64, 128] }'
        )
        if len(forms) > 1:
            message = f"give one of {', '.join(forms)}, not {len(forms)}"
        return None, [Problem(_place(loc), message, origin=origin)]
    model = FORMS[forms[0]]
    try:
        return Parameter(path=key, form=model.model_validate(raw)), []
    except ValidationError as exc:
        return None, _problems(exc, loc, composed, model)


def _space_problems(
    settings: SweepSettings, parameters: list[Parameter], composed: Composed
) -> list[Problem]:
    def at(*loc: str) -> tuple[str, str | None]:
        return _place((SWEEP, *loc)), composed.origin_of((SWEEP, *loc))

    problems = []
    if not searched(parameters):
        where, origin = at("parameters")
        message = "nothing to search: every parameter is a fixed value"
        problems.append(Problem(where, message, origin=origin))
    if settings.sampler == "grid":
        for parameter in parameters:
            if not isinstance(parameter.form, (Values, Fixed)):
                where, origin = at("parameters", parameter.path)
                message = "the grid sampler takes lists of values only: give values = [...]"
                problems.append(Problem(where, message, origin=origin))
        size = math.prod(len(p.form.values) for p in parameters if isinstance(p.form, Values))
        if not problems and settings.trials is not None and settings.trials > size:
            where, origin = at("trials")
            message = f"the grid has {size} points: {settings.trials} trials would repeat some"
            problems.append(Problem(where, message, origin=origin))
    elif settings.trials is None:
        where, origin = at("trials")
        message = f"how many trials to run: required with the {settings.sampler} sampler"
        problems.append(Problem(where, message, origin=origin))
    return problems


def _problems(
    exc: ValidationError, prefix: KeyPath, composed: Composed, model: type[BaseModel]
) -> list[Problem]:
    problems = []
    for error in exc.errors():
        loc = (*prefix, *error["loc"])
        allowed = list(model.model_fields)
        message = validation_message(error, allowed)
        if error["type"] == "extra_forbidden":
            message += f"; allowed: {', '.join(allowed)}"
        problems.append(Problem(_place(loc), message, origin=composed.origin_of(loc)))
    return problems


_BARE = re.compile(r"[A-Za-z0-9_-]+")


def _place(loc: Sequence[str | int]) -> str:
    """A place in the sweep table as TOML writes it: ``sweep.parameters."optimizer.lr".min``."""
    parts = []
    for part in loc:
        if isinstance(part, int):
            parts[-1] += f"[{part}]"
        else:
            parts.append(part if _BARE.fullmatch(part) else f'"{part}"')
    return ".".join(parts)
