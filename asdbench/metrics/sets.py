"""Test sets apart: a run's metrics and submission files per test set, never mixed.

A DCASE dataset marks each clip with the set it comes from (the clip attribute ``set``:
``dev`` for the development set, ``eval`` for the evaluation set); a score table given to
these functions carries it in a ``set`` column. Each set is evaluated on its own, under every
protocol. The *official* set, whose submission the organisers' evaluators score, is ``eval``
when the run has evaluation test clips, else its only (or first) set.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from asdbench.data import DEFAULT_SET, DEV, EVAL
from asdbench.metrics.compute import compute_all
from asdbench.metrics.decision import DecisionRule, decide
from asdbench.metrics.protocols import ProtocolRegistry
from asdbench.metrics.submission import write_submission


def clip_set(attributes: Iterable[tuple[str, str]]) -> str:
    """The set of a clip from its attributes (``("set", "eval")``); ``dev`` when unnamed."""
    return dict(attributes).get("set") or DEFAULT_SET


def set_names(frame: pd.DataFrame) -> list[str]:
    """The sets of a score table: ``dev``, then ``eval``, then any other, alphabetically."""
    found = set(frame["set"].astype(str)) if "set" in frame.columns else {DEFAULT_SET}
    order = {DEV: 0, EVAL: 1}
    return sorted(found, key=lambda s: (order.get(s, 2), s))


def official_set(names: Sequence[str]) -> str:
    """``eval`` when present (what the evaluators score), else the first set."""
    return EVAL if EVAL in names else names[0]


def primary_set(names: Sequence[str]) -> str:
    """The set whose metrics the top-level ``protocols`` of a run written before ``set``
    existed hold: ``dev``, else the first."""
    return DEV if DEV in names else names[0]


def of_set(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    if "set" not in frame.columns:
        return frame
    return frame.loc[frame["set"].astype(str) == name]


def metrics_by_set(frame: pd.DataFrame, protocols: Sequence[str], *, dataset: str = "",
                   registry: ProtocolRegistry | None = None) -> dict[str, dict[str, Any]]:
    """``{set: {"n_clips", "n_labelled", "protocols": {protocol: metrics}}}`` of a score
    table, each set computed on its own clips only."""
    out: dict[str, dict[str, Any]] = {}
    for name in set_names(frame):
        part = of_set(frame, name)
        labelled = int(pd.to_numeric(part["label"], errors="coerce").notna().sum())
        out[name] = {"n_clips": int(len(part)), "n_labelled": labelled,
                     "protocols": compute_all(part, protocols, dataset=dataset,
                                              registry=registry)}
    return out


def decided_metrics(frame: pd.DataFrame, thresholds: dict[str, dict[str, Any]],
                    rule: DecisionRule, protocols: Sequence[str], dataset: str = "",
                    registry: ProtocolRegistry | None = None
                    ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``frame`` (with each clip's ``set``) with its ``decision`` column, and the part of
    ``metrics.json`` it makes: ``sets`` (each set's metrics), ``protocols`` (top level: the
    official set's, ``eval`` where there is one, named by ``set``; ``dev`` stays under
    ``sets.dev``), ``official_set``, ``official_protocol`` and ``decision`` (the rule and
    its thresholds). Runs written before kept the ``dev`` set's at the top level, without
    ``set``: :func:`top_level_set` tells them apart."""
    frame = frame.assign(decision=decide(frame, thresholds))
    names = set_names(frame)
    sets = metrics_by_set(frame, protocols, dataset=dataset, registry=registry)
    official = official_set(names)
    return frame, {"official_protocol": protocols[0], "official_set": official,
                   "set": official, "protocols": sets[official]["protocols"], "sets": sets,
                   "decision": rule.record(thresholds)}


def top_level_set(metrics: dict[str, Any]) -> str | None:
    """The set whose numbers a ``metrics.json`` keeps at its top level: its ``set``; for one
    written before that key, the :func:`primary_set` of its sets (None: no sets at all)."""
    if metrics.get("set"):
        return str(metrics["set"])
    sets = metrics.get("sets") or {}
    return primary_set(list(sets)) if sets else None


def write_set_submissions(frame: pd.DataFrame, folders: dict[str, Path], layout: str,
                          registry: ProtocolRegistry | None = None) -> dict[str, list[Path]]:
    """The submission files of each set of ``frame`` into ``folders[set]``; returns the
    paths written per set."""
    return {name: write_submission(of_set(frame, name), folders[name], layout=layout,
                                   registry=registry)
            for name in set_names(frame)}
