"""``asdbench eval``: re-evaluate a trained run, optionally on another test split or scorer."""

from __future__ import annotations

import json
from pathlib import Path

import click

from asdbench.commands.common import print_metrics


@click.command("eval")
@click.option("--run", "run_dir", required=True, type=click.Path(path_type=Path),
              help="A finished run folder.")
@click.option("--dataset", help="Evaluate on another dataset's test split (same classes).")
@click.option("--data-root", type=click.Path(path_type=Path), help="Sets data.root.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override dataset (data.*) or scorer (scorer.*) settings.")
@click.option("--scorer", help="Score with another scorer plugin (default: the run's own).")
@click.option("--device", default="auto", show_default=True)
@click.option("--exported", type=click.Path(dir_okay=False, path_type=Path),
              help="Score through this exported model file of the run (asdbench export; "
                   "int8 too) instead of its checkpoint; results in RUN/eval/exported-*/.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the metrics as one JSON object (progress stays on stderr).")
@click.option("--quiet", is_flag=True, help="No progress on stderr.")
def command(run_dir, dataset, data_root, sets, scorer, device, exported, as_json,
            quiet) -> None:
    """Re-evaluate a trained run's checkpoint, optionally on another test split or scorer.

    The results go to the run folder, RUN/eval/<scorer>/ (RUN/eval/<scorer>-<hash>/ with
    other settings too): `asdbench leaderboard` shows them as rows of the run with that
    scorer, beside the run's own, so comparing scorers needs no retraining.

    \b
    Examples:
      asdbench eval --run results/runs/<run-id>
      asdbench eval --run results/runs/<run-id> --scorer knn --json
      asdbench eval --run results/runs/<run-id> --set data.eval_root=~/data/dcase2020-eval
      asdbench eval --run results/runs/<run-id> --exported results/runs/<run-id>/export/model-int8.onnx
    """
    if exported is not None:
        _eval_exported(run_dir, exported, dataset, data_root, sets, scorer, as_json, quiet)
        return
    from asdbench.config import parse_sets
    from asdbench.registry import plugin_stdout
    from asdbench.run.service import evaluate_run

    overrides = parse_sets(sets)
    if dataset:
        overrides["dataset"] = dataset
    if data_root:
        overrides["data.root"] = str(data_root)
    if scorer:
        overrides["scorer"] = scorer
    with plugin_stdout(as_json):  # stdout: the JSON alone
        metrics = evaluate_run(run_dir, overrides, device=device, progress=not quiet)
    click.echo(scorer_line(metrics), err=True)  # one line, never wrapped
    if as_json:
        click.echo(json.dumps(metrics, indent=2, default=str))
    else:
        print_metrics(metrics)


def _eval_exported(run_dir, exported, dataset, data_root, sets, scorer, as_json,
                   quiet) -> None:
    """``eval --exported``: the run's own test set through the file (no other settings)."""
    given = [name for name, value in (("--dataset", dataset), ("--data-root", data_root),
                                      ("--set", sets), ("--scorer", scorer)) if value]
    if given:
        raise click.UsageError(f"--exported scores the run's own test set with the file's "
                               f"scorer: drop {', '.join(given)}")
    from asdbench.exported import evaluate_exported

    metrics = evaluate_exported(run_dir, exported, progress=not quiet)
    used = metrics["evaluated"]
    click.echo(f"scored by {used['exported']} ({used['format']}, {used['precision']}); "
               f"results in {metrics['eval_dir']}", err=True)
    if as_json:
        click.echo(json.dumps(metrics, indent=2, default=str))
    else:
        print_metrics(metrics)


def scorer_line(metrics: dict) -> str:
    """What ``eval`` says on stderr: the scorer it used (with its options) and where it wrote."""
    used = metrics["evaluated"]
    options = ", ".join(f"{k}={v}" for k, v in sorted(used["scorer_options"].items()))
    scorer = used["scorer"] + (f" ({options})" if options else "")
    return f"scored by {scorer}; results in {metrics['eval_dir']}"
