"""Progress on stderr: rich bars on a terminal, plain periodic lines elsewhere (a log file, a
pipe, CI), nothing when switched off (tests, ``--quiet``).

A redirected stderr cannot redraw a bar: rich would print each bar once, when it ends. A
:class:`PlainProgress` prints a line when a task starts, one every ``every`` seconds while it
runs (done/total, percent, elapsed) and one when it finishes, so a log shows a long step is
alive. Both have the calls the engine uses: ``add_task``, ``update``, ``advance``,
``console.print`` and ``with``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

PLAIN_EVERY_S = 30.0  # seconds between two plain lines of one running task


@dataclass
class _Task:
    label: str  # as added: the start and end lines name it
    description: str  # as last updated (e.g. "epoch 3/20"): the periodic lines show it
    total: float | None
    completed: float
    started: float
    last_line: float
    finished: bool = False


class _Unwrapped:
    """A console whose ``print`` never wraps: a log line stays one line, whatever its width
    (a redirected stderr has no width; rich would wrap at 80 columns)."""

    def __init__(self, console: Console) -> None:
        self._console = console

    def print(self, *objects: Any, **kwargs: Any) -> None:
        kwargs.setdefault("soft_wrap", True)
        self._console.print(*objects, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._console, name)


class PlainProgress:
    """Plain-text progress lines on ``console`` (see the module docstring): ``<label> ...``
    when a task starts, ``<label>: <description>, <done>/<total> (<percent> %), <s> s``
    every ``every`` seconds while it runs, ``<label>: done in <s> s`` when the ``with``
    block ends (after whatever the block printed, e.g. the last epoch's line)."""

    def __init__(self, console: Console, every: float = PLAIN_EVERY_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.console, self.every, self.clock = _Unwrapped(console), every, clock
        self.tasks: list[_Task] = []

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if exc_type is None:  # an error says what happened itself; no "done" line then
            for task in self.tasks:
                self._finish(task)

    def add_task(self, description: str, total: float | None = 100.0, completed: float = 0,
                 **_: Any) -> int:
        now = self.clock()
        self.tasks.append(_Task(description, description, total, completed, now, now))
        self._line(f"{description} ...")
        return len(self.tasks) - 1

    def update(self, task_id: int, *, advance: float | None = None,
               completed: float | None = None, total: float | None = None,
               description: str | None = None, **_: Any) -> None:
        task = self.tasks[task_id]
        task.description = description if description is not None else task.description
        task.total = total if total is not None else task.total
        task.completed = completed if completed is not None else task.completed
        task.completed += advance or 0
        now = self.clock()
        running = task.total is None or task.completed < task.total
        if running and now - task.last_line >= self.every:
            task.last_line = now
            now_doing = "" if task.description == task.label else f"{task.description}, "
            self._line(f"{task.label}: {now_doing}{self._count(task)}, "
                       f"{now - task.started:.0f} s")

    def advance(self, task_id: int, advance: float = 1) -> None:
        self.update(task_id, advance=advance)

    def _finish(self, task: _Task) -> None:
        if not task.finished:
            task.finished = True
            self._line(f"{task.label}: done in {self.clock() - task.started:.1f} s")

    @staticmethod
    def _count(task: _Task) -> str:
        done = f"{task.completed:.0f}"
        if not task.total:
            return done
        return f"{done}/{task.total:.0f} ({100 * task.completed / task.total:.0f} %)"

    def _line(self, text: str) -> None:
        # descriptions are written for rich bars ("[green]2 done[/]"): print their plain text
        self.console.print(Text.from_markup(text).plain, markup=False, highlight=False)


def is_interactive(console: Console) -> bool:
    """Whether ``console`` can redraw a bar (a terminal or a notebook)."""
    return console.is_interactive or console.is_jupyter


def make_progress(enabled: bool = True, console: Console | None = None
                  ) -> Progress | PlainProgress:
    """Progress on stderr (or ``console``): rich bars on a terminal, :class:`PlainProgress`
    lines elsewhere; ``enabled=False`` gives bars that draw nothing."""
    console = console or Console(stderr=True)
    if enabled and not is_interactive(console):
        return PlainProgress(console)
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not enabled,
        transient=False,
    )
