"""Run a grid of configurations (a *matrix*) to completion, resumably and in parallel.

A matrix file (TOML, format documented at the top of ``configs/quick.toml``) names ``axes``
whose cartesian product gives the cells, shared ``settings``, and ``exclude``/``include``
lists of partial combinations. Every cell is one ``asdbench run``; its identity is the
run id (config hash + seed), so a finished cell is never run twice and a matrix can be
killed and restarted at any time.

The local executor runs each cell in its own subprocess (a crash in one cell never takes the
others down), one per visible GPU at a time; the Ray executor runs each cell as a Ray task.
Claim files in ``RESULTS/claims/`` keep two matrix processes sharing a results folder from
running the same cell at once.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from rich.markup import escape as esc

from asdbench.atomic import atomic_write_text
from asdbench.config import flatten, load_toml, parse_sets, resolve, run_id
from asdbench.registry import AsdbenchError, Registry, _suggest

MATRIX_KEYS = ("name", "description", "axes", "settings", "exclude", "include")
RUN_COMMAND = (sys.executable, "-m", "asdbench", "run")
# A claim whose holder runs on another host is stale once its heartbeat is this old.
STALE_AFTER_S = 600.0
HEARTBEAT_S = 30.0
ERROR_TAIL_LINES = 40


# --- the grid ----------------------------------------------------------------------------


def load_matrix(path: str | Path) -> dict[str, Any]:
    """Read and validate a matrix file; ``name`` defaults to the file's stem."""
    path = Path(path)
    config = load_toml(path)
    config.setdefault("name", path.stem)
    expand(config, source=str(path))  # validates; errors name the file
    return config


def _fail(source: str, message: str) -> AsdbenchError:
    return AsdbenchError(f"{source}: {message}")


def _as_choices(value: Any) -> list[Any]:
    """An exclude/include value: a list means "each of", anything else is one value."""
    return list(value) if isinstance(value, list) else [value]


def expand(config: dict[str, Any], source: str = "matrix") -> list[dict[str, Any]]:
    """Expand a matrix config into the run overrides of each cell, in a stable order.

    1. the cartesian product of ``axes`` (first axis varies slowest);
    2. cells matching any ``exclude`` entry are dropped (an entry matches when every key it
       names has one of its values);
    3. each ``include`` entry adds cells: its own values (lists expanded) combined with every
       value of each axis it does not name;
    4. shared ``settings`` are added under every cell (a cell's own values win) and identical
       cells are kept once.
    """
    unknown = sorted(set(config) - set(MATRIX_KEYS))
    if unknown:
        raise _fail(source, f"unknown top-level key '{unknown[0]}'"
                    f"{_suggest(unknown[0], MATRIX_KEYS)}; expected {', '.join(MATRIX_KEYS)}")
    for key in ("axes", "settings"):
        if not isinstance(config.get(key, {}), dict):
            raise _fail(source, f"'{key}' must be a table")
    axes = flatten(config.get("axes", {}))
    for key, values in axes.items():
        if not isinstance(values, list) or not values:
            raise _fail(source, f"axis '{key}' must be a non-empty list (put single values "
                        "in [settings])")
    settings = flatten(config.get("settings", {}))
    excludes = _entries(config, "exclude", source)
    includes = _entries(config, "include", source)

    names = set(axes) | {k for entry in includes for k in entry}
    for i, entry in enumerate(excludes, 1):
        for key in entry:
            if key not in names:
                raise _fail(source, f"exclude entry {i} names '{key}', which is neither an axis "
                            f"nor an include key{_suggest(key, names)}")

    keys = list(axes)
    cells = [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*axes.values())]
    cells = [c for c in cells if not any(_matches(c, e) for e in excludes)]
    for entry in includes:
        free = [k for k in keys if k not in entry]
        own = list(entry)
        for combo in itertools.product(*(entry[k] for k in own), *(axes[k] for k in free)):
            cells.append(dict(zip(own + free, combo, strict=True)))

    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for cell in cells:
        overrides = {**settings, **cell}
        key = json.dumps(overrides, sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            out.append(overrides)
    return out


def _entries(config: dict[str, Any], key: str, source: str) -> list[dict[str, list[Any]]]:
    raw = config.get(key, [])
    if not isinstance(raw, list) or not all(isinstance(e, dict) for e in raw):
        raise _fail(source, f"'{key}' must be a list of tables ([[{key}]] or {key} = [{{...}}])")
    entries = []
    for i, entry in enumerate(raw, 1):
        flat = flatten(entry)
        if not flat:
            raise _fail(source, f"{key} entry {i} is empty")
        entries.append({k: _as_choices(v) for k, v in flat.items()})
    return entries


def _matches(cell: dict[str, Any], entry: dict[str, list[Any]]) -> bool:
    return all(k in cell and cell[k] in values for k, values in entry.items())


def varying_keys(cells: list[dict[str, Any]]) -> list[str]:
    """The keys whose value differs between cells, in first-seen order (for display)."""
    keys: list[str] = []
    for cell in cells:
        keys.extend(k for k in cell if k not in keys)
    return [k for k in keys if len({json.dumps(c.get(k), default=str) for c in cells}) > 1]


# --- cells -------------------------------------------------------------------------------


@dataclass
class Cell:
    """One combination of a matrix: its overrides and, when they resolve, its run id."""

    index: int
    overrides: dict[str, Any]
    run_id: str | None = None
    error: str | None = None  # why the overrides do not resolve (unknown name, bad value)
    duplicate_of: int | None = None  # index of an earlier cell with the same run id
    attempts: int = 0

    @property
    def key(self) -> str:
        """Run id, or a stable stand-in for a cell that does not resolve."""
        if self.run_id:
            return self.run_id
        blob = json.dumps(self.overrides, sort_keys=True, default=str).encode()
        return f"invalid-{self.index:03d}-{hashlib.sha256(blob).hexdigest()[:8]}"


def plan(config: dict[str, Any], registry: Registry) -> list[Cell]:
    """Expand and resolve every cell; an unresolvable cell carries its error instead."""
    cells: list[Cell] = []
    first: dict[str, int] = {}
    for i, overrides in enumerate(expand(config, source=config.get("name", "matrix"))):
        cell = Cell(i, overrides)
        try:
            cell.run_id = run_id(resolve(overrides, registry))
        except AsdbenchError as exc:
            cell.error = str(exc)
        if cell.run_id in first:
            cell.duplicate_of = first[cell.run_id]
        elif cell.run_id:
            first[cell.run_id] = i
        cells.append(cell)
    return cells


def is_finished(results_dir: Path, rid: str) -> bool:
    return (Path(results_dir) / "runs" / rid / "metrics.json").exists()


def to_toml(flat: dict[str, Any]) -> str:
    """Flat settings as TOML with quoted dotted keys (``None`` = default, left out)."""
    lines = [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in flat.items() if v is not None]
    return "\n".join(lines) + "\n"


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        return repr(v) if math.isfinite(v) else ("inf" if v > 0 else "-inf")
    if isinstance(v, str):
        return json.dumps(v)  # JSON string escapes are valid TOML basic-string escapes
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise AsdbenchError(f"cannot write setting value {v!r} ({type(v).__name__}) to TOML")


# --- claims ------------------------------------------------------------------------------


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    except OSError:
        return False
    return True


@dataclass
class Claim:
    path: Path
    info: dict[str, Any]


class Claims:
    """Exclusive claims on cells, as files ``RESULTS/claims/<run_id>.claim``.

    Creating the file with ``O_CREAT | O_EXCL`` is atomic, so of two processes claiming a
    cell exactly one wins. A claim is stale (and may be taken over) when its host is this
    host and none of its processes (the matrix and the cell's subprocess) is alive, or when
    its heartbeat (the file's mtime, refreshed by the holder) is older than ``stale_after``.
    """

    def __init__(self, results_dir: Path, owner: str = "", stale_after: float = STALE_AFTER_S):
        self.dir = Path(results_dir) / "claims"
        self.host = socket.gethostname()
        self.owner = owner
        self.stale_after = stale_after
        self.held: dict[str, Claim] = {}
        self._lock = threading.Lock()

    def path(self, key: str) -> Path:
        return self.dir / f"{key}.claim"

    def holder(self, key: str) -> dict[str, Any] | None:
        """The claim's content, or ``None`` when the cell is not claimed."""
        try:
            return json.loads(self.path(key).read_text() or "{}")
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, OSError):
            return {}  # being written right now, or garbage: treated by age alone

    def is_stale(self, key: str, info: dict[str, Any] | None = None) -> bool:
        path = self.path(key)
        info = self.holder(key) if info is None else info
        try:
            age = time.time() - path.stat().st_mtime
        except FileNotFoundError:
            return False
        if info and info.get("host") == self.host:
            pids = [p for p in (info.get("pid"), info.get("child")) if isinstance(p, int)]
            if pids:
                return not any(_pid_alive(p) for p in pids)
        return age > self.stale_after

    def acquire(self, key: str) -> Claim | None:
        """Claim a cell; ``None`` when a live process holds it."""
        self.dir.mkdir(parents=True, exist_ok=True)
        info = {"pid": os.getpid(), "host": self.host, "owner": self.owner,
                "since": time.strftime("%Y-%m-%dT%H:%M:%S")}
        for _ in range(3):
            try:
                fd = os.open(self.path(key), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                seen = self.holder(key)
                if seen is None or not self.is_stale(key, seen):
                    if seen is None:
                        continue  # released in between: try again
                    return None
                self._break(key, seen)
                continue
            with os.fdopen(fd, "w") as fh:
                json.dump(info, fh)
            claim = Claim(self.path(key), info)
            with self._lock:
                self.held[key] = claim
            return claim
        return None

    def _break(self, key: str, seen: dict[str, Any]) -> None:
        """Remove a stale claim without ever removing a fresh one taken in the meantime."""
        path = self.path(key)
        aside = path.with_name(f"{path.name}.stale-{os.getpid()}-{threading.get_ident()}")
        try:
            os.rename(path, aside)  # atomic: of several breakers exactly one moves the file
        except FileNotFoundError:
            return
        try:
            moved = json.loads(aside.read_text() or "{}")
        except (json.JSONDecodeError, OSError):
            moved = {}
        if moved != seen:  # a fresh claim slipped in: put it back unless yet another exists
            try:
                os.link(aside, path)
            except FileExistsError:
                pass
        aside.unlink(missing_ok=True)

    def set_child(self, key: str, pid: int) -> None:
        """Record the cell's subprocess so a restart sees it as alive while it runs."""
        claim = self.held.get(key)
        if claim is None:
            return
        claim.info["child"] = pid
        atomic_write_text(claim.path, json.dumps(claim.info))

    def release(self, key: str) -> None:
        with self._lock:
            claim = self.held.pop(key, None)
        if claim is not None:
            claim.path.unlink(missing_ok=True)

    def release_all(self) -> None:
        for key in list(self.held):
            self.release(key)

    def heartbeat(self) -> None:
        with self._lock:
            claims = list(self.held.values())
        for claim in claims:
            try:
                os.utime(claim.path)
            except FileNotFoundError:
                pass


class _Heartbeat(threading.Thread):
    def __init__(self, claims: Claims, every: float = HEARTBEAT_S):
        super().__init__(daemon=True, name="asdbench-claim-heartbeat")
        self.claims, self.every, self.stop = claims, every, threading.Event()

    def run(self) -> None:
        while not self.stop.wait(self.every):
            self.claims.heartbeat()


# --- running one cell --------------------------------------------------------------------

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def error_line(text: str, returncode: int | None = None) -> str:
    """The line that says why a cell failed: the last ``Error:`` line, else the last line."""
    lines = [_ANSI.sub("", ln).strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln]
    for ln in reversed(lines):
        if ln.lower().startswith("error:") or re.match(r"^[A-Za-z_.]*(Error|Exception)\b", ln):
            return ln
    if returncode is not None and returncode < 0:
        import signal

        try:
            return f"killed by signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return lines[-1] if lines else f"exit status {returncode}"


def cell_argv(command: tuple[str, ...] | list[str], cell_file: Path, results_dir: Path) -> list[str]:
    # --resume: a cell interrupted by a killed matrix continues from its last checkpoint
    # (a run with no saved state simply starts).
    return [*command, "--config", str(cell_file), "--results", str(results_dir),
            "--resume", "--json", "--quiet"]


def run_cell_process(argv: list[str], log_path: str, env: dict[str, str]) -> tuple[int, str]:
    """Run one cell's command with its output in ``log_path``; ``(returncode, error tail)``."""
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        rc = subprocess.call(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
    return rc, _tail(log_path) if rc != 0 else ""


def _tail(path: str | Path) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-ERROR_TAIL_LINES:])
    except OSError:
        return ""


# --- executors ---------------------------------------------------------------------------


@dataclass
class Job:
    cell: Cell
    handle: Any
    log_path: Path
    started: float = field(default_factory=time.time)
    slot: int = 0


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


class LocalExecutor:
    """Each cell a subprocess; one at a time per GPU (round robin), or ``max_parallel``."""

    name = "local"

    def __init__(self, command: tuple[str, ...] | list[str] = RUN_COMMAND,
                 max_parallel: int | None = None, gpus: list[str] | None = None):
        self.command = list(command)
        self.gpus = visible_gpus() if gpus is None else gpus
        self.capacity = max_parallel or max(1, len(self.gpus))
        self._free = list(range(self.capacity))
        cpus = os.cpu_count() or 1
        self.threads = max(1, cpus // self.capacity) if self.capacity > 1 else None

    def describe(self) -> str:
        where = f"{len(self.gpus)} GPU(s)" if self.gpus else "CPU"
        return f"local executor, {self.capacity} at a time on {where}"

    def _env(self, slot: int, cell: Cell) -> dict[str, str]:
        env = dict(os.environ)
        env["ASDBENCH_MATRIX_RUN_ID"] = cell.key
        if self.gpus:
            env["CUDA_VISIBLE_DEVICES"] = self.gpus[slot % len(self.gpus)]
        if self.threads and "OMP_NUM_THREADS" not in os.environ:
            env["OMP_NUM_THREADS"] = str(self.threads)  # parallel CPU cells share the cores
        return env

    def submit(self, cell: Cell, cell_file: Path, results_dir: Path, log_path: Path) -> Job:
        slot = self._free.pop(0)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(log_path, "w")
        try:
            proc = subprocess.Popen(cell_argv(self.command, cell_file, results_dir), stdout=log,
                                    stderr=subprocess.STDOUT, env=self._env(slot, cell))
        finally:
            log.close()  # the child holds its own copy of the descriptor
        return Job(cell, proc, log_path, slot=slot)

    def pid(self, job: Job) -> int | None:
        return job.handle.pid

    def wait(self, jobs: list[Job], timeout: float) -> list[tuple[Job, int, str]]:
        deadline = time.time() + timeout
        while True:
            done = []
            for job in jobs:
                rc = job.handle.poll()
                if rc is not None:
                    self._free.append(job.slot)
                    done.append((job, rc, _tail(job.log_path) if rc != 0 else ""))
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


def _ray_run_cell(argv: list[str], log_path: str, run_key: str) -> tuple[int, str]:
    """The Ray task: the same subprocess as the local executor, on a Ray worker."""
    env = dict(os.environ)
    env["ASDBENCH_MATRIX_RUN_ID"] = run_key  # Ray has set CUDA_VISIBLE_DEVICES for this task
    return run_cell_process(argv, log_path, env)


class RayExecutor:
    """Each cell a Ray task (``num_gpus=1`` when the cluster has GPUs, else one CPU).

    The results folder must be reachable at the same path from every node (a shared
    filesystem); a one-machine Ray instance needs nothing.
    """

    name = "ray"

    def __init__(self, command: tuple[str, ...] | list[str] = RUN_COMMAND,
                 max_parallel: int | None = None, address: str | None = None):
        try:
            import ray
        except ImportError:
            raise AsdbenchError("--executor ray needs Ray: pip install 'asdbench[ray]' "
                                "(or pip install 'ray[default]')") from None
        self.ray = ray
        self.command = list(command)
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

    def submit(self, cell: Cell, cell_file: Path, results_dir: Path, log_path: Path) -> Job:
        argv = cell_argv(self.command, cell_file.resolve(), results_dir.resolve())
        ref = self._task.remote(argv, str(log_path.resolve()), cell.key)
        return Job(cell, ref, log_path)

    def pid(self, job: Job) -> int | None:
        return None  # runs elsewhere: the claim is kept alive by the heartbeat

    def wait(self, jobs: list[Job], timeout: float) -> list[tuple[Job, int, str]]:
        by_ref = {job.handle: job for job in jobs}
        ready, _ = self.ray.wait(list(by_ref), num_returns=1, timeout=timeout)
        out = []
        for ref in ready:
            job = by_ref[ref]
            try:
                rc, tail = self.ray.get(ref)
            except Exception as exc:  # the worker died or Ray failed the task
                rc, tail = 1, f"Error: Ray task failed: {type(exc).__name__}: {exc}"
            out.append((job, rc, tail))
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


# --- the matrix run ----------------------------------------------------------------------


@dataclass
class MatrixResult:
    name: str
    cells: list[Cell]
    done: list[str] = field(default_factory=list)  # finished by this invocation
    skipped: list[str] = field(default_factory=list)  # already finished
    failed: dict[str, str] = field(default_factory=dict)  # key -> error line
    elsewhere: list[str] = field(default_factory=list)  # claimed by another live process

    @property
    def ok(self) -> bool:
        return not self.failed and not self.elsewhere


def matrix_dir(results_dir: Path, name: str) -> Path:
    return Path(results_dir) / "matrix" / name


def _append_jsonl(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # One write() of one line on an O_APPEND file: concurrent matrix processes never interleave.
    line = (json.dumps(record, default=str) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def read_failures(results_dir: Path, name: str) -> list[dict[str, Any]]:
    path = matrix_dir(results_dir, name) / "failures.jsonl"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut short by a crash
    return out


def run_matrix(config: dict[str, Any], results_dir: str | Path, *, registry: Registry,
               executor: LocalExecutor | RayExecutor | None = None, retries: int = 0,
               progress: bool = True, console=None) -> MatrixResult:
    """Run every unfinished cell of a matrix; returns what happened to each."""
    from rich.console import Console

    from asdbench.progress import make_progress

    results_dir = Path(results_dir)
    name = str(config.get("name", "matrix"))
    console = console or Console(stderr=True)
    cells = plan(config, registry)
    executor = executor or LocalExecutor()
    mdir = matrix_dir(results_dir, name)
    failures_path = mdir / "failures.jsonl"
    result = MatrixResult(name, cells)
    claims = Claims(results_dir, owner=f"matrix {name}")

    def record_failure(cell: Cell, error: str, tail: str, final: bool, rc: int | None) -> None:
        _append_jsonl(failures_path, {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "host": claims.host, "cell": cell.index,
            "run_id": cell.run_id, "overrides": cell.overrides, "attempt": cell.attempts,
            "final": final, "returncode": rc, "error": error, "tail": tail,
            "log": str(mdir / "logs" / f"{cell.key}.log")})

    queue: deque[Cell] = deque()
    for cell in cells:
        if cell.duplicate_of is not None:
            continue
        if cell.error:
            cell.attempts = 1
            result.failed[cell.key] = cell.error
            record_failure(cell, cell.error, "", True, None)
        elif is_finished(results_dir, cell.run_id):
            result.skipped.append(cell.run_id)
        else:
            queue.append(cell)

    for cell in cells:
        if cell.error:
            console.print(f"[red]cell {cell.index} cannot run:[/] {esc(cell.error)}")
    console.print(f"matrix [bold]{esc(name)}[/]: {len(cells)} cells, {len(result.skipped)} already "
                  f"finished, {len(queue)} to run ({executor.describe()})")

    running: dict[int, Job] = {}
    deferred: list[Cell] = []
    heartbeat = _Heartbeat(claims)
    heartbeat.start()
    bar = make_progress(progress, console)
    total = len(queue)

    def describe() -> str:
        return (f"{esc(name)}: [green]{len(result.done)} done[/], {len(running)} running, "
                f"[red]{len(result.failed)} failed[/]")

    try:
        with bar:
            task = bar.add_task(describe(), total=total or 1, completed=0 if total else 1)
            while queue or running:
                while queue and len(running) < executor.capacity:
                    cell = queue.popleft()
                    if is_finished(results_dir, cell.run_id):
                        result.skipped.append(cell.run_id)
                        bar.advance(task)
                        continue
                    if claims.acquire(cell.run_id) is None:
                        deferred.append(cell)
                        continue
                    if is_finished(results_dir, cell.run_id):  # finished while we looked
                        claims.release(cell.run_id)
                        result.skipped.append(cell.run_id)
                        bar.advance(task)
                        continue
                    cell.attempts += 1
                    cell_file = mdir / "cells" / f"{cell.run_id}.toml"
                    atomic_write_text(cell_file, to_toml(cell.overrides))
                    log_path = mdir / "logs" / f"{cell.run_id}.log"
                    job = executor.submit(cell, cell_file, results_dir, log_path)
                    pid = executor.pid(job)
                    if pid:
                        claims.set_child(cell.run_id, pid)
                    running[cell.index] = job
                    bar.update(task, description=describe())
                if not running:
                    continue
                for job, rc, tail in executor.wait(list(running.values()), timeout=0.5):
                    cell = job.cell
                    del running[cell.index]
                    seconds = time.time() - job.started
                    if rc == 0 and is_finished(results_dir, cell.run_id):
                        result.done.append(cell.run_id)
                        result.failed.pop(cell.key, None)
                        bar.console.print(f"[green]done[/] {cell.run_id} ({seconds:.0f} s)")
                        bar.advance(task)
                    else:
                        error = (error_line(tail, rc) if rc != 0 else
                                 "exited with status 0 but wrote no metrics.json")
                        final = cell.attempts > retries
                        result.failed[cell.key] = error
                        record_failure(cell, error, tail, final, rc)
                        again = "" if final else f", retrying ({cell.attempts}/{retries})"
                        bar.console.print(f"[red]failed[/] {cell.run_id}: {esc(error)}{again}  "
                                          f"(log: {esc(str(job.log_path))})")
                        if final:
                            bar.advance(task)
                        else:
                            queue.append(cell)
                    claims.release(cell.run_id)
                    bar.update(task, description=describe())
            for cell in deferred:
                if is_finished(results_dir, cell.run_id):
                    result.skipped.append(cell.run_id)
                else:
                    holder = claims.holder(cell.run_id) or {}
                    result.elsewhere.append(cell.run_id)
                    bar.console.print(f"[yellow]running elsewhere[/] {cell.run_id} (pid "
                                      f"{holder.get('pid')} on {holder.get('host')})")
                bar.advance(task)
    except BaseException:
        executor.cancel(list(running.values()))
        raise
    finally:
        heartbeat.stop.set()
        claims.release_all()
        executor.close()
        atomic_write_text(mdir / "status.json", json.dumps({
            "name": name, "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "cells": len(cells),
            "done": result.done, "skipped": result.skipped, "failed": result.failed,
            "elsewhere": result.elsewhere}, indent=2))
    return result


# --- dry run -----------------------------------------------------------------------------


def cell_status(cell: Cell, results_dir: Path, claims: Claims,
                failures: dict[str, int]) -> tuple[str, str]:
    """``(state, text)``: state is invalid, duplicate, done, running or "to run"."""
    if cell.error:
        return "invalid", f"invalid: {cell.error}"
    if cell.duplicate_of is not None:
        return "duplicate", f"duplicate of cell {cell.duplicate_of}"
    if is_finished(results_dir, cell.run_id):
        return "done", "done"
    holder = claims.holder(cell.run_id)
    if holder is not None and not claims.is_stale(cell.run_id, holder):
        return "running", f"running (pid {holder.get('pid')} on {holder.get('host')})"
    n = failures.get(cell.run_id, 0)
    return "to run", f"to run (failed {n}x before)" if n else "to run"


def print_plan(config: dict[str, Any], results_dir: Path, registry: Registry, console) -> list[Cell]:
    from rich.table import Table

    cells = plan(config, registry)
    name = str(config.get("name", "matrix"))
    claims = Claims(results_dir)
    failures: dict[str, int] = {}
    for rec in read_failures(results_dir, name):
        if rec.get("run_id"):
            failures[rec["run_id"]] = failures.get(rec["run_id"], 0) + 1
    keys = varying_keys([c.overrides for c in cells])
    table = Table(title=f"matrix {esc(name)}: {len(cells)} cells")
    table.add_column("#", justify="right")
    for key in keys:
        table.add_column(key)
    table.add_column("run id", no_wrap=True)
    table.add_column("status")
    counts: dict[str, int] = {}
    styles = {"done": "green", "invalid": "red", "running": "yellow"}
    for cell in cells:
        state, status = cell_status(cell, results_dir, claims, failures)
        counts[state] = counts.get(state, 0) + 1
        style = styles.get(state, "")
        table.add_row(str(cell.index), *(esc(str(cell.overrides.get(k, ""))) for k in keys),
                      cell.run_id or "—", f"[{style}]{esc(status)}[/]" if style else esc(status))
    console.print(table)
    console.print(", ".join(f"{v} {k}" for k, v in counts.items()))
    return cells


# --- command line ------------------------------------------------------------------------


@click.command("matrix")
@click.argument("config_file", metavar="CONFIG", type=click.Path(path_type=Path))
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local",
              show_default=True, help="local: a subprocess per cell, one per GPU; ray: Ray tasks.")
@click.option("--address", help="Ray cluster to join (e.g. auto or ray://host:10001).")
@click.option("--results", type=click.Path(path_type=Path), default=Path("results"),
              show_default=True, help="Results folder shared by every cell.")
@click.option("--dry-run", is_flag=True, help="List the cells and which are done; run nothing.")
@click.option("--max-parallel", type=click.IntRange(min=1),
              help="Cells at a time (default: one per visible GPU, 1 on a CPU).")
@click.option("--retries", type=click.IntRange(min=0), default=0, show_default=True,
              help="Run a failed cell again up to N more times.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override a shared setting for every cell (changes their run ids).")
def matrix_command(config_file: Path, executor: str, address: str | None, results: Path,
                   dry_run: bool, max_parallel: int | None, retries: int, sets) -> None:
    """Run every cell of a matrix file (axes x settings), skipping finished ones.

    Safe to interrupt and restart: finished cells are skipped, an interrupted cell resumes
    from its last epoch, and two matrix processes on one results folder never run the same
    cell. Failures are listed in RESULTS/matrix/<name>/failures.jsonl.

    \b
    Examples:
      asdbench matrix configs/quick.toml --dry-run
      asdbench matrix configs/quick.toml
      asdbench matrix configs/paper-table3.toml --max-parallel 4 --retries 1
      asdbench matrix configs/paper-table2.toml --executor ray --address auto
    """
    from rich.console import Console

    from asdbench.plugins import get_registry

    # soft_wrap: long paths and error lines stay whole (copyable) in logs and narrow terminals
    console = Console(stderr=True, soft_wrap=True)
    config = load_matrix(config_file)
    if sets:
        config.setdefault("settings", {})
        config["settings"] = {**flatten(config["settings"]), **parse_sets(sets)}
    registry = get_registry()
    if dry_run:
        out = Console() if sys.stdout.isatty() else Console(width=200)  # piped: no folding
        print_plan(config, results, registry, out)
        return
    if executor == "ray":
        ex: LocalExecutor | RayExecutor = RayExecutor(max_parallel=max_parallel, address=address)
    else:
        if address:
            raise AsdbenchError("--address is for --executor ray")
        ex = LocalExecutor(max_parallel=max_parallel)
    result = run_matrix(config, results, registry=registry, executor=ex, retries=retries,
                        console=console)
    console.print(f"matrix {esc(result.name)}: {len(result.done)} finished now, "
                  f"{len(result.skipped)} were done, {len(result.failed)} failed, "
                  f"{len(result.elsewhere)} running elsewhere")
    if result.failed:
        for key, error in result.failed.items():
            console.print(f"  [red]failed[/] {key}: {esc(error)}")
        console.print(f"details: {esc(str(matrix_dir(results, result.name) / 'failures.jsonl'))}")
        raise SystemExit(1)
