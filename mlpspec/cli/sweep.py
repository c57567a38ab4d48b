"""``mlpspec sweep``: search a space of specs with Optuna, on this machine's cores or on a Dask
cluster; and the check ``mlpspec validate`` makes of a sweep file.

Exit status: 0 when the sweep ran all its trials and one completed (failed trials are part of
a sweep), 1 when none completed, 2 for bad input, 128 + the signal's number when a signal
stopped it (resume it with ``--resume``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mlpspec.cli.progress import BOLD, format_value, paint, print_json, use_colour, warn
from mlpspec.core.errors import UsageError
from mlpspec.core.registry import Registry
from mlpspec.core.spec import load_spec
from mlpspec.core.text import columns
from mlpspec.sweep.executor import Executor
from mlpspec.sweep.file import SweepFile, check_sweep, is_sweep_file, load_sweep
from mlpspec.sweep.journal import optuna_module
from mlpspec.sweep.records import TrialRecord, ranked
from mlpspec.sweep.space import show
from mlpspec.sweep.study import (
    SWEEP_FILE,
    SweepOptions,
    SweepResult,
    create_sweep,
    run_sweep,
)

TOP = 10
"""Trials in the table printed at the end."""


def add_parser(
    sub: Any,
    common: argparse.ArgumentParser,
    registry_of: Callable[[argparse.Namespace], Registry],
) -> None:
    """Add ``sweep`` to the ``mlpspec`` parser."""
    p = sub.add_parser(
        "sweep",
        parents=[common],
        help="search a space of specs: trials on this machine's cores, or on a Dask cluster",
        description="Runs the trials a sweep file describes, in worker processes (one per core "
        "by default) or on the workers of a Dask cluster, into sweeps/NAME-DATE/: a run folder "
        "per trial, trials.jsonl, best.toml and plots. Ctrl-C stops it cleanly; --resume "
        "continues it.",
    )
    p.add_argument("file", nargs="?", metavar="SWEEP_FILE", help="the sweep file")
    p.add_argument(
        "--resume", metavar="SWEEP_DIR", help="continue a stopped sweep in its own folder"
    )
    p.add_argument(
        "--workers", type=int, metavar="N", help="local worker processes (default: one per core)"
    )
    p.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="run the trials on the Dask cluster at ADDRESS (tcp://HOST:8786); its workers must "
        "see the sweep folder",
    )
    p.add_argument(
        "--executor",
        metavar="NAME",
        help="run the trials with this executor (default: local; mlpspec list executor)",
    )
    p.add_argument(
        "--out", default="sweeps", metavar="DIR", help="where sweep folders go (default: sweeps)"
    )
    p.add_argument(
        "--data-dir",
        action="append",
        default=[],
        metavar="DIR",
        help="the trials look for data files here first (may be repeated)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object per finished trial and one for the result",
    )
    p.set_defaults(command=cmd_sweep, registry_of=registry_of, usage_error=p.error)


def cmd_sweep(args: argparse.Namespace) -> int:
    if (args.file is None) == (args.resume is None):
        args.usage_error("give a SWEEP_FILE to run, or --resume SWEEP_DIR (not both)")
    optuna_module()  # missing, it is said before anything is made
    registry = args.registry_of(args)
    executor = _executor(registry, args)
    if args.resume is not None:
        folder = Path(args.resume)
        if not (folder / SWEEP_FILE).is_file():
            raise UsageError(f"{folder}: not a sweep folder (it has no {SWEEP_FILE})")
        sweep = load_sweep(folder / SWEEP_FILE)
    else:
        sweep = load_sweep(args.file)
        check_sweep(sweep, registry)
        executor.start()  # a cluster out of reach is found before a folder is made
        try:
            folder = create_sweep(sweep, Path(args.out), registry)
        except BaseException:
            executor.close()
            raise
        sweep = load_sweep(folder / SWEEP_FILE)  # as stored: its goal stated
        if not args.json:
            _announce(sweep, folder)
    options = SweepOptions(
        plugins=tuple(args.plugins),
        blocked=tuple(args.block),
        data_dirs=tuple(str(Path(d).resolve()) for d in args.data_dir),
    )
    on_trial = _print_json if args.json else _TrialLine(sweep.settings.metric)
    result = run_sweep(
        folder, registry, executor, options, on_trial, started=args.resume is None
    )
    if args.json:
        print_json(_result_record(result))
    else:
        _print_result(result)
    for warning in result.warnings:
        warn(warning)
    if result.signal is not None:
        print(
            f"the sweep stopped; continue it with: mlpspec sweep --resume {result.folder}",
            file=sys.stderr,
        )
        return 128 + result.signal
    if result.best is None:
        print("error: no trial completed (see trials.jsonl for why)", file=sys.stderr)
        return 1
    return 0


def validate_file(path: str, registry: Registry, overrides: dict[str, Any] | None = None) -> str:
    """``mlpspec validate`` of one file: a spec is loaded (with ``--set``'s overrides); a
    sweep file is checked and its trial specs built at the corners of its space. Returns what
    to add to ``ok``."""
    if not is_sweep_file(path):
        load_spec(path, registry, overrides)
        return ""
    if overrides:
        raise UsageError(f"{path}: --set applies to specs; a sweep file sets its own values")
    built = check_sweep(load_sweep(path), registry)
    plural = "s" if built != 1 else ""
    return (
        f" (a sweep: {built} trial spec{plural} built, at the corners of the space and at "
        "every listed value)"
    )


def _executor(registry: Registry, args: argparse.Namespace) -> Executor:
    name = args.executor or ("dask" if args.dask else "local")
    if args.dask and name != "dask":
        raise UsageError(f"--dask runs the trials with the dask executor, not {name!r}")
    component = registry.get("executor", name)
    given: dict[str, Any] = {}
    if args.workers is not None:
        given["workers"] = args.workers
    if args.dask:
        given["address"] = args.dask
    for key in given:
        if key not in component.params.model_fields:
            raise UsageError(f"--{key.replace('address', 'dask')} does not apply to the {name} "
                             "executor")
    try:
        params = component.params.model_validate(given)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
        )
        raise UsageError(f"executor {name!r}: {problems}") from None
    return component.factory(params)


def _announce(sweep: SweepFile, folder: Path) -> None:
    settings = sweep.settings
    print(
        f"sweep {sweep.name}: {sweep.trials} trials to {settings.goal} {settings.metric}, "
        f"{settings.sampler} sampler"
        + (f", {settings.pruner} pruner" if settings.pruner != "none" else "")
        + f"; in {folder}",
        flush=True,
    )


class _TrialLine:
    """A line per finished trial: number, state, metric, epochs, time, values, and why it
    failed or was pruned."""

    def __init__(self, metric: str) -> None:
        self.metric = metric

    def __call__(self, record: TrialRecord) -> None:
        parts = [f"trial {record.number:>4}", f"{record.state:<8}"]
        if record.value is not None:
            parts.append(f"{self.metric} {format_value(self.metric, record.value)}")
        if record.epochs is not None:
            parts.append(f"{record.epochs:>3} epoch{'s' if record.epochs != 1 else ' '}")
        if record.seconds is not None:
            parts.append(f"{record.seconds:6.1f}s")
        parts.append(" ".join(f"{k}={show(v)}" for k, v in record.params.items()))
        if record.state != "complete" and record.reason:
            parts.append(f"({record.reason})")
        print("  ".join(parts), flush=True)


def _print_json(record: TrialRecord) -> None:
    print_json({"event": "trial", **record.model_dump(mode="json")})


def _result_record(result: SweepResult) -> dict[str, Any]:
    counts = {state: 0 for state in ("complete", "pruned", "failed")}
    for record in result.records:
        counts[record.state] += 1
    return {
        "event": "sweep_result",
        "status": "interrupted" if result.signal is not None else "completed",
        "sweep_dir": str(result.folder),
        "name": result.sweep.name,
        "metric": result.sweep.settings.metric,
        "goal": result.goal,
        "trials": counts,
        "best": None if result.best is None else result.best.model_dump(mode="json"),
        "best_spec": None if result.best_spec is None else str(result.best_spec),
        "plots": [str(path) for path in result.plots],
    }


def _print_result(result: SweepResult) -> None:
    records, metric = result.records, result.sweep.settings.metric
    print()
    print(table(ranked(records, result.goal)[:TOP], metric, result.sweep))
    states = {s: sum(r.state == s for r in records) for s in ("complete", "pruned", "failed")}
    print(
        f"\n{len(records)} trials: "
        + ", ".join(f"{count} {state}" for state, count in states.items() if count)
    )
    if result.best is not None:
        best = result.best
        assert best.value is not None
        values = ", ".join(f"{k}={show(v)}" for k, v in best.params.items())
        shown = format_value(metric, best.value, aligned=False)
        line = f"best: trial {best.number}, {metric} {shown}"
        print(paint(f"{line} ({values})", BOLD, use_colour(sys.stdout)))
        print(f"best spec: {result.best_spec}; its run: {result.folder / (best.run_dir or '')}")
    print(f"sweep folder: {result.folder}" + (
        f" (plots: {', '.join(p.name for p in result.plots)})" if result.plots else ""
    ))


def table(records: Sequence[TrialRecord], metric: str, sweep: SweepFile) -> str:
    """The trials as a table, one row each: number, state, metric, epochs, seconds, values."""
    paths = [p.path for p in sweep.searched]
    header = ["trial", "state", metric, "epochs", "seconds", *paths]
    rows = [header]
    for record in records:
        rows.append([
            str(record.number),
            record.state,
            "" if record.value is None else format_value(metric, record.value, aligned=False),
            "" if record.epochs is None else str(record.epochs),
            "" if record.seconds is None else f"{record.seconds:.1f}",
            *(show(record.params[p]) if p in record.params else "" for p in paths),
        ])
    return "\n".join(columns(rows, right=set(range(len(header))) - {1}))
