"""``asdbench report``: the leaderboard as one self-contained HTML page (click only; see
:mod:`asdbench.leaderboard.report`). pandas, matplotlib and the plugins load inside the
command, so that ``asdbench --help`` stays light."""

from __future__ import annotations

from pathlib import Path

import click

from asdbench.commands.common import table_options
from asdbench.commands.leaderboard import query, set_and_sweep_options, sweep_points
from asdbench.registry import AsdbenchError


@click.command("report")
@table_options
@set_and_sweep_options
@click.option("--out", type=click.Path(path_type=Path),
              help="The page: a .html file, or a folder to write report.html into "
              "[default: RESULTS/report.html].")
@click.option("--no-plots", is_flag=True, help="Leave the plots out (a smaller page).")
def report_command(results: Path, protocol: str | None, by: str, kind_name: str | None,
                   reference: str, matrix_file: Path | None, out: Path | None,
                   no_plots: bool, test_set: str | None = None,
                   sweeps: tuple[str, ...] = ()) -> None:
    """Write the leaderboard as one HTML page: a table per track and test set with its
    protocol, set and data settings, the 95 % intervals and ties, plots embedded (sweep plots
    too, see --sweep), links to the run folders. The page loads nothing from the network
    (style and images are inside it).

    \b
    Examples:
      asdbench report
      asdbench report --matrix configs/synthetic-benchmark.toml --out report.html
      asdbench report --protocol pooled --reference paper --out site/
      asdbench report --matrix configs/id-similarity.toml   # with its sweep plot
    """
    from asdbench.leaderboard.report import report_path, write_report
    from asdbench.leaderboard.tables import table

    kind, df, refs, warnings = query(results, kind_name, matrix_file, reference)
    if sweeps and no_plots:
        raise AsdbenchError("--sweep draws a plot: it cannot go with --no-plots")
    tbl = table(df, protocol=protocol, by=by, kind=kind, references=refs, test_set=test_set)
    points = {} if no_plots else sweep_points(df, sweeps, matrix_file, protocol, test_set)
    target = report_path(out if out is not None else results)
    path = write_report(df, tbl, target, results=str(results), plots=not no_plots,
                        warnings=warnings, sweeps=points)
    tracks = len(tbl.attrs.get("tracks", []))
    click.echo(f"wrote {path} ({tracks} track(s), {path.stat().st_size // 1024} KiB)", err=True)


command = report_command
