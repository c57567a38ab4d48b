"""``mlpspec export RUN_DIR [-o FILE] [--opset N]``: a saved run as an ONNX model, for serving
with onnxruntime (or any ONNX runtime) without mlpspec. Needs the ``onnx`` extra; added to the
``mlpspec`` parser by :func:`add_parser`."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlpspec.cli.progress import warn
from mlpspec.core.registry import Registry
from mlpspec.export import DEFAULT_OPSET, ONNX_FILE, TESTED_OPSETS, missing_extra
from mlpspec.run.saved import load_run


def cmd_export(args: argparse.Namespace) -> int:
    try:
        from mlpspec.export.onnx import export_run
    except ImportError as exc:
        if exc.name != "onnx":
            raise
        raise missing_extra("onnx") from None
    loaded = load_run(args.run, args.registry_of(args))
    exported = export_run(loaded, args.opset)
    for warning in exported.warnings:
        warn(warning)
    path = Path(args.output) if args.output else loaded.path / ONNX_FILE
    exported.save(path)
    graph = exported.model.graph
    inputs = ", ".join(_describe(value) for value in graph.input)
    outputs = ", ".join(_describe(value) for value in graph.output)
    print(
        f"wrote {path} (opset {exported.opset}, IR version {exported.model.ir_version}): "
        f"{inputs} -> {outputs}"
    )
    return 0


def _describe(value: Any) -> str:
    """``input float32 [N, 784]``, from a graph input's or output's type."""
    from onnx import helper

    tensor = value.type.tensor_type
    dims = [d.dim_param or str(d.dim_value) for d in tensor.shape.dim]
    dtype = helper.tensor_dtype_to_np_dtype(tensor.elem_type)
    return f"{value.name} {dtype} [{', '.join(dims)}]"


def add_parser(
    sub: Any,
    common: argparse.ArgumentParser,
    registry_of: Callable[[argparse.Namespace], Registry],
) -> None:
    """Add ``export`` to the ``mlpspec`` parser."""
    p = sub.add_parser(
        "export",
        parents=[common],
        help="write a run's model as ONNX, raw inputs to probabilities and label (onnx extra)",
        description="The graph takes raw rows in the dataset's own units (0-255 pixels for "
        "MNIST) as 'input' [N, features], applies the run's preprocessing, and gives "
        "'probabilities' [N, classes] (as mlpspec predict) and 'label' [N] (int64). Each "
        "component exports itself; one that cannot is named, with its package.",
    )
    p.add_argument("run", metavar="RUN_DIR")
    p.add_argument(
        "-o", "--output", metavar="FILE", help="where to write (default: RUN_DIR/model.onnx)"
    )
    p.add_argument(
        "--opset",
        type=int,
        default=DEFAULT_OPSET,
        metavar="N",
        help=f"the ai.onnx opset (default {DEFAULT_OPSET}; "
        f"{TESTED_OPSETS[0]} to {TESTED_OPSETS[-1]} are tested)",
    )
    p.set_defaults(command=cmd_export, registry_of=registry_of)
