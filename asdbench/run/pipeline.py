"""One run from start to end, the job behind ``asdbench run``: data, model, training,
scores, metrics, each file written to the run's folder, and the lifecycle hooks called."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from asdbench import plugins
from asdbench.config import RunConfig
from asdbench.metrics.compute import protocol_registry
from asdbench.metrics.decision import DecisionRule, fit_thresholds, training_scores
from asdbench.metrics.protocols import ProtocolRegistry
from asdbench.metrics.sets import decided_metrics, write_set_submissions
from asdbench.model import ASDModel, build_model
from asdbench.registry import AsdbenchError, Registry
from asdbench.run.device import peak_memory, reset_peak_memory, select_device
from asdbench.run.evaluate import (
    check_scorer_fits,
    clip_sets,
    embed_split,
    fit_method,
    fit_scorer,
    scores_frame,
    test_selection_metric,
)
from asdbench.run.evaluations import eval_config, evaluate_scorer, extra_overrides
from asdbench.run.loop import fit
from asdbench.run.provenance import provenance
from asdbench.run.reference import FOLDER as REFERENCE_FOLDER
from asdbench.run.reference import add_lift, reference_config
from asdbench.run.rundir import RunDir, json_default
from asdbench.run.service import evaluate_run
from asdbench.run.stages import plan_for
from asdbench.run.tensors import DecodedData, Splits, decode_data, make_splits
from asdbench.scoring import ScoringInputs


def train_and_evaluate(cfg: RunConfig, results: str | Path, *, resume: bool = False,
                       progress: bool = True, registry: Registry | None = None,
                       scorers: Sequence[str] = (), reference: bool = False
                       ) -> tuple[dict[str, Any], RunDir]:
    """Train and evaluate one run; returns the metrics written to its ``metrics.json`` and
    its folder, ``RESULTS/runs/<run-id>/``.

    ``scorers``: specs of more scorers (:mod:`asdbench.run.evaluations`), each evaluated on
    the same model into ``eval/<scorer>/``. ``reference``: the non-learned reference on the
    same clips into ``eval/reference/`` first, and the lift over it in every ``metrics.json``
    (:mod:`asdbench.run.reference`). A finished run is not trained again: what it lacks of
    these is added. An unfinished one (a checkpoint, no metrics) needs ``resume=True``
    (continue from its last epoch) or the folder deleted. The run's folder is locked while
    it is written (:meth:`RunDir.training_lock`).
    """
    registry = registry or plugins.get_registry()
    run = RunDir.for_run(results, cfg.run_id)
    extras = extra_overrides(scorers, cfg)
    for overrides in extras:  # a wrong name or option fails before anything runs
        eval_config(cfg, overrides, registry)
    (registry.plugins or plugins.default_plugins()).check("asdbench_check_run",
                                                          config=cfg.to_flat())
    with run.training_lock():
        if not run.is_finished(cfg.run_id) and run.state_path.exists() and not resume:
            raise AsdbenchError(f"{run.path} holds an unfinished run: pass --resume to "
                                "continue it (or delete the folder to start again)")
        select_device(cfg.train.device)  # a device that is not there fails before any work
        ref = run_reference(cfg, registry, run, progress) if reference else None
        if run.is_finished(cfg.run_id):
            return complete(cfg, run, extras, ref, progress), run
        metrics = train_run(cfg, registry, run, resume=resume, progress=progress,
                            extras=extras, reference=ref)
        return metrics, run


def train_run(cfg: RunConfig, registry: Registry, run: RunDir, *, resume: bool = False,
              progress: bool = True, extras: Sequence[dict[str, Any]] = (),
              reference: tuple[dict[str, Any], str] | None = None,
              announce: bool = True) -> dict[str, Any]:
    """Train ``cfg`` into ``run`` and evaluate it (the run's scorer, then each of ``extras``,
    with the lift over ``reference``: its metrics and run id); returns the run's metrics.
    ``announce``: call the lifecycle hooks."""
    t_start = time.perf_counter()
    loaded = registry.plugins or plugins.default_plugins()  # a caller's own set reaches its hooks
    device = select_device(cfg.train.device)
    torch.manual_seed(cfg.seed)
    data = decode_data(cfg, registry, progress)
    model = build_model(cfg, registry, data.audio, len(data.classes),
                        class_names=data.classes).to(device)
    for overrides in [{}, *extras]:
        check_scorer_fits(eval_config(cfg, overrides, registry), registry, model)
    plan_for(model.method, cfg.train.epochs)  # a bad stage declaration fails before features
    splits = make_splits(data, model.frontend, cfg, device, progress)
    run.write_config(run_info(cfg, data, splits, device))
    if announce:
        loaded.notify("asdbench_run_started", config=cfg.to_flat(), run_dir=run.path)
    trained: list[dict[str, Any]] = []  # this part's epochs (a resumed run had earlier ones)

    def on_epoch(record: dict[str, Any]) -> None:
        trained.append(record)
        if announce:
            loaded.notify("asdbench_epoch_end", run_dir=run.path, record=record)

    test_metric = (test_selection_metric(cfg, registry, splits, device)
                   if cfg.train.select == "test" else None)  # reads test labels: marked
    reset_peak_memory(device)
    model, summary = fit(cfg, model, splits.train, splits.val, run, device, resume=resume,
                         progress=progress, on_epoch=on_epoch, test_metric=test_metric)
    summary = {**summary, **peak_memory(device)}
    frame, train_frame, inputs = score_test_clips(cfg, registry, model, splits, run, device)
    protocols, metric_registry = list(data.dataset.protocols), protocol_registry(loaded)
    metrics = {"run_id": cfg.run_id, "config": cfg,
               **evaluate_sets(cfg, frame, train_frame, protocols, run, metric_registry),
               **summary, "wall_time_s": time.perf_counter() - t_start
               + run.earlier_wall_time(len(trained))}
    metrics = run.write_metrics(with_lift(metrics, reference))
    if announce:
        loaded.notify("asdbench_run_finished", run_dir=run.path, metrics=metrics)
    for overrides in extras:
        done = evaluate_scorer(run, cfg, overrides, registry, inputs[0], splits.full.clips,
                               inputs[1], splits.test.clips, protocols, metrics,
                               metric_registry)
        write_with_lift(Path(done["eval_dir"]), reference)
    return metrics


def run_reference(cfg: RunConfig, registry: Registry, run: RunDir,
                  progress: bool) -> tuple[dict[str, Any], str] | None:
    """The reference's metrics and run id on ``cfg``'s clips, run into
    ``RUN/eval/reference/`` unless there already (None when ``cfg`` is the reference)."""
    ref_cfg = reference_config(cfg, registry)
    if ref_cfg is None:
        return None
    folder = RunDir(run.path / RunDir.EVAL / REFERENCE_FOLDER)
    if not folder.is_finished(ref_cfg.run_id):
        try:
            train_run(ref_cfg, registry, folder, progress=progress, announce=False)
        except AsdbenchError as exc:  # before the run's own training: nothing is lost
            raise AsdbenchError(f"the reference on this run's clips: {exc} (pass "
                                "--no-reference to skip it)") from None
    return folder.read_metrics(), ref_cfg.run_id


def complete(cfg: RunConfig, run: RunDir, extras: Sequence[dict[str, Any]],
             reference: tuple[dict[str, Any], str] | None, progress: bool) -> dict[str, Any]:
    """A finished run with what it lacks: each extra scorer's evaluation (``asdbench eval``:
    the saved model re-embeds the test clips) and the lift over ``reference``."""
    metrics = write_with_lift(run.path, reference) if reference else run.read_metrics()
    for overrides in extras:
        out = run.rescore_dir(eval_config(cfg, overrides, plugins.get_registry()).scorer,
                              overrides)
        if not (out / RunDir.METRICS).is_file():
            evaluate_run(run.path, overrides, device=cfg.train.device, progress=progress)
        write_with_lift(out, reference)
    return metrics


def with_lift(metrics: dict[str, Any],
              reference: tuple[dict[str, Any], str] | None) -> dict[str, Any]:
    """``metrics`` with the lift over ``reference`` (its metrics and run id), if any."""
    if reference is None:
        return metrics
    return add_lift(json.loads(json.dumps(metrics, default=json_default)), *reference)


def write_with_lift(folder: Path, reference: tuple[dict[str, Any], str] | None
                    ) -> dict[str, Any]:
    """The ``metrics.json`` in ``folder`` rewritten with the lift over ``reference``."""
    path = folder / RunDir.METRICS
    metrics = with_lift(json.loads(path.read_text()), reference)
    if reference is not None:
        RunDir.write_json(path, metrics)
    return metrics


def run_info(cfg: RunConfig, data: DecodedData, splits: Splits,
             device: torch.device) -> dict[str, Any]:
    """What ``config.json`` records: the config, classes, audio format, data and provenance."""
    audio = data.audio
    return {"run_id": cfg.run_id, "config": cfg, "classes": data.classes,
            "audio": {"sample_rate": audio.sample_rate, "clip_seconds": audio.clip_seconds,
                      **({} if audio.channel is None else {"channel": audio.channel})},
            "data_root": data.data_root(), "protocols": list(data.dataset.protocols),
            "provenance": provenance(device),
            "data": {"train": len(splits.train), "val": len(splits.val),
                     "test": len(splits.test), "problems": data.problems()}}


def score_test_clips(cfg: RunConfig, registry: Registry, model: ASDModel, splits: Splits,
                     run: RunDir, device: torch.device
                     ) -> tuple[pd.DataFrame, pd.DataFrame, tuple[ScoringInputs, ScoringInputs]]:
    """Fit the scorer on every training clip's outputs and score the test clips and the
    training clips (for the decision thresholds); writes what the scorer was fitted on and
    ``scores.csv`` (each clip's ``set`` in it). Returns the test scores, the train scores and
    the scorer's inputs (train, test)."""
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
    return frame, train, (train_inputs, test_inputs)


def evaluate_sets(cfg: RunConfig, frame: pd.DataFrame, train: pd.DataFrame,
                  protocols: list[str], run: RunDir,
                  registry: ProtocolRegistry | None = None) -> dict[str, Any]:
    """Decisions, submission files and metrics of each test set apart; the part of
    ``metrics.json`` they make.

    ``protocols`` (top level) holds the official set's metrics, named by ``set``; ``sets``
    holds each set's (``sets.dev`` the development set's); ``official_set``
    names the set the evaluators score (``eval`` when present), whose submission is in
    ``submission/``.
    """
    rule = DecisionRule.from_config(cfg)
    frame, metrics = decided_metrics(frame, fit_thresholds(train, rule), rule, protocols,
                                     cfg.dataset, registry)
    folders = {n: run.set_submission_dir(n, metrics["official_set"]) for n in metrics["sets"]}
    write_set_submissions(frame, folders, layout=protocols[0], registry=registry)
    for name, folder in folders.items():
        metrics["sets"][name]["submission"] = folder.name
    return metrics
