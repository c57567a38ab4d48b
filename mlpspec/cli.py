"""The ``mlpspec`` command: run, validate, list.

Exit status: 0 on success, 2 for bad input (a spec, a name, a plugin), 1 for a run that
failed, 128 + the signal's number (130, 143) for a run stopped by SIGINT or SIGTERM after
writing its checkpoint. Errors are printed as messages; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic_core import PydanticUndefined

from mlpspec import __version__
from mlpspec.errors import MlpspecError, SpecError
from mlpspec.hookspec import KIND_HOOKS, KINDS
from mlpspec.plugins import load_registry
from mlpspec.progress import ConsoleReporter
from mlpspec.registry import Component, Registry
from mlpspec.runner import resume, run
from mlpspec.spec import load_spec, parse_toml


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "command"):
        parser.print_help()
        return 2
    try:
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
    except Exception as exc:
        _error(f"internal error: {type(exc).__name__}: {exc} (--debug shows where)", args)
        return 1


def _error(message: str, args: argparse.Namespace) -> None:
    if getattr(args, "debug", False):
        traceback.print_exc()
    print(f"error: {message}", file=sys.stderr)


def _registry(args: argparse.Namespace) -> Registry:
    blocked = [p.removeprefix("no:") for p in args.block if p.startswith("no:")]
    registry = load_registry(args.plugins, blocked)
    for failure in registry.failures:
        print(
            f"warning: plugin {failure.plugin!r} was not loaded: {failure.reason}", file=sys.stderr
        )
    return registry


def _overrides(pairs: Sequence[str]) -> dict[str, Any]:
    """``--set layers[0].units=256``: values are read as TOML, or else taken as text."""
    overrides = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise SpecError("--set", [_problem(pair, "expected KEY=VALUE, e.g. train.epochs=5")])
        try:
            value = parse_toml(f"value = {text}")["value"]
        except SpecError:
            value = text
        overrides[key.strip()] = value
    return overrides


def _problem(where: str, message: str):
    from mlpspec.errors import Problem

    return Problem(where, message)


def cmd_run(args: argparse.Namespace) -> int:
    if (args.spec is None) == (args.resume is None):
        args.usage_error("give a SPEC to run, or --resume RUN_DIR (not both)")
    if args.resume is not None and (args.set or args.no_save):
        args.usage_error(
            "a resumed run keeps its spec and its folder: --set and --no-save do not apply"
        )
    registry = _registry(args)
    reporter = ConsoleReporter(out=open_devnull() if args.quiet else None)
    data_dirs = [Path(d) for d in args.data_dir]
    if args.resume is not None:
        result = resume(args.resume, registry, data_dirs=data_dirs, reporter=reporter)
    else:
        result = run(
            load_spec(args.spec, registry, _overrides(args.set)),
            registry,
            data_dirs=data_dirs,
            out_dir=None if args.no_save else Path(args.out),
            reporter=reporter,
        )
    lines = []
    if result.test_accuracy is not None:
        lines.append(f"test accuracy {result.test_accuracy:.2%}, test loss {result.test_loss:.4f}")
    lines.append(f"{result.history.epochs_run} epochs in {result.seconds:.1f}s")
    if result.run_dir is not None:
        lines.append(f"saved to {result.run_dir}")
    print("; ".join(lines))
    return 0


def open_devnull():
    import os

    return open(os.devnull, "w")


def cmd_validate(args: argparse.Namespace) -> int:
    registry = _registry(args)
    status = 0
    for path in args.specs:
        try:
            load_spec(path, registry)
        except MlpspecError as exc:
            print(exc, file=sys.stderr)
            status = max(status, exc.exit_code)
        else:
            print(f"{path}: ok")
    return status


def cmd_list(args: argparse.Namespace) -> int:
    registry = _registry(args)
    kinds = [args.kind] if args.kind else list(KINDS)
    for kind in kinds:
        print(f"{KIND_HOOKS[kind].removeprefix('mlpspec_register_')}:")
        for component in registry.components(kind):
            print(f"  {component.name:<24} {component.summary}")
            print(f"  {'':<24} from {component.provider.describe()}")
            for line in _params(component):
                print(f"  {'':<24}   {line}")
        print()
    return 0


def _params(component: Component) -> list[str]:
    lines = []
    for name, field in component.params.model_fields.items():
        annotation = getattr(field.annotation, "__name__", None) or str(field.annotation)
        annotation = annotation.replace("typing.", "")
        if "ComponentConfig" in annotation:
            annotation = "component"
        if field.default is PydanticUndefined and field.default_factory is None:
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
    p.add_argument("-q", "--quiet", action="store_true", help="print only the final result")
    p.set_defaults(command=cmd_run, usage_error=p.error)

    p = sub.add_parser("validate", parents=[common], help="check specs without training")
    p.add_argument("specs", nargs="+", metavar="SPEC")
    p.set_defaults(command=cmd_validate)

    p = sub.add_parser("list", parents=[common], help="list the installed components")
    p.add_argument("kind", nargs="?", choices=KINDS)
    p.set_defaults(command=cmd_list)
    return parser


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
