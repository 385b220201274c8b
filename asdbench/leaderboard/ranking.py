"""One track's table: runs grouped over seeds into rows, 95 % intervals, ranks and ties.

Each row has ``n`` runs, their ``seeds``, ``<metric>_mean`` and ``_std`` over the seeds, and
for the ranking metric ``<primary>_ci`` (half-width of its 95 % jackknife interval over the
machine IDs) with ``ci_n`` IDs. ``rank`` is the position, ``rank_ci`` 1 + the rows whose
interval lies wholly above, ``tie`` whether another row shares that rank (the intervals do
not separate them).

The interval is a jackknife over the machine IDs (sections) that the averaged metric is made
of, as the DCASE Task 2 evaluators report one per system:
``jackknife_estimate`` of nttcslab/dcase2023_task2_evaluator (and its 2024 copy), which follows
A. Mesaros et al., "Sound Event Detection in the DCASE 2017 Challenge", IEEE/ACM TASLP 27(6),
2019, section IV: leave-one-out estimates, pseudo-values ``N θ - (N-1) θ_i``, and a Student-t
interval with ``N - 1`` degrees of freedom. Two deliberate differences from that script:

- the units left out are machine IDs / sections of the averaged metric (the script leaves out
  single clips of an AUC over all clips pooled, a different number than the official score);
- the standard error is that of the pseudo-values, ``sqrt(Σ(θ~_i - θ_jack)² / (N (N-1)))``,
  as in the paper. The script squares the spread of the leave-one-out estimates instead, which
  is smaller by a factor ``N - 1`` (for a plain mean it would give ``s / (sqrt(N) (N-1))``
  instead of the textbook ``s / sqrt(N)``).

A row of several seeds is first averaged per ID over its seeds, then jackknifed over the IDs;
the interval is centred on the row's mean (the number shown).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import t as student_t

from asdbench.cost import COLUMNS as COST_COLUMNS
from asdbench.cost import pareto_front
from asdbench.leaderboard.collect import LIFT, MEASURED
from asdbench.metrics.core import harmonic_mean
from asdbench.sdk.tables import IDENTITY

CONFIDENCE = 0.95
CI_SUFFIX = "_ci"
FRONT_COST = "gflops_10s"  # the cost the table's Pareto mark (``front``) is taken against
COST_MACHINE = "cpu_ms_machine"
# A unit: (machine type, {metric: values}); a section scored per domain has several values.
Unit = tuple[str, dict[str, list[float]]]


def jackknife(units: Sequence, statistic: Callable[[Sequence], float],
              confidence: float = CONFIDENCE) -> tuple[float, float]:
    """``(θ_jack, half-width)`` of ``statistic`` over ``units``; NaN with fewer than 2."""
    n = len(units)
    if n < 2:
        return math.nan, math.nan
    full = statistic(units)
    loo = np.array([statistic([u for j, u in enumerate(units) if j != i]) for i in range(n)])
    pseudo = n * full - (n - 1) * loo
    estimate = float(pseudo.mean())
    se = math.sqrt(float(np.sum((pseudo - estimate) ** 2)) / (n * (n - 1)))
    return estimate, float(student_t.ppf(0.5 + confidence / 2, n - 1)) * se


def _values(unit: dict[str, list[float]], metric: str) -> list[float]:
    """A unit's values of ``metric``; AUC of a section scored per domain (DCASE 2022+) is its
    source and target AUCs, as the protocol's average is."""
    if metric in ("auc", "mauc") and "auc_source" in unit:
        return unit.get("auc_source", []) + unit.get("auc_target", [])
    return unit.get("auc" if metric == "mauc" else metric, [])


def _by_type(units: Sequence[Unit], metric: str, reduce: Callable[[list[float]], float]) -> float:
    """Mean over machine types of ``reduce`` over each type's values (``np.mean``: a mean over
    IDs, ``min``: the lowest ID)."""
    per_type: dict[str, list[float]] = {}
    for mtype, unit in units:
        per_type.setdefault(mtype, []).extend(_values(unit, metric))
    values = [float(reduce(v)) for v in per_type.values() if v]
    return float(np.mean(values)) if values else math.nan


def statistic_of(metric: str) -> Callable[[Sequence[Unit]], float]:
    """The averaged ``metric`` recomputed from its units, as the protocols average it:
    ``official``: harmonic mean of every AUC(source), AUC(target) and pAUC (DCASE 2022+; AUC
    and pAUC per section and domain for DCASE 2021); ``mauc``: mean over types of the lowest
    per-ID AUC; any other: mean over types of the mean over IDs."""
    if metric == "official":
        def official(units: Sequence[Unit]) -> float:
            keys = ("auc_source", "auc_target", "pauc")
            values = [v for _, u in units
                      for k in (keys if "auc_source" in u else ("auc", "pauc"))
                      for v in u.get(k, [])]
            return harmonic_mean(values) if values else math.nan
        return official
    if metric == "mauc":
        return lambda units: _by_type(units, metric, min)
    return lambda units: _by_type(units, metric, np.mean)


def units_of(runs: pd.DataFrame, group: str = "average") -> list[Unit]:
    """The machine IDs (sections) of a row's runs, each metric averaged over the seeds;
    ``group``: a machine type keeps only its IDs (``average``: all)."""
    units: dict[str, Unit] = {}
    for col in runs.columns:
        key, _, metric = col.rpartition(".")
        parts = key.split("/")
        if len(parts) < 2 or (group != "average" and parts[0] != group):
            continue
        value = runs[col].mean()  # over seeds; NaN only when no seed has it
        if value != value:
            continue
        unit = units.setdefault("/".join(parts[:2]), (parts[0], {}))
        unit[1].setdefault(metric, []).append(float(value))
    return [units[k] for k in sorted(units)]


def interval(runs: pd.DataFrame, metric_column: str) -> tuple[float, int]:
    """Half-width of the 95 % interval of ``<group>.<metric>`` over a row's IDs, and N."""
    group, _, metric = metric_column.rpartition(".")
    units = units_of(runs, group)
    return jackknife(units, statistic_of(metric))[1], len(units)


def shared_ranks(means: Sequence[float], half: Sequence[float]) -> list[float]:
    """Per row, 1 + the number of rows whose interval lies wholly above its own (a row without
    an interval is a point); rows with the same shared rank are ties. NaN mean: NaN."""
    m = np.asarray(means, dtype=float)
    h = np.nan_to_num(np.asarray(half, dtype=float))
    low, high = m - h, m + h
    out = []
    for i in range(len(m)):
        if np.isnan(m[i]):
            out.append(math.nan)
            continue
        out.append(float(1 + np.sum(low[~np.isnan(m)] > high[i])))
    return out




def _aggregate(data: pd.DataFrame, metrics: list[str], primary: str) -> pd.DataFrame:
    """One row per identity: ``n`` runs, their seeds, ``<metric>_mean`` and ``_std``, and the
    primary metric's interval half-width (``<primary>_ci``, over ``ci_n`` IDs)."""
    cost = [c for c in COST_COLUMNS if c in data]
    rows = []
    for key, group in data.groupby(IDENTITY, dropna=False, sort=False):
        row: dict[str, Any] = dict(zip(IDENTITY, key, strict=True))
        is_ref = row["source"] != MEASURED
        row["n"] = 0 if is_ref else len(group)
        row["seeds"] = "" if is_ref else ",".join(
            str(int(s)) for s in sorted(group["seed"].dropna()))
        for col in metrics:
            values = group[col].dropna() if col in group else pd.Series(dtype=float)
            row[f"{col}_mean"] = float(values.mean()) if len(values) else np.nan
            row[f"{col}_std"] = float(values.std(ddof=1)) if len(values) > 1 else np.nan
        half, units = (np.nan, 0) if is_ref or primary not in metrics else interval(group,
                                                                                    primary)
        row[f"{primary}{CI_SUFFIX}"], row["ci_n"] = half, units
        if LIFT in metrics:  # the lift's interval: the same jackknife on per-ID lifts
            row[f"{LIFT}{CI_SUFFIX}"] = np.nan if is_ref else interval(group, LIFT)[0]
        for col in cost:  # one architecture per identity: its seeds' cost is one value
            known = group[col].dropna()
            known = known[known != ""]
            row[col] = known.iloc[0] if len(known) else (np.nan if col != COST_MACHINE else "")
        rows.append(row)
    lift = [f"{LIFT}{CI_SUFFIX}"] if LIFT in metrics and primary != LIFT else []
    return pd.DataFrame(rows, columns=[*IDENTITY, "n", "seeds",
                                       *(f"{c}_{s}" for c in metrics for s in ("mean", "std")),
                                       f"{primary}{CI_SUFFIX}", "ci_n", *lift, *cost])


def track_table(data: pd.DataFrame, metrics: list[str], primary: str,
                fallback: str) -> pd.DataFrame:
    """The rows of one track (one protocol) with these metric columns, ranked by ``primary``,
    then ``fallback``; ``attrs``: ``metrics``, ``primary``."""
    out = _aggregate(data, metrics, primary)
    # Rows without the primary metric (a kind ranking by a metric some rows lack) go after
    # those with one, ranked among themselves by the fallback.
    keys = [f"{m}_mean" for m in dict.fromkeys([primary, fallback])
            if f"{m}_mean" in out.columns]
    if keys and len(out):
        out = out.sort_values(keys, ascending=False, na_position="last", kind="stable")
    out = out.reset_index(drop=True)
    out.insert(0, "rank", range(1, len(out) + 1))
    if f"{primary}_mean" in out.columns and len(out):
        ranks = shared_ranks(out[f"{primary}_mean"], out[f"{primary}{CI_SUFFIX}"])
        out["rank_ci"] = ranks
        counts = out["rank_ci"].value_counts()
        out["tie"] = [r == r and counts.get(r, 0) > 1 for r in ranks]
    else:
        out["rank_ci"], out["tie"] = float("nan"), False
    if f"{primary}_mean" in out.columns and FRONT_COST in out.columns and len(out):
        out["front"] = pareto_front(out[f"{primary}_mean"], out[FRONT_COST])
    out.attrs.update({"metrics": metrics, "primary": primary})
    return out
