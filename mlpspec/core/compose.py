"""A spec's data built from several sources: ``extends``, ``--set`` and a sweep's parameters.

A spec may say ``extends = "base.toml"``, or ``extends = ["a.toml", "b.toml"]``. The files it
names are read first (each resolving its own ``extends``) and merged in order, later winning;
the spec's own content is merged over them. Tables merge key by key; every other value, arrays
included, is replaced whole (``[[layers]]`` in a spec replaces the base's layers rather than
adding to them). Paths are taken relative to the file that writes them: the names in
``extends``, and data paths (``data.data_dir``, and a dataset table's ``path`` or ``*_path``
params), which are rewritten relative to the spec being loaded. A file that extends itself,
directly or through others, is an error, located at the ``extends`` of the file that closes the
cycle; so is a missing file.

:class:`Composed` remembers who set every value (a file, ``--set``, a sweep parameter), so
that a problem found later, when the merged data is validated, names the file or setting to
fix rather than only the spec the user loaded. The resolved spec has no ``extends``: a run
folder's ``spec.toml`` stands alone.

This module knows nothing of the spec's schema; :mod:`mlpspec.core.spec` passes it the reader
of one TOML file and validates what comes out.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mlpspec.core.errors import Problem, SpecError, format_location, show_value

EXTENDS = "extends"

Key = str | int
KeyPath = tuple[Key, ...]
Reader = Callable[[Path], dict[str, Any]]

_PATH = re.compile(r"[A-Za-z_][\w-]*(\[\d+\])*(\.[A-Za-z_][\w-]*(\[\d+\])*)*")
"""A dotted path as ``--set`` takes it: ``train.epochs``, ``layers[0].units``."""
_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def parse_path(dotted: str) -> KeyPath:
    """``layers[0].units`` -> ``("layers", 0, "units")``; a malformed path is a ValueError."""
    if not isinstance(dotted, str) or not _PATH.fullmatch(dotted.strip()):
        raise ValueError(
            "not a dotted path to a spec value, such as train.epochs or layers[0].units"
        )
    return tuple(name if name else int(index) for name, index in _PART.findall(dotted.strip()))


def set_path(data: dict[str, Any], dotted: str, value: Any) -> KeyPath:
    """Set ``train.epochs`` or ``layers[0].units`` in nested TOML data; returns the parsed path.

    Missing tables on the way are created (``scheduler.type`` in a spec without a scheduler),
    arrays are not (an index must name an existing entry); a path that cannot be followed is a
    ValueError saying where and why.
    """
    path = parse_path(dotted)
    node: Any = data
    for depth, part in enumerate(path):
        where = format_location(path[:depth]) or "the spec"
        if isinstance(part, int):
            if not isinstance(node, list):
                raise ValueError(f"{where} is not an array, so it has no entry [{part}]")
            if part >= len(node):
                raise ValueError(f"{where} has {len(node)} entries, so no entry [{part}]")
        elif not isinstance(node, dict):
            raise ValueError(f"{where} is {_kind(node)}, not a table with keys")
        if depth == len(path) - 1:
            node[part] = value
        elif isinstance(part, int):
            node = node[part]
        else:
            node = node.setdefault(part, {})
    return path


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    what = "a string" if isinstance(value, str) else "a value"
    return f"{what} ({show_value(value)})"


@dataclass
class Composed:
    """A spec's data once ``extends`` is resolved, with who set each value.

    ``origins`` maps the path of every value a source set (a scalar, or an array as a whole)
    to that source: a file's path, ``--set``, or a sweep parameter.
    """

    source: str
    """The spec that was loaded; its own values need no mention of where they came from."""
    data: dict[str, Any]
    origins: dict[KeyPath, str] = field(default_factory=dict)

    def set(self, dotted: str, value: Any, origin: str) -> None:
        """Set a value by its dotted path (see :func:`set_path`), remembering who set it."""
        path = set_path(self.data, dotted, value)
        self._forget(path)
        self.origins[path] = origin  # a whole table too: a key missing from it is its setter's
        for leaf in _leaves(value, path):
            self.origins[leaf] = origin

    def copy(self) -> Composed:
        return Composed(self.source, copy.deepcopy(self.data), dict(self.origins))

    def origin(self, location: str) -> str | None:
        """Who set the value at ``location`` (``layers[0].units``): the nearest setting at or
        above it; ``None`` for the loaded spec itself, or for a place nothing set (a missing
        key)."""
        try:
            path = parse_path(location)
        except ValueError:
            return None
        return self.origin_of(path)

    def origin_of(self, path: KeyPath) -> str | None:
        """:meth:`origin` of a parsed path."""
        for end in range(len(path), 0, -1):
            found = self.origins.get(path[:end])
            if found is not None:
                return None if found == self.source else found
        return None

    def locate(self, problems: list[Problem]) -> list[Problem]:
        """Problems with the source of their value, when it is not the loaded spec: shown as
        ``layers[0].units (from specs/base.toml): ...``."""
        return [
            replace(problem, origin=self.origin(problem.location) or problem.origin)
            for problem in problems
        ]

    def _forget(self, path: KeyPath) -> None:
        for known in [p for p in self.origins if p[: len(path)] == path]:
            del self.origins[known]

    def merge(self, other: Composed) -> None:
        """Merge ``other`` over this: tables key by key, anything else replaced whole."""
        _merge(self.data, other.data, (), self, other)


def _merge(
    into: dict[str, Any], new: dict[str, Any], prefix: KeyPath, target: Composed, other: Composed
) -> None:
    for key, value in new.items():
        path = (*prefix, key)
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value, path, target, other)
            continue
        into[key] = copy.deepcopy(value)
        target._forget(path)
        target.origins |= {p: o for p, o in other.origins.items() if p[: len(path)] == path}


def _leaves(value: Any, prefix: KeyPath) -> Iterator[KeyPath]:
    """The paths of the values inside ``value``: into tables, not into arrays."""
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from _leaves(item, (*prefix, key))
    else:
        yield prefix


def compose(path: Path, read: Reader) -> Composed:
    """Read the spec at ``path`` with everything it ``extends``, merged (see the module)."""
    path = Path(path)
    return _compose(read(path), path, str(path), read, path.parent, ())


def compose_data(data: dict[str, Any], source: str, directory: Path, read: Reader) -> Composed:
    """:func:`compose` for a spec held in memory (TOML text, a dict): the files it ``extends``
    and its data paths are taken relative to ``directory``; ``source`` names it in messages.
    ``data`` itself is not changed."""
    return _compose(copy.deepcopy(data), directory / source, source, read, directory, ())


def _compose(
    data: dict[str, Any],
    path: Path,
    source: str,
    read: Reader,
    top_dir: Path,
    chain: tuple[Path, ...],
) -> Composed:
    names = _extends(data.pop(EXTENDS, None), source)
    merged = Composed(source, {})
    folder, here = path.parent, path.resolve()
    for place, name in names:
        base = Path(os.path.normpath(folder / Path(name).expanduser()))
        if base.resolve() in (*chain, here):
            cycle = " -> ".join(str(p) for p in (*chain, here, base.resolve()))
            raise SpecError(source, [Problem(place, f"{name!r} makes a cycle: {cycle}")])
        if not base.is_file():
            raise SpecError(source, [Problem(place, f"no such file: {base}")])
        merged.merge(_compose(read(base), base, str(base), read, top_dir, (*chain, here)))
    own = Composed(source, rebase_paths(data, folder, top_dir))
    own.origins = {leaf: source for leaf in _leaves(own.data, ()) if leaf}
    merged.merge(own)
    merged.source = source
    return merged


def _extends(value: Any, source: str) -> list[tuple[str, str]]:
    """The files ``extends`` names, each with its place for messages."""
    if value is None:
        return []
    if isinstance(value, str) and value:
        return [(EXTENDS, value)]
    if isinstance(value, list) and all(isinstance(n, str) and n for n in value):
        return [(f"{EXTENDS}[{index}]", name) for index, name in enumerate(value)]
    raise SpecError(
        source, [Problem(EXTENDS, "expected a spec file's path, or a list of them (later wins)")]
    )


DATASET_PATH = re.compile(r"(.+_)?path")
"""A dataset param holding a file or folder: ``path``, ``test_path``."""


def rebase_paths(data: dict[str, Any], from_dir: Path, to_dir: Path) -> dict[str, Any]:
    """``data`` with its relative data paths (``data.data_dir``, the dataset's ``path`` and
    ``*_path`` params) rewritten from ``from_dir`` to ``to_dir``."""
    if from_dir.resolve() == to_dir.resolve():
        return data
    section = data.get("data")
    if not isinstance(section, dict):
        return data
    data = {**data, "data": dict(section)}
    section = data["data"]
    if isinstance(section.get("data_dir"), str):
        section["data_dir"] = _rebased(section["data_dir"], from_dir, to_dir)
    dataset = section.get("dataset")
    if isinstance(dataset, dict):
        section["dataset"] = {
            key: _rebased(value, from_dir, to_dir)
            if isinstance(value, str) and DATASET_PATH.fullmatch(key)
            else value
            for key, value in dataset.items()
        }
    return data


def _rebased(value: str, from_dir: Path, to_dir: Path) -> str:
    if not value or os.path.isabs(os.path.expanduser(value)):
        return value
    target = from_dir.resolve() / value
    try:
        return os.path.relpath(target, to_dir.resolve())
    except ValueError:  # another drive, on Windows
        return str(target)
