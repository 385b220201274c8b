"""``asdbench score``: score new recordings with a trained run (deployment)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import click
from rich.table import Table

from asdbench.commands.common import console


@click.command("score")
@click.option("--run", "run_dir", required=True, type=click.Path(path_type=Path),
              help="A finished run folder (results/runs/<run-id>).")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--type", "machine_type", help="Machine type of every file (else from its folders).")
@click.option("--id", "machine_id", help="Machine ID of every file (else from 'id_XX' in its name).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True)
@click.option("--device", default="auto", show_default=True)
@click.option("--strict", is_flag=True,
              help="Exit with status 2 when any file could not be scored.")
def command(run_dir, paths, machine_type, machine_id, fmt, device, strict) -> None:
    """Score new audio files or folders with a trained run (higher = more anomalous).

    \b
    Folders are searched for .wav and .flac files (any letter case). A file that cannot be
    scored (unreadable, too short, silent, NaN samples, no machine class) gets an empty score
    and its reason in the error column; the summary on stderr counts them.
    Examples:
      asdbench score --run results/runs/<run-id> recordings/fan/test/
      asdbench score --run results/runs/<run-id> clip.wav --type fan --id 00 --format csv
    """
    from asdbench.run.service import score_files, score_summary

    frame = score_files(run_dir, paths, machine_type=machine_type, machine_id=machine_id,
                        device=device)
    if fmt == "csv":
        click.echo(frame.to_csv(index=False), nl=False)
    elif fmt == "json":
        click.echo(frame.to_json(orient="records", indent=2))
    else:
        table = Table(title=f"anomaly scores ({run_dir.name})")
        for col in frame.columns:
            table.add_column(col)
        for row in frame.itertuples(index=False):
            table.add_row(*(_cell(v) for v in row))
        console.print(table)
    click.echo(score_summary(frame), err=True)
    if strict and (frame["error"] != "").any():
        sys.exit(2)


def _cell(value) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4f}"
    return str(value)
