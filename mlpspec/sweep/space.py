"""The space a sweep searches: one :class:`Parameter` per path of the spec.

A parameter is a range (``uniform``, ``log_uniform``, ``int_uniform``, ``log_int_uniform``:
``min`` and ``max`` are values, both included, never exponents), a list of ``values`` (any
TOML value, inline tables included) or one fixed ``value``. Optuna (the ``sweep`` extra) is
imported only to hand a parameter to a study: checking a sweep file does not need it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution

RangeName = Literal["uniform", "log_uniform", "int_uniform", "log_int_uniform"]
Choice = str | int | float | bool
"""What a study stores for a categorical value: the value itself, or the JSON text of one
that is not a plain scalar (an inline table, an array)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Range(_Strict):
    """A continuous or integer range, both ends included."""

    distribution: RangeName
    min: int | float
    max: int | float

    @model_validator(mode="after")
    def _bounds(self) -> Range:
        if self.integer and not all(_is_int(v) for v in (self.min, self.max)):
            raise ValueError(f"{self.distribution} takes whole numbers for min and max")
        if not all(math.isfinite(v) for v in (self.min, self.max)):
            raise ValueError("min and max must be finite numbers")
        if self.min >= self.max:
            raise ValueError(f"min ({self.min}) must be below max ({self.max})")
        if self.log and self.min <= 0:
            raise ValueError(
                f"{self.distribution} needs min above 0 (min and max are the values, not "
                f"their exponents; got min = {self.min})"
            )
        return self

    @property
    def integer(self) -> bool:
        return "int" in self.distribution

    @property
    def log(self) -> bool:
        return self.distribution.startswith("log")

    def corners(self) -> list[Any]:
        return [self.min, self.max] if self.integer else [float(self.min), float(self.max)]


class Values(_Strict):
    """A list of values to choose from (categorical)."""

    values: list[Any] = Field(min_length=1)

    @model_validator(mode="after")
    def _distinct(self) -> Values:
        for index, value in enumerate(self.values):
            for earlier, seen in enumerate(self.values[:index]):
                if seen == value:  # 1 and 1.0, or 1 and true, too: a study could not tell
                    raise ValueError(f"values[{index}] repeats values[{earlier}]")
        return self

    @property
    def choices(self) -> list[Choice]:
        """What the study stores for each value (:data:`Choice`)."""
        return [_choice(value) for value in self.values]

    def corners(self) -> list[Any]:
        return list(self.values)


class Fixed(_Strict):
    """One value, the same in every trial."""

    value: Any

    def corners(self) -> list[Any]:
        return [self.value]


Form = Range | Values | Fixed
FORMS: dict[str, type[Form]] = {"distribution": Range, "values": Values, "value": Fixed}
"""Each form of parameter, by the key that says which it is."""


class Parameter(BaseModel):
    """One path of the spec (as ``--set`` writes it) and how a sweep sets it."""

    model_config = ConfigDict(frozen=True)

    path: str
    form: Form

    @property
    def searched(self) -> bool:
        return not isinstance(self.form, Fixed)

    @property
    def log(self) -> bool:
        return isinstance(self.form, Range) and self.form.log

    def distribution(self) -> BaseDistribution:
        """The Optuna distribution the study samples this parameter from."""
        from optuna.distributions import (
            CategoricalDistribution,
            FloatDistribution,
            IntDistribution,
        )

        form = self.form
        if isinstance(form, Range):
            if form.integer:
                return IntDistribution(int(form.min), int(form.max), log=form.log)
            return FloatDistribution(float(form.min), float(form.max), log=form.log)
        if isinstance(form, Values):
            return CategoricalDistribution(form.choices)
        raise TypeError(f"{self.path} is fixed: nothing to sample")

    def value_of(self, stored: Any) -> Any:
        """The spec value for what a study stored for this parameter."""
        form = self.form
        if isinstance(form, Values):
            return form.values[form.choices.index(stored)]
        if isinstance(form, Range) and form.integer:
            return int(stored)
        if isinstance(form, Range):
            return float(stored)
        return form.value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _choice(value: Any) -> Choice:
    if isinstance(value, (str, int, float, bool)):
        return value
    return json.dumps(value, separators=(",", ":"), default=str)


def show(value: Any) -> str:
    """A parameter's value as a short text, for tables and plots."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (str, int, bool)):
        return str(value)
    return json.dumps(value, separators=(",", ":"), default=str)


def searched(parameters: Sequence[Parameter]) -> list[Parameter]:
    return [p for p in parameters if p.searched]
