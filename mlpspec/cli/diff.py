"""``mlpspec diff A B``: what differs between two runs, two specs, or a run and a spec.

Three parts, each side by side:

- **spec**: the resolved specs (every default filled in: a run folder's ``spec.toml``, or a
  spec file validated as ``mlpspec run`` would) compared value by value, each difference at
  its dotted path, the same paths ``--set`` takes (``optimizer.lr``, ``layers[0].units``).
  Where a component is of another type on each side (``sgd`` against ``adam``), the whole
  component is one difference: the params of different components are not comparable.
- **components**: who supplied each component the specs name, where the package or its
  version differs, or only one side uses it (a run's ``components.json``; for a spec, the
  installed plugins).
- **metrics** (when a side is a run): status, epochs run, and the last evaluation's
  ``train`` and ``val`` values, the best ``val`` values and the ``test`` values of each run's
  record, with B − A where both are numbers.

Exit status: 0 whether or not they differ, as ``git diff`` does: a comparison that worked
is a success, and status 1 means a failed run everywhere else in mlpspec, so a script under
``set -e`` does not stop because two runs differ. ``--exit-code`` gives diff(1)'s statuses
for scripts that test for a difference: 1 when the specs, the components, or (two runs) the
metrics differ, 0 when they do not; 2 is bad input either way.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlpspec.cli.progress import format_value, is_share, print_json
from mlpspec.core.errors import UsageError, format_location
from mlpspec.core.registry import Registry
from mlpspec.core.spec import load_spec, read_toml
from mlpspec.core.text import columns, printable
from mlpspec.run.record import RunRecord
from mlpspec.run.rundir import COMPONENTS, SPEC, RunDirectory
from mlpspec.run.saved import ComponentSource, provenance, read_sources

ABSENT = "(absent)"
"""How the text output shows a value one side does not have (``null`` in ``--json``: a
resolved spec holds no nulls, so ``null`` means absent there)."""

METRIC_SPLITS = ("train", "val", "best_val", "test")


@dataclass(frozen=True)
class Side:
    """One thing compared: a run folder or a spec file, resolved."""

    path: Path
    spec: dict[str, Any]
    components: dict[tuple[str, str], ComponentSource] | None
    """By (kind, name); ``None`` for a run folder without ``components.json``."""
    record: RunRecord | None
    """The run's record; ``None`` for a spec file."""

    @property
    def kind(self) -> str:
        return "spec" if self.record is None else "run"

    def describe(self) -> str:
        status = f", {self.record.status}" if self.record is not None else ""
        return f"{printable(str(self.path))} ({self.kind}{status})"

    def to_dict(self) -> dict[str, Any]:
        status = None if self.record is None else self.record.status
        return {"path": str(self.path), "kind": self.kind, "status": status}


def load_side(path: Path, registry_of: Callable[[], Registry]) -> Side:
    """A run folder (a directory) or a spec file, resolved; the plugins are loaded only for a
    spec, so runs made with plugins since uninstalled still compare."""
    if path.is_dir():
        folder = RunDirectory(path)
        record = folder.read_record()
        sources = read_sources(folder) if (path / COMPONENTS).is_file() else None
        components = None if sources is None else _by_name(sources)
        return Side(path, read_toml(path / SPEC), components, record)
    if not path.exists():
        raise UsageError(f"{path}: no such run folder or spec file")
    registry = registry_of()
    spec = load_spec(path, registry)
    sources = [ComponentSource.model_validate(item) for item in provenance(spec, registry)]
    return Side(path, spec.to_dict(), _by_name(sources), None)


def _by_name(sources: list[ComponentSource]) -> dict[tuple[str, str], ComponentSource]:
    return {(source.kind, source.name): source for source in sources}


@dataclass(frozen=True)
class Change:
    """A value that differs, at its dotted path; ``None`` where a side does not have it."""

    path: str
    a: Any
    b: Any


def spec_changes(a: Any, b: Any, loc: tuple[str | int, ...] = ()) -> Iterator[Change]:
    """Every difference between two resolved specs (or parts of them), in the order of A's
    keys, then B's new ones."""
    if isinstance(a, dict) and isinstance(b, dict) and a.get("type") == b.get("type"):
        for key in [*a, *(k for k in b if k not in a)]:
            yield from spec_changes(a.get(key), b.get(key), (*loc, key))
    elif isinstance(a, list) and isinstance(b, list):
        for index in range(max(len(a), len(b))):
            yield from spec_changes(
                a[index] if index < len(a) else None,
                b[index] if index < len(b) else None,
                (*loc, index),
            )
    elif not _same(a, b):
        yield Change(format_location(loc), a, b)


def _same(a: Any, b: Any) -> bool:
    """Equal values of one kind: ``true`` is not ``1``, though Python says it is."""
    return isinstance(a, bool) == isinstance(b, bool) and a == b


@dataclass(frozen=True)
class ComponentChange:
    """A component whose package or version differs, or that one side does not use."""

    kind: str
    name: str
    a: ComponentSource | None
    b: ComponentSource | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "a": None if self.a is None else self.a.model_dump(),
            "b": None if self.b is None else self.b.model_dump(),
        }


def component_changes(a: Side, b: Side) -> list[ComponentChange]:
    if a.components is None or b.components is None:
        return []
    changes = []
    for key in [*a.components, *(k for k in b.components if k not in a.components)]:
        mine, theirs = a.components.get(key), b.components.get(key)
        if _supplier(mine) != _supplier(theirs):
            changes.append(ComponentChange(key[0], key[1], mine, theirs))
    return changes


def _supplier(source: ComponentSource | None) -> tuple[str | None, ...] | None:
    return None if source is None else (source.plugin, source.distribution, source.version)


@dataclass
class Comparison:
    """All three parts; ``differ`` is what ``--exit-code`` reports."""

    a: Side
    b: Side
    spec: list[Change]
    components: list[ComponentChange]
    metric_rows: list[MetricRow] = field(default_factory=list)

    @property
    def differ(self) -> bool:
        metrics_differ = (
            self.a.record is not None
            and self.b.record is not None
            and any(not _same(row.a, row.b) for row in self.metric_rows)
        )
        return bool(self.spec or self.components) or metrics_differ

    def to_dict(self) -> dict[str, Any]:
        runs = self.a.record is not None or self.b.record is not None
        return {
            "a": self.a.to_dict(),
            "b": self.b.to_dict(),
            "differ": self.differ,
            "spec": [{"path": c.path, "a": c.a, "b": c.b} for c in self.spec],
            "components": [change.to_dict() for change in self.components],
            "components_known": self.a.components is not None
            and self.b.components is not None,
            "metrics": {"a": _metrics(self.a.record), "b": _metrics(self.b.record)}
            if runs
            else None,
        }


def _metrics(record: RunRecord | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {
        "status": record.status,
        "epochs_run": record.epochs_run,
        **{split: dict(getattr(record, split)) for split in METRIC_SPLITS},
    }


@dataclass(frozen=True)
class MetricRow:
    """One line of the metrics table: a label, and each side's value (``None``: absent)."""

    label: str
    metric: str
    a: Any
    b: Any


def metric_rows(a: RunRecord | None, b: RunRecord | None) -> list[MetricRow]:
    """Status, epochs run, then each split's values, every metric either run recorded."""
    rows = [
        MetricRow("status", "status", a and a.status, b and b.status),
        MetricRow("epochs run", "epochs", a and a.epochs_run, b and b.epochs_run),
    ]
    for split in METRIC_SPLITS:
        first = getattr(a, split) if a is not None else {}
        second = getattr(b, split) if b is not None else {}
        for name in [*first, *(n for n in second if n not in first)]:
            label = f"{split.replace('_', ' ')} {name}"
            rows.append(MetricRow(label, name, first.get(name), second.get(name)))
    return rows


def compare(a: Side, b: Side) -> Comparison:
    comparison = Comparison(a, b, list(spec_changes(a.spec, b.spec)), component_changes(a, b))
    if a.record is not None or b.record is not None:
        comparison.metric_rows = metric_rows(a.record, b.record)
    return comparison


# ---------------------------------------------------------------------------------------------
# Text


def render(comparison: Comparison) -> str:
    a, b = comparison.a, comparison.b
    lines = [f"A: {a.describe()}", f"B: {b.describe()}", ""]
    if comparison.spec:
        count = len(comparison.spec)
        lines.append(f"spec: {count} difference{'s' if count != 1 else ''}")
        changes = [(c.path, _toml(c.a), _toml(c.b)) for c in comparison.spec]
        lines += _table([("", "A", "B"), *changes])
    else:
        lines.append("spec: the same (resolved)")
    lines.append("")
    if a.components is None or b.components is None:
        missing = " and ".join(s.describe() for s in (a, b) if s.components is None)
        lines.append(f"components: unknown for {missing} (no {COMPONENTS})")
    elif comparison.components:
        lines.append("components: supplied differently, or used on one side only")
        lines += _table(
            [("", "A", "B")]
            + [
                (f"{c.kind} {c.name!r}", _supplied(c.a), _supplied(c.b))
                for c in comparison.components
            ]
        )
    else:
        lines.append("components: the same packages and versions")
    if comparison.metric_rows:
        lines += ["", "metrics"]
        lines += _table(
            [("", "A", "B", "B - A")]
            + [
                (row.label, _metric(row.metric, row.a), _metric(row.metric, row.b), _delta(row))
                for row in comparison.metric_rows
            ],
            numeric=frozenset({1, 2, 3}),
        )
    return "\n".join(lines)


def _table(rows: list[tuple[str, ...]], numeric: frozenset[int] = frozenset()) -> list[str]:
    """Indented, aligned columns; ``numeric`` columns right-aligned."""
    return ["  " + line for line in columns(rows, numeric)]


def _toml(value: Any) -> str:
    """A spec value as TOML writes it inline (what ``--set`` takes), safe for a terminal."""
    if value is None:
        return ABSENT
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _supplied(source: ComponentSource | None) -> str:
    if source is None:
        return "(not used)"
    if source.distribution:
        return f"{source.distribution} {source.version or '?'}"
    return f"{source.plugin} (a module, no package)"


def _metric(name: str, value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return format_value(name, value, aligned=False)
    return str(value)


def _delta(row: MetricRow) -> str:
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (row.a, row.b))
    if not numbers or row.metric == "status":
        return ""
    difference = row.b - row.a
    if isinstance(difference, int):
        return f"{difference:+d}"
    if is_share(row.metric):
        return f"{difference * 100:+.2f} pt"
    return f"{difference:+.4f}"


# ---------------------------------------------------------------------------------------------
# Command


def cmd_diff(args: argparse.Namespace) -> int:
    registry: list[Registry] = []

    def registry_of() -> Registry:  # loaded once, and only if a side is a spec
        if not registry:
            registry.append(args.registry_of(args))
        return registry[0]

    comparison = compare(load_side(Path(args.a), registry_of), load_side(Path(args.b), registry_of))
    if args.json:
        print_json(comparison.to_dict())
    else:
        print(render(comparison))
    return 1 if args.exit_code and comparison.differ else 0


def add_parser(
    sub: Any,
    common: argparse.ArgumentParser,
    registry_of: Callable[[argparse.Namespace], Registry],
) -> None:
    """Add ``diff`` to the ``mlpspec`` parser."""
    p = sub.add_parser(
        "diff",
        parents=[common],
        help="what differs between two runs or specs: spec values, packages, metrics",
        description="A and B are run folders or spec files (or one of each). Shows the "
        "resolved specs' differences at their --set paths, the component packages and "
        "versions that differ, and, for runs, the final metrics side by side. Exit status 0 "
        "whether or not they differ (see --exit-code), 2 for bad input.",
    )
    p.add_argument("a", metavar="A", help="a run folder or a spec file")
    p.add_argument("b", metavar="B", help="a run folder or a spec file")
    p.add_argument("--json", action="store_true", help="print one JSON object, for scripts")
    p.add_argument(
        "--exit-code",
        action="store_true",
        help="exit with 1 when they differ and 0 when not, as diff(1) does",
    )
    p.set_defaults(command=cmd_diff, registry_of=registry_of)
