"""``asdbench leaderboard``: rank finished runs (click only; see :mod:`asdbench.leaderboard`).

pandas, matplotlib and the plugins' table kinds are loaded inside the command, so that
``asdbench --help`` stays light.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import click

from asdbench.commands.common import table_options
from asdbench.leaderboard import FORMATS
from asdbench.registry import AsdbenchError

if TYPE_CHECKING:
    import pandas as pd

    from asdbench.leaderboard.tables import TableKind


class Query(NamedTuple):
    """What a leaderboard or a report shows: its table kind, runs and published rows."""

    kind: TableKind
    runs: pd.DataFrame
    refs: pd.DataFrame | None
    warnings: list[str]


def query(results: Path, kind_name: str | None, matrix_file: Path | None,
          reference: str) -> Query:
    """The table kind asked for, the finished runs (the matrix's only, when given) and the
    published rows (``--reference paper``); each warning is printed, nothing found is an
    error."""
    from asdbench import plugins
    from asdbench.leaderboard.collect import collect, matrix_run_ids, reference_frame
    from asdbench.leaderboard.tables import table_kind, table_kinds

    loaded = plugins.default_plugins()
    kind = table_kind(kind_name, table_kinds(loaded))  # a misspelled name fails before reading
    df = collect(results, plugins.get_registry)
    warnings = list(df.attrs.get("warnings", []))
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    if matrix_file is not None and not df.empty:
        df = df[df["run_id"].isin(matrix_run_ids(matrix_file, plugins.get_registry()))]
    refs = None
    if reference == "paper":
        found = loaded.collect("asdbench_reference_results", dict, warn=True)
        refs = reference_frame([ref for _, ref in found])
    if df.empty and (refs is None or refs.empty):
        raise AsdbenchError(f"{results}: no finished run (no run folder with metrics); "
                            "run `asdbench run` or `asdbench matrix` first")
    return Query(kind, df, refs, warnings)


def _write(tbl: pd.DataFrame, fmt: str, out: Path | None) -> None:
    """The table to ``out`` (atomically) or to stdout (rich: fitted to the terminal)."""
    from asdbench.atomic import atomic_write_text
    from asdbench.leaderboard.render import render

    if out is not None:
        atomic_write_text(out, render(tbl, fmt))
        click.echo(f"wrote {out}", err=True)
    elif fmt == "rich":
        from rich.console import Console

        from asdbench.leaderboard.render import rich_tables

        console = Console()
        for i, table in enumerate(rich_tables(tbl, console)):
            console.print(*([""] if i else []), table)
    else:
        click.echo(render(tbl, fmt), nl=False)


def set_and_sweep_options(f):
    """What ``leaderboard`` and ``report`` add to the shared table options: the test set and
    the sweep plots."""
    opts = [
        click.option("--test-set", "--set-name", "test_set", metavar="SET",
                     help="Only the tables of this test set: dev (development set), eval "
                     "(evaluation set), or another a dataset names. Default: every set, each "
                     "in its own tables (dev and eval are never ranked together)."),
        click.option("--sweep", "sweeps", multiple=True, metavar="KEY",
                     help="Also plot (where plots are made) average AUC, mean ± std over "
                     "seeds under --protocol, else the official one, per method against this "
                     "setting, e.g. data.id_similarity (repeatable; a line per recipe, a plot "
                     "per dataset, set and protocol). Default with --matrix: every data "
                     "setting the matrix varies."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def sweep_points(df: pd.DataFrame, sweeps: tuple[str, ...], matrix_file: Path | None,
                 protocol: str | None, test_set: str | None) -> dict[str, pd.DataFrame]:
    """The points of every sweep asked for (``--sweep``; a bad key is an error), else of every
    data setting the matrix varies (one that cannot be plotted is skipped with a note)."""
    from asdbench.leaderboard.sweep import matrix_sweeps
    from asdbench.leaderboard.sweep import sweep_points as points_of

    if sweeps:
        return {key: points_of(df, key, protocol, test_set) for key in sweeps}
    out = {}
    for key in matrix_sweeps(matrix_file) if matrix_file is not None else []:
        try:
            out[key] = points_of(df, key, protocol, test_set)
        except AsdbenchError as exc:
            click.echo(f"note: no sweep plot: {exc}", err=True)
    return out


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
@set_and_sweep_options
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="rich", show_default=True,
              help="rich: tables fitted to the terminal; plain: aligned text for pipes; "
              "csv keeps the numbers (fractions) and each row's track and set.")
@click.option("--out", type=click.Path(path_type=Path), help="Write to this file (atomically).")
@click.option("--plots", "plots_dir", type=click.Path(path_type=Path),
              help="Also write PNG plots (bar chart, ROC curves, score distributions; sweeps, "
              "see --sweep) here.")
def leaderboard_command(results: Path, protocol: str | None, by: str, kind_name: str | None,
                        fmt: str, out: Path | None, reference: str, plots_dir: Path | None,
                        matrix_file: Path | None = None, test_set: str | None = None,
                        sweeps: tuple[str, ...] = ()) -> None:
    """Rank finished runs: seeds grouped into mean ± std, one row per recipe, one table per
    track and test set (runs on the same data, evaluated on the same set, dev or eval, under
    the same protocol), with the 95 % jackknife interval of the ranking metric and ties where
    the intervals overlap. Each table's title names its track, set and protocol.

    A sweep plot (with --plots) shows average AUC per method against one setting the runs
    differ in, such as data.id_similarity, whose values are otherwise separate tracks: asked
    for with --sweep KEY, and drawn for every data setting a --matrix file varies. Its points
    are also written as leaderboard_sweep_<KEY>.csv.

    \b
    Examples:
      asdbench leaderboard                      # your runs (asdbench-results/)
      asdbench leaderboard --results results    # the published runs of this repository
      asdbench leaderboard --protocol pooled --reference paper
      asdbench leaderboard --table table4 --format markdown --out table4.md
      asdbench leaderboard --by id --format csv --out ids.csv --plots plots
      asdbench leaderboard --matrix configs/synthetic-benchmark.toml
      asdbench leaderboard --test-set eval      # the evaluation set's tables only
      asdbench leaderboard --matrix configs/id-similarity.toml --plots plots \\
          --sweep data.id_similarity           # + leaderboard_sweep_data.id_similarity.png
    """
    from asdbench.leaderboard.tables import table

    kind, df, refs, _ = query(results, kind_name, matrix_file, reference)
    if sweeps and plots_dir is None:
        raise AsdbenchError("--sweep draws a plot: give --plots DIR too")
    tbl = table(df, protocol=protocol, by=by, kind=kind, references=refs, test_set=test_set)
    points = (sweep_points(df, sweeps, matrix_file, protocol, test_set)
              if plots_dir is not None else {})  # a bad --sweep key fails before any output
    _note_left_out(tbl, refs)
    _write(tbl, fmt, out)
    if plots_dir is not None:
        from asdbench.leaderboard.plots import make_plots
        from asdbench.leaderboard.sweep import plot_sweeps

        paths = make_plots(df, tbl, plots_dir)
        for values in points.values():
            paths += [p for p in plot_sweeps(values, plots_dir) if p.suffix == ".png"]
        click.echo(f"wrote {len(paths)} plot(s) to {plots_dir}"
                   + (f" ({len(points)} sweep(s), their points as CSV)" if points else ""),
                   err=True)


command = leaderboard_command
