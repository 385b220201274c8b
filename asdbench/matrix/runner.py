"""The matrix loop: launch unfinished cells as capacity frees up, collect them as they end.

A cell goes: planned -> queued (or skipped: finished already; or failed: does not resolve)
-> claimed -> running -> done, or failed (queued again while retries are left). A cell
claimed by another live matrix process is deferred and, at the end, reported as running
elsewhere unless it finished meanwhile.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape as esc

from asdbench.atomic import atomic_write_text, sweep_temp_files
from asdbench.claims import CLAIM_ENV, Claims, Heartbeat
from asdbench.matrix.executors import Executor, Exit, Job, Launch, LocalExecutor, cell_args
from asdbench.matrix.gpus import format_memory
from asdbench.matrix.grid import Cell, matrix_name, plan, to_toml
from asdbench.matrix.outcome import check_result, is_finished
from asdbench.matrix.records import MatrixFolder, now
from asdbench.progress import make_progress
from asdbench.registry import Registry

POLL_S = 0.5
# A temporary file in the matrix folder older than this is a killed writer's leftover (another
# matrix process may be writing a fresh one).
TEMP_MAX_AGE_S = 3600.0


@dataclass
class MatrixResult:
    name: str
    cells: list[Cell]
    done: list[str] = field(default_factory=list)  # finished by this invocation
    skipped: list[str] = field(default_factory=list)  # already finished
    failed: dict[str, str] = field(default_factory=dict)  # key -> error line
    elsewhere: list[str] = field(default_factory=list)  # claimed by another live process
    gpu_peaks: dict[str, int] = field(default_factory=dict)  # run id -> bytes, where seen

    @property
    def ok(self) -> bool:
        return not self.failed and not self.elsewhere


class MatrixRun:
    """One invocation of a matrix on a results folder; ``run()`` does it once."""

    def __init__(self, config: dict[str, Any], results_dir: str | Path, *, registry: Registry,
                 executor: Executor | None = None, retries: int = 0, progress: bool = True,
                 console: Console | None = None):
        self.results_dir = Path(results_dir)
        self.name = matrix_name(config)
        self.console = console or Console(stderr=True)
        self.cells = plan(config, registry)
        self.executor: Executor = executor or LocalExecutor()
        self.retries = retries
        self.folder = MatrixFolder(self.results_dir, self.name)
        self.claims = Claims(self.results_dir, owner=f"matrix {self.name}")
        self.result = MatrixResult(self.name, self.cells)
        self.queue: deque[Cell] = deque()
        self.running: dict[int, Job] = {}
        self.deferred: list[Cell] = []
        self.waiting: str | None = None  # the last "waiting for GPU memory" line printed
        self.bar = make_progress(progress, self.console)
        self.task = None

    def run(self) -> MatrixResult:
        """Run every unfinished cell; returns what happened to each."""
        if self.folder.path.is_dir():
            sweep_temp_files(self.folder.path, min_age=TEMP_MAX_AGE_S)
        self._triage()
        heartbeat = Heartbeat(self.claims)
        heartbeat.start()
        try:
            with self.bar:
                total = len(self.queue)
                self.task = self.bar.add_task(self._describe(), total=total or 1,
                                              completed=0 if total else 1)
                while self.queue or self.running:
                    self._fill()
                    if self.running:
                        for exit_ in self.executor.wait(list(self.running.values()), POLL_S):
                            self._collect(exit_)
                self._settle_deferred()
        except BaseException:
            self.executor.cancel(list(self.running.values()))
            raise
        finally:
            heartbeat.stop.set()
            self.claims.release_all()
            self.executor.close()
            self._write_status()
        return self.result

    # --- steps -----------------------------------------------------------------------------

    def _triage(self) -> None:
        """Queue the cells to run; invalid cells fail at once, finished ones are skipped."""
        for cell in self.cells:
            if cell.duplicate_of is not None:
                continue
            if cell.error:
                cell.attempts = 1
                self._record_failure(cell, cell.error, "", None, final=True)
            elif is_finished(self.results_dir, cell.run_id):
                self.result.skipped.append(cell.run_id)
            else:
                self.queue.append(cell)
        for cell in self.cells:
            if cell.error:
                self.console.print(f"[red]cell {cell.index} cannot run:[/] {esc(cell.error)}")
        self.console.print(
            f"matrix [bold]{esc(self.name)}[/]: {len(self.cells)} cells, "
            f"{len(self.result.skipped)} already finished, {len(self.queue)} to run "
            f"({self.executor.describe()})")

    def _fill(self) -> None:
        """Start queued cells while the executor has room."""
        while self.queue and self.executor.has_room(len(self.running)):
            self._start(self.queue.popleft())
        waiting = self.executor.waiting if self.queue else None
        if waiting and waiting != self.waiting:  # say it once, not at every poll
            self.console.print(f"[yellow]{esc(waiting)}[/]")
        self.waiting = waiting

    def _start(self, cell: Cell) -> None:
        """Claim a cell and launch it, unless it is finished or another process holds it."""
        rid = cell.run_id
        if is_finished(self.results_dir, rid):
            self._skip(rid)
            return
        if self.claims.acquire(rid) is None:
            self.deferred.append(cell)
            return
        if is_finished(self.results_dir, rid):  # finished while we looked
            self.claims.release(rid)
            self._skip(rid)
            return
        cell.attempts += 1
        cell_file = self.folder.cell_file(rid)
        atomic_write_text(cell_file, to_toml(cell.overrides))
        args = cell_args(cell_file.resolve(), self.results_dir.resolve(), rid)
        job = self.executor.submit(Launch(cell, args, self.folder.log_path(rid),
                                          {CLAIM_ENV: self.claims.token(rid)}))
        pid = self.executor.pid(job)
        if pid:
            self.claims.set_child(rid, pid)
        self.running[cell.index] = job
        if job.note:
            self.console.print(f"[yellow]warning:[/] {esc(job.note)}")
        self.bar.update(self.task, description=self._describe())

    def _collect(self, exit_: Exit) -> None:
        """A cell's process ended: done when it reported its run finished, else a failure."""
        job, cell = exit_.job, exit_.job.cell
        del self.running[cell.index]
        error = check_result(exit_.returncode, exit_.output, cell.run_id, self.results_dir)
        if error is None:
            self.result.done.append(cell.run_id)
            self.result.failed.pop(cell.key, None)
            memory = ""
            if job.gpu_peak:
                self.result.gpu_peaks[cell.run_id] = job.gpu_peak
                memory = f", {format_memory(job.gpu_peak)} GPU memory at most"
            self.console.print(f"[green]done[/] {cell.run_id} "
                               f"({time.time() - job.started:.0f} s{memory})")
            self.bar.advance(self.task)
        else:
            final = cell.attempts > self.retries
            self._record_failure(cell, error, exit_.output, exit_.returncode, final=final)
            again = "" if final else f", retrying ({cell.attempts}/{self.retries})"
            self.console.print(f"[red]failed[/] {cell.run_id}: {esc(error)}{again}  "
                               f"(log: {esc(str(job.log_path))})")
            if final:
                self.bar.advance(self.task)
            else:
                self.queue.append(cell)
        self.claims.release(cell.run_id)
        self.bar.update(self.task, description=self._describe())

    def _settle_deferred(self) -> None:
        """Cells another process held: finished meanwhile, or still running elsewhere."""
        for cell in self.deferred:
            if is_finished(self.results_dir, cell.run_id):
                self.result.skipped.append(cell.run_id)
            else:
                holder = self.claims.holder(cell.run_id) or {}
                self.result.elsewhere.append(cell.run_id)
                self.console.print(f"[yellow]running elsewhere[/] {cell.run_id} (pid "
                                   f"{holder.get('pid')} on {holder.get('host')})")
            self.bar.advance(self.task)

    # --- bookkeeping -----------------------------------------------------------------------

    def _skip(self, rid: str) -> None:
        self.result.skipped.append(rid)
        self.bar.advance(self.task)

    def _record_failure(self, cell: Cell, error: str, tail: str, rc: int | None,
                        final: bool) -> None:
        self.result.failed[cell.key] = error
        self.folder.append_failure({
            "time": now(), "host": self.claims.host, "cell": cell.index,
            "run_id": cell.run_id, "overrides": cell.overrides, "attempt": cell.attempts,
            "final": final, "returncode": rc, "error": error, "tail": tail,
            "log": str(self.folder.log_path(cell.key))})

    def _describe(self) -> str:
        r = self.result
        return (f"{esc(self.name)}: [green]{len(r.done)} done[/], {len(self.running)} running, "
                f"[red]{len(r.failed)} failed[/]")

    def _write_status(self) -> None:
        r = self.result
        self.folder.write_status({
            "name": self.name, "time": now(), "cells": len(self.cells), "done": r.done,
            "skipped": r.skipped, "failed": r.failed, "elsewhere": r.elsewhere,
            "gpu_peak_bytes": r.gpu_peaks})


def run_matrix(config: dict[str, Any], results_dir: str | Path, *, registry: Registry,
               executor: Executor | None = None, retries: int = 0, progress: bool = True,
               console: Console | None = None) -> MatrixResult:
    """Run every unfinished cell of a matrix; returns what happened to each."""
    return MatrixRun(config, results_dir, registry=registry, executor=executor,
                     retries=retries, progress=progress, console=console).run()
