"""``asdbench plugins``: every registered component, its package, and one component's options."""

from __future__ import annotations

import json

import click
from rich.table import Table

from asdbench.commands.common import console, err_console


@click.command("plugins")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def command(name: str | None, as_json: bool) -> None:
    """List registered components with the package that provides each; with NAME, the
    settings that component accepts (default, what it accepts, help).

    \b
    Examples:
      asdbench plugins
      asdbench plugins os-scl
      asdbench plugins --json
      ASDBENCH_DISABLE_PLUGINS=myplugin asdbench plugins
    """
    from asdbench.plugins import default_plugins

    ps = default_plugins()
    if name is not None:
        _show_component(ps.registry, name, as_json)
    else:
        _list_components(ps.registry, as_json)
    for plugin, error in ps.failures.items():
        err_console.print(f"[yellow]warning:[/] plugin '{plugin}' failed to load and was "
                          f"skipped: {error}", soft_wrap=True)


def _list_components(registry, as_json: bool) -> None:
    rows = [{"kind": c.kind, "name": c.name, "package": c.package, "version": c.version,
             "plugin": c.plugin, "description": c.description} for c in registry]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="asdbench plugins")
    for col in ("kind", "name", "package", "version", "description"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["kind"], r["name"], r["package"], r["version"], r["description"])
    console.print(table)


def _show_component(registry, name: str, as_json: bool) -> None:
    from asdbench.registry import CONFIG_PREFIX, KINDS, AsdbenchError

    found = [c for c in registry if c.name == name]
    if not found:
        known = sorted({c.name for c in registry})
        raise AsdbenchError(f"no component named '{name}'; registered: {', '.join(known)}")
    out = []
    for comp in found:
        prefix = CONFIG_PREFIX[comp.kind] if comp.kind in KINDS else comp.kind
        options = [{"setting": f"{prefix}.{o.name}", "default": o.default, "accepts": o.type,
                    "help": o.help} for o in comp.describe_options()]
        out.append({"kind": comp.kind, "name": comp.name, "package": comp.package,
                    "description": comp.description, "options": options})
    if as_json:
        click.echo(json.dumps(out, indent=2, default=str))
        return
    for item in out:
        table = Table(title=f"{item['kind']} '{item['name']}' ({item['package']})",
                      caption=item["description"])
        for col in ("setting", "default", "accepts", "help"):
            table.add_column(col)
        for o in item["options"]:
            table.add_row(o["setting"], repr(o["default"]), o["accepts"], o["help"] or "")
        if not item["options"]:
            table.add_row("(no settings)", "", "", "")
        console.print(table)
