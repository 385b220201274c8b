"""The ``asdbench`` command line: the root group, its error handling and plugin commands.

The sub-commands live in :mod:`asdbench.commands` (the core's) and in plugins; all of them are
added through the ``asdbench_commands`` hook. A command module is imported only when the
command runs or help lists it, and none imports torch at module level.
"""

from __future__ import annotations

import errno
import importlib
import os
import sys
from typing import Any

import click

from asdbench.errors import AsdbenchError
from asdbench.meta import __version__

# Set to 1 (or pass --debug) to see the traceback of an expected failure, for a bug report.
ENV_DEBUG = "ASDBENCH_DEBUG"

# errno -> what it means and what to do, for failures of the user's files and folders
_OS_ADVICE = {
    errno.EACCES: ("permission denied", "check its permissions or choose another folder"),
    errno.EPERM: ("operation not permitted", "check its permissions or choose another folder"),
    errno.EROFS: ("read-only file system", "choose a writable folder (e.g. --results DIR)"),
    errno.ENOSPC: ("no space left on device", "free some space and rerun; finished work is kept"),
    errno.EDQUOT: ("disk quota exceeded", "free some space and rerun; finished work is kept"),
    errno.ENOENT: ("no such file or directory", "check the path"),
    errno.ENOTDIR: ("not a directory", "check the path"),
    errno.EISDIR: ("is a directory", "give a file, not a folder"),
}

# How to continue after Ctrl-C, by command (only these keep partial work).
_RESUME_ADVICE = {
    "run": "finished epochs are checkpointed; rerun the same command with --resume to continue",
    "matrix": "finished cells are kept; rerun the same matrix command to continue with the rest",
}


def os_error_line(exc: OSError) -> str:
    """One line for a failed file operation: what, where, what to do."""
    what, todo = _OS_ADVICE.get(exc.errno, (exc.strerror or type(exc).__name__, ""))
    where = exc.filename if exc.filename is not None else ""
    line = f"{what}: {where}" if where else what
    return f"{line}; {todo}" if todo else line


class AsdbenchGroup(click.Group):
    """Turns user errors into one line on stderr and exit status 1, never a traceback; holds
    commands by module name until they are needed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy: dict[str, str] = {}

    def add_lazy(self, name: str, module: str) -> None:
        """Register command ``name`` as ``<module>.command``, imported on first use."""
        self.lazy[name] = module

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in self.lazy:
            self.commands[name] = importlib.import_module(self.lazy[name]).command
        return self.commands.get(name)

    def invoke(self, ctx: click.Context) -> Any:
        debug = ctx.params.get("debug") or os.environ.get(ENV_DEBUG, "") not in ("", "0")
        try:
            return super().invoke(ctx)
        except AsdbenchError as exc:
            if debug:
                raise
            raise click.ClickException(str(exc)) from None
        except OSError as exc:
            if debug:
                raise
            raise click.ClickException(os_error_line(exc)) from None
        except KeyboardInterrupt:
            advice = _RESUME_ADVICE.get(ctx.invoked_subcommand or "")
            click.echo("interrupted" + (f": {advice}" if advice else ""), err=True)
            raise SystemExit(130) from None


@click.group(cls=AsdbenchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="asdbench")
@click.option("--debug", is_flag=True, help=f"Show tracebacks of expected failures (or {ENV_DEBUG}=1).")
def cli(debug: bool) -> None:
    """Benchmark unsupervised anomalous sound detection of machines.

    \b
    Examples:
      asdbench run --method os-scl --frontend tfstgram
      asdbench plugins
      asdbench leaderboard --format markdown
    """


def add_plugin_commands(group: click.Group) -> None:
    """Every plugin's commands; a plugin whose hook fails is reported and skipped."""
    from asdbench.plugins import default_plugins

    default_plugins().notify("asdbench_commands", cli=group)


def main() -> None:
    try:
        add_plugin_commands(cli)
    except AsdbenchError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
    cli()
