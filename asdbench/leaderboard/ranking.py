"""One track's table: runs grouped over seeds into rows, intervals, ranks and ties.

Each row has ``n`` runs, their ``seeds``, ``<metric>_mean`` and ``_std`` over the seeds, and
for the ranking metric ``<primary>_ci`` (half-width of its 95 % jackknife interval over the
machine IDs, :mod:`asdbench.leaderboard.uncertainty`) with ``ci_n`` IDs. ``rank`` is the
position, ``rank_ci`` 1 + the rows whose interval lies wholly above, ``tie`` whether another
row shares that rank (the intervals do not separate them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from asdbench.leaderboard.collect import IDENTITY, LIFT, MEASURED
from asdbench.leaderboard.uncertainty import interval, shared_ranks

if TYPE_CHECKING:
    import pandas as pd

CI_SUFFIX = "_ci"


def _aggregate(data: pd.DataFrame, metrics: list[str], primary: str) -> pd.DataFrame:
    """One row per identity: ``n`` runs, their seeds, ``<metric>_mean`` and ``_std``, and the
    primary metric's interval half-width (``<primary>_ci``, over ``ci_n`` IDs)."""
    import numpy as np
    import pandas as pd

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
        rows.append(row)
    lift = [f"{LIFT}{CI_SUFFIX}"] if LIFT in metrics and primary != LIFT else []
    return pd.DataFrame(rows, columns=[*IDENTITY, "n", "seeds",
                                       *(f"{c}_{s}" for c in metrics for s in ("mean", "std")),
                                       f"{primary}{CI_SUFFIX}", "ci_n", *lift])


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
    out.attrs.update({"metrics": metrics, "primary": primary})
    return out
