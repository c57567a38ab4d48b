"""The commands that look at runs once they are made: plot, runs, evaluate, predict; and init,
which starts a spec. ``mlpspec.cli.main`` adds them to its parser with :func:`add_commands`.

Each command gets the parsed arguments; ``args.registry_of(args)`` loads the plugins as the
other commands do (``--plugin``, ``-p no:NAME``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mlpspec.cli import plots
from mlpspec.cli.inputs import check_rows, read_inputs
from mlpspec.cli.progress import format_value, print_json, warn
from mlpspec.cli.runs import SORT_KEYS, find_runs, sort_runs, table
from mlpspec.cli.starter import starter_path, write_starter
from mlpspec.core.errors import DataError, UsageError, describe
from mlpspec.core.hookspec import hookimpl
from mlpspec.core.registry import Registry
from mlpspec.core.text import one_line
from mlpspec.run import figures
from mlpspec.run.builder import Builder
from mlpspec.run.record import RunContext, RunRecord
from mlpspec.run.rundir import MODEL
from mlpspec.run.saved import LoadedRun, load_run

SPLITS = ("test", "validation", "train")


def plot_after_run(path: Path) -> list[Path]:
    """The plots at the end of ``mlpspec run``: made only if matplotlib is installed, and a
    failure is a warning, since the run folder is complete already."""
    if not figures.available():
        return []
    try:
        return plots.plot_run(path)
    except Exception as exc:  # a picture must never cost a finished run
        warn(f"the plots were not made: {describe(exc)}")
        return []


class PlotsAtRunEnd:
    """Draws a completed run's plots as it ends: an observer of the run like a tracker, called
    before every other (``tryfirst``), so that a tracker's ``mlpspec_run_end`` finds the plots
    in the run folder with every other file, and can log them with the rest."""

    def __init__(self) -> None:
        self.written: list[Path] = []

    @hookimpl(tryfirst=True)
    def mlpspec_run_end(self, run: RunContext, record: RunRecord) -> None:
        if record.status != "completed" or run.run_dir is None:
            return
        self.written = plot_after_run(run.run_dir)


def writable_folder(path: Path, option: str, create: bool = False) -> Path:
    """``path`` as a folder to write into (made, with ``create``): a file of that name, or a
    folder that cannot be written to or made, is a :class:`UsageError` naming it, before any
    work is done."""
    try:
        existing = next(p for p in (path, *path.absolute().parents) if p.exists())
        if not existing.is_dir():
            raise UsageError(f"{option} {path}: {existing} is a file, not a folder")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise UsageError(f"{option} {path}: {existing} is not writable")
        if create:
            path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{option} {path}: {exc.strerror or exc}") from None
    return path


def run_folder(path: Path) -> Path:
    """``path``, if it is a folder (a run folder's own files are checked when read)."""
    if not path.is_dir():
        what = "a file" if path.exists() else "no such folder"
        raise UsageError(f"{path}: {what}, not a run folder")
    return path


def cmd_plot(args: argparse.Namespace) -> int:
    if not args.runs and not args.activations:
        raise UsageError("give run folders to plot, or --activations NAME...")
    written = []
    if args.activations:
        registry = args.registry_of(args)
        out = writable_folder(Path(args.out or "."), "--out", create=True)
        written.append(plots.plot_activations(args.activations, registry, out / "activations.png"))
    runs = [run_folder(Path(run)) for run in args.runs]
    if len(runs) == 1:
        written += plots.plot_run(runs[0])
    elif runs:
        out = writable_folder(Path(args.out) if args.out else _common_parent(runs), "--out", True)
        written += plots.plot_comparison(runs, out)
    for path in written:
        print(path)
    return 0


def _common_parent(paths: list[Path]) -> Path:
    return Path(os.path.commonpath([path.resolve().parent for path in paths]))


def cmd_runs(args: argparse.Namespace) -> int:
    root = Path(args.dir)
    runs = sort_runs(find_runs(root), args.sort, args.reverse)
    if args.json:
        for run in runs:
            print_json(run.to_dict())
    elif runs:
        print(table(runs, root))
    else:
        print(f"no runs in {root}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    loaded = load_run(args.run, args.registry_of(args))
    splits = loaded.data([Path(d) for d in args.data_dir])
    x, y = {
        "train": (splits.x_train, splits.y_train),
        "validation": (splits.x_val, splits.y_val),
        "test": (splits.x_test, splits.y_test),
    }[args.split]
    if x is None or not len(x):
        raise UsageError(f"{loaded.path}: the run has no {args.split} set")
    values = loaded.model.evaluate(x, y, Builder(loaded.spec, loaded.registry).metrics())
    reported = loaded.record.test if args.split == "test" else {}
    if args.json:
        result = {
            "run": str(loaded.path),
            "split": args.split,
            "examples": len(x),
            **values,
            "run_reported": reported or None,
            "run_reported_accuracy": reported.get("accuracy"),
        }
        print_json(result)
        return 0
    shown = ", ".join(
        f"{args.split} {name} {format_value(name, v, aligned=False)}" for name, v in values.items()
    )
    line = f"{shown} ({len(x)} examples)"
    if reported:
        line += "; " + _agreement(reported, values, loaded.model.dtype)
    print(line)
    return 0


def _agreement(reported: dict[str, float], values: dict[str, float], dtype: np.dtype) -> str:
    """How a run's own test values compare with ``values``, computed again from its saved model.

    The same bits where the matrix library sums in the same order as the run did (the same
    machine, the same threads); where it does not (a sweep's trial ran on one BLAS thread, and
    is evaluated on all of them), the loss may differ in its last digits, by a few hundred
    roundings of the model's dtype at most, which is "the same, up to rounding". Anything
    further is another model or other data: each value that differs is shown, with the digits
    that show it.
    """
    if all(reported.get(name) == value for name, value in values.items()):
        return "the run reported the same"
    tolerance = 100 * float(np.finfo(dtype).eps)

    def close(name: str, value: float) -> bool:
        theirs = reported.get(name)
        return theirs is not None and math.isclose(
            theirs, value, rel_tol=tolerance, abs_tol=tolerance
        )

    if all(close(name, value) for name, value in values.items()):
        return "the run reported the same, up to rounding (summed in another order)"
    differing = [
        f"{name} {reported[name]:.8g} against {value:.8g} here"
        if reported.get(name) is not None else f"{name}: none (here {value:.8g})"
        for name, value in values.items()
        if not close(name, value)
    ]
    return "the run reported DIFFERENT values: " + ", ".join(differing)


def cmd_predict(args: argparse.Namespace) -> int:
    loaded = load_run(args.run, args.registry_of(args))
    shape = loaded.record.image_shape
    inputs = read_inputs(
        [Path(p) for p in args.inputs],
        loaded.record.features,
        shape,
        invert=not args.no_invert,
    )
    _check_weights(loaded)
    rows = loaded.preprocess(inputs.rows)
    check_rows(
        rows,
        inputs.names,
        f"beyond the range of the model's {rows.dtype} once preprocessed: the model cannot "
        "take it",
        "value {} of the row, preprocessed,",
    )
    probabilities = loaded.predict_proba(rows)
    check_rows(
        probabilities,
        inputs.names,
        "the model gives no prediction for this input",
        "the output for class {}",
    )
    classes = [str(c) for c in loaded.model.classes]
    if args.json:
        for name, row in zip(inputs.names, probabilities, strict=True):
            print(json.dumps(_prediction(name, row, classes)))
    else:
        print(_prediction_table(inputs.names, probabilities, classes))
    return 0


def _check_weights(loaded: LoadedRun) -> None:
    """A model whose weights are NaN or infinite predicts nothing: say so, naming the array,
    rather than print class 0 with probability NaN."""
    for name, array in loaded.model.state().items():
        if array.dtype.kind in "fc" and not np.all(np.isfinite(array)):
            raise DataError(
                f"{loaded.path / MODEL}: {name} holds NaN or infinite values: this model "
                "cannot predict"
            )


def _prediction(name: str, row: np.ndarray, classes: list[str]) -> dict[str, Any]:
    return {
        "input": name,
        "predicted": classes[int(np.argmax(row))],
        "probabilities": {c: float(p) for c, p in zip(classes, row, strict=True)},
    }


def _prediction_table(names: list[str], probabilities: np.ndarray, classes: list[str]) -> str:
    """input, predicted class and its probability, then every class's (up to 12 classes).
    Names and classes come from files (a run's summary.json): control characters are shown
    escaped, never sent to the terminal."""
    names, classes = [one_line(n) for n in names], [one_line(c) for c in classes]
    shown = classes if len(classes) <= 12 else []
    width = max(len("input"), *(len(n) for n in names)) if names else len("input")
    cells = max(5, *(len(c) for c in shown)) if shown else 5
    header = f"{'input':<{width}}  {'predicted':>9}  {'p':>5}  " + "  ".join(
        f"{c:>{cells}}" for c in shown
    )
    lines = [header.rstrip()]
    for name, row in zip(names, probabilities, strict=True):
        best = int(np.argmax(row))
        line = f"{name:<{width}}  {classes[best]:>9}  {row[best]:5.3f}  " + "  ".join(
            f"{p:{cells}.3f}" for p in row[: len(shown)]
        )
        lines.append(line.rstrip())
    return "\n".join(lines)


def cmd_init(args: argparse.Namespace) -> int:
    path = write_starter(starter_path(args.name))
    print(f"wrote {path}; train it with: mlpspec run {path}")
    return 0


def add_commands(
    sub: Any,
    common: argparse.ArgumentParser,
    registry_of: Callable[[argparse.Namespace], Registry],
) -> None:
    """Add plot, runs, evaluate, predict and init to the ``mlpspec`` parser."""
    p = sub.add_parser(
        "plot",
        parents=[common],
        help="draw a run's curves, mistakes and confusion matrix; compare runs; draw activations",
        description="One RUN_DIR: PNG files in it. Several: their curves overlaid, as "
        "compare-*.png in --out (default: their common parent folder). --activations: "
        "activations.png in --out (default: the current folder).",
    )
    p.add_argument("runs", nargs="*", metavar="RUN_DIR")
    p.add_argument(
        "--activations", nargs="+", metavar="NAME", help="draw these activations and derivatives"
    )
    p.add_argument("--out", metavar="DIR", help="where comparison and activation plots go")
    p.set_defaults(command=cmd_plot, registry_of=registry_of)

    p = sub.add_parser("runs", help="list past runs, newest first")
    p.add_argument("dir", nargs="?", default="runs", metavar="DIR", help="default: runs")
    p.add_argument(
        "--sort",
        choices=list(SORT_KEYS),
        default="date",
        help="date (newest first), name, dataset, epochs, val, test (best first), time",
    )
    p.add_argument("--reverse", action="store_true", help="reverse the order")
    p.add_argument("--json", action="store_true", help="one JSON object per run")
    p.set_defaults(command=cmd_runs)

    p = sub.add_parser(
        "evaluate", parents=[common], help="test a saved model again, on any of its splits"
    )
    p.add_argument("run", metavar="RUN_DIR")
    p.add_argument("--split", choices=SPLITS, default="test")
    p.add_argument(
        "--data-dir", action="append", default=[], metavar="DIR", help="look for data here first"
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(command=cmd_evaluate, registry_of=registry_of)

    p = sub.add_parser(
        "predict",
        parents=[common],
        help="class probabilities for rows of .npy/.npz/.csv files or for images",
        description="Values are raw (0-255 pixels for MNIST) and are preprocessed as the "
        "run's training data was. Images are read as greyscale, resized to the dataset's "
        "shape, and inverted (dark on light becomes light on dark, as in MNIST).",
    )
    p.add_argument("run", metavar="RUN_DIR")
    p.add_argument("inputs", nargs="+", metavar="INPUT")
    p.add_argument("--json", action="store_true", help="one JSON object per input row")
    p.add_argument("--no-invert", action="store_true", help="images are light on dark already")
    p.set_defaults(command=cmd_predict, registry_of=registry_of)

    p = sub.add_parser("init", help="write a commented starter spec")
    p.add_argument("name", nargs="?", metavar="NAME", help="writes NAME.toml (default spec.toml)")
    p.set_defaults(command=cmd_init)
