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

from asdbench.matrix.grid import Cell
from asdbench.matrix.outcome import read_tail
from asdbench.registry import AsdbenchError

RUN_COMMAND = (sys.executable, "-m", "asdbench", "run")


def cell_args(cell_file: Path, results_dir: Path, run_id: str) -> list[str]:
    """The arguments after the run command: the cell's settings, where its run goes, and
    the run id it must resolve to (the child refuses another and reports this one)."""
    # --resume: a cell interrupted by a killed matrix continues from its last checkpoint
    # (a run with no saved state simply starts).
    return ["--config", str(cell_file), "--results", str(results_dir), "--resume", "--json",
            "--quiet", "--expect-run-id", run_id]


@dataclass(frozen=True)
class Launch:
    """One attempt at a cell: its arguments after the run command, and its log file."""

    cell: Cell
    args: list[str]
    log_path: Path


@dataclass
class Job:
    """A launched cell; ``handle`` is the executor's own (a process, a Ray reference)."""

    launch: Launch
    handle: Any
    started: float = field(default_factory=time.time)
    slot: int = 0

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

    def describe(self) -> str:
        """One line for the user: which executor, how many cells at a time, on what."""
        ...

    def submit(self, launch: Launch) -> Job:
        """Start one cell (only called while fewer than ``capacity`` run)."""
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
        import torch

        return [str(i) for i in range(torch.cuda.device_count())]
    except Exception:  # no torch or a broken driver: run on the CPU
        return []


def make_executor(kind: str, max_parallel: int | None = None,
                  address: str | None = None) -> Executor:
    """The executor named on the command line (``local`` or ``ray``)."""
    if kind == "ray":
        return RayExecutor(max_parallel=max_parallel, address=address)
    if address:
        raise AsdbenchError("--address is for --executor ray")
    return LocalExecutor(max_parallel=max_parallel)


class LocalExecutor:
    """Each cell a subprocess; one at a time per GPU (round robin), or ``max_parallel``."""

    name = "local"

    def __init__(self, command: tuple[str, ...] | list[str] | None = None,
                 max_parallel: int | None = None, gpus: list[str] | None = None):
        self.command = list(RUN_COMMAND if command is None else command)
        self.gpus = visible_gpus() if gpus is None else gpus
        self.capacity = max_parallel or max(1, len(self.gpus))
        self._free = list(range(self.capacity))
        cpus = os.cpu_count() or 1
        self.threads = max(1, cpus // self.capacity) if self.capacity > 1 else None

    def describe(self) -> str:
        where = f"{len(self.gpus)} GPU(s)" if self.gpus else "CPU"
        return f"local executor, {self.capacity} at a time on {where}"

    def _env(self, slot: int) -> dict[str, str]:
        env = dict(os.environ)
        if self.gpus:
            env["CUDA_VISIBLE_DEVICES"] = self.gpus[slot % len(self.gpus)]
        if self.threads and "OMP_NUM_THREADS" not in os.environ:
            env["OMP_NUM_THREADS"] = str(self.threads)  # parallel CPU cells share the cores
        return env

    def submit(self, launch: Launch) -> Job:
        slot = self._free.pop(0)
        proc = spawn_cell([*self.command, *launch.args], launch.log_path, self._env(slot))
        return Job(launch, proc, slot=slot)

    def pid(self, job: Job) -> int | None:
        return job.handle.pid

    def wait(self, jobs: list[Job], timeout: float) -> list[Exit]:
        deadline = time.time() + timeout
        while True:
            done = []
            for job in jobs:
                rc = job.handle.poll()
                if rc is not None:
                    self._free.append(job.slot)
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


def _ray_run_cell(argv: list[str], log_path: str) -> tuple[int, str]:
    """The Ray task: the same process as the local executor's, on a Ray worker (Ray has set
    ``CUDA_VISIBLE_DEVICES`` for the task); ``(exit status, the log's last lines)``."""
    rc = spawn_cell(argv, Path(log_path), dict(os.environ)).wait()
    return rc, read_tail(log_path)


class RayExecutor:
    """Each cell a Ray task (``num_gpus=1`` when the cluster has GPUs, else one CPU).

    The results folder must be reachable at the same path from every node (a shared
    filesystem); a one-machine Ray instance needs nothing.
    """

    name = "ray"

    def __init__(self, command: tuple[str, ...] | list[str] | None = None,
                 max_parallel: int | None = None, address: str | None = None):
        try:
            import ray
        except ImportError:
            raise AsdbenchError("--executor ray needs Ray: pip install 'asdbench[ray]' "
                                "(or pip install 'ray[default]')") from None
        self.ray = ray
        self.command = list(RUN_COMMAND if command is None else command)
        self._started = False
        if not ray.is_initialized():
            try:
                ray.init(address=address, log_to_driver=False, include_dashboard=False)
            except ConnectionError as exc:
                raise AsdbenchError(f"--address {address}: cannot join the Ray cluster: "
                                    f"{exc}") from None
            self._started = True
        resources = ray.cluster_resources()
        self.gpus = int(resources.get("GPU", 0))
        slots = self.gpus or int(resources.get("CPU", 1))
        self.capacity = max(1, max_parallel or slots)  # more than fits simply queue in Ray
        opts = {"num_gpus": 1} if self.gpus else {"num_cpus": 1}
        self._task = ray.remote(max_retries=0, **opts)(_ray_run_cell)

    def describe(self) -> str:
        where = f"{self.gpus} GPU(s)" if self.gpus else "CPUs"
        return f"Ray executor, {self.capacity} at a time on {where}"

    def submit(self, launch: Launch) -> Job:
        ref = self._task.remote([*self.command, *launch.args], str(launch.log_path.resolve()))
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
