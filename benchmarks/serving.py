"""Serving speed: onnxruntime on an exported model against mlpspec's own prediction path.

For each spec (trained briefly on the real MNIST, then exported with ``mlpspec export``'s
code at the default opset), rows per second on the raw test images at batch 1 and batch
1000, four ways:

- onnxruntime, in process: ``session.run`` on raw float32 rows (preprocessing in the graph);
- mlpspec, in process: ``LoadedRun.predict_proba(LoadedRun.preprocess(rows))``, what
  ``mlpspec predict`` computes once it has read its inputs;
- each of the two as a new process per request, from a ``.npy`` file of raw rows to printed
  results: ``mlpspec predict RUN rows.npy --json`` against a Python script that loads the
  ONNX file into onnxruntime and prints each row's label and probabilities as JSON.

In-process figures are the median over ``--rounds`` rounds, the two paths alternating; each
round times 1,000 single-row calls and all 10,000 rows in batches of 1,000. The largest
difference between onnxruntime's probabilities and ``predict_proba``'s is printed too.

    python benchmarks/serving.py                          # both specs, 1 epoch each (~2 min)
    python benchmarks/serving.py --only dropout --rounds 5

Needs the onnx extra (``pip install -e '.[onnx]'``) and MNIST (``--data-dir``, default
../shared/data).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SPECS = {"dropout": ROOT / "specs" / "dropout.toml", "best_mlp": ROOT / "specs" / "best_mlp.toml"}
BATCHES = (1, 1000)
SINGLE_CALLS = 1000
"""Single-row calls per round at batch 1."""

ONNX_SCRIPT = """
import json, sys
import numpy as np
import onnxruntime
session = onnxruntime.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
rows = np.load(sys.argv[2])
rows = rows.reshape(len(rows), -1).astype(np.float32)
probabilities, labels = session.run(["probabilities", "label"], {"input": rows})
for label, row in zip(labels, probabilities):
    print(json.dumps({"predicted": int(label), "probabilities": row.tolist()}))
"""
"""The onnxruntime side of the new-process-per-request comparison: what a minimal serving
script does, without mlpspec."""


def rows_per_second(call: Callable[[np.ndarray], object], raw: np.ndarray, batch: int) -> float:
    """Rows per second of ``call`` on ``raw``: SINGLE_CALLS single rows, or every row in
    batches of ``batch``."""
    count = SINGLE_CALLS if batch == 1 else len(raw)
    started = time.perf_counter()
    for start in range(0, count, batch):
        call(raw[start : start + batch])
    return count / (time.perf_counter() - started)


def cold_rows_per_second(command: list[str], rows: int, rounds: int) -> float:
    """Rows per second of a whole process (start, load, predict, print), median of rounds."""
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return rows / statistics.median(times)


def benchmark(name: str, args: argparse.Namespace, work: Path) -> list[dict]:
    import onnxruntime

    import mlpspec
    from mlpspec.data.idx import read_idx
    from mlpspec.export.onnx import export_run

    registry = mlpspec.load_registry()
    spec = mlpspec.load_spec(SPECS[name], registry, {"train.epochs": args.epochs})
    started = time.perf_counter()
    result = mlpspec.run(spec, registry, data_dirs=[Path(args.data_dir)], out_dir=work)
    trained = time.perf_counter() - started
    loaded = mlpspec.load_run(result.run_dir, registry)
    model_path = result.run_dir / "model.onnx"
    export_run(loaded).save(model_path)

    images = read_idx(Path(args.data_dir) / "mnist" / "t10k-images-idx3-ubyte.gz")
    raw = images.reshape(len(images), -1).astype(np.float32)
    session = onnxruntime.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    probabilities, _ = session.run(None, {"input": raw})
    difference = float(np.max(np.abs(probabilities - loaded.predict_proba(loaded.preprocess(raw)))))
    print(
        f"{name}: trained {args.epochs} epoch(s) in {trained:.0f} s, test accuracy "
        f"{result.test_accuracy:.2%}; largest |onnxruntime - predict_proba| on the "
        f"{len(raw):,} raw test images: {difference:.2g}",
        flush=True,
    )

    paths: dict[str, Callable[[np.ndarray], object]] = {
        "onnxruntime, in process": lambda rows: session.run(None, {"input": rows}),
        "mlpspec predict_proba(preprocess), in process": lambda rows: loaded.predict_proba(
            loaded.preprocess(rows)
        ),
    }
    measured: dict[tuple[str, int], list[float]] = {}
    for batch in BATCHES:
        for call in paths.values():
            call(raw[:batch])  # warm-up: first-call allocations, lazy initialisation
        for _ in range(args.rounds):
            for path, call in paths.items():
                measured.setdefault((path, batch), []).append(rows_per_second(call, raw, batch))
    results = [
        {"spec": name, "path": path, "batch": batch, "rows_per_s": statistics.median(values)}
        for (path, batch), values in measured.items()
    ]

    mlpspec_cli = str(Path(sys.executable).with_name("mlpspec"))
    script = work / "serve_onnx.py"
    script.write_text(ONNX_SCRIPT)
    for batch in BATCHES:
        rows_file = work / f"rows{batch}.npy"
        np.save(rows_file, images[:batch])
        commands = {
            "onnxruntime, new process per request": [
                sys.executable, str(script), str(model_path), str(rows_file)
            ],
            "mlpspec predict --json, new process per request": [
                mlpspec_cli, "predict", str(result.run_dir), str(rows_file), "--json"
            ],
        }
        for path, command in commands.items():
            rate = cold_rows_per_second(command, batch, args.cli_rounds)
            results.append({"spec": name, "path": path, "batch": batch, "rows_per_s": rate})
    for row in results:
        row["max_difference"] = difference
    return results


def table(results: list[dict]) -> str:
    lines = ["| spec | path | batch 1 rows/s | batch 1000 rows/s |", "| --- | --- | ---: | ---: |"]
    rates: dict[tuple[str, str], dict[int, float]] = {}
    for r in results:
        rates.setdefault((r["spec"], r["path"]), {})[r["batch"]] = r["rows_per_s"]
    for (spec, path), by_batch in rates.items():
        cells = " | ".join(_rate(by_batch[batch]) for batch in BATCHES)
        lines.append(f"| `{spec}` | {path} | {cells} |")
    return "\n".join(lines)


def _rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.2g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", default=list(SPECS), choices=list(SPECS))
    parser.add_argument("--epochs", type=int, default=1, help="training epochs per spec")
    parser.add_argument("--rounds", type=int, default=5, help="in-process rounds per path")
    parser.add_argument("--cli-rounds", type=int, default=3, help="processes per measurement")
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = parser.parse_args()
    try:
        import onnxruntime
    except ImportError:
        raise SystemExit(
            "the serving benchmark needs the onnx extra: pip install -e '.[onnx]'"
        ) from None

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, numpy {np.__version__}, "
        f"onnxruntime {onnxruntime.__version__} (default threads); load average "
        f"{os.getloadavg()[0]:.1f} at the start\n",
        flush=True,
    )
    results = []
    with tempfile.TemporaryDirectory() as work:
        for name in args.only:
            results += benchmark(name, args, Path(work))
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end (other processes share the cores)")
    print(table(results))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "serving.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
