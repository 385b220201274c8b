"""The ``asdbench`` command line: the root group, its error handling and plugin commands.

The sub-commands live in :mod:`asdbench.commands` (the core's) and in plugins; all of them are
added through the ``asdbench_commands`` hook. A command module is imported only when the
command runs or help lists it, and none imports torch at module level.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from asdbench import __version__
from asdbench.registry import AsdbenchError


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
        try:
            return super().invoke(ctx)
        except AsdbenchError as exc:
            raise click.ClickException(str(exc)) from None
        except KeyboardInterrupt:
            click.echo("interrupted: finished epochs are checkpointed; rerun the same command "
                       "with --resume to continue", err=True)
            raise SystemExit(130) from None


@click.group(cls=AsdbenchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="asdbench")
def cli() -> None:
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

    for impl in default_plugins().hook.asdbench_commands.get_hookimpls():
        try:
            impl.function(cli=group)
        except Exception as exc:  # one broken plugin must not take every command down
            click.echo(f"warning: plugin '{impl.plugin_name}' failed to add its commands and "
                       f"was skipped: {type(exc).__name__}: {exc}", err=True)


def main() -> None:
    try:
        add_plugin_commands(cli)
    except AsdbenchError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
    cli()
