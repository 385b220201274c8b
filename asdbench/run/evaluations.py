"""Several scorers on one trained model: each extra scorer an evaluation of the run, written to
``RUN/eval/<scorer>[-<hash>]/`` exactly as ``asdbench eval --scorer`` writes it.

A scorer is named by a spec: ``NAME`` or ``NAME:KEY=VALUE[:KEY=VALUE...]`` (each KEY an
option of that scorer, ``scorer.KEY`` in a run's settings), ``own`` for the run's own scorer.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from asdbench.config import parse_sets, resolve
from asdbench.metrics.compute import protocol_registry
from asdbench.metrics.decision import DecisionRule, fit_thresholds, training_scores
from asdbench.metrics.sets import decided_metrics
from asdbench.plugins import default_plugins
from asdbench.registry import AsdbenchError, Registry
from asdbench.run.rundir import RunDir

if TYPE_CHECKING:
    from asdbench.data import Clip
    from asdbench.scoring import ScoringInputs

OWN = "own"  # the run's own (configured) scorer


def parse_scorers(specs: str | Iterable[str]) -> list[str]:
    """Scorer specs from ``--scorers`` text (comma-separated, repeatable) or a list, in order,
    each once; ``own`` first whether named or not. A malformed spec is a one-line error."""
    items = [specs] if isinstance(specs, str) else list(specs)
    out = [OWN]
    for item in items:
        if not isinstance(item, str):
            raise AsdbenchError(f"scorers: {item!r} is not a scorer name (e.g. 'mahalanobis' "
                                "or 'knn:k=2')")
        for spec in (s.strip() for s in item.split(",")):
            if spec and spec not in out:
                spec_overrides(spec)  # fails on a malformed one, before anything runs
                out.append(spec)
    return out


def spec_overrides(spec: str) -> dict[str, Any]:
    """The run overrides of a scorer spec: ``{"scorer": NAME, "scorer.KEY": VALUE, ...}``;
    ``{}`` for ``own``."""
    name, *options = [part.strip() for part in spec.split(":")]
    if name == OWN and not options:
        return {}
    if not name or name == OWN:
        raise AsdbenchError(f"scorers: '{spec}' must be a scorer name, then its options as "
                            ":KEY=VALUE (e.g. knn:k=2)")
    try:
        parsed = parse_sets([f"scorer.{option}" for option in options])
    except AsdbenchError:
        raise AsdbenchError(f"scorers: '{spec}': each option must be KEY=VALUE "
                            "(e.g. knn:k=2)") from None
    return {"scorer": name, **parsed}


def extra_overrides(specs: Iterable[str], cfg: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The overrides of each spec that is not the run's own scorer (``own``, or the run's
    scorer with its own options, is the run itself)."""
    own = {"scorer": cfg["scorer"], **{k: v for k, v in cfg.items() if k.startswith("scorer.")}}
    out = []
    for spec in specs:
        overrides = spec_overrides(spec)
        if overrides and not all(own.get(k) == v for k, v in overrides.items()):
            out.append(overrides)
    return out


def eval_config(base: Mapping[str, Any], overrides: Mapping[str, Any], registry: Registry):
    """A run's config with ``overrides``: another dataset drops the run's ``data.*``
    settings, another scorer the run's ``scorer.*`` options (they belong to the old one)."""
    base = dict(base)
    for kind, prefix in (("dataset", "data."), ("scorer", "scorer.")):
        if kind in overrides and overrides[kind] != base.get(kind):
            base = {k: v for k, v in base.items() if not k.startswith(prefix)}
    return resolve({**base, **overrides}, registry)


def evaluation_record(run_id: str, cfg: Any, overrides: Mapping[str, Any],
                      by_set: dict[str, Any], trained: Mapping[str, Any]) -> dict[str, Any]:
    """An evaluation's ``metrics.json``: the run's id, the config it was scored with, each
    set's metrics, the training's epochs and what was evaluated."""
    return {"run_id": run_id, "config": cfg, **by_set,
            "best_epoch": trained.get("best_epoch"), "epochs": trained.get("epochs"),
            "evaluated": {"scorer": cfg.scorer, "scorer_options": cfg.options("scorer"),
                          "overrides": dict(overrides)}}


def write_evaluation(run: RunDir, cfg: Any, overrides: Mapping[str, Any], decided: Any,
                     metrics: dict[str, Any]) -> Path:
    """Write an evaluation's ``scores.csv`` and ``metrics.json`` to its eval folder."""
    out = run.rescore_dir(cfg.scorer, overrides)
    run.write_scores(decided.drop(columns="decision"), out / RunDir.SCORES)
    RunDir.write_json(out / RunDir.METRICS, metrics)
    return out


def evaluate_scorer(run: RunDir, cfg: Any, overrides: Mapping[str, Any], registry: Registry,
                    train: ScoringInputs, train_clips: list[Clip], test: ScoringInputs,
                    test_clips: list[Clip], protocols: list[str],
                    trained: Mapping[str, Any], metric_registry: Any = None) -> dict[str, Any]:
    """Score a just-trained run's inputs with another scorer (no re-embedding) and write the
    evaluation as ``asdbench eval`` does; returns its metrics (``eval_dir``: where).
    ``metric_registry``: the metric protocols (``asdbench.metrics.compute.protocol_registry``)."""
    # torch: asdbench.matrix.grid imports this module to plan cells
    from asdbench.run.evaluate import clip_sets, fit_scorer, scores_frame  # noqa: PLC0415

    ecfg = eval_config(cfg, overrides, registry)
    scorer = fit_scorer(ecfg, registry, train)
    frame = scores_frame(test_clips, np.asarray(scorer.score(test), dtype=np.float64))
    frame = frame.assign(set=clip_sets(test_clips))
    rule = DecisionRule.from_config(ecfg)
    fitted = fit_thresholds(scores_frame(train_clips, training_scores(scorer, train)), rule)
    decided, by_set = decided_metrics(frame, fitted, rule, protocols, ecfg.dataset,
                                      metric_registry or protocol_registry(
                                          registry.plugins or default_plugins()))
    metrics = evaluation_record(cfg.run_id, ecfg, overrides, by_set, trained)
    out = write_evaluation(run, ecfg, overrides, decided, metrics)
    return {**json.loads((out / RunDir.METRICS).read_text()), "eval_dir": str(out)}
