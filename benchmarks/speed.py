"""mlpspec against idiomatic PyTorch on the CPU, side by side, and against the machine.

For each workload (a spec), child processes train it in mlpspec and in PyTorch, alternating,
each timing whole training epochs (steps only: shuffling, batches, forward, backward, update;
no evaluation) after a warm-up epoch, and reporting its peak resident memory while training
(both hold the same float32 data, prepared by mlpspec). The compute
bound is the time the workload's own matrix multiplications take at their shapes (forward,
weight gradients, input gradients past the first layer), timed in a tight loop, times the
steps of an epoch. A scaling table shows where per-call overhead ends and arithmetic begins.

    python benchmarks/speed.py                      # everything (several minutes)
    python benchmarks/speed.py --only W2 W5 --rounds 3
    python benchmarks/speed.py --no-scaling

Needs PyTorch (`pip install torch==2.13.0`, a benchmark-only dependency) and MNIST
(`--data-dir`, default ../shared/data).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WORKLOADS = {
    "W1": ROOT / "specs" / "neuralnetmlp.toml",
    "W2": ROOT / "specs" / "glorot_early_stopping.toml",
    "W3": ROOT / "specs" / "dropout.toml",
    "W4": ROOT / "specs" / "two_layer_net.toml",
    "W5": ROOT / "benchmarks" / "w5_wide_relu.toml",
    "FB": ROOT / "specs" / "fullbatch_relu_l2.toml",
}
"""W1 is document 001's NeuralNetMLP (784-100 sigmoid-10, logistic loss summed, batch 100);
FB is the full-batch workload (one step per epoch over all 60,000 images)."""
THREADS = os.cpu_count() or 1


# --------------------------------------------------------------------------------------------
# What a child process runs


def load(spec_path: Path, data_dir: str, overrides: dict):
    """The spec and its data, prepared by mlpspec for both frameworks alike."""
    import mlpspec
    from mlpspec.run.builder import load_data

    registry = mlpspec.load_registry()
    spec = mlpspec.load_spec(spec_path, registry, overrides)
    return registry, spec, load_data(spec, registry, [Path(data_dir)])


def reset_peak_memory() -> None:
    """Start the kernel's high-water mark of resident memory afresh (Linux: clear_refs 5), so
    that the peak measured is that of training, not of reading and preparing the data."""
    Path("/proc/self/clear_refs").write_text("5")


def peak_memory_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_mlpspec(spec_path: Path, data_dir: str, epochs: int, overrides: dict) -> list[float]:
    from mlpspec.engine.training import Trainer
    from mlpspec.run.builder import SAMPLING_STREAM, build_model, build_optimizer, rng_for

    registry, spec, splits = load(spec_path, data_dir, overrides)
    model = build_model(spec, registry, splits.features, splits.classes)
    optimizer = build_optimizer(spec, registry)
    trainer = Trainer(
        model, optimizer, None, splits, spec.train, rng_for(spec.model.seed, SAMPLING_STREAM)
    )
    reset_peak_memory()
    times = []
    for _ in range(epochs + 1):  # the first is the warm-up
        started = time.perf_counter()
        trainer.train_epoch(0, 0)
        times.append(time.perf_counter() - started)
    return times[1:]


def torch_model(spec, features: int):
    """The spec's network in idiomatic PyTorch: nn.Sequential, its loss, torch.optim; and
    whether the loss takes one-hot targets."""
    import torch
    from torch import nn

    modules, width = [], features
    for layer in spec.layers:
        if layer.name == "dense":
            p = layer.params
            modules.append(nn.Linear(width, p.units))
            width = p.units
            activation = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "linear": None}[
                p.activation.name
            ]
            if activation:
                modules.append(activation())
            if p.dropout:
                # PyTorch has only inverted dropout; the classic form (dropout_scaling =
                # "inference") does the same work per step, so the timing twin is fair
                modules.append(nn.Dropout(p.dropout))
        else:
            raise ValueError(f"no PyTorch twin for layer {layer.name!r}")
    l2 = max((layer.params.l2 for layer in spec.layers), default=0.0)
    opt = spec.optimizer.params
    momentum = getattr(opt, "momentum", 0.0)
    model = nn.Sequential(*modules)
    optimizer = torch.optim.SGD(model.parameters(), lr=opt.lr, momentum=momentum, weight_decay=l2)
    reduction = spec.loss.params.reduction
    if spec.loss.name == "softmax_cross_entropy":
        return model, nn.CrossEntropyLoss(reduction=reduction), optimizer, False
    if spec.loss.name == "sigmoid_cross_entropy":  # on one-hot targets, as mlpspec's
        return model, nn.BCEWithLogitsLoss(reduction=reduction), optimizer, True
    raise ValueError(f"no PyTorch twin for loss {spec.loss.name!r}")


def time_torch(spec_path: Path, data_dir: str, epochs: int, overrides: dict) -> list[float]:
    import torch

    from mlpspec.engine.training import Plan

    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    _, spec, splits = load(spec_path, data_dir, overrides)
    x = torch.from_numpy(splits.x_train)
    model, loss_fn, optimizer, one_hot = torch_model(spec, splits.features)
    y = torch.from_numpy(splits.y_train)
    if one_hot:
        y = torch.nn.functional.one_hot(y, len(splits.classes)).to(x.dtype)
    model.train()
    reset_peak_memory()
    n = len(x)
    plan = Plan.of(spec.train, n)  # the same batches and steps as mlpspec's loop
    batch, steps = plan.batch_size, plan.steps_per_epoch
    times = []
    for _ in range(epochs + 1):
        started = time.perf_counter()
        if spec.train.sampling == "replacement":
            batches = (torch.randint(0, n, (batch,)) for _ in range(steps))
        elif spec.train.sampling == "shuffle":
            order = torch.randperm(n)
            batches = (order[i * batch : (i + 1) * batch] for i in range(steps))
        else:
            batches = (slice(i * batch, (i + 1) * batch) for i in range(steps))
        for rows in batches:
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[rows]), y[rows])
            loss.backward()
            optimizer.step()
        times.append(time.perf_counter() - started)
    return times[1:]


def gemm_bound(widths: list[int], batch: int, steps: int, repeats: int = 5) -> float:
    """Seconds per epoch that the step's matrix multiplications alone take, float32."""
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal((a, b), dtype=np.float32) for a, b in itertools.pairwise(widths)]
    inputs = [rng.standard_normal((batch, a), dtype=np.float32) for a in widths[:-1]]
    grads = [rng.standard_normal((batch, b), dtype=np.float32) for b in widths[1:]]
    outs = [np.empty((batch, w.shape[1]), np.float32) for w in weights]
    weight_grads = [np.empty_like(w) for w in weights]
    input_grads = [np.empty((batch, w.shape[0]), np.float32) for w in weights]

    def step() -> None:
        for i, w in enumerate(weights):
            np.matmul(inputs[i], w, out=outs[i])
            np.matmul(inputs[i].T, grads[i], out=weight_grads[i])
            if i:
                np.matmul(grads[i], w.T, out=input_grads[i])

    calls = max(
        1, min(200, int(2e9 / (batch * sum(a * b for a, b in itertools.pairwise(widths)) * 6)))
    )
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(calls):
            step()
        best = min(best, (time.perf_counter() - started) / calls)
    return best * steps


def child(args: argparse.Namespace) -> None:
    overrides = json.loads(args.overrides)
    timer = time_mlpspec if args.child == "mlpspec" else time_torch
    times = timer(Path(args.spec), args.data_dir, args.epochs, overrides)
    print(json.dumps({"times": times, "peak_mb": peak_memory_mb()}))


# --------------------------------------------------------------------------------------------
# The parent: alternate the frameworks, gather, print


def spawn(framework: str, spec: Path, args, epochs: int, overrides: dict | None = None) -> dict:
    command = [
        sys.executable,
        __file__,
        "--child",
        framework,
        "--spec",
        str(spec),
        "--epochs",
        str(epochs),
        "--data-dir",
        args.data_dir,
        "--overrides",
        json.dumps(overrides or {}),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{framework} child failed on {spec}:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def shapes(spec_path: Path, data_dir: str) -> tuple[list[int], int, int]:
    from mlpspec.engine.training import Plan

    _, spec, splits = load(spec_path, data_dir, {})
    widths = [splits.features] + [layer.params.units for layer in spec.layers]
    plan = Plan.of(spec.train, len(splits.x_train))
    return widths, plan.batch_size, plan.steps_per_epoch


def side_by_side(args) -> list[dict]:
    rows = []
    for name in args.only:
        spec = WORKLOADS[name]
        widths, batch, steps = shapes(spec, args.data_dir)
        times = {"mlpspec": [], "pytorch": []}
        peaks = {"mlpspec": 0.0, "pytorch": 0.0}
        for round_ in range(args.rounds):
            order = ["mlpspec", "pytorch"] if round_ % 2 == 0 else ["pytorch", "mlpspec"]
            for framework in order:
                result = spawn(framework, spec, args, args.epochs)
                times[framework] += result["times"]
                peaks[framework] = max(peaks[framework], result["peak_mb"])
        bound = gemm_bound(widths, batch, steps)
        row = {
            "workload": name,
            "spec": spec.name,
            "network": "-".join(map(str, widths)),
            "batch": batch,
            "steps": steps,
            "bound": bound,
        }
        for framework in times:
            row[framework] = {
                "median": statistics.median(times[framework]),
                "min": min(times[framework]),
                "max": max(times[framework]),
                "n": len(times[framework]),
                "peak_mb": peaks[framework],
            }
        rows.append(row)
        print_row(row, flush=True)
    return rows


HEADER = (
    "| workload | network, batch | mlpspec s/epoch (min–max) | PyTorch s/epoch (min–max) "
    "| ratio | GEMM bound s/epoch | mlpspec % of bound | peak MB mlpspec / PyTorch |"
)


def print_row(row: dict, flush: bool = False) -> None:
    m, t = row["mlpspec"], row["pytorch"]
    print(
        f"| {row['workload']} | {row['network']}, {row['batch']} "
        f"| {m['median']:.3f} ({m['min']:.3f}–{m['max']:.3f}) "
        f"| {t['median']:.3f} ({t['min']:.3f}–{t['max']:.3f}) "
        f"| {m['median'] / t['median']:.2f} | {row['bound']:.3f} "
        f"| {100 * row['bound'] / m['median']:.0f} % | {m['peak_mb']:.0f} / {t['peak_mb']:.0f} |",
        flush=flush,
    )


def scaling(args) -> list[dict]:
    """Seconds per epoch of 784-H relu-10, batch B, as B and H grow, in both frameworks."""
    rows = []
    spec = WORKLOADS["W5"]
    for batch, width in [(b, 256) for b in (32, 64, 128, 256, 512, 1024)] + [
        (128, w) for w in (64, 128, 512, 1024, 2048)
    ]:
        overrides = {
            "train.batch_size": batch,
            "layers": [
                {"type": "dense", "units": width, "activation": "relu", "init": "he"},
                {"type": "dense", "units": 10},
            ],
        }
        result = {f: spawn(f, spec, args, 1, overrides)["times"][0] for f in ("mlpspec", "pytorch")}
        steps = -(-60000 // batch)
        bound = gemm_bound([784, width, 10], batch, steps)
        rows.append({"batch": batch, "width": width, **result, "bound": bound})
        print(
            f"| {batch} | {width} | {result['mlpspec']:.3f} | {result['pytorch']:.3f} "
            f"| {result['mlpspec'] / result['pytorch']:.2f} | {bound:.3f} "
            f"| {100 * bound / result['mlpspec']:.0f} % |",
            flush=True,
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS))
    parser.add_argument("--rounds", type=int, default=2, help="alternations of the two frameworks")
    parser.add_argument(
        "--epochs", type=int, default=2, help="timed epochs per child, after a warm-up"
    )
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--no-scaling", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--child", choices=["mlpspec", "pytorch"], help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    parser.add_argument("--overrides", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    try:
        import torch
    except ImportError:
        raise SystemExit(
            "the speed benchmark compares with PyTorch: pip install torch==2.13.0 "
            "(a benchmark-only dependency)"
        ) from None

    print(
        f"machine: {platform.processor() or platform.machine()}, {THREADS} cores, "
        f"Python {platform.python_version()}, numpy {np.__version__}, torch {torch.__version__}"
    )
    print(f"{args.rounds} rounds x {args.epochs} timed epochs per framework, after a warm-up\n")
    print(HEADER)
    print("|" + " --- |" * 8)
    rows = side_by_side(args)
    scale_rows = []
    if not args.no_scaling:
        print(
            "\n| batch | hidden | mlpspec s/epoch | PyTorch s/epoch | ratio | GEMM bound "
            "| % of bound |"
        )
        print("|" + " --- |" * 7)
        scale_rows = scaling(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "speed.json").write_text(
        json.dumps({"workloads": rows, "scaling": scale_rows}, indent=2)
    )


if __name__ == "__main__":
    main()
