"""mlpspec against idiomatic PyTorch and a textbook numpy loop on the CPU, side by side, and
against the machine's matrix multiplications.

For each workload (a spec), child processes train it in each of three systems, interleaved
round by round (the order rotates each round): PyTorch (`nn.Sequential`, `torch.optim.SGD`),
a plain numpy float32 loop written the textbook way (`benchmarks/textbook.py`), and mlpspec's
own `Trainer.train_epoch`. Each child times whole training epochs after a warm-up epoch (steps
only: batches, forward, backward, update; no evaluation), reports the peak resident memory
while training (all hold the same float32 data, prepared by mlpspec), then times its matrix
library alone at the workload's shapes (forward, weight gradients, input gradients past the
first layer: numpy's BLAS in the numpy children, PyTorch's in PyTorch's) and one evaluation of
the training and validation sets. Ratios to PyTorch are taken per round, where the systems ran
a minute apart, and their median reported: on a shared machine the rounds' conditions differ
more than the systems do.

The GEMM bound of a step is the faster of numpy's and PyTorch's matrix multiplications at the
step's shapes; "outside GEMM" is the share of mlpspec's step not spent in numpy's own
multiplications. A scaling table shows where per-call overhead ends and arithmetic begins.
Last, each workload trains in mlpspec and the textbook loop in one process, whole epochs
alternated (`--duel-rounds`): the finer measure of "never slower than the textbook loop",
since both meet the same conditions within a round.

    python benchmarks/speed.py                      # everything (about 15 minutes)
    python benchmarks/speed.py --only W2 W5 --rounds 3
    python benchmarks/speed.py --no-scaling

Needs PyTorch (`pip install torch==2.13.0`, a benchmark-only dependency) and MNIST
(`--data-dir`, default ../shared/data).
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
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
FAST = importlib.util.find_spec("numba") is not None
SYSTEMS = ("pytorch", "textbook", "mlpspec") + (("mlpspec-numba",) if FAST else ())
"""mlpspec runs with numpy alone (MLPSPEC_NUMBA=0); where numba is installed (the ``fast``
extra), also with its compiled kernels, as a fourth system."""
THREADS = os.cpu_count() or 1


# --------------------------------------------------------------------------------------------
# What a child process runs


@dataclass
class ChildResult:
    """What one child measured: µs per step of each timed epoch, its peak memory while
    training, its matrix library's time at the step's shapes, one evaluation, and loading."""

    step_us: list[float]
    peak_mb: float
    gemm_us: float
    eval_s: float
    load_s: float
    load_avg: float
    """The machine's one-minute load average when the child finished (others' work too)."""


@dataclass
class System:
    """A workload built in one system: train one epoch; evaluate the training (and validation)
    sets; time the system's matrix library at the workload's shapes."""

    epoch: Callable[[], None]
    evaluate: Callable[[], None]
    gemm_us: Callable[[list[int], int], float]


def load(spec_path: Path, data_dir: str, overrides: dict):
    """The spec and its data, prepared by mlpspec for every system alike."""
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


def numpy_gemm_us(widths: list[int], batch: int, repeats: int = 7) -> float:
    """µs per step that numpy's matrix multiplications at the step's shapes take alone."""
    rng = np.random.default_rng(0)
    pairs = list(itertools.pairwise(widths))
    weights = [rng.standard_normal((a, b), dtype=np.float32) for a, b in pairs]
    inputs = [rng.standard_normal((batch, a), dtype=np.float32) for a, _ in pairs]
    grads = [rng.standard_normal((batch, b), dtype=np.float32) for _, b in pairs]
    outs = [np.empty((batch, b), np.float32) for _, b in pairs]
    weight_grads = [np.empty_like(w) for w in weights]
    input_grads = [np.empty((batch, a), np.float32) for a, _ in pairs]

    def step() -> None:
        for i, w in enumerate(weights):
            np.matmul(inputs[i], w, out=outs[i])
            np.matmul(inputs[i].T, grads[i], out=weight_grads[i])
            if i:
                np.matmul(grads[i], w.T, out=input_grads[i])

    return _best_us(step, widths, batch, repeats)


def torch_gemm_us(widths: list[int], batch: int, repeats: int = 7) -> float:
    """The same as :func:`numpy_gemm_us`, in PyTorch's matrix library."""
    import torch

    gen = torch.Generator().manual_seed(0)
    pairs = list(itertools.pairwise(widths))
    weights = [torch.randn(a, b, generator=gen) for a, b in pairs]
    inputs = [torch.randn(batch, a, generator=gen) for a, _ in pairs]
    grads = [torch.randn(batch, b, generator=gen) for _, b in pairs]
    outs = [torch.empty(batch, b) for _, b in pairs]
    weight_grads = [torch.empty_like(w) for w in weights]
    input_grads = [torch.empty(batch, a) for a, _ in pairs]

    def step() -> None:
        for i, w in enumerate(weights):
            torch.mm(inputs[i], w, out=outs[i])
            torch.mm(inputs[i].T, grads[i], out=weight_grads[i])
            if i:
                torch.mm(grads[i], w.T, out=input_grads[i])

    with torch.no_grad():
        return _best_us(step, widths, batch, repeats)


def _best_us(step: Callable[[], None], widths: list[int], batch: int, repeats: int) -> float:
    """The fastest of ``repeats`` timings of a loop of ``step`` (about 0.1 s each), in µs."""
    flops = 6 * batch * sum(a * b for a, b in itertools.pairwise(widths))
    calls = max(3, min(300, int(1e10 / flops)))
    step()
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(calls):
            step()
        best = min(best, (time.perf_counter() - started) / calls)
    return best * 1e6


def build_mlpspec(spec, registry, splits) -> System:
    from mlpspec.run.builder import Builder
    from mlpspec.run.runner import _trainer

    trainer = _trainer(Builder(spec, registry), splits)
    return System(
        lambda: trainer.train_epoch(0, 0), lambda: trainer.evaluate(0, 0, 0.0, 0.0), numpy_gemm_us
    )


def build_textbook(spec, registry, splits) -> System:
    """The textbook loop, from mlpspec's initial weights and generators (the same network)."""
    import textbook

    network, epoch = textbook.twin(spec, registry, splits)

    def evaluate() -> None:
        network.evaluate(splits.x_train, splits.y_train)
        if splits.x_val is not None:
            network.evaluate(splits.x_val, splits.y_val)

    return System(epoch, evaluate, numpy_gemm_us)


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


def build_pytorch(spec, registry, splits) -> System:
    import torch

    from mlpspec.run.builder import Builder

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", THREADS)))
    torch.manual_seed(0)
    x = torch.from_numpy(splits.x_train)
    model, loss_fn, optimizer, one_hot = torch_model(spec, splits.features)
    y = torch.from_numpy(splits.y_train)
    if one_hot:
        y = torch.nn.functional.one_hot(y, len(splits.classes)).to(x.dtype)
    n = len(x)
    plan = Builder(spec, registry).plan(n)  # the same batches and steps as mlpspec's loop
    batch, steps = plan.batch_size, plan.steps_per_epoch

    def epoch() -> None:
        model.train()
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

    def evaluate() -> None:
        model.eval()
        sets = [(splits.x_train, splits.y_train)]
        if splits.x_val is not None:
            sets.append((splits.x_val, splits.y_val))
        with torch.no_grad():
            for features, labels in sets:
                for start in range(0, len(features), 8192):
                    rows = torch.from_numpy(features[start : start + 8192])
                    truth = torch.from_numpy(labels[start : start + 8192])
                    output = model(rows)
                    target = truth
                    if one_hot:
                        target = torch.nn.functional.one_hot(truth, len(splits.classes))
                        target = target.to(output.dtype)
                    loss_fn(output, target).item()
                    int((output.argmax(1) == truth).sum())

    return System(epoch, evaluate, torch_gemm_us)


BUILDERS = {
    "mlpspec": build_mlpspec,
    "mlpspec-numba": build_mlpspec,
    "textbook": build_textbook,
    "pytorch": build_pytorch,
}


def child(args: argparse.Namespace) -> None:
    from mlpspec.run.builder import Builder

    started = time.perf_counter()
    registry, spec, splits = load(Path(args.spec), args.data_dir, json.loads(args.overrides))
    load_s = time.perf_counter() - started
    system = BUILDERS[args.child](spec, registry, splits)
    plan = Builder(spec, registry).plan(len(splits.x_train))
    widths = [splits.features] + [layer.params.units for layer in spec.layers]
    reset_peak_memory()
    step_us = []
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for _ in range(args.epochs + 1):  # the first is the warm-up
            started = time.perf_counter()
            system.epoch()
            step_us.append((time.perf_counter() - started) / plan.steps_per_epoch * 1e6)
        peak_mb = peak_memory_mb()
        started = time.perf_counter()
        system.evaluate()
        eval_s = time.perf_counter() - started
    gemm = system.gemm_us(widths, plan.batch_size)
    result = ChildResult(step_us[1:], peak_mb, gemm, eval_s, load_s, os.getloadavg()[0])
    print(json.dumps(asdict(result)))


def duel_child(args: argparse.Namespace) -> None:
    """mlpspec (numpy alone) and the textbook loop built in one process, whole epochs
    alternated (who goes first alternating too); prints each round's mlpspec ÷ textbook.

    Across child processes, the machine's drift between two children a minute apart is as
    large as the difference between the systems; here both meet the same conditions within
    a round, and two identical systems measured within 1.2–1.5 % of each other."""
    registry, spec, splits = load(Path(args.spec), args.data_dir, json.loads(args.overrides))
    ours = build_mlpspec(spec, registry, splits)
    textbook = build_textbook(spec, registry, splits)
    ratios = []
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        ours.epoch()  # warm-ups
        textbook.epoch()
        for round_ in range(args.rounds):
            seconds = {}
            order = [("mlpspec", ours), ("textbook", textbook)]
            for name, system in order if round_ % 2 == 0 else order[::-1]:
                started = time.perf_counter()
                system.epoch()
                seconds[name] = time.perf_counter() - started
            ratios.append(seconds["mlpspec"] / seconds["textbook"])  # the same steps each
    print(json.dumps(ratios))


# --------------------------------------------------------------------------------------------
# The parent: interleave the systems, gather, print


def spawn(system: str, spec: Path, args, epochs: int, overrides: dict | None = None) -> ChildResult:
    options = ("--epochs", str(epochs), "--overrides", json.dumps(overrides or {}))
    return ChildResult(**json.loads(child_output(args, system, spec, *options)))


def child_output(args, child: str, spec: Path, *options: str) -> str:
    """Run a child (a system, or the duel) on ``spec`` with ``args``' data and threads; the
    last line it printed."""
    command = [
        sys.executable, __file__, "--child", child, "--spec", str(spec),
        "--data-dir", args.data_dir, *options,
    ]  # fmt: skip
    env = dict(os.environ, MLPSPEC_NUMBA="1" if child == "mlpspec-numba" else "0")
    if args.threads:
        # every system's threads: numpy's BLAS, mlpspec's pool, PyTorch's OpenMP and MKL
        for name in ("OPENBLAS_NUM_THREADS", "MLPSPEC_THREADS", "OMP_NUM_THREADS"):
            env[name] = str(args.threads)
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if done.returncode:
        raise SystemExit(f"{child} child failed on {spec}:\n{done.stderr}")
    return done.stdout.strip().splitlines()[-1]


def shapes(spec_path: Path, data_dir: str) -> tuple[list[int], int, int]:
    """The workload's layer widths, batch size and steps per epoch."""
    from mlpspec.run.builder import Builder

    registry, spec, splits = load(spec_path, data_dir, {})
    widths = [splits.features] + [layer.params.units for layer in spec.layers]
    plan = Builder(spec, registry).plan(len(splits.x_train))
    return widths, plan.batch_size, plan.steps_per_epoch


def rounds(spec: Path, args, n: int, epochs: int, overrides: dict | None = None) -> list[dict]:
    """``n`` rounds of every system, the order rotating each round; one dict of results a round."""
    out = []
    for round_ in range(n):
        order = SYSTEMS[round_ % len(SYSTEMS) :] + SYSTEMS[: round_ % len(SYSTEMS)]
        out.append({system: spawn(system, spec, args, epochs, overrides) for system in order})
    return out


@dataclass
class Row:
    """A workload's results over the rounds: medians of µs per step and of per-round ratios."""

    workload: str
    network: str
    batch: int
    step_us: dict[str, float]
    ratio: dict[str, tuple[float, float, float]]
    """system / PyTorch per round: median, min, max."""
    over_textbook: dict[str, float]
    """mlpspec (and mlpspec-numba) / textbook: median of the per-round ratios."""
    numpy_gemm_us: float
    torch_gemm_us: float
    peak_mb: dict[str, float]
    eval_s: dict[str, float]
    load_s: float
    load_avg: tuple[float, float]
    """The machine's load average over the rounds, lowest and highest."""

    @property
    def bound_us(self) -> float:
        return min(self.numpy_gemm_us, self.torch_gemm_us)

    def of_bound(self, system: str) -> float:
        """The GEMM bound as a share of the system's step."""
        return self.bound_us / self.step_us[system]

    def outside_gemm(self, system: str) -> float:
        """The share of the system's step spent outside numpy's own multiplications."""
        return max(0.0, 1 - self.numpy_gemm_us / self.step_us[system])


def summarize(workload: str, widths: list[int], batch: int, results: list[dict]) -> Row:
    def median(values) -> float:
        return statistics.median(values)

    def per_round(system: str) -> list[float]:
        return [median(r[system].step_us) for r in results]

    def ratios(system: str, to: str = "pytorch") -> list[float]:
        return [a / b for a, b in zip(per_round(system), per_round(to), strict=True)]

    numpy_gemm = [r[s].gemm_us for r in results for s in SYSTEMS if s != "pytorch"]
    return Row(
        workload=workload,
        network="-".join(map(str, widths)),
        batch=batch,
        step_us={s: median(per_round(s)) for s in SYSTEMS},
        ratio={s: (median(ratios(s)), min(ratios(s)), max(ratios(s))) for s in SYSTEMS},
        over_textbook={s: median(ratios(s, "textbook")) for s in SYSTEMS if "mlpspec" in s},
        numpy_gemm_us=median(numpy_gemm),
        torch_gemm_us=median(r["pytorch"].gemm_us for r in results),
        peak_mb={s: max(r[s].peak_mb for r in results) for s in SYSTEMS},
        eval_s={s: median(r[s].eval_s for r in results) for s in SYSTEMS},
        load_s=median(r[s].load_s for r in results for s in SYSTEMS),
        load_avg=(
            min(r[s].load_avg for r in results for s in SYSTEMS),
            max(r[s].load_avg for r in results for s in SYSTEMS),
        ),
    )


OURS = [s for s in SYSTEMS if s.startswith("mlpspec")]


def header() -> str:
    ours = " / ".join(OURS)
    return (
        "| workload | network, batch | PyTorch µs/step | textbook µs/step (× PyTorch) | "
        + " | ".join(f"{s} µs/step (× PyTorch, min–max)" for s in OURS)
        + f" | {ours} ÷ textbook | GEMM µs numpy / PyTorch | bound % of {ours} "
        f"| outside GEMM {ours} | peak MB PyTorch / textbook / {ours} |"
    )


def format_row(row: Row) -> str:
    us, ratio = row.step_us, row.ratio
    ours = "".join(
        f"| {us[s]:.0f} ({ratio[s][0]:.2f}×, {ratio[s][1]:.2f}–{ratio[s][2]:.2f}) " for s in OURS
    )
    return (
        f"| {row.workload} | {row.network}, {row.batch} | {us['pytorch']:.0f} "
        f"| {us['textbook']:.0f} ({ratio['textbook'][0]:.2f}×) {ours}"
        f"| {' / '.join(f'{row.over_textbook[s]:.2f}' for s in OURS)} "
        f"| {row.numpy_gemm_us:.0f} / {row.torch_gemm_us:.0f} "
        f"| {' / '.join(f'{100 * row.of_bound(s):.0f} %' for s in OURS)} "
        f"| {' / '.join(f'{100 * row.outside_gemm(s):.0f} %' for s in OURS)} "
        f"| {' / '.join(f'{row.peak_mb[s]:.0f}' for s in SYSTEMS)} |"
    )


WALL_HEADER = (
    "| workload | loading MNIST s | mlpspec epoch s | evaluation s PyTorch / textbook / mlpspec "
    "| machine load average |"
)


def format_wall(row: Row, steps: int) -> str:
    e = row.eval_s
    return (
        f"| {row.workload} | {row.load_s:.2f} | {row.step_us['mlpspec'] * steps / 1e6:.2f} "
        f"| {e['pytorch']:.2f} / {e['textbook']:.2f} / {e['mlpspec']:.2f} "
        f"| {row.load_avg[0]:.1f}–{row.load_avg[1]:.1f} |"
    )


def side_by_side(args) -> list[tuple[Row, int]]:
    rows = []
    for name in args.only:
        spec = WORKLOADS[name]
        widths, batch, steps = shapes(spec, args.data_dir)
        row = summarize(name, widths, batch, rounds(spec, args, args.rounds, args.epochs))
        rows.append((row, steps))
        print(format_row(row), flush=True)
    return rows


def duels(args) -> dict[str, list[float]]:
    """mlpspec ÷ textbook per round, each workload in one process (:func:`duel_child`)."""
    print(
        f"\n| workload | mlpspec ÷ textbook in one process, {args.duel_rounds} rounds: median "
        "(min–max) | rounds mlpspec was faster |"
    )
    print("|" + " --- |" * 3)
    found = {}
    for name in args.only:
        output = child_output(args, "duel", WORKLOADS[name], "--rounds", str(args.duel_rounds))
        ratios = found[name] = json.loads(output)
        faster = sum(r < 1 for r in ratios)
        print(
            f"| {name} | {statistics.median(ratios):.3f} ({min(ratios):.2f}–{max(ratios):.2f}) "
            f"| {faster} of {len(ratios)} |",
            flush=True,
        )
    return found


def scaling(args) -> list[Row]:
    """784-H relu-10, batch B, as B and H grow, in every system (one round, one epoch)."""
    rows = []
    spec = WORKLOADS["W5"]
    print(
        "\n| batch | hidden | PyTorch µs/step | textbook µs/step | "
        + " | ".join(f"{s} µs/step (× PyTorch, ÷ textbook)" for s in OURS)
        + " | GEMM bound µs |"
    )
    print("|" + " --- |" * (5 + len(OURS)))
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
        results = rounds(spec, args, 1, 1, overrides)
        row = summarize(f"{batch}x{width}", [784, width, 10], batch, results)
        rows.append(row)
        us = row.step_us
        ours = " | ".join(
            f"{us[s]:.0f} ({row.ratio[s][0]:.2f}×, {row.over_textbook[s]:.2f})" for s in OURS
        )
        print(
            f"| {batch} | {width} | {us['pytorch']:.0f} | {us['textbook']:.0f} | {ours} "
            f"| {row.bound_us:.0f} |",
            flush=True,
        )
    return rows


def blas_kernel() -> str:
    """numpy's BLAS and the kernel it runs (OPENBLAS_CORETYPE can change it)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    return ", ".join(
        f"{i['internal_api']} {i.get('version')} {i.get('architecture')} ×{i['num_threads']}"
        for i in blas
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS))
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the three systems")
    parser.add_argument(
        "--epochs", type=int, default=1, help="timed epochs per child, after a warm-up"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="threads for every system (default: the machine's cores); 1 is far steadier "
        "on a machine shared with other work",
    )
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--no-scaling", action="store_true")
    parser.add_argument(
        "--duel-rounds",
        type=int,
        default=12,
        help="rounds of mlpspec against the textbook loop in one process (0: none)",
    )
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--child", choices=(*SYSTEMS, "duel"), help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    parser.add_argument("--overrides", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, str(Path(__file__).parent))
        duel_child(args) if args.child == "duel" else child(args)
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
        f"Python {platform.python_version()}, numpy {np.__version__} ({blas_kernel()}), "
        f"torch {torch.__version__}"
    )
    print(
        f"{args.rounds} rounds x {args.epochs} timed epochs per system, after a warm-up; "
        f"{args.threads or THREADS} threads per system\n"
    )
    print(header())
    print("|" + " --- |" * (9 + len(OURS)))
    rows = side_by_side(args)
    print("\n" + WALL_HEADER)
    print("|" + " --- |" * 5)
    for row, steps in rows:
        print(format_wall(row, steps))
    one_process = duels(args) if args.duel_rounds else {}
    scale_rows = [] if args.no_scaling else scaling(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "speed.json").write_text(
        json.dumps(
            {
                "workloads": [asdict(row) for row, _ in rows],
                "scaling": [asdict(row) for row in scale_rows],
                "mlpspec_over_textbook_in_one_process": one_process,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
