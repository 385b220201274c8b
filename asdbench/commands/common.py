"""What several commands share: the config options of ``run``/``describe`` and metric tables.

Click only: heavy modules (torch, the engine) are imported inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from asdbench.config import COMPONENT_DEFAULTS

console = Console()
err_console = Console(stderr=True)


class FolderPath(click.Path):
    """A folder option: an empty value is an error (``Path("")`` would be the working
    directory), as is an existing file."""

    def __init__(self) -> None:
        super().__init__(path_type=Path, file_okay=False)

    def convert(self, value, param, ctx):
        if isinstance(value, str) and not value.strip():
            self.fail("an empty path; name a folder, e.g. asdbench-results", param, ctx)
        return super().convert(value, param, ctx)


RESULTS_FOLDER = FolderPath()


def config_options(f):
    """Options shared by ``run`` and ``describe``: component names and ``--set``; every
    default named is the one ``resolve`` applies when the option is not given."""
    d = COMPONENT_DEFAULTS
    opts = [
        click.option("--method", help=f"Training method (default {d['method']}), e.g. "
                     "os-scl, noisy-arcmix, arcface."),
        click.option("--frontend", help=f"Input features (default {d['frontend']}), e.g. "
                     "tfstgram, stgram, logmel."),
        click.option("--backbone", help=f"Embedding network (default {d['backbone']})."),
        click.option("--dataset", help=f"Dataset plugin (default {d['dataset']}: generated, "
                     "no download; dcase2020 for the paper's data)."),
        click.option("--scorer", help=f"Anomaly scorer (default {d['scorer']}: cross-entropy "
                     "of ArcFace logits)."),
        click.option("--data-root", type=click.Path(path_type=Path),
                     help="Dataset folder (sets data.root)."),
        click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
                     help="Override any setting, e.g. --set method.margin=0.5 (repeatable)."),
        click.option("--config", "config_file", type=click.Path(path_type=Path),
                     help="TOML file of settings (tables or dotted keys); options override it."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def build_config(*, config_file=None, sets=(), data_root=None, **named):
    """The resolved run config from a TOML file, named options and ``--set`` (in that order)."""
    from asdbench.config import flatten, load_toml, parse_sets, resolve
    from asdbench.plugins import get_registry

    overrides: dict[str, Any] = flatten(load_toml(config_file)) if config_file else {}
    overrides.pop("scorers", None)  # not a setting: what `run` evaluates (asdbench.run.evaluations)
    overrides.update({k: v for k, v in named.items() if v is not None})
    if data_root is not None:
        overrides["data.root"] = str(data_root)
    overrides.update(parse_sets(sets))
    return resolve(overrides, get_registry())


def ensure_writable(folder: Path) -> None:
    """Fail now, with one line, if ``folder`` cannot be written (before any decoding)."""
    from asdbench.atomic import unwritable_reason
    from asdbench.errors import AsdbenchError

    reason = unwritable_reason(folder)
    if reason is not None:
        raise AsdbenchError(f"cannot write to the results folder {folder}: {reason}; "
                            "choose another with --results DIR")


def print_metrics(metrics: dict[str, Any]) -> None:
    """One table per test set and protocol, each titled with what its numbers are: dataset,
    set, labelled clips, protocol, scorer and recipe."""
    cfg = metrics.get("config") or {}
    # identifiers as a plain line (never wrapped mid-word); each table's title is short
    click.echo(f"{metrics['run_id']}: {cfg.get('dataset', '?')}, scorer "
               f"{cfg.get('scorer', '?')}, recipe {cfg.get('recipe', 'common')}")
    sets = metrics.get("sets") or {"test": {"protocols": metrics["protocols"]}}
    for set_name, part in sets.items():
        labelled = f", {part['n_labelled']} labelled clips" if "n_labelled" in part else ""
        for name, m in part["protocols"].items():
            official = (" (official)" if name == metrics.get("official_protocol")
                        and set_name == metrics.get("official_set", set_name) else "")
            table = Table(title=f"set {set_name}{labelled}\nprotocol {name}{official}")
            for col in ("machine type", "AUC %", "pAUC %", "mAUC %"):
                table.add_column(col, justify="right" if col != "machine type" else "left")
            for t, v in [*m["types"].items(), ("average", m["average"])]:
                table.add_row(t, *(pct(v.get(k)) for k in ("auc", "pauc", "mauc")))
            console.print(table)


def pct(v) -> str:
    return "—" if v is None else f"{100 * v:.2f}"


def table_options(f):
    """What ``leaderboard`` and ``report`` select by: the runs (folder, matrix), the protocol,
    the table kind and its columns, published rows."""
    from asdbench.workspace import DEFAULT_HELP, default_results

    opts = [
        click.option("--results", type=RESULTS_FOLDER, default=default_results,
                     show_default=DEFAULT_HELP,
                     help="Results folder to read (its run folders' metrics)."),
        click.option("--protocol", help="Metric protocol, e.g. dcase2020 or pooled "
                     "(default: the table's, else each dataset's official one)."),
        click.option("--by", type=click.Choice(["type", "id"]), default="type",
                     show_default=True, help="Columns per machine type or per machine ID."),
        click.option("--table", "kind_name", metavar="NAME",
                     help="Table kind (columns, rows, ranking, published rows): the core's "
                     "types (per machine type AUC and pAUC) or one a plugin adds, e.g. the "
                     "OS-SCL paper's table2/table3 (AUC, pAUC), table4 (mAUC), table6 (AUC). "
                     "Default: the kind a plugin offers as default (OS-SCL: table2), else "
                     "types."),
        click.option("--reference", type=click.Choice(["none", "paper"]), default="none",
                     show_default=True, help="paper: add the published numbers plugins "
                     "provide for this table, labelled as such."),
        click.option("--matrix", "matrix_file",
                     type=click.Path(path_type=Path, dir_okay=False),
                     help="Only the runs of this matrix config (its cells' run ids)."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f
