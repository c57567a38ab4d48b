"""The ``mlpspec`` command: run, validate, list, check, schema; and (from
``mlpspec.cli.commands``) plot, runs, evaluate, predict, init; (from ``mlpspec.cli.export``)
export.

Exit status: 0 on success, 2 for bad input (a spec, a name, a plugin), 1 for a run that
failed (or, for ``check``, a component that breaks its contract or a plugin not loaded),
128 + the signal's number (130, 143) for a run stopped by SIGINT or SIGTERM after writing
its checkpoint. Errors are printed as messages; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from mlpspec._version import __version__
from mlpspec.cli import check, diff, export, scaffold, sweep
from mlpspec.cli.commands import PlotsAtRunEnd, add_commands, run_folder, writable_folder
from mlpspec.cli.progress import (
    BOLD,
    ConsoleProgress,
    JsonProgress,
    paint,
    print_json,
    use_colour,
    warn,
)
from mlpspec.core.errors import (
    MlpspecError,
    Problem,
    SpecError,
    UsageError,
)
from mlpspec.core.hookspec import HOOK_API_VERSION
from mlpspec.core.kinds import BY_NAME, KINDS
from mlpspec.core.plugins import load_registry
from mlpspec.core.registry import Component, Registry
from mlpspec.core.shutdown import exit_process
from mlpspec.core.spec import load_spec, parse_toml
from mlpspec.core.text import printable
from mlpspec.engine.training import Callback
from mlpspec.run.runner import RunResult, resume, run

TRACK_ENV = "MLPSPEC_TRACK"


def entry() -> NoReturn:
    """The ``mlpspec`` command: :func:`main` on the command line, then its exit status."""
    exit_process(main())


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "command"):
        parser.print_help()
        return 2
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            warnings.showwarning = _show_warning
            return args.command(args)
    except MlpspecError as exc:
        _error(str(exc), args)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head`, say: not an error of ours
        sys.stderr.close()
        return 0
    except OSError as exc:  # the file system said no where no check of ours saw it coming
        where = f"{exc.filename}: " if exc.filename else ""
        _error(f"{where}{exc.strerror or exc} (--debug shows where)", args)
        return 1
    except Exception as exc:
        _error(f"internal error: {type(exc).__name__}: {exc} (--debug shows where)", args)
        return 1


def _show_warning(message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
    """Warnings as one line on stderr, like errors (``warning: ...``), with no source line."""
    warn(str(message))


def _error(message: str, args: argparse.Namespace) -> None:
    """An error on stderr; its text may quote files (a name from a run folder), so control
    characters are escaped (:func:`~mlpspec.core.text.printable`)."""
    if getattr(args, "debug", False):
        traceback.print_exc()
    print(f"error: {printable(message)}", file=sys.stderr)


def _blocked_plugin(value: str) -> str:
    """The NAME of ``-p no:NAME``; anything else is a usage error, never silently dropped (a
    pytest user may expect ``-p NAME`` to load a plugin, as pytest's does)."""
    name = value.removeprefix("no:")
    if name == value or not name:
        raise argparse.ArgumentTypeError(
            f"-p takes no:NAME, to leave the plugin NAME out, not {value!r}; to load a module "
            "as a plugin, use --plugin MODULE"
        )
    return name


def _registry(args: argparse.Namespace) -> Registry:
    registry = load_registry(args.plugins, args.block)
    for failure in registry.failures:
        warn(f"plugin {failure.plugin!r} was not loaded: {failure.reason}")
    for variable, name in registry.unknown_names:
        warn(f"{variable} names {name!r}, which is no installed plugin")
    return registry


def _overrides(pairs: Sequence[str]) -> dict[str, Any]:
    """``--set layers[0].units=256``: values are read as TOML, or else taken as text."""
    overrides = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise SpecError("--set", [Problem(pair, "expected KEY=VALUE, e.g. train.epochs=5")])
        try:
            parsed = parse_toml(f"value = {text}")
        except SpecError:
            parsed = {}
        # one TOML value, or else text: a value that smuggles in more keys is not split up
        overrides[key.strip()] = parsed["value"] if list(parsed) == ["value"] else text
    return overrides


def cmd_run(args: argparse.Namespace) -> int:
    if (args.spec is None) == (args.resume is None):
        args.usage_error("give a SPEC to run, or --resume RUN_DIR (not both)")
    if args.resume is not None and (args.set or args.no_save):
        args.usage_error(
            "a resumed run keeps its spec and its folder: --set and --no-save do not apply"
        )
    registry = _registry(args)
    progress: list[Callback] = (
        [JsonProgress()] if args.json else [] if args.quiet else [ConsoleProgress()]
    )
    plotter = None if args.no_plots else PlotsAtRunEnd()
    observers: list[tuple[str, object]] = [("plots", plotter)] if plotter else []
    observers += _trackers(registry, args.track)
    data_dirs = [Path(d) for d in args.data_dir]
    if args.resume is not None:
        result = resume(
            run_folder(Path(args.resume)),
            registry,
            data_dirs=data_dirs,
            callbacks=progress,
            observers=observers,
        )
    else:
        if not args.no_save:  # a file of that name, or no write permission: said at once
            writable_folder(Path(args.out), "--out")
        result = run(
            load_spec(args.spec, registry, _overrides(args.set)),
            registry,
            data_dirs=data_dirs,
            out_dir=None if args.no_save else Path(args.out),
            callbacks=progress,
            observers=observers,
        )
    plots = [] if plotter is None else plotter.written
    if args.json:
        print_json(_result_record(result, plots))
        return 0
    lines = []
    if result.test_accuracy is not None:
        lines.append(f"test accuracy {result.test_accuracy:.2%}, test loss {result.test_loss:.4f}")
    lines.append(f"{result.history.epochs_run} epochs in {result.seconds:.1f}s")
    if result.run_dir is not None:
        lines.append(f"saved to {result.run_dir}" + (f" with {len(plots)} plots" if plots else ""))
    print(paint("; ".join(lines), BOLD, use_colour(sys.stdout) and not args.quiet))
    for warning in result.record.warnings:
        warn(warning)
    return 0


def _trackers(registry: Registry, names: Sequence[str]) -> list[tuple[str, object]]:
    """The trackers ``--track`` (or ``$MLPSPEC_TRACK``, comma-separated) names, built."""
    chosen = list(names) or [n.strip() for n in os.environ.get(TRACK_ENV, "").split(",")]
    trackers = []
    for name in dict.fromkeys(n for n in chosen if n):
        component = registry.get("tracker", name)
        try:
            params = component.params()
        except ValueError as exc:
            raise UsageError(f"tracker {name!r} needs settings: {exc}") from None
        trackers.append((name, component.factory(params)))
    return trackers


def _result_record(result: RunResult, plots: Sequence[Path]) -> dict[str, Any]:
    """The last line of ``mlpspec run --json``: the run's record, and where it and its plots
    are."""
    return {
        "event": "result",
        **result.record.model_dump(mode="json"),
        "test_accuracy": result.test_accuracy,
        "test_loss": result.test_loss,
        "run_dir": None if result.run_dir is None else str(result.run_dir),
        "plots": [str(path) for path in plots],
    }


def cmd_validate(args: argparse.Namespace) -> int:
    registry = _registry(args)
    status = 0
    for path in args.specs:
        try:
            note = sweep.validate_file(path, registry, _overrides(args.set))
        except MlpspecError as exc:
            print(printable(str(exc)), file=sys.stderr)
            status = max(status, exc.exit_code)
        else:
            print(f"{path}: ok{note}")
    return status


def cmd_list(args: argparse.Namespace) -> int:
    registry = _registry(args)
    if args.list_plugins:
        return _list_plugins(registry)
    kinds = [args.kind] if args.kind else list(KINDS)
    for kind in kinds:
        print(f"{BY_NAME[kind].plural}:")
        for component in registry.components(kind):
            print(f"  {component.name:<24} {component.summary}")
            print(f"  {'':<24} from {component.provider.describe()}")
            for line in _params(component):
                print(f"  {'':<24}   {line}")
        print()
    return 0


def _list_plugins(registry: Registry) -> int:
    """The loaded plugins with their package and version, as ``pytest -VV`` lists its own."""
    print(f"mlpspec {__version__}, hook API {HOOK_API_VERSION}; plugins loaded:")
    for provider in registry.plugins:
        count = sum(c.provider == provider for c in registry.components())
        noun = "component" if count == 1 else "components"
        print(f"  {provider.plugin:<24} {provider.describe():<44} {count} {noun}")
    for name in registry.disabled:
        print(f"  {name:<24} disabled")
    for failure in registry.failures:
        print(f"  {failure.plugin:<24} failed: {failure.reason}")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from mlpspec.core.schema import spec_schema

    print(json.dumps(spec_schema(_registry(args)), indent=2, ensure_ascii=False))
    return 0


def _params(component: Component) -> list[str]:
    lines = []
    for name, field in component.params.model_fields.items():
        annotation = getattr(field.annotation, "__name__", None) or str(field.annotation)
        annotation = annotation.replace("typing.", "")
        if "ComponentConfig" in annotation:
            annotation = "component"
        if field.is_required():
            lines.append(f"{name}: {annotation} (required)")
        else:
            lines.append(f"{name}: {annotation} = {field.default!r}")
    return lines


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--plugin",
        dest="plugins",
        action="append",
        default=[],
        metavar="MODULE",
        help="also load this module as a plugin",
    )
    common.add_argument(
        "-p",
        dest="block",
        action="append",
        default=[],
        type=_blocked_plugin,
        metavar="no:NAME",
        help="do not load the plugin NAME (as pytest's -p no:NAME)",
    )
    common.add_argument("--debug", action="store_true", help="show tracebacks on errors")

    parser = argparse.ArgumentParser(
        prog="mlpspec", description="Build, train and test multi-layer perceptrons from TOML specs."
    )
    parser.add_argument("--version", action="version", version=f"mlpspec {__version__}")
    sub = parser.add_subparsers(title="commands")

    p = sub.add_parser("run", parents=[common], help="train and test the model a spec describes")
    p.add_argument("spec", nargs="?", help="the TOML spec")
    p.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue an interrupted run from its latest checkpoint, in its own folder",
    )
    p.add_argument(
        "--data-dir",
        action="append",
        default=[],
        metavar="DIR",
        help="look for data files here first (may be repeated)",
    )
    p.add_argument(
        "--out", default="runs", metavar="DIR", help="where run folders are created (default: runs)"
    )
    p.add_argument("--no-save", action="store_true", help="do not write a run folder")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a value of the spec, e.g. --set train.epochs=5",
    )
    output = p.add_mutually_exclusive_group()
    output.add_argument("-q", "--quiet", action="store_true", help="print only the final result")
    output.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object per evaluation and one for the result, for scripts",
    )
    p.add_argument("--no-plots", action="store_true", help="do not draw the run's plots at the end")
    p.add_argument(
        "--track",
        action="append",
        default=[],
        metavar="TRACKER",
        help=f"log the run with this tracker (may be repeated; default: ${TRACK_ENV}); "
        "mlpspec list tracker shows them",
    )
    p.set_defaults(command=cmd_run, usage_error=p.error)

    p = sub.add_parser("validate", parents=[common], help="check specs without training")
    p.add_argument("specs", nargs="+", metavar="SPEC")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a value of each spec first, as run does, e.g. --set train.epochs=5",
    )
    p.set_defaults(command=cmd_validate)

    p = sub.add_parser("list", parents=[common], help="list the installed components")
    p.add_argument("kind", nargs="?", choices=KINDS)
    p.add_argument(
        "--plugins",
        dest="list_plugins",
        action="store_true",
        help="list the loaded plugins, their packages and versions",
    )
    p.set_defaults(command=cmd_list)

    check.add_parser(sub, common, _registry)
    scaffold.add_parser(sub)

    p = sub.add_parser(
        "schema", parents=[common], help="print the JSON Schema of specs, for editors"
    )
    p.set_defaults(command=cmd_schema)
    add_commands(sub, common, _registry)
    diff.add_parser(sub, common, _registry)
    export.add_parser(sub, common, _registry)
    sweep.add_parser(sub, common, _registry)
    return parser


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
