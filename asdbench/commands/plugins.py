"""``asdbench plugins``: every registered component, metric protocol and leaderboard table kind
with its package, and one component's options.

Listing imports no torch: the shipped plugins declare their options in light modules and name
their factories as strings (imported on a component's first ``create``). The protocols'
modules (pandas, sklearn) are imported for the full list only, not for ``plugins NAME``.
"""

from __future__ import annotations

import json

import click
from rich.table import Table

from asdbench.commands.common import console, err_console


@click.command("plugins")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def command(name: str | None, as_json: bool) -> None:
    """List registered components, metric protocols (kind "protocol"), leaderboard table
    kinds (kind "table") and plugins of other hooks (kind "hooks": trackers, commands) with the
    package that provides each; with NAME, the settings that component accepts (default, what
    it accepts, help).

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
        _list_components(ps, as_json)
    for plugin, error in ps.failures.items():
        err_console.print(f"[yellow]warning:[/] plugin '{plugin}' failed to load and was "
                          f"skipped: {error}", soft_wrap=True)


def _row(kind: str, name: str, package: str, version: str, plugin: str,
         description: str) -> dict[str, str]:
    return {"kind": kind, "name": name, "package": package, "version": version,
            "plugin": plugin, "description": description}


def _list_components(ps, as_json: bool) -> None:
    rows = [_row(c.kind, c.name, c.package, c.version, c.plugin, c.description)
            for c in ps.registry]
    rows += _protocol_rows(ps) + _table_rows(ps) + _hook_rows(ps)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="asdbench plugins")
    for col in ("kind", "name", "package", "version", "description"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["kind"], r["name"], r["package"], r["version"], r["description"])
    console.print(table)


def _protocol_rows(ps) -> list[dict[str, str]]:
    """The metric protocols (``asdbench_protocols``); a plugin whose hook fails is a warning."""
    from asdbench.errors import AsdbenchError
    from asdbench.metrics.compute import protocol_registry

    try:
        protocols = protocol_registry(ps)
    except AsdbenchError as exc:  # e.g. a name provided twice: list the rest, say why
        err_console.print(f"[yellow]warning:[/] metric protocols not listed: {exc}",
                          soft_wrap=True)
        return []
    return [_row("protocol", p.name, p.package, ps.packages.get(p.plugin, ("", ""))[1],
                 p.plugin, p.description) for p in protocols]


# Hooks that add no named item to the lists above: a plugin implementing one (a tracker, a
# command) is listed as kind "hooks", so that it is visible although it has no component.
_OTHER_HOOKS = ("asdbench_run_started", "asdbench_epoch_end", "asdbench_run_finished",
                "asdbench_commands", "asdbench_reference_results")


def _hook_rows(ps) -> list[dict[str, str]]:
    rows = []
    for name, plugin in ps.manager.list_name_plugin():
        hooks = [h for h in _OTHER_HOOKS if h in {c.name for c in ps.manager.get_hookcallers(plugin)}]
        if hooks:
            package, version = ps.packages.get(name, ("", ""))
            rows.append(_row("hooks", name, package, version, name,
                             "implements " + ", ".join(h.removeprefix("asdbench_") for h in hooks)))
    return rows


def _table_rows(ps) -> list[dict[str, str]]:
    """The leaderboard table kinds (``asdbench_tables`` and the core's), with their plugin."""
    from asdbench.errors import AsdbenchError
    from asdbench.leaderboard.tables import owned_table_kinds

    try:
        kinds = owned_table_kinds(ps)  # records a failing plugin in ps.failures
    except AsdbenchError as exc:
        err_console.print(f"[yellow]warning:[/] table kinds not listed: {exc}", soft_wrap=True)
        return []
    rows = []
    for name, (plugin, kind) in kinds.items():
        package, version = ps.packages.get(plugin, ("asdbench", ""))  # "": the core's own
        rows.append(_row("table", name, package, version, plugin, kind.description))
    return rows


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
