"""Sweeps side by side: the same 16 trials on 1 and 2 local workers and on a 2-worker Dask
cluster, against plain ``mlpspec run`` of one trial's spec.

The Dask workers are started as the README starts them, with Dask's worker profiler off (it
samples the running task's stack every 10 ms, taking the GIL from the trial); the
``dask2-profiler`` configuration starts them with Dask's defaults, to show what that costs.

Each trial trains a small MNIST spec (784-64 ReLU-10 on the first 12,000 training images, 10
epochs: about one second on a quiet core, two on a busy one; ``--epochs`` makes them longer);
the sweep's random sampler draws the same 16 learning rates and momenta in every
configuration, so every configuration does the same work. A sweep also has fixed costs
(starting Python, the workers, the study; the plots at the end): shown apart as the wall time
of a sweep of one trial, they weigh on the speedup less the longer the trials. Every
configuration runs the command line in a process of its own, as a user would, and is timed
from start to exit.

- wall: seconds from ``mlpspec sweep`` starting to its exit (the Dask cluster already up;
  its start is shown apart);
- trials/min: trials over wall minutes;
- speedup: the 1-worker wall of the same round over this one (with ``--rounds``, the
  configurations run round after round, and each round is compared with itself: this VM's
  speed drifts by a third from one minute to the next); efficiency: speedup over the
  workers (the target is a speedup of 1.7 or more with 2 workers on 2 cores);
- trial s: the mean of the trials' own run time (``seconds`` of their records);
- steady speedup: the speedup trials alone would give (workers x the 1-worker trial s over
  this trial s), with no fixed costs and no worker idle at the end: what a long sweep tends to;
- not in trials s: wall minus the trials' time per worker (the fixed costs, and the end of
  the sweep, where one worker finishes its last trial while the other has none left);
- overhead/trial: what a trial cost a worker beyond a plain ``mlpspec run`` of its spec
  (process start, imports, data, training, saving), that is wall x workers / trials minus the
  plain run's wall (the target is under 1 s; below zero, a sweep trial is cheaper than a plain
  run, since a worker starts Python and loads plugins once). The plain run is timed with one
  thread for BLAS and mlpspec's pool, as the workers run; its time with the default threads is
  shown too.

    python benchmarks/sweep.py                     # ../shared/data/mnist, everything
    python benchmarks/sweep.py --rounds 3          # three rounds, speedups per round
    python benchmarks/sweep.py --only local1 local2 --trials 8

Needs the dask extra (``pip install -e '.[dask,plot]'``) and MNIST (``--data-dir``).
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
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CONFIGURATIONS = ("local1", "local2", "dask2", "dask2-profiler")
NO_PROFILER = {"DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False"}
"""How the README starts Dask workers for sweeps; ``dask2-profiler`` keeps Dask's default."""

SPEC = """
[model]
name = "bench-mnist"
seed = 0

[data]
dataset = {{ type = "idx", path = "{path}" }}
preprocess = "scale"
validation = 1000

[[layers]]
type = "dense"
units = 64
activation = "relu"
init = "he"

[[layers]]
type = "dense"
units = 10

[loss]
type = "softmax_cross_entropy"

[optimizer]
type = "sgd_momentum"
lr = 0.05
momentum = 0.9

[train]
epochs = {epochs}
batch_size = 32
"""

SWEEP = """
extends = "spec.toml"

[sweep]
metric = "val_accuracy"
trials = {trials}
sampler = "random"
seed = 0

[sweep.parameters]
"optimizer.lr" = {{ distribution = "log_uniform", min = 0.005, max = 0.3 }}
"optimizer.momentum" = {{ distribution = "uniform", min = 0.5, max = 0.95 }}
"""


def mnist_slice(data_dir: Path, folder: Path, train: int) -> Path:
    """IDX files of the first ``train`` training and 1,000 test images."""
    from mlpspec.data.idx import read_idx, write_idx

    for part, count in (("train", train), ("t10k", 1000)):
        for kind in ("images-idx3", "labels-idx1"):
            array = read_idx(data_dir / "mnist" / f"{part}-{kind}-ubyte.gz")
            write_idx(folder / f"{part}-{kind}-ubyte", np.ascontiguousarray(array[:count]))
    return folder


def timed(command: list[str], cwd: Path, environment: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, stdout=subprocess.DEVNULL, env=environment)
    return time.perf_counter() - started


def plain_runs(work: Path, rounds: int, single_threaded: bool) -> list[float]:
    """The wall time of ``mlpspec run`` of the base spec, saving a run folder, no plots; with
    one thread for BLAS and mlpspec's pool, as a sweep's workers have, or as set."""
    from mlpspec.sweep.executors import SINGLE_THREADED

    environment = os.environ | SINGLE_THREADED if single_threaded else None
    command = [str(BIN / "mlpspec"), "run", "spec.toml", "--out", "plain", "--no-plots", "-q"]
    return [timed(command, work, environment) for _ in range(rounds)]


def sweep(work: Path, label: str, *options: str, spec: str = "sweep.toml") -> dict:
    out = work / f"sweeps-{label}"
    command = [str(BIN / "mlpspec"), "sweep", spec, "--out", str(out), "--json", *options]
    wall = timed(command, work)
    (folder,) = out.iterdir()
    trials = [json.loads(line) for line in (folder / "trials.jsonl").read_text().splitlines()]
    states = {t["state"] for t in trials}
    if states != {"complete"}:
        raise SystemExit(f"{label}: not every trial completed ({states}); see {folder}")
    return {
        "wall": wall,
        "trials": len(trials),
        "trial_seconds": statistics.mean(t["seconds"] for t in trials),
        "pids": len({t["pid"] for t in trials}),
    }


class DaskCluster:
    """``dask scheduler`` and ``dask worker --nworkers 2 --nthreads 1`` on 127.0.0.1, as the
    README starts them: Dask's profiler off in the workers, unless ``profiler``."""

    def __init__(self, work: Path, workers: int, profiler: bool = False) -> None:
        self.work, self.workers = work, workers
        self.environment = os.environ if profiler else os.environ | NO_PROFILER
        self.processes: list[subprocess.Popen] = []

    def __enter__(self) -> DaskCluster:
        from distributed import Client

        started = time.perf_counter()
        scheduler_file = self.work / "scheduler.json"
        scheduler_file.unlink(missing_ok=True)  # an earlier cluster's, with its address
        self.log = log = (self.work / "dask.log").open("ab")
        self.processes.append(subprocess.Popen(
            [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
             "--no-dashboard", "--scheduler-file", str(scheduler_file)],
            stdout=log, stderr=log,
        ))
        while not (scheduler_file.is_file() and scheduler_file.stat().st_size):
            time.sleep(0.05)
        self.address = json.loads(scheduler_file.read_text())["address"]
        self.processes.append(subprocess.Popen(
            [str(BIN / "dask"), "worker", self.address, "--nworkers", str(self.workers),
             "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1"],
            stdout=log, stderr=log, env=self.environment,
        ))
        with Client(self.address, timeout="30s") as client:
            client.wait_for_workers(self.workers, timeout=120)
        self.start_seconds = time.perf_counter() - started
        return self

    def __exit__(self, *exc: object) -> None:
        for process in reversed(self.processes):
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        self.log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--images", type=int, default=12000, help="training images per trial")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--plain-rounds", type=int, default=3)
    parser.add_argument("--only", nargs="+", choices=CONFIGURATIONS, default=CONFIGURATIONS)
    parser.add_argument(
        "--rounds", type=int, default=1,
        help="rounds of the configurations, one after another; a round's speedups are to its "
        "own first configuration (the 1-worker sweep), since this machine's speed drifts",
    )
    args = parser.parse_args()
    if not (args.data_dir / "mnist" / "train-images-idx3-ubyte.gz").is_file():
        raise SystemExit(f"MNIST is not in {args.data_dir / 'mnist'}: give --data-dir")

    with tempfile.TemporaryDirectory(prefix="mlpspec-sweep-bench-") as temporary:
        work = Path(temporary)
        (work / "mnist-slice").mkdir()
        data = mnist_slice(args.data_dir, (work / "mnist-slice").resolve(), args.images)
        (work / "spec.toml").write_text(SPEC.format(path=data, epochs=args.epochs))
        (work / "sweep.toml").write_text(SWEEP.format(trials=args.trials))
        (work / "one.toml").write_text(SWEEP.format(trials=1))
        cores = len(os.sched_getaffinity(0))
        print(
            f"{platform.node()}: {cores} cores, Python {platform.python_version()}, "
            f"load average {os.getloadavg()[0]:.2f} at start; {args.trials} trials of a "
            f"784-64-10 MNIST spec ({args.images:,} images, {args.epochs} epochs)\n",
            flush=True,
        )
        plain = statistics.median(plain_runs(work, args.plain_rounds, single_threaded=True))
        threaded = statistics.median(plain_runs(work, args.plain_rounds, single_threaded=False))
        fixed = sweep(work, "one", "--workers", "1", spec="one.toml")
        rows = []
        for round_ in range(1, args.rounds + 1):
            for label in args.only:
                load = os.getloadavg()[0]
                name = f"{label}-{round_}"
                if label.startswith("local"):
                    workers = int(label.removeprefix("local"))
                    result = sweep(work, name, "--workers", str(workers))
                    row = {"executor": "local", "workers": workers, "extra": ""}
                else:  # a cluster of its own each round, so that none idles beside the others
                    profiler = label.endswith("profiler")
                    with DaskCluster(work, 2, profiler) as cluster:
                        result = sweep(work, name, "--dask", cluster.address)
                    executor = "dask, its profiler on" if profiler else "dask"
                    row = {"executor": executor, "workers": 2,
                           "extra": f"cluster start {cluster.start_seconds:.1f}s"}
                rows.append(row | result | {"load": load, "round": round_, "label": label})
                print(f"round {round_}, {label}: {result['wall']:.1f}s", flush=True)
    print(
        f"\nplain `mlpspec run` of one trial's spec: {plain:.2f}s single-threaded, as the "
        f"workers run (the overhead's baseline); {threaded:.2f}s with the default threads "
        f"(medians of {args.plain_rounds}); a sweep of one trial on one local worker: "
        f"{fixed['wall']:.2f}s, its trial {fixed['trial_seconds']:.2f}s\n"
    )
    print("| round | executor | workers | wall s | trials/min | speedup | efficiency | trial s "
          "| steady speedup | not in trials s | overhead/trial s | load avg | note |")
    print("|" + " --- |" * 13)
    speedups: dict[str, list[float]] = {}
    for row in rows:
        # a round's speedups are to its first configuration (local1, unless --only says else)
        first = rows[0]["label"]
        base = next(r for r in rows if r["round"] == row["round"] and r["label"] == first)
        speedup = base["wall"] / row["wall"]
        steady = row["workers"] * base["trial_seconds"] / (base["workers"] * row["trial_seconds"])
        overhead = row["wall"] * row["workers"] / row["trials"] - plain
        outside = row["wall"] - row["trials"] * row["trial_seconds"] / row["workers"]
        speedups.setdefault(row["label"], []).append(speedup)
        print(
            f"| {row['round']} | {row['executor']} | {row['workers']} | {row['wall']:.1f} | "
            f"{row['trials'] / row['wall'] * 60:.1f} | {speedup:.2f}x | "
            f"{speedup / row['workers']:.0%} | {row['trial_seconds']:.2f} | {steady:.2f}x | "
            f"{outside:.1f} | {overhead:+.2f} | {row['load']:.2f} | {row['extra']} |"
        )
    if args.rounds > 1:
        print("\n| configuration | median speedup over the rounds | min–max |")
        print("| --- | --- | --- |")
        for label, values in speedups.items():
            print(f"| {label} | {statistics.median(values):.2f}x | "
                  f"{min(values):.2f}–{max(values):.2f}x |")

if __name__ == "__main__":
    main()
