"""Where a cell's process runs: an ``Executor`` (local subprocesses or Ray tasks).

Every executor starts a cell the same way, ``spawn_cell``: ``asdbench run`` with the cell's
arguments, stdout and stderr in the cell's log. A crash in one cell never takes the others
down; the runner reads each cell's result from the log's last lines (``outcome``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from asdbench.matrix.gpus import GpuSlots, format_memory, mps_pipe_dir
from asdbench.matrix.grid import Cell
from asdbench.matrix.outcome import read_tail
from asdbench.registry import AsdbenchError

# How a cell's process starts: ``python -m asdbench`` with the working directory left off
# ``sys.path`` (``-P``, else dropped by hand on Python 3.10), so a folder named ``asdbench``
# where the matrix was started (a clone beside it) cannot shadow the installed package.
RUN_COMMAND = ((sys.executable, "-P", "-m", "asdbench", "run") if sys.version_info >= (3, 11)
               else (sys.executable, "-c", "import runpy, sys; sys.path.pop(0); "
                     "runpy.run_module('asdbench', run_name='__main__')", "run"))
# The prefix of the driver's settings a cell's process receives wherever it runs (Ray too).
ENV_PREFIX = "ASDBENCH_"


def driver_env() -> dict[str, str]:
    """This process's ``ASDBENCH_*`` variables (results folder, cache, blocked plugins ...)."""
    return {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIX)}


def cell_args(cell_file: Path, results_dir: Path, run_id: str) -> list[str]:
    """The arguments after the run command: the cell's settings, where its run goes, and
    the run id it must resolve to (the child refuses another and reports this one)."""
    # --resume: a cell interrupted by a killed matrix continues from its last checkpoint
    # (a run with no saved state simply starts).
    return ["--config", str(cell_file), "--results", str(results_dir), "--resume", "--json",
            "--quiet", "--expect-run-id", run_id]


@dataclass(frozen=True)
class Launch:
    """One attempt at a cell: its arguments after the run command, its log file, and the
    environment it gets beyond the driver's (the token of its claim)."""

    cell: Cell
    args: list[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Job:
    """A launched cell; ``handle`` is the executor's own (a process, a Ray reference)."""

    launch: Launch
    handle: Any
    started: float = field(default_factory=time.time)
    gpu: str | None = None  # the device index it runs on (local executor)
    note: str | None = None  # a warning about how it was started, for the user
    gpu_peak: int | None = None  # the most GPU memory its process held (bytes), when seen

    @property
    def cell(self) -> Cell:
        return self.launch.cell

    @property
    def log_path(self) -> Path:
        return self.launch.log_path


@dataclass(frozen=True)
class Exit:
    """A job that ended: its exit status and its log's last lines."""

    job: Job
    returncode: int
    output: str


class Executor(Protocol):
    """Runs launched cells, at most ``capacity`` at a time."""

    capacity: int
    waiting: str | None  # why ``has_room`` said no although fewer than capacity run

    def describe(self) -> str:
        """One line for the user: which executor, how many cells at a time, on what."""
        ...

    def has_room(self, running: int) -> bool:
        """Whether one more cell may start now, with ``running`` cells running."""
        ...

    def submit(self, launch: Launch) -> Job:
        """Start one cell (only called right after ``has_room`` said yes)."""
        ...

    def pid(self, job: Job) -> int | None:
        """The cell's local process id (recorded in its claim), or None when it runs elsewhere."""
        ...

    def wait(self, jobs: list[Job], timeout: float) -> list[Exit]:
        """The jobs that ended, waiting up to ``timeout`` seconds for at least one."""
        ...

    def cancel(self, jobs: list[Job]) -> None:
        """Stop running jobs (the matrix is interrupted)."""
        ...

    def close(self) -> None:
        """Release what the executor started."""
        ...


def spawn_cell(argv: list[str], log_path: Path, env: dict[str, str]) -> subprocess.Popen:
    """The one way a cell's process starts, locally or on a Ray worker: output to its log."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:  # the child holds its own copy of the descriptor
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)


def visible_gpus() -> list[str]:
    """CUDA devices this process may use (``CUDA_VISIBLE_DEVICES`` first, else torch)."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        ids = [d.strip() for d in env.split(",") if d.strip()]
        return [] if not ids or ids[0] == "-1" else ids
    try:
        import torch  # noqa: PLC0415 - torch only when CUDA_VISIBLE_DEVICES is unset

        return [str(i) for i in range(torch.cuda.device_count())]
    except Exception:  # no torch or a broken driver: run on the CPU
        return []


def make_executor(kind: str, max_parallel: int | None = None, address: str | None = None,
                  cells_per_gpu: int | None = None,
                  gpu_memory_per_cell: int | None = None) -> Executor:
    """The executor named on the command line (``local`` or ``ray``)."""
    if kind == "ray":
        if gpu_memory_per_cell is not None:
            raise AsdbenchError("--gpu-memory-per-cell is for --executor local (Ray places "
                                "fractional GPUs itself and does not see their memory)")
        return RayExecutor(max_parallel=max_parallel, address=address,
                           cells_per_gpu=cells_per_gpu or 1)
    if address:
        raise AsdbenchError("--address is for --executor ray")
    return LocalExecutor(max_parallel=max_parallel, cells_per_gpu=cells_per_gpu,
                         gpu_memory_per_cell=gpu_memory_per_cell)


def local_capacity(n_gpus: int, max_parallel: int | None,
                   cells_per_gpu: int | None) -> tuple[int, int]:
    """``(cells at a time, cells per GPU at most)`` of the local executor.

    On a CPU: ``max_parallel`` (default 1). On G GPUs: N x G with ``cells_per_gpu`` N (fewer
    with a smaller ``max_parallel``); without it, ``max_parallel`` (default G) spread evenly.
    """
    if not n_gpus:
        return max_parallel or 1, 1
    if cells_per_gpu:
        return min(max_parallel or cells_per_gpu * n_gpus, cells_per_gpu * n_gpus), cells_per_gpu
    capacity = max_parallel or n_gpus
    return capacity, -(-capacity // n_gpus)


class LocalExecutor:
    """Each cell a subprocess pinned to one GPU (``CUDA_VISIBLE_DEVICES``), up to
    ``cells_per_gpu`` per GPU where memory fits (:mod:`asdbench.matrix.gpus`); on a CPU,
    ``max_parallel`` at a time (default 1).

    ``cells_per_gpu`` unset: one per GPU, or ``max_parallel`` spread evenly over them.
    """

    name = "local"

    def __init__(self, command: tuple[str, ...] | list[str] | None = None,
                 max_parallel: int | None = None, gpus: list[str] | None = None,
                 cells_per_gpu: int | None = None, gpu_memory_per_cell: int | None = None,
                 slots: GpuSlots | None = None):
        self.command = list(RUN_COMMAND if command is None else command)
        self.gpus = visible_gpus() if gpus is None else gpus
        self.capacity, per_gpu = local_capacity(len(self.gpus), max_parallel, cells_per_gpu)
        self.slots = slots or GpuSlots(self.gpus, per_gpu, gpu_memory_per_cell)
        self._pick: tuple[str | None, str | None] = (None, None)
        self.mps = mps_pipe_dir() if self.gpus else None
        self.waiting: str | None = None
        cpus = os.cpu_count() or 1
        self.threads = max(1, cpus // self.capacity) if self.capacity > 1 else None

    def describe(self) -> str:
        if not self.gpus:
            return f"local executor, {self.capacity} at a time on CPU"
        s = self.slots
        memory = (f", {format_memory(s.estimate)} per cell until one is measured"
                  if s.estimate else "")
        mps = f", CUDA MPS on ({self.mps})" if self.mps else ""
        return (f"local executor, {self.capacity} at a time on {len(self.gpus)} GPU(s), "
                f"up to {s.per_gpu} per GPU{memory}{mps}")

    def _env(self, gpu: str | None, extra: dict[str, str]) -> dict[str, str]:
        env = {**os.environ, **extra}
        if gpu is not None:
            env["CUDA_VISIBLE_DEVICES"] = gpu
        if self.threads and "OMP_NUM_THREADS" not in os.environ:
            env["OMP_NUM_THREADS"] = str(self.threads)  # parallel cells share the cores
        return env

    def has_room(self, running: int) -> bool:
        self.waiting = None
        if running >= self.capacity:
            return False
        if not self.gpus:
            return True
        self._pick = self.slots.pick()
        self.waiting = self.slots.waiting
        return self._pick[0] is not None

    def submit(self, launch: Launch) -> Job:
        gpu, note = None, None
        if self.gpus:
            gpu, note = self._pick if self._pick[0] is not None else self.slots.pick()
            self._pick = (None, None)
            if gpu is None:
                raise AsdbenchError(f"no GPU has room for a cell: {self.slots.waiting}")
            self.slots.place(launch.cell.index, gpu)
        proc = spawn_cell([*self.command, *launch.args], launch.log_path,
                          self._env(gpu, launch.env))
        if gpu is not None:
            self.slots.started(launch.cell.index, proc.pid)
        return Job(launch, proc, gpu=gpu, note=note)

    def pid(self, job: Job) -> int | None:
        return job.handle.pid

    def wait(self, jobs: list[Job], timeout: float) -> list[Exit]:
        deadline = time.time() + timeout
        while True:
            if self.gpus:
                self.slots.sample()
            done = []
            for job in jobs:
                rc = job.handle.poll()
                if rc is not None:
                    job.gpu_peak = self.slots.release(job.cell.index)
                    done.append(Exit(job, rc, read_tail(job.log_path)))
            if done or time.time() >= deadline:
                return done
            time.sleep(0.1)

    def cancel(self, jobs: list[Job]) -> None:
        for job in jobs:
            if job.handle.poll() is None:
                job.handle.terminate()
        for job in jobs:
            try:
                job.handle.wait(timeout=10)
            except subprocess.TimeoutExpired:
                job.handle.kill()

    def close(self) -> None:
        pass


def _ray_run_cell(argv: list[str], log_path: str,
                  env: dict[str, str] | None = None) -> tuple[int, str]:
    """The Ray task: the same process as the local executor's, on a Ray worker (Ray has set
    ``CUDA_VISIBLE_DEVICES`` for the task), with the driver's ``env`` (its ``ASDBENCH_*``
    settings and the cell's claim); ``(exit status, the log's last lines)``."""
    rc = spawn_cell(argv, Path(log_path), {**os.environ, **(env or {})}).wait()
    return rc, read_tail(log_path)


def ray_task_options(cluster_gpus: int, cells_per_gpu: int = 1) -> dict[str, float]:
    """What one cell asks Ray for: ``1/cells_per_gpu`` of a GPU when the cluster has GPUs
    (Ray then packs that many tasks onto one device), else one CPU."""
    return {"num_gpus": 1 / cells_per_gpu} if cluster_gpus else {"num_cpus": 1}


class RayExecutor:
    """Each cell a Ray task (``num_gpus=1/cells_per_gpu`` when the cluster has GPUs, else one
    CPU). Ray places fractional GPUs itself; it does not see their memory, so the local
    executor's memory check does not apply here.

    The results folder must be reachable at the same path from every node (a shared
    filesystem); a one-machine Ray instance needs nothing.
    """

    name = "ray"
    waiting = None  # Ray queues what does not fit

    def __init__(self, command: tuple[str, ...] | list[str] | None = None,
                 max_parallel: int | None = None, address: str | None = None,
                 cells_per_gpu: int = 1):
        try:
            import ray  # noqa: PLC0415 - optional extra
        except ImportError:
            raise AsdbenchError("--executor ray needs Ray: pip install 'asdbench[ray]' "
                                "(or pip install 'ray[default]')") from None
        self.ray = ray
        self.command = list(RUN_COMMAND if command is None else command)
        self._started = False
        if not ray.is_initialized():
            try:
                # a local instance listens on the loopback only, not on every interface
                local = {} if address else {"_node_ip_address": "127.0.0.1"}
                ray.init(address=address, log_to_driver=False, include_dashboard=False,
                         **local)
            except ConnectionError as exc:
                raise AsdbenchError(f"--address {address}: cannot join the Ray cluster: "
                                    f"{exc}") from None
            self._started = True
        resources = ray.cluster_resources()
        self.gpus = int(resources.get("GPU", 0))
        self.cells_per_gpu = cells_per_gpu if self.gpus else 1
        slots = self.gpus * self.cells_per_gpu or int(resources.get("CPU", 1))
        self.capacity = max(1, max_parallel or slots)  # more than fits simply queue in Ray
        self.options = ray_task_options(self.gpus, self.cells_per_gpu)
        self._task = ray.remote(max_retries=0, **self.options)(_ray_run_cell)

    def describe(self) -> str:
        where = f"{self.gpus} GPU(s)" if self.gpus else "CPUs"
        share = (f", {self.options['num_gpus']:.3g} GPU per cell"
                 if self.cells_per_gpu > 1 else "")
        return f"Ray executor, {self.capacity} at a time on {where}{share}"

    def has_room(self, running: int) -> bool:
        return running < self.capacity

    def submit(self, launch: Launch) -> Job:
        ref = self._task.remote([*self.command, *launch.args], str(launch.log_path.resolve()),
                                {**driver_env(), **launch.env})
        return Job(launch, ref)

    def pid(self, job: Job) -> int | None:
        return None  # runs elsewhere: the claim is kept alive by the heartbeat

    def wait(self, jobs: list[Job], timeout: float) -> list[Exit]:
        by_ref = {job.handle: job for job in jobs}
        ready, _ = self.ray.wait(list(by_ref), num_returns=1, timeout=timeout)
        out = []
        for ref in ready:
            try:
                rc, output = self.ray.get(ref)
            except Exception as exc:  # the worker died or Ray failed the task
                rc, output = 1, f"Error: Ray task failed: {type(exc).__name__}: {exc}"
            out.append(Exit(by_ref[ref], rc, output))
        return out

    def cancel(self, jobs: list[Job]) -> None:
        for job in jobs:
            try:
                self.ray.cancel(job.handle, force=True)
            except Exception:
                pass

    def close(self) -> None:
        if self._started:
            self.ray.shutdown()
