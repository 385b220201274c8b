"""The paper's full schedule in device-hours, from epochs of ``asdbench run`` measured here.

Trains the paper's model (TFSTgram + MobileFaceNet, OS-SCL, batch 64, 10-s clips at 16 kHz)
with the engine's defaults on a DCASE-shaped synthetic set (4 machine types x 10 IDs = 40
classes) for a few epochs, reads the steady-state epochs from the run's ``train_log.jsonl``
(the first one holds warm-up and compilation) and scales them to the schedule of the paper
(REFERENCE.md: 41 classes, about 41,000 training clips, 300 epochs):

    hours = 300 x (41,000 x 0.95 / train clips/s + validation s per epoch x 41,000 / n) / 3600

Training time is linear in the clips of an epoch (same steps, same batch); the measured set is
smaller than DCASE's only to keep the benchmark short. Usage: ``python -m bench.schedule``.
"""

from __future__ import annotations

import time
from typing import Any

from asdbench.run.pipeline import train_and_evaluate
from bench import common

NAME = "schedule"
PAPER_CLIPS = 41_000  # REFERENCE.md, "Cost": DCASE 2020 dev + additional train, all types
PAPER_EPOCHS = 300


def main(argv: list[str] | None = None) -> None:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--train-per-id", type=int, default=None,
                   help="training clips per ID (default 50: 2,000 clips; quick 4)")
    p.add_argument("--epochs", type=int, default=None, help="default 3 (quick 2)")
    p.add_argument("--frontend", default="tfstgram")
    p.add_argument("--set", dest="sets", action="append", default=[],
                   help="extra run setting KEY=VALUE (e.g. train.compile=true)")
    args = p.parse_args(argv)
    device = common.setup(args)
    per_id = args.train_per_id or (4 if args.quick else 50)
    epochs = args.epochs or (2 if args.quick else 3)
    clip_seconds = 1.0 if args.quick else 10.0
    ids = 2 if args.quick else 10
    from asdbench.config import parse_sets  # noqa: PLC0415

    work = common.work_dir(args)
    extra: dict[str, Any] = {"data.types": "fan" if args.quick else "fan,pump,gearbox,valve",
                             "train.epochs": epochs, "train.batch_size": 4 if args.quick else 64,
                             "train.device": str(device), "frontend": args.frontend,
                             **parse_sets(args.sets)}
    cfg = common.synthetic_config(work, clip_seconds, per_id, ids=ids, test_per_id=2, **extra)
    settings = {"clip_seconds": clip_seconds, "classes": ids * len(extra["data.types"].split(",")),
                "train_per_id": per_id, "epochs": epochs, "frontend": args.frontend,
                "batch_size": cfg["train.batch_size"], "sets": args.sets,
                "paper_clips": PAPER_CLIPS, "paper_epochs": PAPER_EPOCHS}
    record = common.start_record(NAME, args, device, settings)
    common.print_context(record)
    t0 = time.perf_counter()
    _, run = train_and_evaluate(cfg, work / "results", progress=False)
    wall = time.perf_counter() - t0
    log, info = run.read_log(), run.read_config()
    n_train, n_val = info["data"]["train"], info["data"]["val"]
    steady = log[1:] or log
    cps = common.median([e["clips_per_s"] for e in steady])
    # an epoch's wall beside its training loop: validation (+ BN recalibration), model file
    gaps = [e["epoch_wall_s"] - e["epoch_time_s"] for e in steady if "epoch_wall_s" in e]
    overhead = common.median(gaps) if gaps else 0.0
    per_epoch_paper = PAPER_CLIPS * 0.95 / cps + overhead * PAPER_CLIPS / (n_train + n_val)
    hours = PAPER_EPOCHS * per_epoch_paper / 3600
    row = {"frontend": args.frontend, "train_clips": n_train, "epochs": len(log),
           "first_epoch_s": log[0]["epoch_time_s"], "clips_per_s": cps,
           "epoch_s_measured": common.median([e["epoch_time_s"] for e in steady]),
           "overhead_s_per_epoch": overhead, "paper_epoch_s": per_epoch_paper,
           "paper_schedule_hours": hours, "run_wall_s": wall,
           "gpu_max_allocated_gb": _gpu_peak_gb(device)}
    record["results"].append(row)
    record["notes"].append("paper_schedule_hours = 300 epochs x paper_epoch_s / 3600, "
                           "paper_epoch_s = 41,000 x 0.95 / clips_per_s + overhead scaled by "
                           "41,000 / measured clips")
    path = common.write_record(record, args.out)
    common.print_table(f"paper schedule from measured epochs ({device})", [row], [
        ("train_clips", "train clips", ""), ("clips_per_s", "clips/s", ".1f"),
        ("epoch_s_measured", "epoch s", ".1f"), ("overhead_s_per_epoch", "val+ckpt s", ".1f"),
        ("paper_epoch_s", "paper epoch s", ".0f"),
        ("paper_schedule_hours", "300 epochs (h)", ".2f")])
    common.console.print(f"wrote {path}")


def _gpu_peak_gb(device) -> float | None:
    import torch  # noqa: PLC0415

    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 2**30


if __name__ == "__main__":
    main()
