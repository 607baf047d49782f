"""Where the runs of a grid execute: in-process, a local process pool, or a Ray cluster.

Every executor has the same small interface (``capacity``, ``submit``, ``wait``,
``close``); results always come back to the driver (:func:`run_grid`), which
alone writes the study database.
"""
from __future__ import annotations

import contextlib
import math
import multiprocessing as mp
import os
import signal
import sys
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor
from concurrent.futures import wait as wait_futures
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

Runner = Callable[..., dict]
"""``runner(spec: RunSpec, out_dir: Path, resume: bool, progress: bool) -> metrics``."""
RAY_INSTALL_HINT = "pip install 'adcgan[ray]'  (or: pip install 'ray[default]>=2.9')"


class RayMissingError(RuntimeError):
    """``--executor ray`` was asked for but Ray is not installed."""


@dataclass
class Task:
    """One run handed to an executor (plain data: picklable, Ray-serialisable)."""

    hash: str
    spec: dict[str, Any]
    run_dir: str
    resume: bool
    label: str = ""


@dataclass
class Outcome:
    """What came back from one run."""

    hash: str
    ok: bool
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str = ""


def default_runner() -> Runner:
    """The real runner, :func:`adcgan.evaluation.experiment.run_experiment`."""
    from adcgan.evaluation.experiment import run_experiment

    return run_experiment


def execute_task(task: Task, runner: Runner | None = None, progress: bool = False,
                 threads: int | None = None) -> Outcome:
    """Run one task; any exception becomes a failed :class:`Outcome` carrying the traceback."""
    try:
        from adcgan.evaluation.experiment import RunSpec

        if threads:
            import torch

            torch.set_num_threads(int(threads))
        metrics = (runner or default_runner())(RunSpec.from_dict(task.spec), Path(task.run_dir),
                                               resume=task.resume, progress=progress)
        return Outcome(task.hash, True, metrics=dict(metrics))
    except Exception:  # noqa: BLE001 - a failing run must not stop the grid
        return Outcome(task.hash, False, error=traceback.format_exc())


def _with_settings(task: Task, **settings: Any) -> Task:
    """A copy of ``task`` whose detector config gets ``settings`` where not already set."""
    spec = dict(task.spec)
    cfg = dict(spec.get("detector_config") or {})
    for k, v in settings.items():
        if v is not None and cfg.get(k) is None:
            cfg[k] = v
    spec["detector_config"] = cfg
    return Task(task.hash, spec, task.run_dir, task.resume, task.label)


class _TqdmStdout:
    """A stdout that prints whole lines with ``tqdm.write`` so they do not tear the progress bars."""

    def __init__(self) -> None:
        self.buf = ""

    def write(self, text: str) -> int:
        from tqdm.auto import tqdm

        self.buf += text
        *lines, self.buf = self.buf.split("\n")
        saved, sys.stdout = sys.stdout, sys.__stdout__  # tqdm clears the bars for the real stdout only
        try:
            for line in lines:
                tqdm.write(line)
        finally:
            sys.stdout = saved
        return len(text)

    def flush(self) -> None:
        sys.__stdout__.flush()


class SequentialExecutor:
    """Runs each task in this process, one at a time, with the runner's own progress bars."""

    name = "local"
    capacity = 1

    def __init__(self, runner: Runner | None = None, progress: bool = True, threads: int | None = None) -> None:
        self.runner, self.progress, self.threads = runner, progress, threads
        self._queue: list[Task] = []

    def submit(self, task: Task) -> None:
        """Queue ``task`` (it runs inside :meth:`wait`)."""
        self._queue.append(_with_settings(task, num_threads=self.threads))

    def wait(self) -> list[Outcome]:
        """Run the oldest queued task and return its outcome (its prints routed around the progress bars)."""
        task = self._queue.pop(0)
        if not self.progress:
            return [execute_task(task, self.runner, False, self.threads)]
        with contextlib.redirect_stdout(_TqdmStdout()):
            return [execute_task(task, self.runner, True, self.threads)]

    def close(self) -> None:
        """Nothing to release."""


def _init_worker(threads: int) -> None:
    """Process-pool initializer: die with the driver (Linux), cap torch threads so N workers share the cores.

    Dying with the driver matters for resumption: after a ``kill -9`` of the
    driver, no orphaned worker may go on writing into a run folder that the
    next driver resumes.
    """
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    os.environ["OMP_NUM_THREADS"] = str(threads)
    import torch

    torch.set_num_threads(threads)


class ProcessExecutor:
    """``workers`` spawned processes on this machine; each run uses ``cores // workers`` torch threads."""

    name = "process"

    def __init__(self, workers: int, runner: Runner | None = None, threads: int | None = None) -> None:
        self.capacity = max(1, int(workers))
        self.threads = threads or max(1, (os.cpu_count() or 1) // self.capacity)
        self.runner = runner
        self.futures: dict[Any, Task] = {}
        self.pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.capacity, mp_context=mp.get_context("spawn"),
                                   initializer=_init_worker, initargs=(self.threads,))

    def submit(self, task: Task) -> None:
        """Start ``task`` in a worker process."""
        task = _with_settings(task, num_threads=self.threads)
        self.futures[self.pool.submit(execute_task, task, self.runner, False, self.threads)] = task

    def wait(self) -> list[Outcome]:
        """Block until at least one run finishes; a dead worker fails its runs and the pool is rebuilt."""
        done, _ = wait_futures(list(self.futures), return_when=FIRST_COMPLETED)
        out, broken = [], False
        for fut in done:
            task = self.futures.pop(fut)
            try:
                out.append(fut.result())
            except BrokenProcessPool as exc:
                broken = True
                out.append(Outcome(task.hash, False, error=f"worker process died: {exc!r}"))
        if broken:
            for fut, task in list(self.futures.items()):
                out.append(Outcome(task.hash, False, error="worker pool broke while this run was in flight"))
            self.futures.clear()
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = self._new_pool()
        return out

    def close(self) -> None:
        """Shut the pool down (running tasks are cancelled where possible)."""
        self.pool.shutdown(wait=True, cancel_futures=True)


def import_ray() -> Any:
    """``import ray`` or raise :class:`RayMissingError` with the install command."""
    try:
        import ray
    except ImportError:
        raise RayMissingError(f"--executor ray needs Ray, which is not installed: {RAY_INSTALL_HINT}") from None
    return ray


def _ray_capacity(resources: dict[str, float], cpus: float, gpus: float) -> int:
    """How many runs fit on the cluster at once."""
    n = math.floor(resources.get("CPU", 1) / cpus) if cpus > 0 else 10**6
    if gpus > 0:
        n = min(n, math.floor(resources.get("GPU", 0) / gpus))
    if n < 1:
        raise RuntimeError(f"the Ray cluster ({resources}) cannot fit one run of {cpus} CPU(s) + {gpus} GPU(s)")
    return int(min(n, 10**4))


class RayExecutor:
    """Fans runs out over a Ray cluster, one ``@ray.remote`` task per run with its CPU/GPU request."""

    name = "ray"

    def __init__(self, address: str | None = None, cpus_per_run: float = 1.0, gpus_per_run: float = 0.0,
                 num_cpus: int | None = None, runner: Runner | None = None) -> None:
        self.ray = import_ray()
        self.owned = not self.ray.is_initialized()
        if not self.ray.is_initialized():
            if address:
                try:
                    self.ray.init(address=address)
                except Exception as exc:  # noqa: BLE001 - ConnectionError, ValueError, ...
                    raise RuntimeError(f"cannot connect to the Ray cluster at {address}: {exc}") from None
            else:
                self.ray.init(num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False,
                              log_to_driver=False, object_store_memory=128 * 1024 * 1024)
        self.cpus, self.gpus, self.runner = float(cpus_per_run), float(gpus_per_run), runner
        self.threads = max(1, int(cpus_per_run))
        self.capacity = _ray_capacity(self.ray.cluster_resources(), self.cpus, self.gpus)
        self.remote = self.ray.remote(execute_task).options(num_cpus=self.cpus, num_gpus=self.gpus, max_retries=0)
        self.refs: dict[Any, Task] = {}

    def submit(self, task: Task) -> None:
        """Send ``task`` to the cluster (GPU runs default to ``cuda``, CPU-only runs to ``cpu``)."""
        task = _with_settings(task, num_threads=self.threads, device="cuda" if self.gpus > 0 else "cpu")
        self.refs[self.remote.remote(task, self.runner, False, self.threads)] = task

    def wait(self) -> list[Outcome]:
        """Block until at least one run finishes; a lost worker or node fails that run."""
        ready, _ = self.ray.wait(list(self.refs), num_returns=1)
        out = []
        for ref in ready:
            task = self.refs.pop(ref)
            try:
                out.append(self.ray.get(ref))
            except Exception as exc:  # noqa: BLE001 - RayTaskError, WorkerCrashedError, node loss
                out.append(Outcome(task.hash, False, error=f"ray task failed: {exc!r}"))
        return out

    def close(self) -> None:
        """Cancel runs still in flight; shut down (or disconnect from) Ray if this executor started it."""
        for ref in list(self.refs):
            self.ray.cancel(ref, force=True)
        self.refs.clear()
        if self.owned:
            self.ray.shutdown()
