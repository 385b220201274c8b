"""``asdbench weights``: list and fetch the published encoder checkpoints."""

from __future__ import annotations

from pathlib import Path

import click

from asdbench_encoders import weights


@click.group("weights")
def command() -> None:
    """List and download pretrained encoder checkpoints."""


@command.command("list")
def list_command() -> None:
    """Every published checkpoint a frontend can name (frontend.checkpoint=NAME)."""
    folder = weights.weights_dir()
    for w in weights.CATALOGUE.values():
        here = "fetched" if (folder / w.filename).is_file() else "-"
        click.echo(f"{w.name}\t{w.encoder}\t{w.filename}\t{here}\t{w.description}")
    click.echo(f"(names are looked up in {folder}; set ${weights.ENV_WEIGHTS} to change it)",
               err=True)


@command.command("fetch")
@click.argument("name")
@click.option("--to", "to", type=click.Path(path_type=Path), default=None,
              help="Folder to download into (default: $ASDBENCH_WEIGHTS or the cache's "
                   "weights/, where runs look names up).")
def fetch_command(name: str, to: Path | None) -> None:
    """Download checkpoint NAME (see `asdbench weights list`), resumable and checked.

    \b
    Examples:
      asdbench weights fetch beats-iter3
      asdbench weights fetch beats-iter3-as2m --to weights/
    """
    weight = weights.lookup(name)
    folder = weights.weights_dir() if to is None else to
    path = weights.fetch(weight, folder, log=lambda line: click.echo(line, err=True))
    hint = (f"frontend.checkpoint={name}" if folder == weights.weights_dir()
            else f"frontend.checkpoint={path}")
    click.echo(f"{name}: {path} ({path.stat().st_size} bytes); use it with --set {hint}")
