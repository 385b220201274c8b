"""The core's sub-commands: click code only, one module each, imported when first needed.

They are registered through the ``asdbench_commands`` hook, as a third party's commands are,
by :func:`asdbench_commands` below (the core plugin ``asdbench-commands``). Each module exposes
its click command as ``command`` and imports heavy modules (torch, the engine, pandas) inside
the command's function, so that ``asdbench --help`` and ``asdbench plugins`` stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from asdbench.meta import hookimpl

if TYPE_CHECKING:
    import click

# command name -> module defining ``command``
BUILTIN_COMMANDS: dict[str, str] = {
    "run": "asdbench.commands.run",
    "describe": "asdbench.commands.describe",
    "plugins": "asdbench.commands.plugins",
    "score": "asdbench.commands.score",
    "eval": "asdbench.commands.eval",
    "data": "asdbench.commands.data",
    "matrix": "asdbench.commands.matrix",
    "leaderboard": "asdbench.commands.leaderboard",
    "report": "asdbench.commands.report",
    "export": "asdbench.commands.export",
}


@hookimpl
def asdbench_commands(cli: click.Group) -> None:
    add_lazy = getattr(cli, "add_lazy", None)
    for name, module in BUILTIN_COMMANDS.items():
        if add_lazy is not None:
            add_lazy(name, module)
        else:  # a plain click group (e.g. a test's): import now
            import importlib

            cli.add_command(importlib.import_module(module).command, name)
