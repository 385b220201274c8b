"""``asdbench describe``: resolved config, shapes, parameters and FLOPs of a model."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.table import Table

from asdbench.commands.common import build_config, config_options, console


@click.command("describe")
@config_options
@click.option("--num-classes", type=int,
              help="Classes of the ArcFace head (default: the dataset's when its settings "
                   "tell it, synthetic: types x ids_per_type; else the paper's 41 = DCASE 2020 "
                   "dev + additional training IDs).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def command(num_classes: int | None, as_json: bool, **kw) -> None:
    """Resolved config, shapes, inference parameters and forward FLOPs of a model.

    The options resolve as `asdbench run` resolves them: the same default dataset
    (synthetic, 1-s clips) and settings. Shapes follow the dataset's clip length and sample
    rate; --dataset dcase2020 gives the paper's 10-s clips at 16 kHz.

    \b
    Examples:
      asdbench describe --method os-scl --frontend tfstgram
      asdbench describe --method os-scl --frontend tfstgram --dataset dcase2020
      asdbench describe --method os-scl --frontend logmel --json
      asdbench describe --method os-scl --frontend tfstgram --set method.fph_reduction=16
    """
    from asdbench.modelinfo import describe_model
    from asdbench.plugins import get_registry
    from asdbench.registry import plugin_stdout

    cfg = build_config(**kw)
    with plugin_stdout(as_json):  # stdout: the JSON alone
        info = describe_model(cfg, get_registry(),
                              num_classes=num_classes or dataset_classes(cfg))
    if as_json:
        click.echo(json.dumps({"config": dict(cfg), **info}, indent=2, default=str))
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


def dataset_classes(cfg: dict[str, Any]) -> int | None:
    """The class count of a run of ``cfg`` when its data settings tell it without listing
    any file (a generated dataset: types x IDs per type), else None (``describe_model``
    then takes the paper's, ``asdbench.modelinfo.PAPER_NUM_CLASSES``)."""
    types, ids = cfg.get("data.types"), cfg.get("data.ids_per_type")
    if isinstance(types, str) and types.strip() and isinstance(ids, int):
        return len([t for t in types.split(",") if t.strip()]) * ids
    return None
