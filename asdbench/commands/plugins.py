"""``asdbench plugins``: every registered component and the package that provides it."""

from __future__ import annotations

import json

import click
from rich.table import Table

from asdbench.commands.common import console, err_console


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
def command(as_json: bool) -> None:
    """List registered components with the package that provides each.

    \b
    Examples:
      asdbench plugins
      asdbench plugins --json
      ASDBENCH_DISABLE_PLUGINS=myplugin asdbench plugins
    """
    from asdbench.plugins import default_plugins

    ps = default_plugins()
    rows = [{"kind": c.kind, "name": c.name, "package": c.package, "version": c.version,
             "plugin": c.plugin, "description": c.description} for c in ps.registry]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        table = Table(title="asdbench plugins")
        for col in ("kind", "name", "package", "version", "description"):
            table.add_column(col)
        for r in rows:
            table.add_row(r["kind"], r["name"], r["package"], r["version"], r["description"])
        console.print(table)
    for name, error in ps.failures.items():
        err_console.print(f"[yellow]warning:[/] plugin '{name}' failed to load and was skipped: "
                          f"{error}")
