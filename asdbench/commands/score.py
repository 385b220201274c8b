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
@click.option("--target-far", type=float, metavar="F",
              help="Alarm threshold at false-alarm rate F in (0, 1) per machine class: on "
              "the --normal-clips, else on the run's training clips (new clips then alarm "
              "more often than F). Default: the run's decision rule, a gamma fit's 90th "
              "percentile on the training clips, as its decision_result files.")
@click.option("--normal-clips", "normal_clips", multiple=True, metavar="PATH",
              type=click.Path(path_type=Path),
              help="Held-out normal recordings (files or folders, never used in training; "
              "repeatable), classed as the input files: --target-far sets each class's "
              "threshold on their scores; the normal_far column gives the fraction of them "
              "above the threshold.")
@click.option("--device", default="auto", show_default=True)
@click.option("--strict", is_flag=True,
              help="Exit with status 2 when any file could not be scored.")
def command(run_dir, paths, machine_type, machine_id, fmt, target_far, normal_clips, device,
            strict) -> None:
    """Score new audio files or folders with a trained run (higher = more anomalous) and
    decide: 1 (anomaly) when the score is above the threshold of the file's machine class.

    \b
    The threshold is fitted per class on the scores of the run's training clips, by the
    run's decision rule (gamma q=0.9: a gamma fit's 90th percentile, as the run's
    decision_result files), or set at a false-alarm rate (--target-far) on held-out normal
    clips of each class (--normal-clips, the honest choice: the model has not seen them) or
    on the training clips; the threshold and threshold_rule columns say which, on which
    clips and how many. Folders are searched for .wav and .flac files (any
    letter case). A file that cannot be scored (unreadable, too short, silent, NaN samples,
    no machine class) gets an empty score and its reason in the error column; the summary
    on stderr counts them.
    Examples:
      asdbench score --run results/runs/<run-id> recordings/fan/test/
      asdbench score --run results/runs/<run-id> clip.wav --type fan --id 00 --format csv
      asdbench score --run results/runs/<run-id> recordings/ --target-far 0.05 \\
                     --normal-clips normal-recordings/
    """
    from asdbench.audio import display_path
    from asdbench.registry import plugin_stdout
    from asdbench.run.service import score_files, score_summary

    for folder, reason in unreadable_folders([*paths, *normal_clips]):
        click.echo(f"warning: skipped the unreadable folder {display_path(folder)} "
                   f"({reason}): its files are not scored", err=True)
    with plugin_stdout(fmt != "table"):  # stdout: the CSV or JSON alone
        frame = score_files(run_dir, paths, machine_type=machine_type, machine_id=machine_id,
                            device=device, target_far=target_far, normal_clips=normal_clips)
    frame["file"] = frame["file"].map(display_path)  # any name prints (odd bytes escaped)
    if fmt == "csv":
        click.echo(frame.to_csv(index=False), nl=False)
    elif fmt == "json":
        click.echo(frame.to_json(orient="records", indent=2))
    else:
        print_table(frame, run_dir.name)
    click.echo(score_summary(frame), err=True)
    if "normal_clips" in frame.attrs:
        click.echo(f"held-out normal clips: {frame.attrs['normal_clips']}", err=True)
    if strict and (frame["error"] != "").any():
        sys.exit(2)


def unreadable_folders(paths) -> list[tuple[str, str]]:
    """``(folder, reason)`` of each folder under ``paths`` that cannot be listed (its files
    would be missed without a word)."""
    import os

    found: list[tuple[str, str]] = []
    for path in paths:
        if Path(path).is_dir():
            for _ in os.walk(path, onerror=lambda e: found.append(
                    (e.filename, e.strerror or type(e).__name__))):
                pass
    return found


def print_table(frame, run_name: str) -> None:
    """The scores as a table; the threshold rules (one per class, mostly one in all) in its
    caption rather than a column repeating them."""
    table = Table(title=f"anomaly scores ({run_name})")
    shown = [c for c in frame.columns if c != "threshold_rule"]
    for col in shown:
        table.add_column(col)
    for row in frame[shown].itertuples(index=False):
        table.add_row(*(_cell(v) for v in row))
    rules = sorted({r for r in frame["threshold_rule"] if r})
    if rules:  # the run's own rule does not name its clips, the false-alarm ones do
        table.caption = "decision = score > threshold; threshold: " + "; ".join(
            r if " clips" in r else f"{r} of the class's training-clip scores" for r in rules)
        if "normal_far" in frame.columns:
            table.caption += ("; normal_far: the fraction of the class's held-out normal "
                              "clips above it")
    console.print(table)


def _cell(value) -> str:
    if value is None or type(value).__name__ == "NAType":  # pandas' missing integer
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4f}"
    return str(value)
