"""One run from start to end, the job behind ``asdbench run``: data, model, training,
scores, metrics, each file written to the run's folder, and the lifecycle hooks called."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from asdbench import plugins
from asdbench.config import RunConfig
from asdbench.metrics.decision import DecisionRule, fit_thresholds, training_scores
from asdbench.metrics.sets import decided_metrics, write_set_submissions
from asdbench.model import ASDModel, build_model
from asdbench.registry import AsdbenchError, Registry
from asdbench.run.device import select_device
from asdbench.run.evaluate import (
    check_scorer_fits,
    clip_sets,
    embed_split,
    fit_method,
    fit_scorer,
    scores_frame,
)
from asdbench.run.loop import fit
from asdbench.run.provenance import provenance
from asdbench.run.rundir import RunDir
from asdbench.run.stages import plan_for
from asdbench.run.tensors import DecodedData, Splits, decode_data, make_splits


def train_and_evaluate(cfg: RunConfig, results: str | Path, *, resume: bool = False,
                       progress: bool = True, registry: Registry | None = None
                       ) -> tuple[dict[str, Any], RunDir]:
    """Train and evaluate one run; returns the metrics written to its ``metrics.json`` and
    its folder, ``RESULTS/runs/<run-id>/``.

    A finished run is returned as is. An unfinished one (a checkpoint, no metrics) needs
    ``resume=True`` (continue from its last epoch) or the folder deleted. The run's folder
    is locked while it trains (:meth:`RunDir.training_lock`).
    """
    registry = registry or plugins.get_registry()
    run = RunDir.for_run(results, cfg.run_id)
    if run.is_finished(cfg.run_id):
        return run.read_metrics(), run
    with run.training_lock():
        if run.is_finished(cfg.run_id):  # finished by the process that held the lock
            return run.read_metrics(), run
        return _train(cfg, run, resume, progress, registry)


def _train(cfg: RunConfig, run: RunDir, resume: bool, progress: bool,
           registry: Registry) -> tuple[dict[str, Any], RunDir]:
    """Train and evaluate one run into its locked folder (see :func:`train_and_evaluate`)."""
    if run.state_path.exists() and not resume:
        raise AsdbenchError(f"{run.path} holds an unfinished run: pass --resume to continue it "
                            "(or delete the folder to start again)")
    t_start, hook = time.perf_counter(), plugins.default_plugins().hook
    device = select_device(cfg.train.device)
    torch.manual_seed(cfg.seed)
    data = decode_data(cfg, registry, progress)
    model = build_model(cfg, registry, data.audio, len(data.classes),
                        class_names=data.classes).to(device)
    check_scorer_fits(cfg, registry, model)
    plan_for(model.method, cfg.train.epochs)  # a bad stage declaration fails before features
    splits = make_splits(data, model.frontend, cfg, device, progress)
    run.write_config(run_info(cfg, data, splits, device))
    hook.asdbench_run_started(config=cfg.to_flat(), run_dir=run.path)
    trained: list[dict[str, Any]] = []  # this part's epochs (a resumed run had earlier ones)

    def on_epoch(record: dict[str, Any]) -> None:
        trained.append(record)
        hook.asdbench_epoch_end(run_dir=run.path, record=record)

    model, summary = fit(cfg, model, splits.train, splits.val, run, device, resume=resume,
                         progress=progress, on_epoch=on_epoch)
    frame, train_frame = score_test_clips(cfg, registry, model, splits, run, device)
    metrics = {"run_id": cfg.run_id, "config": cfg,
               **evaluate_sets(cfg, frame, train_frame, list(data.dataset.protocols), run),
               **summary, "wall_time_s": time.perf_counter() - t_start
               + run.earlier_wall_time(len(trained))}
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
                     run: RunDir, device: torch.device) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fit the scorer on every training clip's outputs and score the test clips and the
    training clips (for the decision thresholds); writes what the scorer was fitted on and
    ``scores.csv`` (each clip's ``set`` in it). Returns the test scores and the train scores."""
    if fit_method(model, splits.train, device, cfg.train.amp):  # the method's fit_train
        run.save_model(model.state_dict())
    train_inputs = embed_split(model, splits.full, device, cfg.train.amp)
    run.save_train_inputs(train_inputs)
    test_inputs = embed_split(model, splits.test, device, cfg.train.amp)
    scorer = fit_scorer(cfg, registry, train_inputs)
    frame = scores_frame(splits.test.clips, np.asarray(scorer.score(test_inputs), np.float64))
    frame = frame.assign(set=clip_sets(splits.test.clips))
    run.write_scores(frame)
    # held-out scores where the scorer has them (a kNN clip is not its own neighbour)
    train = scores_frame(splits.full.clips, training_scores(scorer, train_inputs))
    return frame, train


def evaluate_sets(cfg: RunConfig, frame: pd.DataFrame, train: pd.DataFrame,
                  protocols: list[str], run: RunDir) -> dict[str, Any]:
    """Decisions, submission files and metrics of each test set apart; the part of
    ``metrics.json`` they make.

    ``protocols`` (top level) holds the ``dev`` set's metrics (else the only set's), as every
    reader written before sets existed expects; ``sets`` holds each set's; ``official_set``
    names the set the evaluators score (``eval`` when present), whose submission is in
    ``submission/``.
    """
    rule = DecisionRule.from_config(cfg)
    frame, metrics = decided_metrics(frame, fit_thresholds(train, rule), rule, protocols,
                                     cfg.dataset)
    folders = {n: run.set_submission_dir(n, metrics["official_set"]) for n in metrics["sets"]}
    write_set_submissions(frame, folders, layout=protocols[0])
    for name, folder in folders.items():
        metrics["sets"][name]["submission"] = folder.name
    return metrics
