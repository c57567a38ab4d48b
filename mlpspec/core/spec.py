"""The TOML model spec: its schema, how it is read, and how its problems are reported.

Sections are pydantic models with ``extra="forbid"``. A component reference (a layer table,
``activation = "tanh"``, ``init = {type = "normal", scale = 0.1}``) is checked against the
registry passed in the validation context: the name must be registered, and the params are
validated by that component's own params model, so a plugin's params get exactly the checks
a built-in's do, with the same located messages.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    PrivateAttr,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from mlpspec.core.compose import Composed, compose, compose_data
from mlpspec.core.errors import (
    Problem,
    SpecError,
    UnknownComponentError,
    format_location,
    unknown_key,
    validation_message,
)
from mlpspec.core.files import FileProblem, read_limited
from mlpspec.core.registry import ComponentConfig, Registry

if sys.version_info >= (3, 11):
    import tomllib  # noqa: TID251 (the one place that picks tomllib or tomli)
else:  # pragma: no cover
    import tomli as tomllib

SPEC_VERSION = 1
"""The version of the spec format this mlpspec writes; older specs are upgraded on load."""


def _validate_ref(kind: str, value: Any, info: ValidationInfo) -> ComponentConfig:
    if isinstance(value, ComponentConfig):
        return value
    registry = (info.context or {}).get("registry")
    if not isinstance(registry, Registry):
        raise RuntimeError("specs are validated with context={'registry': Registry}")
    if isinstance(value, str):
        name, params, name_loc = value, {}, ()
    elif isinstance(value, Mapping):
        if "type" not in value:
            raise PydanticCustomError(
                "missing_type",
                f"{_article(kind)} {kind} table needs a 'type' key naming the {kind}",
            )
        params = {key: item for key, item in value.items() if key != "type"}
        name, name_loc = value["type"], ("type",)
    else:
        raise PydanticCustomError(
            "component_ref",
            f"expected {_article(kind)} {kind} name, or a table with 'type' and its params",
        )
    if not isinstance(name, str):
        raise _located(name_loc, name, f"the {kind} name must be a string")
    try:
        component = registry.get(kind, name)
    except UnknownComponentError as exc:
        raise _located(name_loc, name, str(exc), {"kind": kind, "name": name}) from None
    try:
        checked = component.params.model_validate(params, context=info.context)
    except ValidationError as exc:
        allowed = list(component.params.model_fields)
        raise ValidationError.from_exception_data(
            exc.title, [_hinted(error, kind, name, allowed) for error in exc.errors()]
        ) from None
    return ComponentConfig(kind, name, checked)


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _hinted(error: Any, kind: str, name: str, allowed: list[str]) -> InitErrorDetails:
    """Re-raise a params error as is, but name the keys a component takes when one is unknown."""
    message, kind_of_error = error["msg"], error["type"]
    if kind_of_error == "extra_forbidden":
        message = unknown_key(str(error["loc"][-1]), allowed)
        if allowed:
            message += f"; {kind} {name!r} takes: {', '.join(allowed)}"
        else:
            message += f"; {kind} {name!r} takes no parameters"
        kind_of_error = "unknown_key"
    return InitErrorDetails(
        type=PydanticCustomError(kind_of_error, _escape(message), error.get("ctx")),
        loc=error["loc"],
        input=error.get("input"),
    )


def _escape(message: str) -> str:
    """Custom pydantic messages are format strings: keep braces in a message literal."""
    return message.replace("{", "{{").replace("}", "}}")


def _located(
    loc: tuple[str, ...], value: Any, message: str, unknown: dict[str, str] | None = None
) -> ValidationError:
    error = PydanticCustomError("component", _escape(message), unknown)
    return ValidationError.from_exception_data(
        "component", [InitErrorDetails(type=error, loc=loc, input=value)]
    )


COMPONENT_MARKER = "x-mlpspec-component"
"""The key of the JSON Schema placeholder that stands for a reference to a component kind."""


def component_ref(kind: str) -> Any:
    """The annotation of a spec field that names a component of ``kind``.

    Plugins use it for the components their own components name, exactly as the built-in
    dense layer does: ``activation: component_ref("activation") = "linear"``.
    """
    return Annotated[
        ComponentConfig,
        PlainValidator(lambda value, info: _validate_ref(kind, value, info)),
        PlainSerializer(lambda config: config.to_dict()),
        # What a component reference accepts depends on the installed components, so the
        # schema of a model holds a marker that mlpspec.core.schema replaces with their union.
        WithJsonSchema({COMPONENT_MARKER: kind}, mode="validation"),
    ]


def validate_ref(registry: Registry, kind: str, ref: str | Mapping[str, Any]) -> ComponentConfig:
    """Check a reference (``"tanh"`` or ``{"type": ..., **params}``) as a spec would."""
    return _ref_adapter(kind).validate_python(ref, context={"registry": registry})


@functools.cache
def _ref_adapter(kind: str) -> TypeAdapter[ComponentConfig]:
    """One adapter per kind: building one is slow, and the registry comes with each call."""
    return TypeAdapter(component_ref(kind))


def create(registry: Registry, kind: str, ref: str | Mapping[str, Any], *args: Any) -> Any:
    """Validate a reference (``"tanh"`` or ``{"type": ..., **params}``) and build it."""
    return registry.create(validate_ref(registry, kind, ref), *args)


LayerRef = component_ref("layer")
ActivationRef = component_ref("activation")
InitializerRef = component_ref("initializer")
LossRef = component_ref("loss")
OptimizerRef = component_ref("optimizer")
SchedulerRef = component_ref("scheduler")
DatasetRef = component_ref("dataset")
MetricRef = component_ref("metric")


class Section(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, use_attribute_docstrings=True, strict=True
    )


class ModelSection(Section):
    name: str = Field(min_length=1)
    seed: int = Field(0, ge=0, lt=2**63)
    dtype: Literal["float32", "float64"] = "float32"


class DataSection(Section):
    dataset: DatasetRef
    preprocess: Literal["none", "scale", "scale_symmetric", "standardize"] = "none"
    validation: int | float | None = Field(None, ge=0)
    """Examples held out of the training set (the last ones) for validation: a count, or a
    fraction below 1. Unset: none, or a tenth when early stopping needs a validation set."""
    data_dir: str | None = None
    download: bool = True

    @model_validator(mode="after")
    def _fraction_below_one(self) -> DataSection:
        if isinstance(self.validation, float) and not 0 < self.validation < 1:
            raise ValueError("validation must be a count of examples, or a fraction below 1")
        return self


class TrainSection(Section):
    epochs: int | None = Field(None, gt=0)
    iterations: int | None = Field(None, gt=0)
    batch_size: int | Literal["full"] = 32
    sampling: Literal["shuffle", "sequential", "replacement"] = "shuffle"
    eval_every: int = Field(1, gt=0)
    early_stopping: bool = False
    patience: int = Field(1, gt=0)
    """Evaluations in a row without improvement of ``monitor`` before early stopping stops."""
    checkpoint_every: int | None = Field(None, gt=0)
    """Write a checkpoint every this many epochs (``mlpspec run --resume`` continues from the
    latest). Unset: only when training is interrupted."""
    keep_checkpoints: int = Field(2, gt=0)
    """How many of the latest checkpoints to keep; older ones are deleted."""
    metrics: list[MetricRef] = Field(default_factory=lambda: ["accuracy"], validate_default=True)
    """What each evaluation records besides the loss, as ``train_NAME`` and ``val_NAME``."""
    monitor: str = "val_loss"
    """The recorded value early stopping watches and whose best epoch it keeps:
    ``val_loss``, ``train_loss``, or ``val_``/``train_`` and a metric's name."""
    mode: Literal["min", "max"] | None = None
    """Whether lower or higher ``monitor`` is better; unset: min for a loss, else what the
    metric says of itself."""

    @model_validator(mode="after")
    def _length(self) -> TrainSection:
        if (self.epochs is None) == (self.iterations is None):
            raise ValueError("give exactly one of 'epochs' and 'iterations'")
        if isinstance(self.batch_size, int) and self.batch_size <= 0:
            raise ValueError("batch_size must be a positive number or 'full'")
        return self


class Spec(Section):
    """A whole model spec, validated."""

    spec_version: int = Field(SPEC_VERSION, ge=1)
    model: ModelSection
    data: DataSection
    layers: list[LayerRef] = Field(min_length=1)
    loss: LossRef
    optimizer: OptimizerRef
    scheduler: SchedulerRef | None = None
    train: TrainSection
    _source: str = PrivateAttr("<spec>")

    @property
    def source(self) -> str:
        """Where the spec was read from, for messages."""
        return self._source

    def fingerprint(self) -> str:
        """SHA-256 of the resolved spec: equal for specs that build and train the same run."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """The resolved spec, every default filled in, ready to write as TOML."""
        return self.model_dump(mode="json", exclude_none=True)


# ---------------------------------------------------------------------------------------------
# Reading and validating


SPEC_MAX_BYTES = 2**20
"""The largest spec file read: a spec is a page of settings, and anything near this size is
the wrong file (a dataset, a log), or /proc, or a file that never ends."""

_BOM = "\ufeff"
_TOO_DEEP = "arrays or tables nested too deeply to read (hundreds of levels): is it the right file?"


def read_toml(path: str | Path) -> dict[str, Any]:
    """Parse a TOML file; a syntax error becomes a :class:`SpecError` at its line and column.

    Only a regular file of at most :data:`SPEC_MAX_BYTES` is read (a FIFO, a device or a
    folder is refused before anything is read). A UTF-8 byte-order mark, which some editors
    write and TOML does not allow, is skipped.
    """
    path = Path(path)
    try:
        raw = read_limited(path, SPEC_MAX_BYTES, "spec")
        text = raw.decode("utf-8")
    except FileProblem as exc:
        raise SpecError(str(path), [Problem("", str(exc))]) from None
    except UnicodeDecodeError as exc:
        raise SpecError(
            str(path),
            [Problem(_byte_place(exc.object, exc.start), f"not UTF-8 text ({exc.reason})")],
        ) from None
    return parse_toml(text.removeprefix(_BOM), str(path))


def _byte_place(raw: bytes, offset: int) -> str:
    """Where a byte is, as an editor shows it: line and column (in bytes), and the offset."""
    line = raw.count(b"\n", 0, offset) + 1
    column = offset - (raw.rfind(b"\n", 0, offset) + 1) + 1
    return f"line {line}, column {column} (byte {offset})"


MAX_KEY_PARTS = 100
"""The most parts a dotted key (``a.b.c``) or table header may have: TOML readers take time
quadratic in it (a 100,000-part key, 200 KB of text, would take a quarter of an hour); with
this bound and :data:`SPEC_MAX_BYTES`, no spec file takes more than seconds to read."""

_STRING_OR_COMMENT = re.compile(
    r'"""(?:[^\\]|\\.)*?"""|\'\'\'.*?\'\'\'|"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\'|#[^\n]*',
    re.DOTALL,
)
_LONG_KEY = re.compile(rf"[\w-]+(?:[ \t]*\.[ \t]*[\w-]+){{{MAX_KEY_PARTS}}}")


def _long_key_place(text: str) -> str | None:
    """Where the first dotted key of more than :data:`MAX_KEY_PARTS` parts starts, if any.

    Strings and comments are blanked first (keeping their line breaks), so that dots in them
    do not count; a quoted key part counts as one part."""
    if text.count(".") <= MAX_KEY_PARTS:
        return None
    blanked = _STRING_OR_COMMENT.sub(
        lambda m: "q" + "\n" * m.group().count("\n") if m.group()[0] != "#" else "", text
    )
    found = _LONG_KEY.search(blanked)
    if found is None:
        return None
    line_start = blanked.rfind("\n", 0, found.start()) + 1
    line = blanked.count("\n", 0, found.start()) + 1
    return f"line {line}, column {found.start() - line_start + 1}"


def parse_toml(text: str, source: str = "<spec>") -> dict[str, Any]:
    """Parse TOML text; malformed or too deeply nested text is a :class:`SpecError`."""
    place = _long_key_place(text)
    if place is not None:
        raise SpecError(
            source,
            [Problem(place, f"invalid TOML: a dotted key of more than {MAX_KEY_PARTS} parts")],
        )
    try:
        return tomllib.loads(text)
    except RecursionError:
        raise SpecError(source, [Problem("", f"invalid TOML: {_TOO_DEEP}")]) from None
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        where = re.search(r"\(at line (\d+), column (\d+)\)", message)
        if where:
            message = message[: where.start()].strip()
            place = f"line {where[1]}, column {where[2]}"
        else:
            place = "end of file" if "end of document" in message else ""
        raise SpecError(source, [Problem(place, f"invalid TOML: {message}")]) from None


def validate_spec(data: Mapping[str, Any], registry: Registry, source: str = "<spec>") -> Spec:
    """Validate a parsed spec, reporting every problem at once with its place in the spec."""
    data = upgrade(dict(data), source)
    try:
        spec = Spec.model_validate(data, context={"registry": registry})
    except ValidationError as exc:
        raise SpecError(source, problems(exc)) from None
    crossed = _cross_checks(spec)
    if crossed:
        raise SpecError(source, crossed)
    spec = _fill_defaults(spec)
    spec._source = source
    return spec


def load_spec(
    path: str | Path, registry: Registry, overrides: Mapping[str, Any] | None = None
) -> Spec:
    """Read, upgrade and validate the spec at ``path``, with ``overrides`` applied first.

    ``extends`` is resolved (:mod:`mlpspec.core.compose`); ``overrides`` maps dotted paths
    (``train.epochs``, ``layers[0].units``) to values, as ``--set`` does.
    """
    composed = read_composed(path)
    override(composed, overrides or {})
    return validate_composed(composed, registry)


def read_composed(path: str | Path) -> Composed:
    """The spec file at ``path`` with everything it ``extends`` merged in, each file brought to
    the current ``spec_version`` first; who set each value is kept for messages."""
    return compose(Path(path), _read_upgraded)


def compose_in_memory(data: dict[str, Any], source: str, directory: Path) -> Composed:
    """:func:`read_composed` for spec data held in memory (TOML text, a dict), which names the
    files it ``extends`` relative to ``directory``; ``data`` is not changed."""
    return compose_data(upgrade(data, source), source, directory, _read_upgraded)


def _read_upgraded(file: Path) -> dict[str, Any]:
    return upgrade(read_toml(file), str(file))


def override(composed: Composed, overrides: Mapping[str, Any]) -> None:
    """Set each dotted path of ``overrides`` (``train.epochs``, ``layers[0].units``), as
    ``--set`` does: the value becomes the loaded spec's own, whichever file had it before. Every
    path that does not fit the spec (a layer it does not have, a key under a number) is
    reported at once, in one :class:`SpecError`."""
    problems = []
    for key, value in overrides.items():
        try:
            composed.set(key, value, composed.source)
        except ValueError as exc:
            problems.append(Problem(key, str(exc)))
    if problems:
        raise SpecError(composed.source, problems)


def validate_composed(composed: Composed, registry: Registry) -> Spec:
    """Validate composed data; a problem with a value set elsewhere than the loaded file (a
    base spec it extends) names where it was set."""
    if "sweep" in composed.data:
        message = "this is a sweep file: run it with mlpspec sweep (mlpspec run takes a spec)"
        raise SpecError(composed.source, [Problem("sweep", message)])
    try:
        return validate_spec(composed.data, registry, composed.source)
    except SpecError as exc:
        raise SpecError(exc.source, composed.locate(exc.problems)) from None


def upgrade(data: dict[str, Any], source: str) -> dict[str, Any]:
    """Bring a spec of an older ``spec_version`` to the current one.

    Version 1 is the first format, so there is nothing to convert yet; each future version adds
    one step here, so that old specs keep working.
    """
    version = data.get("spec_version", SPEC_VERSION)
    if isinstance(version, int) and version > SPEC_VERSION:
        raise SpecError(
            source,
            [
                Problem(
                    "spec_version",
                    f"this spec is version {version}, but this mlpspec reads versions up to "
                    f"{SPEC_VERSION}: upgrade mlpspec",
                )
            ],
        )
    return data


DEFAULT_VALIDATION = 0.1
"""The share of the training set held out when early stopping needs a validation set and the
spec does not say how much."""


def needs_validation(train: TrainSection) -> bool:
    """Whether training needs held-out rows: early stopping on a validation value."""
    return train.early_stopping and train.monitor.startswith("val_")


def _cross_checks(spec: Spec) -> list[Problem]:
    """Rules that involve several sections."""
    problems = []
    names = [metric.name for metric in spec.train.metrics]
    for index, name in enumerate(names):
        if name in names[:index]:
            problems.append(Problem(f"train.metrics[{index}]", f"metric {name!r} is named twice"))
    recorded = [f"{split}_{name}" for split in ("train", "val") for name in ("loss", *names)]
    if spec.train.monitor not in recorded:
        problems.append(
            Problem(
                "train.monitor",
                f"{spec.train.monitor!r} is not recorded; choose one of {', '.join(recorded)} "
                "(add a metric to train.metrics to monitor it)",
            )
        )
    if needs_validation(spec.train) and spec.data.validation == 0:
        problems.append(
            Problem(
                "train.early_stopping",
                f"early stopping on {spec.train.monitor} needs a validation set, but "
                "data.validation is 0: hold out some training examples (a count, or a "
                "fraction below 1)",
            )
        )
    return problems


def _fill_defaults(spec: Spec) -> Spec:
    """Settle defaults that depend on other sections, so the resolved spec states them."""
    if spec.data.validation is None:
        held = DEFAULT_VALIDATION if needs_validation(spec.train) else 0
        spec = spec.model_copy(update={"data": spec.data.model_copy(update={"validation": held})})
    return spec


# ---------------------------------------------------------------------------------------------
# Error messages


def problems(error: ValidationError) -> list[Problem]:
    """Every problem of a validation error, located and worded as a spec's are (also for
    the conformance kit's report of an invalid params example)."""
    return [_problem(each) for each in error.errors()]


def _problem(error: Mapping[str, Any]) -> Problem:
    loc = tuple(error["loc"])
    written = {"component", "missing_type", "component_ref", "unknown_key"}
    message = validation_message(error, _allowed_keys(loc[:-1]), written)
    context = error.get("ctx") or {}
    component = error["type"] == "component" and context
    unknown = (context["kind"], context["name"]) if component else None
    return Problem(format_location(loc), message, unknown)


def _allowed_keys(loc: tuple[str | int, ...]) -> list[str]:
    """Field names of the section a location points into, for typo suggestions."""
    model: Any = Spec
    for part in loc:
        fields = getattr(model, "model_fields", {})
        if isinstance(part, str) and part in fields:
            model = fields[part].annotation
        else:
            return []
    return list(getattr(model, "model_fields", {}))
