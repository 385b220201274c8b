"""``asdbench leaderboard``: rank finished runs (click only; see :mod:`asdbench.leaderboard`).

pandas, matplotlib and the plugins' table kinds are loaded inside the command, so that
``asdbench --help`` stays light.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from asdbench.commands.common import table_options
from asdbench.leaderboard import FORMATS
from asdbench.registry import AsdbenchError

if TYPE_CHECKING:
    import pandas as pd


def _write(tbl: pd.DataFrame, fmt: str, out: Path | None) -> None:
    """The table to ``out`` (atomically) or to stdout (rich: fitted to the terminal)."""
    from asdbench.atomic import atomic_write_text
    from asdbench.leaderboard.render import render

    if out is not None:
        atomic_write_text(out, render(tbl, fmt))
        click.echo(f"wrote {out}", err=True)
    elif fmt == "rich":
        from rich.console import Console

        from asdbench.leaderboard.terminal import rich_tables

        console = Console()
        for i, table in enumerate(rich_tables(tbl, console)):
            console.print(*([""] if i else []), table)
    else:
        click.echo(render(tbl, fmt), nl=False)


def _note_left_out(tbl: pd.DataFrame, refs: pd.DataFrame | None) -> None:
    """Say how many published rows the table does not show (they compare with nothing)."""
    from asdbench.leaderboard.collect import MEASURED

    if refs is not None:
        shown = int((tbl["source"] != MEASURED).sum())
        if shown < len(refs):
            click.echo(f"note: {len(refs) - shown} published result(s) left out (another "
                       "table, protocol or dataset)", err=True)


@click.command("leaderboard")
@table_options
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="rich", show_default=True,
              help="rich: tables fitted to the terminal; plain: aligned text for pipes; "
              "csv keeps the numbers (fractions) and each row's track.")
@click.option("--out", type=click.Path(path_type=Path), help="Write to this file (atomically).")
@click.option("--plots", "plots_dir", type=click.Path(path_type=Path),
              help="Also write PNG plots (bar chart, ROC curves, score distributions) here.")
def leaderboard_command(results: Path, protocol: str | None, by: str, kind_name: str | None,
                        fmt: str, out: Path | None, reference: str, plots_dir: Path | None,
                        matrix_file: Path | None = None) -> None:
    """Rank finished runs: seeds grouped into mean ± std, one row per recipe, one table per
    track (runs on the same data under the same protocol), with the 95 % jackknife interval of
    the ranking metric and ties where the intervals overlap.

    \b
    Examples:
      asdbench leaderboard                      # your runs (asdbench-results/)
      asdbench leaderboard --results results    # the published runs of this repository
      asdbench leaderboard --protocol pooled --reference paper
      asdbench leaderboard --table table4 --format markdown --out table4.md
      asdbench leaderboard --by id --format csv --out ids.csv --plots plots
      asdbench leaderboard --matrix configs/synthetic-benchmark.toml
    """
    from asdbench import plugins
    from asdbench.leaderboard.collect import collect, matrix_run_ids, reference_frame
    from asdbench.leaderboard.tables import table, table_kind, table_kinds

    loaded = plugins.default_plugins()
    kind = table_kind(kind_name, table_kinds(loaded))  # a misspelled name fails before reading
    df = collect(results, plugins.get_registry)
    for warning in df.attrs.get("warnings", []):
        click.echo(f"warning: {warning}", err=True)
    if matrix_file is not None and not df.empty:
        df = df[df["run_id"].isin(matrix_run_ids(matrix_file, plugins.get_registry()))]
    refs = None
    if reference == "paper":
        refs = reference_frame(loaded.hook.asdbench_reference_results())
    if df.empty and (refs is None or refs.empty):
        raise AsdbenchError(f"{results}: no finished run (no run folder with metrics); "
                            "run `asdbench run` or `asdbench matrix` first")
    tbl = table(df, protocol=protocol, by=by, kind=kind, references=refs)
    _note_left_out(tbl, refs)
    _write(tbl, fmt, out)
    if plots_dir is not None:
        from asdbench.leaderboard.plots import make_plots

        paths = make_plots(df, tbl, plots_dir)
        click.echo(f"wrote {len(paths)} plot(s) to {plots_dir}", err=True)


command = leaderboard_command
