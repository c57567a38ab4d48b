"""The reliability report: bad specs tried by machine, faults injected, and what became of each.

    .venv/bin/python benchmarks/reliability.py              # the tables, and the time taken
    .venv/bin/python benchmarks/reliability.py --markdown   # the README's tables, exactly

Prints three Markdown tables (the README's "Reliability" section is ``--markdown``'s output,
pasted): how thousands of generated specs were judged; the faults injected into real runs and
files — NaN in training, SIGINT/SIGTERM/SIGKILL to a training process, SIGKILL during atomic
writes, damaged model, checkpoint, IDX and CSV files, bad downloads; and the classes of the
outside attack of issue 12, tried again with fresh triggers (``benchmarks/attacks.py``) —
with the outcome of each and whether anything was lost. It reuses the test suite's generators
and helpers, and takes about two minutes on two cores.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from attacks import attack_rows  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402

from mlpspec import DataError, MlpspecError, TrainingError, load_registry, load_run, run  # noqa: E402
from mlpspec.core.spec import parse_toml, validate_spec  # noqa: E402
from mlpspec.data import DataContext  # noqa: E402
from mlpspec.data.fetch import RemoteFile, find_or_fetch  # noqa: E402
from mlpspec.data.idx import read_idx, write_idx  # noqa: E402
from mlpspec.run import checkpoint as checkpoints  # noqa: E402
from mlpspec.run.rundir import MODEL  # noqa: E402
from mlpspec.testing import create  # noqa: E402
from tests.conftest import IMAGE_SPEC, tiny_images  # noqa: E402
from tests.data.test_fetch import Server  # noqa: E402
from tests.spec_cases import as_toml, damaged_bytes, judge, mutated_specs  # noqa: E402
from tests.test_resume import (  # noqa: E402
    RESUMABLE_SPEC,
    metrics,
    resume_with_cli,
    start,
    wait_for_metrics,
)
from tests.test_rundir import SIZE, WRITER  # noqa: E402

SPEC_CASES = 3000
CHANCE = random.Random(20261122)


def spec_cases(registry, scratch: Path) -> Counter[str]:
    outcomes: Counter[str] = Counter()
    fuzz = settings(
        max_examples=SPEC_CASES // 2,
        derandomize=True,  # the same cases, and so the same table, every time
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )

    @fuzz
    @given(data=mutated_specs())
    def structured(data):
        outcomes[judge(as_toml(data), registry, scratch)] += 1

    @fuzz
    @given(raw=damaged_bytes())
    def damaged(raw):
        outcomes[judge(raw, registry, scratch)] += 1

    structured()
    damaged()
    return outcomes


class Faults:
    """Rows of the fault table: what was injected, how often, what happened, what was lost."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, int, str, str]] = []

    def add(self, fault: str, trials: list[bool], outcome: str) -> None:
        lost = "nothing" if all(trials) else f"{trials.count(False)} of {len(trials)} FAILED"
        self.rows.append((fault, len(trials), outcome, lost))

    def table(self) -> str:
        lines = ["| fault | trials | outcome | lost |", "| --- | ---: | --- | --- |"]
        lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in self.rows]
        return "\n".join(lines)

    def failed(self) -> bool:
        return any(row[3] != "nothing" for row in self.rows)


def same_weights(a: Path, b: Path) -> bool:
    with np.load(a / MODEL) as first, np.load(b / MODEL) as second:
        return first.files == second.files and all(
            np.array_equal(first[k], second[k]) for k in first.files
        )


def signalled_run(spec_path: Path, out: Path, signum: int, reference: Path) -> bool:
    """Start a real run, signal it after a random number of epochs, resume, compare."""
    extra = ["--set", "train.checkpoint_every=2"] if signum == signal.SIGKILL else []
    process = start(spec_path, out, *extra)
    try:
        folder = wait_for_metrics(out, CHANCE.randint(1, 12), process)
    except AssertionError:  # the run ended, or wrote nothing, before the chosen epoch
        return False
    os.kill(process.pid, signum)
    _, err = process.communicate(timeout=60)
    expected = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGKILL: -9}[signum]
    if process.returncode != expected or "Traceback" in err:
        return False
    resumed = resume_with_cli(folder)
    return (
        resumed.returncode == 0
        and same_weights(reference, folder)
        and metrics(reference) == metrics(folder)
    )


def nan_runs(registry, work: Path, count: int) -> list[bool]:
    """NaN put into a gradient at a random step: the run stops there, good weights saved."""
    import mlpspec.builtins.optimizers as optimizers

    text = RESUMABLE_SPEC.replace("epochs = 20", "epochs = 6")
    original = optimizers.SGDMomentum.step
    results = []
    for trial in range(count):
        at = CHANCE.randint(1, 600)
        calls = []

        def poisoned(self, parameters, lr, at=at, calls=calls):
            calls.append(1)
            if len(calls) == at:
                parameters[0].grad[0, 0] = np.nan
            original(self, parameters, lr)

        optimizers.SGDMomentum.step = poisoned
        try:
            run(validate_spec(parse_toml(text), registry), registry, out_dir=work / f"nan{trial}")
            results.append(False)
        except TrainingError as error:
            (folder,) = (work / f"nan{trial}").iterdir()
            with np.load(folder / MODEL) as saved:
                finite = all(np.all(np.isfinite(saved[k])) for k in saved.files)
            results.append(finite and "at epoch" in str(error) and "step" in str(error))
        finally:
            optimizers.SGDMomentum.step = original
    return results


def killed_writers(work: Path, count: int) -> list[bool]:
    target = work / "model.npz"
    target.write_bytes(b"a" * SIZE)
    results = []
    for _ in range(count):
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE, text=True
        )
        writer.stdout.readline()
        time.sleep(CHANCE.uniform(0.01, 0.2))
        writer.kill()
        writer.wait()
        content = target.read_bytes()
        results.append(content in (b"a" * SIZE, b"b" * SIZE))
    return results


def damaged_files(registry, folder: Path, work: Path) -> dict[str, list[bool]]:
    """Cut and scribble over files at random places: each must be a DataError naming it."""

    def named_error(path: Path, load: Callable[[], object]) -> bool:
        try:
            load()
        except DataError as error:
            return str(path.name) in str(error)
        except MlpspecError:
            return False
        return False

    def damage(data: bytes) -> bytes:
        cut = CHANCE.randrange(len(data))
        if CHANCE.random() < 0.5:
            return data[:cut]
        return data[:cut] + os.urandom(min(64, len(data) - cut)) + data[cut + 64 :]

    out: dict[str, list[bool]] = {"model": [], "checkpoint": [], "idx": [], "csv": []}
    model, original = folder / MODEL, (folder / MODEL).read_bytes()
    (newest,) = checkpoints.find(folder)[-1:]
    saved_checkpoint = newest.read_bytes()
    idx = work / "images-idx3-ubyte"
    write_idx(idx, np.arange(5 * 28 * 28, dtype=np.uint8).reshape(5, 28, 28))
    idx_bytes = idx.read_bytes()
    csv = work / "table.csv"
    csv_bytes = b"".join(b"0.1,0.2,0.3,%d\n" % (i % 3) for i in range(50))
    for _ in range(25):
        model.write_bytes(damage(original))
        out["model"].append(named_error(model, lambda: load_run(folder, registry)))
        newest.write_bytes(damage(saved_checkpoint))
        out["checkpoint"].append(named_error(newest, lambda: checkpoints.read(newest)))
        # IDX has no checksum: a changed pixel is undetectable, so only lengths are damaged
        cut = CHANCE.randrange(len(idx_bytes))
        broken = idx_bytes[:cut] if CHANCE.random() < 0.7 else idx_bytes + os.urandom(cut % 9 + 1)
        idx.write_bytes(gzip.compress(broken)[: -CHANCE.randint(0, 8) or None])
        out["idx"].append(named_error(idx, lambda: read_idx(idx)))
        cut = CHANCE.randrange(len(csv_bytes))
        csv.write_bytes(csv_bytes[:cut] + b"x" + csv_bytes[cut:])
        out["csv"].append(named_error(csv, lambda: load_csv(registry, csv)))
    model.write_bytes(original)
    newest.write_bytes(saved_checkpoint)
    return out


def load_csv(registry, path: Path) -> object:
    spec = {"type": "csv", "path": path.name}
    return create(registry, "dataset", spec, DataContext(base_dir=path.parent))


def bad_downloads(work: Path) -> dict[str, list[bool]]:
    good = os.urandom(20000)
    digest = hashlib.md5(good).hexdigest()
    out: dict[str, list[bool]] = {"tampered": [], "truncated": [], "all bad": []}
    for trial in range(5):
        cache = work / f"cache{trial}"
        with Server({"f.gz": b"tampered"}) as bad, Server({"f.gz": good}) as mirror:
            found = find_or_fetch(
                "s",
                [RemoteFile("f.gz", digest)],
                DataContext(cache_dir=cache),
                [bad.url, mirror.url],
            )
            out["tampered"].append(found["f.gz"].read_bytes() == good)
        with Server({"f.gz": good}, truncate={"f.gz"}) as short, Server({"f.gz": good}) as mirror:
            found = find_or_fetch(
                "t",
                [RemoteFile("f.gz", digest)],
                DataContext(cache_dir=cache),
                [short.url, mirror.url],
            )
            out["truncated"].append(found["f.gz"].read_bytes() == good)
        with Server({"f.gz": b"x"}) as bad, Server({}) as empty:
            try:
                find_or_fetch(
                    "u",
                    [RemoteFile("f.gz", digest)],
                    DataContext(cache_dir=cache),
                    [bad.url, empty.url],
                )
                out["all bad"].append(False)
            except DataError:
                out["all bad"].append(not any(p.is_file() for p in (cache / "u").rglob("*")))
    return out


def main() -> None:
    import pooch

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--markdown", action="store_true", help="print only the README's tables, exactly"
    )
    args = parser.parse_args()
    pooch.get_logger().setLevel("WARNING")
    started = time.perf_counter()
    registry = load_registry()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        outcomes = spec_cases(registry, work / "case.toml")
        spec_path = work / "resumable.toml"
        spec_path.write_text(RESUMABLE_SPEC)
        reference = run(
            validate_spec(parse_toml(RESUMABLE_SPEC), registry), registry, out_dir=work / "ref"
        ).run_dir
        faults = Faults()
        faults.add(
            "NaN put into a gradient at a random step",
            nan_runs(registry, work, 5),
            "stopped at once naming epoch and step, with the lr hint; last good weights saved",
        )
        for signum, outcome in [
            (signal.SIGINT, "checkpoint at the epoch boundary, exit 130; resumed"),
            (signal.SIGTERM, "checkpoint at the epoch boundary, exit 143; resumed"),
            (signal.SIGKILL, "resumed from the last periodic checkpoint (every 2 epochs)"),
        ]:
            trials = [
                signalled_run(spec_path, work / f"{signum}-{i}", signum, reference)
                for i in range(2)
            ]
            faults.add(
                f"{signal.Signals(signum).name} to a training process after 1-12 epochs",
                trials,
                f"{outcome}: weights and metrics equal an uninterrupted run, bit for bit",
            )
        faults.add(
            "SIGKILL to a process writing 4 MiB files atomically",
            killed_writers(work, 12),
            "the file was always entirely old or entirely new",
        )
        text = RESUMABLE_SPEC.replace("epochs = 20", "epochs = 4\ncheckpoint_every = 2")
        damaged_run = run(
            validate_spec(parse_toml(text), registry), registry, out_dir=work / "damage"
        ).run_dir
        attacked = Faults()
        (work / "images").mkdir()
        images = tiny_images(work / "images")
        image_run = run(
            validate_spec(parse_toml(IMAGE_SPEC.format(path=images)), registry),
            registry,
            out_dir=work / "image-run",
        ).run_dir
        for row in attack_rows(registry, work / "attacks", CHANCE, image_run, damaged_run):
            attacked.add(row.fault, row.trials, row.outcome)
        for kind, trials in damaged_files(registry, damaged_run, work).items():
            damage = {
                "idx": "cut short or lengthened, its gzip stream cut",
                "csv": "given a stray character at a random place",
            }.get(kind, "cut short or overwritten at a random place")
            faults.add(f"{kind} file {damage}", trials, "a DataError naming the file")
        for kind, trials in bad_downloads(work).items():
            outcome = {
                "tampered": "checksum mismatch discarded, next mirror used",
                "truncated": "short download discarded, next mirror used",
                "all bad": "a DataError listing each mirror; nothing left in the cache",
            }[kind]
            faults.add(f"download: {kind} mirror", trials, outcome)
    total = sum(outcomes.values())
    print(f"### Specs generated by hypothesis: {total} cases\n")
    print("| outcome | cases |\n| --- | ---: |")
    for name, count in outcomes.most_common():
        print(f"| {name} | {count} |")
    print(
        "\nEvery rejection: a SpecError (exit status 2) whose every problem names its place; "
        "no other exception.\n"
    )
    print(f"### Faults injected\n\n{faults.table()}\n")
    print(
        "### The outside attack's classes (issue 12), with fresh triggers\n\n"
        f"{attacked.table()}"
    )
    seconds = f"({time.perf_counter() - started:.0f} s)"
    print(seconds, file=sys.stderr if args.markdown else sys.stdout)
    if faults.failed() or attacked.failed():
        sys.exit(1)


if __name__ == "__main__":
    main()
