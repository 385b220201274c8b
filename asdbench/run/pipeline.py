"""One run from start to end, the job behind ``asdbench run``: data, model, training,
scores, metrics, each file written to the run's folder, and the lifecycle hooks called."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from asdbench import plugins
from asdbench.config import RunConfig
from asdbench.metrics import compute_all, write_submission
from asdbench.model import ASDModel, build_model
from asdbench.registry import AsdbenchError, Registry
from asdbench.run.device import select_device
from asdbench.run.evaluate import embed_split, score_clips, scores_frame
from asdbench.run.loop import fit
from asdbench.run.provenance import provenance
from asdbench.run.rundir import RunDir
from asdbench.run.tensors import DecodedData, Splits, decode_data, make_splits


def train_and_evaluate(cfg: RunConfig, results: str | Path, *, resume: bool = False,
                       progress: bool = True, registry: Registry | None = None
                       ) -> tuple[dict[str, Any], RunDir]:
    """Train and evaluate one run; returns the metrics written to its ``metrics.json`` and
    its folder, ``RESULTS/runs/<run-id>/``.

    A finished run is returned as is. An unfinished one (a checkpoint, no metrics) needs
    ``resume=True`` (continue from its last epoch) or the folder deleted.
    """
    registry = registry or plugins.get_registry()
    run = RunDir.for_run(results, cfg.run_id)
    if run.is_finished(cfg.run_id):
        return run.read_metrics(), run
    if run.state_path.exists() and not resume:
        raise AsdbenchError(f"{run.path} holds an unfinished run: pass --resume to continue it "
                            "(or delete the folder to start again)")
    t_start, hook = time.perf_counter(), plugins.default_plugins().hook
    device = select_device(cfg.train.device)
    torch.manual_seed(cfg.seed)
    data = decode_data(cfg, registry, progress)
    model = build_model(cfg, registry, data.audio, len(data.classes)).to(device)
    splits = make_splits(data, model.frontend, cfg, device, progress)
    run.write_config(run_info(cfg, data, splits, device))
    hook.asdbench_run_started(config=cfg.to_flat(), run_dir=run.path)
    model, summary = fit(cfg, model, splits.train, splits.val, run, device, resume=resume,
                         progress=progress, on_epoch=lambda record: hook.asdbench_epoch_end(
                             run_dir=run.path, record=record))
    frame = score_test_clips(cfg, registry, model, splits, run, device)
    protocols = list(data.dataset.protocols)
    write_submission(frame, run.submission_dir, layout=protocols[0])
    metrics = {"run_id": cfg.run_id, "config": cfg, "official_protocol": protocols[0],
               "protocols": compute_all(frame, protocols, dataset=cfg.dataset), **summary,
               "wall_time_s": time.perf_counter() - t_start}
    metrics = run.write_metrics(metrics)
    hook.asdbench_run_finished(run_dir=run.path, metrics=metrics)
    return metrics, run


def run_info(cfg: RunConfig, data: DecodedData, splits: Splits,
             device: torch.device) -> dict[str, Any]:
    """What ``config.json`` records: the config, classes, audio format, data and provenance."""
    audio = data.audio
    return {"run_id": cfg.run_id, "config": cfg, "classes": data.classes,
            "audio": {"sample_rate": audio.sample_rate, "clip_seconds": audio.clip_seconds},
            "data_root": data.data_root(), "protocols": list(data.dataset.protocols),
            "provenance": provenance(device),
            "data": {"train": len(splits.train), "val": len(splits.val),
                     "test": len(splits.test), "problems": data.problems()}}


def score_test_clips(cfg: RunConfig, registry: Registry, model: ASDModel, splits: Splits,
                     run: RunDir, device: torch.device) -> pd.DataFrame:
    """Fit the scorer on every training clip's outputs and score the test clips; writes what
    the scorer was fitted on and ``scores.csv``. Returns the scores table."""
    train_inputs = embed_split(model, splits.full, device, cfg.train.amp)
    run.save_train_inputs(train_inputs)
    test_inputs = embed_split(model, splits.test, device, cfg.train.amp)
    frame = scores_frame(splits.test.clips, score_clips(cfg, registry, train_inputs, test_inputs))
    run.write_scores(frame)
    return frame
