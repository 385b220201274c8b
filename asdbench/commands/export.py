"""``asdbench export``: a run's scoring model as TorchScript or ONNX (:mod:`asdbench.export`)."""

from __future__ import annotations

from pathlib import Path

import click

# asdbench.export.FORMATS, spelled here so that `asdbench --help` does not import torch
# (tests/test_export.py checks that they agree)
FORMATS = ("torchscript", "onnx")


@click.command("export")
@click.option("--run", "run_dir", required=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="A finished run folder (asdbench-results/runs/<id>).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="torchscript",
              show_default=True, help="torchscript (torch.jit.load) or onnx (onnxruntime).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Model file to write (default <run>/export/model.pt or model.onnx).")
def command(run_dir: Path, fmt: str, out: Path | None) -> None:
    """Export a run's scoring model: waveforms [B, L] → anomaly scores [B, classes].

    \b
    The log-Mel and the scorer are inside; a JSON sidecar <file>.json names the classes
    (column order), sample rate and clip length. The run's scorer must provide to_torch
    (every shipped scorer does). Examples:
      asdbench export --run asdbench-results/runs/<id>
      asdbench export --run asdbench-results/runs/<id> --format onnx --out fan.onnx
    """
    from asdbench.export import export_run, sidecar_path  # noqa: PLC0415 - torch

    path = export_run(run_dir, fmt, out)
    click.echo(f"wrote {path} and {sidecar_path(path)}")
