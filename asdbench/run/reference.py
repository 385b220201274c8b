"""The non-learned reference on a run's own clips, and the run's lift over it.

The reference is a per-ID Ledoit-Wolf Gaussian on the mean and standard deviation over time
of each log-Mel band of a clip: the components below, on the run's dataset with its data
settings (the same training and test clips) and seed. It answers "did the network learn more
than the clip statistics?". It goes to ``RUN/eval/reference/``, a run folder of its own.

The lift is the model's average AUC minus the reference's, in each test set and protocol;
its 95 % interval is the leaderboard's jackknife over machine IDs
(:mod:`asdbench.leaderboard.ranking`) applied to the per-ID differences (paired: both
score the same clips).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from asdbench.config import resolve
from asdbench.leaderboard.ranking import jackknife, statistic_of
from asdbench.registry import Registry

# The shipped reference (plugin asdbench_scorers; the frontend from asdbench_osscl).
COMPONENTS = {"frontend": "logmel", "backbone": "stats", "method": "gaussian",
              "scorer": "mahalanobis"}
FOLDER = "reference"  # RUN/eval/reference/
KEPT = ("dataset", "seed", "train.device")  # with every data.* and decision.* setting
AUC_KEYS = ("auc", "auc_source", "auc_target")  # a section scored per domain has two AUCs


def reference_config(cfg: Mapping[str, Any], registry: Registry):
    """The reference's config on ``cfg``'s data: its dataset, data and decision settings and
    seed, the reference's components with their defaults; None when ``cfg`` is the
    reference itself."""
    kept = {k: v for k, v in cfg.items()
            if k in KEPT or k.startswith(("data.", "decision."))}
    ref = resolve({**kept, **COMPONENTS}, registry)
    same = all(cfg.get(k) == v for k, v in COMPONENTS.items())
    return None if same else ref


def lift(model: Mapping[str, Any], reference: Mapping[str, Any]) -> dict[str, float] | None:
    """The lift of one protocol's metrics over the reference's on the same clips:
    ``{"lift": model - reference average AUC, "lift_ci": half-width of its 95 % interval,
    "n_ids": IDs paired}`` (fractions); None when either lacks an average AUC."""
    a, b = model.get("average", {}).get("auc"), reference.get("average", {}).get("auc")
    if a is None or b is None:
        return None
    units = []
    ids_a, ids_b = model.get("ids") or {}, reference.get("ids") or {}
    for key in sorted(set(ids_a) & set(ids_b)):
        diffs = {k: [ids_a[key][k] - ids_b[key][k]] for k in AUC_KEYS
                 if ids_a[key].get(k) is not None and ids_b[key].get(k) is not None}
        if diffs:
            units.append((key.split("/", 1)[0], diffs))
            if "auc" in diffs:  # per ID, for the leaderboard's interval over seeds' IDs
                ids_a[key]["lift"] = diffs["auc"][0]
    half = jackknife(units, statistic_of("auc"))[1] if units else math.nan
    return {"lift": float(a) - float(b), "lift_ci": half, "n_ids": len(units)}


def add_lift(metrics: dict[str, Any], reference: Mapping[str, Any],
             reference_id: str) -> dict[str, Any]:
    """``metrics`` (a run's or an evaluation's ``metrics.json``) with the lift over
    ``reference`` (the reference's ``metrics.json``) in each protocol's ``average`` of each
    set (and the top-level ``protocols``, the primary set's), and ``reference``: its run
    id, its average AUC and the lift in the official set and protocol."""
    ref_sets = reference.get("sets") or {}
    for name, part in (metrics.get("sets") or {}).items():
        for proto, pm in part["protocols"].items():
            got = lift(pm, ref_sets.get(name, {}).get("protocols", {}).get(proto, {}))
            if got:
                pm["average"].update(got)
    for proto, pm in (metrics.get("protocols") or {}).items():
        got = lift(pm, (reference.get("protocols") or {}).get(proto, {}))
        if got:
            pm["average"].update(got)
    official = ((ref_sets.get(metrics.get("official_set"), {}) or {}).get("protocols", {})
                .get(metrics.get("official_protocol"), {}))
    mine = ((metrics.get("sets") or {}).get(metrics.get("official_set"), {})
            .get("protocols", {}).get(metrics.get("official_protocol"), {}))
    metrics["reference"] = {"run_id": reference_id, "folder": f"eval/{FOLDER}",
                            "auc": official.get("average", {}).get("auc"),
                            **(lift(mine, official) or {})}
    return metrics


def auc_interval(pm: Mapping[str, Any]) -> tuple[float, float, int]:
    """One protocol's average AUC, the half-width of its 95 % interval over machine IDs (the
    leaderboard's jackknife) and the number of IDs."""
    units = [(key.split("/", 1)[0], {k: [v[k]] for k in AUC_KEYS if v.get(k) is not None})
             for key, v in sorted((pm.get("ids") or {}).items())]
    units = [u for u in units if u[1]]
    half = jackknife(units, statistic_of("auc"))[1] if units else math.nan
    auc = pm.get("average", {}).get("auc")
    return (math.nan if auc is None else float(auc)), half, len(units)
