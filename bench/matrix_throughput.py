"""Cells per GPU-hour with N = 1, 2, 4, 8 cells sharing one GPU (``--cells-per-gpu N``).

For each N, N cells of the paper's model (as in ``bench.schedule``: TFSTgram + MobileFaceNet,
OS-SCL, batch 64, 10-s clips at 16 kHz, a DCASE-shaped synthetic set of 4 machine types x 10
IDs) run at once on one GPU through the matrix's own local executor, each a fresh
``asdbench run`` of a few epochs. Each cell's steady epochs (its ``train_log.jsonl`` without
the first, which holds warm-up and compilation) are scaled to the paper's schedule the way
``bench.schedule`` does, and the N cells, progressing side by side, finish

    cells per GPU-hour = sum over the N cells of 1 / (that cell's paper-schedule hours)

so N = 1 gives 1 / (hours of one run) and packing pays off while the sum keeps growing.
The record (``<out>/matrix_throughput.json``) also holds each cell's peak GPU memory
(nvidia-smi) and whether CUDA MPS was on.

Needs a CUDA GPU: without one it prints one line and exits with status 2 (measured nothing),
writing nothing. Usage: ``python -m bench.matrix_throughput [--quick] [--cells 1,2,4,8]``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from bench import common
from bench.schedule import PAPER_CLIPS, PAPER_EPOCHS

NAME = "matrix_throughput"
NO_GPU_EXIT = 2
TRAIN_FRACTION = 0.95  # bench.schedule: the part of the paper's clips an epoch trains on


def paper_cell_hours(log: list[dict[str, Any]], n_train: int, n_val: int) -> float:
    """One cell's hours for the paper's 300 epochs, from its measured epochs (bench.schedule's
    scaling: training at the steady clips/s, the rest of an epoch linear in its clips)."""
    steady = log[1:] or log
    cps = common.median([e["clips_per_s"] for e in steady])
    gaps = [e["epoch_wall_s"] - e["epoch_time_s"] for e in steady if "epoch_wall_s" in e]
    overhead = common.median(gaps) if gaps else 0.0
    per_epoch = PAPER_CLIPS * TRAIN_FRACTION / cps + overhead * PAPER_CLIPS / (n_train + n_val)
    return PAPER_EPOCHS * per_epoch / 3600


def throughput_row(per_gpu: int, cell_hours: list[float], gpus: int = 1) -> dict[str, Any]:
    """What N cells running side by side on ``gpus`` GPUs deliver, per GPU-hour."""
    rate = sum(1 / h for h in cell_hours)  # cells finished per hour, all running at once
    return {"cells_per_gpu": per_gpu, "cells": len(cell_hours),
            "cell_hours_median": common.median(cell_hours),
            "cells_per_gpu_hour": rate / gpus}


def add_speedups(rows: list[dict[str, Any]]) -> None:
    """``speedup_vs_1``: cells per GPU-hour over those of one cell per GPU (when measured)."""
    base = next((r["cells_per_gpu_hour"] for r in rows if r["cells_per_gpu"] == 1), None)
    for row in rows:
        row["speedup_vs_1"] = row["cells_per_gpu_hour"] / base if base else None


def has_gpu() -> bool:
    import torch  # noqa: PLC0415

    return torch.cuda.is_available() and torch.cuda.device_count() > 0


def matrix_config(per_gpu: int, work: Path, quick: bool, args: Any) -> dict[str, Any]:
    """The N cells of one measurement: the paper's model, seeds 0..N-1, one shared data set."""
    settings = {"dataset": "synthetic", "data.root": str(work / "data"),
                "data.types": "fan" if quick else "fan,pump,gearbox,valve",
                "data.ids_per_type": 2 if quick else 10,
                "data.train_per_id": args.train_per_id or (4 if quick else 50),
                "data.test_normal_per_id": 2, "data.test_anomaly_per_id": 2,
                "data.clip_seconds": 1.0 if quick else 10.0, "method": "os-scl",
                "frontend": args.frontend, "train.epochs": args.epochs or (2 if quick else 3),
                "train.batch_size": 4 if quick else 64, "train.device": "cuda"}
    return {"name": f"throughput-n{per_gpu}", "axes": {"seed": list(range(per_gpu))},
            "settings": settings}


def measure(per_gpu: int, gpu: str, work: Path, args: Any) -> dict[str, Any]:
    """Run N cells at once on ``gpu``; their throughput row."""
    from asdbench.matrix.executors import LocalExecutor  # noqa: PLC0415
    from asdbench.matrix.runner import run_matrix  # noqa: PLC0415
    from asdbench.plugins import get_registry  # noqa: PLC0415
    from asdbench.run.rundir import RunDir  # noqa: PLC0415

    config = matrix_config(per_gpu, work, args.quick, args)
    results = work / f"results-n{per_gpu}"
    executor = LocalExecutor(gpus=[gpu], cells_per_gpu=per_gpu)
    t0 = time.perf_counter()
    result = run_matrix(config, results, registry=get_registry(), executor=executor,
                        progress=False, console=common.console)
    wall = time.perf_counter() - t0
    if not result.ok or len(result.done) != per_gpu:
        raise SystemExit(f"N={per_gpu}: cells failed: {result.failed}")
    hours = []
    for rid in result.done:
        run = RunDir.for_run(results, rid)
        data = run.read_config()["data"]
        hours.append(paper_cell_hours(run.read_log(), data["train"], data["val"]))
    row = throughput_row(per_gpu, hours)
    peaks = [result.gpu_peaks.get(rid) for rid in result.done]
    row.update(wall_s=wall, gpu_peak_gb_max=max((p / 2**30 for p in peaks if p), default=None))
    return row


def main(argv: list[str] | None = None) -> None:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--cells", default="1,2,4,8", help="the N to measure, comma separated")
    p.add_argument("--gpu", default=None, help="device index (default: the first visible)")
    p.add_argument("--train-per-id", type=int, default=None,
                   help="training clips per ID (default 50: 2,000 clips; quick 4)")
    p.add_argument("--epochs", type=int, default=None, help="default 3 (quick 2)")
    p.add_argument("--frontend", default="tfstgram")
    args = p.parse_args(argv)
    if not has_gpu():
        print(f"bench.{NAME} needs a CUDA GPU and none is visible; nothing measured or written")
        sys.exit(NO_GPU_EXIT)
    from asdbench.matrix.executors import visible_gpus  # noqa: PLC0415
    from asdbench.matrix.gpus import mps_pipe_dir  # noqa: PLC0415

    device = common.setup(args)
    gpu = args.gpu or visible_gpus()[0]
    cells = [int(n) for n in args.cells.split(",")]
    work = common.work_dir(args)
    mps = mps_pipe_dir()
    record = common.start_record(NAME, args, device, {
        "cells_per_gpu": cells, "gpu": gpu, "frontend": args.frontend,
        "mps": str(mps) if mps else None, "paper_clips": PAPER_CLIPS,
        "paper_epochs": PAPER_EPOCHS, **matrix_config(1, work, args.quick, args)["settings"]})
    common.print_context(record)
    rows = [measure(n, gpu, work, args) for n in cells]
    add_speedups(rows)
    record["results"] = rows
    record["notes"].append("cells_per_gpu_hour = sum over the N concurrent cells of 1 / their "
                           "paper-schedule hours (bench.schedule's scaling of steady epochs)")
    path = common.write_record(record, args.out)
    common.print_table(f"cells per GPU-hour ({record['machine']['gpu']})", rows, [
        ("cells_per_gpu", "N", ""), ("cell_hours_median", "h per cell", ".2f"),
        ("cells_per_gpu_hour", "cells / GPU-h", ".3f"), ("speedup_vs_1", "vs N=1", ".2f"),
        ("gpu_peak_gb_max", "peak GB", ".1f"), ("wall_s", "wall s", ".0f")])
    common.console.print(f"wrote {path}")


if __name__ == "__main__":
    main()
