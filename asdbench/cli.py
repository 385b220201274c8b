"""The ``asdbench`` command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from asdbench import __version__
from asdbench.config import PAPER_NUM_CLASSES, load_toml, parse_sets, resolve
from asdbench.registry import AsdbenchError

console = Console()
err_console = Console(stderr=True)


class AsdbenchGroup(click.Group):
    """Turns user errors into one line on stderr and exit status 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AsdbenchError as exc:
            raise click.ClickException(str(exc)) from None
        except KeyboardInterrupt:
            err_console.print("interrupted: finished epochs are checkpointed; "
                              "rerun the same command with --resume to continue")
            raise SystemExit(130) from None


@click.group(cls=AsdbenchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="asdbench")
def cli() -> None:
    """Benchmark unsupervised anomalous sound detection of machines.

    \b
    Examples:
      asdbench run --method os-scl --frontend tfstgram
      asdbench plugins
      asdbench leaderboard --format markdown
    """


def main() -> None:
    from asdbench.plugins import default_plugins

    try:
        default_plugins().hook.asdbench_commands(cli=cli)
    except AsdbenchError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
    cli()


# --- plugins -----------------------------------------------------------------------------


@cli.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
def plugins_command(as_json: bool) -> None:
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


# --- run ---------------------------------------------------------------------------------


def config_options(f):
    """Options shared by ``run`` and ``describe``: component names and ``--set``."""
    opts = [
        click.option("--method", help="Training method, e.g. os-scl, noisy-arcmix, arcface."),
        click.option("--frontend", help="Input features, e.g. tfstgram, stgram, logmel."),
        click.option("--backbone", help="Embedding network (default mobilefacenet)."),
        click.option("--dataset", help="Dataset plugin (default synthetic)."),
        click.option("--scorer", help="Anomaly scorer (default ce: cross-entropy of ArcFace logits)."),
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


def build_config(*, config_file=None, sets=(), data_root=None, **named) -> dict[str, Any]:
    from asdbench.config import flatten
    from asdbench.plugins import get_registry

    overrides: dict[str, Any] = flatten(load_toml(config_file)) if config_file else {}
    overrides.update({k: v for k, v in named.items() if v is not None})
    if data_root is not None:
        overrides["data.root"] = str(data_root)
    overrides.update(parse_sets(sets))
    return resolve(overrides, get_registry())


@cli.command("run")
@config_options
@click.option("--epochs", type=int, help="Training epochs (default: the dataset's; 300 for the paper).")
@click.option("--batch-size", type=int, help="Batch size (default 64, as the paper).")
@click.option("--seed", type=int, help="Random seed (default 0).")
@click.option("--device", help="auto (default), cpu, cuda or cuda:K.")
@click.option("--results", type=click.Path(path_type=Path), default=Path("results"),
              show_default=True, help="Results folder; the run goes to RESULTS/runs/<run-id>/.")
@click.option("--resume", is_flag=True, help="Continue an interrupted run from its last epoch.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the results.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def run_command(epochs, batch_size, seed, device, results, resume, as_json, quiet, **kw) -> None:
    """Train one combination and evaluate it under every protocol of its dataset.

    \b
    Examples:
      asdbench run --method os-scl --frontend tfstgram
      asdbench run --method arcface --frontend stgram --epochs 5 --seed 1
      asdbench run --dataset dcase2020 --data-root ~/data/dcase2020 --epochs 300 --device cuda
      asdbench run --method os-scl --frontend logmel --set method.fph_reduction=32 --json
    """
    from asdbench.engine import train_and_evaluate

    named = {"train.epochs": epochs, "train.batch_size": batch_size, "seed": seed,
             "train.device": device}
    cfg = build_config(**kw, **{k: v for k, v in named.items() if v is not None})
    run_dir = train_and_evaluate(cfg, results, resume=resume, progress=not (quiet or as_json))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    if as_json:
        out = {"run_dir": str(run_dir), "run_id": metrics["run_id"],
               "official_protocol": metrics["official_protocol"],
               "wall_time_s": metrics.get("wall_time_s")}
        for name, m in metrics["protocols"].items():
            out[name] = {k: m["average"].get(k) for k in ("auc", "pauc", "mauc", "official")
                         if k in m["average"]}
        out["protocols"] = metrics["protocols"]
        click.echo(json.dumps(out, indent=2))
    else:
        print_metrics(metrics)
        console.print(f"run folder: {run_dir}")


def print_metrics(metrics: dict[str, Any]) -> None:
    for name, m in metrics["protocols"].items():
        official = " (official)" if name == metrics.get("official_protocol") else ""
        table = Table(title=f"{metrics['run_id']} — protocol {name}{official}")
        for col in ("machine type", "AUC %", "pAUC %", "mAUC %"):
            table.add_column(col, justify="right" if col != "machine type" else "left")
        rows = list(m["types"].items()) + [("average", m["average"])]
        for t, v in rows:
            table.add_row(t, *(_pct(v.get(k)) for k in ("auc", "pauc", "mauc")))
        console.print(table)


def _pct(v) -> str:
    return "—" if v is None else f"{100 * v:.2f}"


# --- describe ----------------------------------------------------------------------------


@cli.command("describe")
@config_options
@click.option("--num-classes", type=int, default=PAPER_NUM_CLASSES, show_default=True,
              help=f"Classes of the ArcFace head ({PAPER_NUM_CLASSES} = DCASE 2020 dev + eval IDs).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def describe_command(num_classes: int, as_json: bool, **kw) -> None:
    """Resolved config, shapes, inference parameters and forward FLOPs of a model.

    Shapes follow the dataset's clip length and sample rate (default dataset here: dcase2020,
    10 s at 16 kHz, the paper's setting).

    \b
    Examples:
      asdbench describe --method os-scl --frontend tfstgram
      asdbench describe --method os-scl --frontend logmel --json
      asdbench describe --method os-scl --frontend tfstgram --set method.fph_reduction=16
    """
    from asdbench.modelinfo import describe_model
    from asdbench.plugins import get_registry

    kw["dataset"] = kw.get("dataset") or "dcase2020"
    cfg = build_config(**kw)
    info = describe_model(cfg, get_registry(), num_classes=num_classes)
    if as_json:
        click.echo(json.dumps({"config": cfg, **info}, indent=2, default=str))
        return
    table = Table(title=f"{cfg['method']} + {cfg['frontend']} + {cfg['backbone']}")
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("input (C, F, T)", str(tuple(info["input_shape"])))
    table.add_row("inference parameters", f"{info['params']:,}")
    for part, n in info.get("params_by_part", {}).items():
        table.add_row(f"  {part}", f"{n:,}")
    table.add_row("forward GFLOP / clip", f"{info['flops_per_clip'] / 1e9:.3f}")
    for part, n in info.get("flops_by_part", {}).items():
        table.add_row(f"  {part}", f"{n / 1e9:.3f}")
    console.print(table)
    cfg_table = Table(title="resolved config")
    cfg_table.add_column("key")
    cfg_table.add_column("value")
    for k, v in cfg.items():
        cfg_table.add_row(k, str(v))
    console.print(cfg_table)


# --- score / eval ------------------------------------------------------------------------


@cli.command("score")
@click.option("--run", "run_dir", required=True, type=click.Path(path_type=Path),
              help="A finished run folder (results/runs/<run-id>).")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--type", "machine_type", help="Machine type of every file (else from its folders).")
@click.option("--id", "machine_id", help="Machine ID of every file (else from 'id_XX' in its name).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True)
@click.option("--device", default="auto", show_default=True)
def score_command(run_dir, paths, machine_type, machine_id, fmt, device) -> None:
    """Score new WAV files or folders with a trained run (higher = more anomalous).

    \b
    Examples:
      asdbench score --run results/runs/<run-id> recordings/fan/test/
      asdbench score --run results/runs/<run-id> clip.wav --type fan --id 00 --format csv
    """
    from asdbench.scoring_service import score_files

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
            table.add_row(*(f"{v:.4f}" if isinstance(v, float) else str(v) for v in row))
        console.print(table)


@cli.command("eval")
@click.option("--run", "run_dir", required=True, type=click.Path(path_type=Path),
              help="A finished run folder.")
@click.option("--dataset", help="Evaluate on another dataset's test split (same classes).")
@click.option("--data-root", type=click.Path(path_type=Path), help="Sets data.root.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override dataset (data.*) or scorer (scorer.*) settings.")
@click.option("--scorer", help="Score with another scorer plugin.")
@click.option("--device", default="auto", show_default=True)
@click.option("--json", "as_json", is_flag=True)
def eval_command(run_dir, dataset, data_root, sets, scorer, device, as_json) -> None:
    """Re-evaluate a trained run's checkpoint, optionally on another test split or scorer.

    \b
    Examples:
      asdbench eval --run results/runs/<run-id>
      asdbench eval --run results/runs/<run-id> --scorer knn --json
      asdbench eval --run results/runs/<run-id> --set data.eval_root=~/data/dcase2020-eval
    """
    from asdbench.scoring_service import evaluate_run

    overrides = parse_sets(sets)
    if dataset:
        overrides["dataset"] = dataset
    if data_root:
        overrides["data.root"] = str(data_root)
    if scorer:
        overrides["scorer"] = scorer
    metrics = evaluate_run(run_dir, overrides, device=device, progress=not as_json)
    if as_json:
        click.echo(json.dumps(metrics, indent=2, default=str))
    else:
        print_metrics(metrics)


# --- commands that live beside what they operate on -------------------------------------

def _register_subcommands() -> None:
    from asdbench.datacheck import data_group
    from asdbench.export import export_command
    from asdbench.leaderboard import leaderboard_command
    from asdbench.matrix import matrix_command

    for command in (data_group, matrix_command, leaderboard_command, export_command):
        cli.add_command(command)


_register_subcommands()
