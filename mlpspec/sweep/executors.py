"""The built-in sweep executors, a plugin like every other built-in: ``local`` and ``dask``.

``local`` runs N worker processes on this machine (``python -m mlpspec.sweep.worker``, see
:mod:`mlpspec.sweep.worker`), N the number of cores by default. ``dask`` runs each trial as a
task on an existing Dask cluster (``distributed``, the ``dask`` extra): its workers must have
mlpspec and the sweep's plugins installed and see the sweep's folder (the same machine, or a
shared file system). Start them one thread each (``dask worker ADDRESS --nthreads 1``): two
trials in one worker process share its GIL. Dask's worker profiler, which samples the running
task's stack every 10 ms for the dashboard, takes the GIL from the trial as often; with it off
(``DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=False`` where the workers start) trials ran 3-8 %
faster here. Nothing heavy is imported until an executor starts.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from typing import IO, Any

from pydantic import ConfigDict, Field

from mlpspec.core.errors import MlpspecError, UsageError
from mlpspec.core.hookspec import hookimpl
from mlpspec.core.registry import Params
from mlpspec.engine.parallel import use_threads
from mlpspec.sweep.executor import Executor, ExecutorError
from mlpspec.sweep.trial import TrialOutcome, TrialTask, run_trial

SINGLE_THREADED = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "MLPSPEC_THREADS": "1",
}
"""The environment of a local worker: numpy reads it when it loads, so it is set at start."""
CLOSE_TIMEOUT = 10.0
WORKER_WAIT = 60.0
"""Seconds a sweep waits for the first worker of a Dask cluster that has none yet."""


class LocalParams(Params):
    workers: int | None = Field(None, gt=0)
    """How many worker processes (trials at once); unset: one per core."""


class DaskParams(Params):
    model_config = ConfigDict(json_schema_extra={"examples": [{"address": "tcp://127.0.0.1:8786"}]})

    address: str = Field(min_length=1)
    """The scheduler's address: ``tcp://HOST:8786``."""


@hookimpl
def mlpspec_register_executors(register: Any) -> None:
    register("local", LocalExecutor.of, params=LocalParams)
    register("dask", DaskExecutor.of, params=DaskParams)


# ---------------------------------------------------------------------------------------------
# local: worker processes on this machine


@dataclass
class _Worker:
    process: subprocess.Popen[str]
    number: int | None = None
    """The trial it runs, if any."""
    answered: bool = False
    """Whether it ever answered: one that exits with an error before it did could not start."""


_ENDED = object()


class LocalExecutor(Executor):
    """N single-threaded worker processes on this machine, talking JSON lines over pipes."""

    def __init__(self, workers: int | None = None) -> None:
        self.count = workers or len(os.sched_getaffinity(0))
        self.workers: list[_Worker] = []
        self.messages: queue.Queue[tuple[_Worker, Any]] = queue.Queue()
        self.stopping = False

    @classmethod
    def of(cls, params: LocalParams) -> LocalExecutor:
        """Trials in worker processes on this machine, one per core by default."""
        return cls(params.workers)

    def describe(self) -> str:
        return f"{self.count} local worker process{'es' if self.count != 1 else ''}"

    def start(self) -> None:
        for _ in range(self.count):
            self._spawn()

    def _spawn(self) -> _Worker:
        environment = os.environ | SINGLE_THREADED
        # the coordinator's import path, so that --plugin modules import in the workers too
        environment["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        process = subprocess.Popen(
            [sys.executable, "-m", "mlpspec.sweep.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            env=environment,
            start_new_session=True,  # a Ctrl-C at the terminal reaches the coordinator only
        )
        worker = _Worker(process)
        threading.Thread(
            target=self._read, args=(worker,), name=f"worker-{process.pid}", daemon=True
        ).start()
        self.workers.append(worker)
        return worker

    def _read(self, worker: _Worker) -> None:
        stream: IO[str] | None = worker.process.stdout
        assert stream is not None
        with stream:
            for line in stream:
                self.messages.put((worker, json.loads(line)))
        self.messages.put((worker, _ENDED))

    def slots(self) -> int:
        return sum(w.number is None for w in self.workers)

    def submit(self, task: TrialTask) -> None:
        worker = next(w for w in self.workers if w.number is None)
        stdin = worker.process.stdin
        assert stdin is not None
        worker.number = task.number
        with contextlib.suppress(BrokenPipeError):  # it died: its end is on the way
            stdin.write(task.model_dump_json() + "\n")
            stdin.flush()

    def wait(self, timeout: float) -> list[TrialOutcome]:
        outcomes: list[TrialOutcome] = []
        try:
            message = self.messages.get(timeout=timeout)
        except queue.Empty:
            return outcomes
        while True:
            worker, answer = message
            outcome = self._handle(worker, answer)
            if outcome is not None:
                outcomes.append(outcome)
            try:
                message = self.messages.get_nowait()
            except queue.Empty:
                return outcomes

    def _handle(self, worker: _Worker, answer: Any) -> TrialOutcome | None:
        number, worker.number = worker.number, None
        if answer is _ENDED:
            self.workers.remove(worker)
            if worker.process.stdin is not None:
                with contextlib.suppress(BrokenPipeError):
                    worker.process.stdin.close()
            code = worker.process.wait()
            if code > 0 and not worker.answered:
                raise ExecutorError(
                    f"a local worker process exited with status {code} before running a trial "
                    "(its messages are above): is mlpspec installed for "
                    f"{sys.executable}?"
                )
            if not self.stopping:
                self._spawn()
            if number is None:
                return None
            how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
            reason = f"its worker process (pid {worker.process.pid}) died, {how}"
            return TrialOutcome(
                number=number,
                status="lost",
                reason=reason,
                host=socket.gethostname(),
                pid=worker.process.pid,
            )
        worker.answered = True
        if "error" in answer:
            raise ExecutorError(f"a local worker cannot run trials: {answer['error']}")
        return TrialOutcome.model_validate(answer["outcome"])

    def interrupt(self) -> None:
        self.stopping = True
        for worker in self.workers:
            if worker.number is not None and worker.process.poll() is None:
                worker.process.send_signal(signal.SIGINT)

    def close(self) -> None:
        self.stopping = True
        for worker in self.workers:
            if worker.process.stdin is not None:
                with contextlib.suppress(BrokenPipeError):
                    worker.process.stdin.close()
        deadline = time.monotonic() + CLOSE_TIMEOUT
        for worker in self.workers:
            try:
                worker.process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()


# ---------------------------------------------------------------------------------------------
# dask: the workers of an existing cluster


def dask_trial(task: dict[str, Any], stop_event: str) -> dict[str, Any]:
    """The Dask task of one trial, run on a cluster worker."""
    from distributed import Event

    use_threads(1)  # the nanny sets BLAS to one thread; mlpspec's pool is ours to set
    _roomy_heap()
    event = Event(stop_event)
    return run_trial(TrialTask.model_validate(task), should_stop=event.is_set).model_dump(
        mode="json"
    )


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
"""glibc's ``mallopt`` parameters (malloc.h)."""
TRIM_THRESHOLD, MMAP_THRESHOLD = 128 << 20, 32 << 20


def _roomy_heap() -> None:
    """Undo, in this worker process, the small trim threshold Dask's nanny starts workers with
    (``MALLOC_TRIM_THRESHOLD_=65536``, to give memory back to the system sooner).

    Set at all, it turns glibc's dynamic mmap threshold off (Dask's own docs warn it may cost
    speed), so that every array of 128 KiB or more a training step makes (a batch's
    activations, their gradients) is mapped, page-faulted in and unmapped again each time.
    Training TwoLayerNet on MNIST for 1,500 steps took 163,000 minor page faults and about
    1 s of system time in such a worker, against 13,000-36,000 and 0.1-0.6 s in a plain
    process or with these thresholds, under which such arrays come from the heap again (up to
    128 MiB of freed memory is kept for reuse). Nothing is changed where the variable is unset
    or the C library is not glibc.
    """
    if not os.environ.get("MALLOC_TRIM_THRESHOLD_"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    except (OSError, AttributeError):
        pass


class DaskExecutor(Executor):
    """Trials as tasks on a Dask cluster: as many at once as its workers have threads."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.client: Any = None
        self.event: Any = None
        self.futures: dict[Any, TrialTask] = {}
        self.stop_name = f"mlpspec-sweep-stop-{uuid.uuid4().hex}"

    @classmethod
    def of(cls, params: DaskParams) -> DaskExecutor:
        """Trials as tasks on the workers of an existing Dask cluster."""
        return cls(params.address)

    def describe(self) -> str:
        workers = len(self.client.nthreads()) if self.client is not None else 0
        return f"the Dask cluster at {self.address} ({workers} workers, {self._threads()} threads)"

    def start(self) -> None:
        try:
            from distributed import Client, Event
        except ImportError:
            raise MlpspecError(
                "--dask needs distributed, which is not installed: pip install 'mlpspec[dask]'"
            ) from None
        try:
            self.client = Client(self.address, timeout="10s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise UsageError(
                f"cannot reach the Dask scheduler at {self.address}: {exc}"
            ) from None
        self.event = Event(self.stop_name, client=self.client)
        if not self._threads():  # a cluster started a moment ago: its workers are on the way
            print(
                f"waiting up to {WORKER_WAIT:.0f}s for a worker to join {self.address}",
                file=sys.stderr,
                flush=True,
            )
            try:
                self.client.wait_for_workers(1, timeout=WORKER_WAIT)
            except TimeoutError:
                self.close()
                raise UsageError(f"the Dask cluster at {self.address} has no workers") from None

    def _threads(self) -> int:
        return sum(self.client.nthreads().values()) if self.client is not None else 0

    def slots(self) -> int:
        return max(self._threads() - len(self.futures), 0)

    def submit(self, task: TrialTask) -> None:
        future = self.client.submit(
            dask_trial,
            task.model_dump(mode="json"),
            self.stop_name,
            key=f"mlpspec-trial-{task.study}-{task.number}-{task.attempt}",
            pure=False,
        )
        self.futures[future] = task

    def wait(self, timeout: float) -> list[TrialOutcome]:
        from distributed import wait
        from distributed.scheduler import KilledWorker

        if not self.futures:
            time.sleep(timeout)
            return []
        try:
            done, _ = wait(list(self.futures), timeout=timeout, return_when="FIRST_COMPLETED")
        except TimeoutError:
            return []
        outcomes = []
        for future in done:
            task = self.futures.pop(future)
            if future.status == "finished":
                outcomes.append(TrialOutcome.model_validate(future.result()))
                continue
            error = future.exception() if future.status == "error" else None
            if error is None or isinstance(error, KilledWorker):
                reason = f"the Dask workers running it died ({error or future.status})"
                outcomes.append(TrialOutcome(number=task.number, status="lost", reason=reason))
                continue
            text = str(error) if isinstance(error, MlpspecError) else repr(error)
            raise ExecutorError(f"the Dask workers cannot run trials: {text}")
        return outcomes

    def interrupt(self) -> None:
        if self.event is not None:
            self.event.set()

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
