"""``asdbench export``: a run's scoring model as TorchScript or ONNX, optionally int8
(:mod:`asdbench.export`)."""

from __future__ import annotations

from pathlib import Path

import click

# asdbench.export.FORMATS and QUANTIZE, spelled here so that `asdbench --help` does not import
# torch (tests/test_export.py checks that they agree)
FORMATS = ("torchscript", "onnx")
QUANTIZE = ("int8",)


@click.command("export")
@click.option("--run", "run_dir", required=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="A finished run folder (asdbench-results/runs/<id>).")
@click.option("--format", "fmt", type=click.Choice(FORMATS),
              help="torchscript (torch.jit.load) or onnx (onnxruntime). Default: torchscript, "
                   "onnx with --quantize.")
@click.option("--quantize", type=click.Choice(QUANTIZE),
              help="int8: ONNX Runtime's static post-training quantisation of the backbone "
                   "and method head, calibrated on the run's training clips (a clip's "
                   "score does not depend on its batch).")
@click.option("--calibration-clips", type=click.IntRange(min=1), default=64, show_default=True,
              help="Training clips that calibrate the int8 quantisation.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Model file to write (default <run>/export/model.pt, model.onnx or "
                   "model-int8.onnx).")
def command(run_dir: Path, fmt: str | None, quantize: str | None, calibration_clips: int,
            out: Path | None) -> None:
    """Export a run's scoring model: waveforms [B, L] → anomaly scores [B, classes].

    \b
    The log-Mel and the scorer are inside; a JSON sidecar <file>.json names the classes
    (column order), sample rate, clip length and the model file's SHA-256. The run's scorer
    must provide to_torch (every shipped scorer does). Score a run's test set through the
    file with `asdbench eval --exported FILE`. Examples:
      asdbench export --run asdbench-results/runs/<id>
      asdbench export --run asdbench-results/runs/<id> --format onnx --out fan.onnx
      asdbench export --run asdbench-results/runs/<id> --quantize int8
    """
    from asdbench.export import export_run, sidecar_path  # noqa: PLC0415 - torch

    fmt = fmt or ("onnx" if quantize else "torchscript")
    path = export_run(run_dir, fmt, out, quantize=quantize, calibration_clips=calibration_clips)
    click.echo(f"wrote {path} and {sidecar_path(path)}")
