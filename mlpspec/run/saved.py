"""A saved run, loaded back: its resolved spec, its record, its model with the saved weights.

Also what a run folder says of where its components came from (``components.json``): written
at a run's start, read back to name the package to install when a component is missing, and
to warn when an installed plugin's version differs from the one the run was made with.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from mlpspec.core.errors import DataError, MlpspecError, Problem, SpecError, format_location
from mlpspec.core.plugins import load_registry
from mlpspec.core.registry import ComponentConfig, Registry
from mlpspec.core.spec import Spec, read_toml, validate_spec
from mlpspec.data import Splits, preprocess_rows
from mlpspec.engine.model import Model
from mlpspec.run.builder import build_model, load_data
from mlpspec.run.record import RunRecord
from mlpspec.run.rundir import COMPONENTS, SPEC, SUMMARY, RunDirectory

_DISTRIBUTION = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?")
"""A valid distribution name (PEP 508): only such a name is offered to ``pip install``."""


class ComponentSource(BaseModel):
    """One line of ``components.json``: a component the spec names, and who supplied it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    kind: str
    name: str
    plugin: str
    distribution: str | None = None
    version: str | None = None


_SOURCES = TypeAdapter(list[ComponentSource])


class PluginVersionWarning(UserWarning):
    """A saved run's component comes from another version of its plugin than the installed."""


def iter_components(node: Any) -> Iterator[ComponentConfig]:
    """Every component reference in a spec or a component's params, depth first."""
    if isinstance(node, ComponentConfig):
        yield node
        node = node.params
    if isinstance(node, (list, tuple)):
        for item in node:
            yield from iter_components(item)
    elif hasattr(type(node), "model_fields"):
        for name in type(node).model_fields:
            yield from iter_components(getattr(node, name))


def provenance(spec: Spec, registry: Registry) -> list[dict[str, Any]]:
    """Which plugin and package supplied each component the spec names."""
    records: list[dict[str, Any]] = []
    for config in iter_components(spec):
        provider = registry.get(config.kind, config.name).provider
        record = ComponentSource(
            kind=config.kind,
            name=config.name,
            plugin=provider.plugin,
            distribution=provider.distribution,
            version=provider.version,
        ).model_dump()
        if record not in records:
            records.append(record)
    return records


def read_sources(folder: RunDirectory) -> list[ComponentSource]:
    """``components.json``; a damaged one is a :class:`DataError` naming the file."""
    path = folder.path / COMPONENTS
    data = folder.read_json(COMPONENTS)
    try:
        return _SOURCES.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        place = format_location(first["loc"]) or "top"
        raise DataError(f"{path}: damaged at {place}: {first['msg']}") from None


@dataclass
class LoadedRun:
    """A saved run: its spec, its record, and its model with the saved weights.

    ``predict`` and ``predict_proba`` take rows as the network sees them (preprocessed, as
    :meth:`data` returns them); :meth:`preprocess` turns raw rows (pixel values, the
    dataset's own units) into those, with the statistics the run saved.
    """

    path: Path
    spec: Spec
    record: RunRecord
    model: Model
    registry: Registry

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.model.predict(x)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(x)

    def preprocess(self, raw: np.ndarray) -> np.ndarray:
        """Raw rows (or images), scaled as the run's training data was."""
        stats = self.record.preprocessing
        if stats is None:
            raise DataError(
                f"{self.path}: the run did not save its preprocessing statistics "
                "(made by an older mlpspec); run it again"
            )
        try:
            return preprocess_rows(np.asarray(raw), stats, self.model.dtype)
        except ValueError as exc:  # statistics that describe no preprocessing: tampered
            raise DataError(
                f"{self.path / SUMMARY}: damaged preprocessing statistics: {exc}"
            ) from None

    def data(self, data_dirs: Sequence[Path] = ()) -> Splits:
        """The run's dataset, read and split as the run did (relative paths start from the
        original spec's folder)."""
        base = Path(self.record.spec_dir) if self.record.spec_dir else None
        return load_data(self.spec, self.registry, data_dirs, base_dir=base)


def load_run(path: str | Path, registry: Registry | None = None) -> LoadedRun:
    """Load a run folder, with the installed plugins unless ``registry`` is given; a
    component whose plugin is missing names the package to install, and one whose plugin is
    installed in another version than the run's is warned about."""
    if registry is None:
        registry = load_registry()
    folder = RunDirectory(Path(path))
    record = folder.read_record()
    spec = read_run_spec(folder, registry)
    _warn_versions(folder, registry)
    model = build_model(spec, registry, record.features, record.classes)
    try:
        # names, shapes and dtypes checked before anything is decompressed (a zip bomb)
        model.load_state(folder.read_weights(expected=model.state()))
    except ValueError as exc:
        raise MlpspecError(f"{folder.path}: {exc}") from None
    return LoadedRun(folder.path, spec, record, model, registry)


def read_run_spec(folder: RunDirectory, registry: Registry) -> Spec:
    """The resolved spec a run folder holds."""
    try:
        return validate_spec(read_toml(folder.path / SPEC), registry, str(folder.path / SPEC))
    except SpecError as exc:
        raise _explain_missing(exc, folder) from None


def _explain_missing(error: SpecError, folder: RunDirectory) -> SpecError:
    """Add, to each unknown component, the package that supplied it when the run was made."""
    try:
        sources = read_sources(folder)
    except MlpspecError:
        return error
    unknown = {problem.unknown for problem in error.problems if problem.unknown}
    notes = []
    for source in sources:
        if (source.kind, source.name) not in unknown or not source.distribution:
            continue
        if _DISTRIBUTION.fullmatch(source.distribution):
            hint = f"install it (pip install {source.distribution})"
        else:
            hint = "its package name in components.json is not a valid one"
        notes.append(
            f"{source.kind} {source.name!r} came from {source.distribution!r} "
            f"{source.version!r}: {hint}"
        )
    if not notes:
        return error
    return SpecError(error.source, [*error.problems, *(Problem("", note) for note in notes)])


def _warn_versions(folder: RunDirectory, registry: Registry) -> None:
    try:
        sources = read_sources(folder)
    except MlpspecError:
        return
    for source in sources:
        try:
            installed = registry.get(source.kind, source.name).provider
        except MlpspecError:
            continue
        if source.version and installed.version and source.version != installed.version:
            warnings.warn(
                f"{source.kind} {source.name!r} was made with {source.distribution} "
                f"{source.version}, and {installed.distribution} {installed.version} is "
                "installed: the run may not load or predict as it did",
                PluginVersionWarning,
                stacklevel=3,
            )
