"""The maths every metric protocol shares: AUC/pAUC, the floored harmonic mean, score tables.

A score table is a DataFrame of per-clip anomaly scores with the columns
``file, machine_type, machine_id, domain, label, score`` (``label`` 0 = normal, 1 = anomaly,
None/NaN = unknown; ``domain`` "" when the data has none, e.g. "source"/"target" otherwise;
``machine_id`` is the machine ID or section). Results are fractions in [0, 1] in plain
JSON-friendly dicts.

AUC is sklearn ``roc_auc_score``; pAUC is ``roc_auc_score(y, s, max_fpr=0.1)``, which is the
McClish-standardised partial AUC that the official DCASE evaluators report.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score, roc_curve

from asdbench.registry import AsdbenchError

MAX_FPR = 0.1
# The official 2021-2023 evaluators floor every value at ``sys.float_info.epsilon`` (2.22e-16)
# before the harmonic mean, so that an AUC of 0 cannot make it undefined.
HMEAN_FLOOR = sys.float_info.epsilon

COLUMNS = ("file", "machine_type", "machine_id", "domain", "label", "score")
# What every protocol reads; a protocol may need more (``MetricProtocol.columns``).
BASE_COLUMNS = ("machine_type", "machine_id", "label", "score")


# --- small pure helpers ------------------------------------------------------------------------


def auc_pauc(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray,
             max_fpr: float = MAX_FPR) -> tuple[float, float]:
    """``(AUC, pAUC)`` of anomaly scores (higher = more anomalous) against 0/1 labels."""
    y = np.asarray(labels, dtype=int)
    s = np.asarray(scores, dtype=float)
    return float(roc_auc_score(y, s)), float(roc_auc_score(y, s, max_fpr=max_fpr))


def harmonic_mean(values: Iterable[float], floor: float = HMEAN_FLOOR) -> float:
    """Harmonic mean with every value floored at ``floor`` (as the official evaluators do)."""
    v = np.maximum(np.asarray(list(values), dtype=float), floor)
    if v.size == 0:
        raise ValueError("harmonic mean of no values")
    return float(v.size / np.sum(1.0 / v))


def mean_of(values: Iterable[float | None]) -> float | None:
    """Arithmetic mean of the values that are not None; None when there are none."""
    v = [x for x in values if x is not None]
    return float(np.mean(v)) if v else None


def min_of(values: Iterable[float | None]) -> float | None:
    """Smallest value that is not None; None when there are none."""
    v = [x for x in values if x is not None]
    return float(min(v)) if v else None


def hmean_of(values: Iterable[float | None]) -> float | None:
    """:func:`harmonic_mean` of the values that are not None; None when there are none."""
    v = [x for x in values if x is not None]
    return harmonic_mean(v) if v else None


def group_entry(y: np.ndarray, s: np.ndarray) -> dict[str, Any] | str:
    """AUC/pAUC and counts of one group of clips, or the reason it cannot be scored."""
    n_anomaly = int(y.sum())
    n_normal = int(y.size - n_anomaly)
    if n_anomaly == 0 or n_normal == 0:
        return "no anomaly clips" if n_anomaly == 0 else "no normal clips"
    auc, pauc = auc_pauc(y, s)
    return {"auc": auc, "pauc": pauc, "n_normal": n_normal, "n_anomaly": n_anomaly}


def score_groups(df: pd.DataFrame, by: list[str], skipped: list[str]) -> dict[str, dict]:
    """:func:`group_entry` of each group of ``df`` by the columns ``by``, keyed ``a/b/...``;
    groups that cannot be scored are left out and listed in ``skipped``."""
    out: dict[str, dict] = {}
    for key, g in df.groupby(by, sort=True):
        name = "/".join(map(str, key)) if isinstance(key, tuple) else str(key)
        e = group_entry(g["label"].to_numpy(), g["score"].to_numpy())
        if isinstance(e, str):
            skipped.append(f"{name}: {e}")
            continue
        out[name] = e
    return out


def entries_of_type(ids: dict[str, dict], machine_type: str) -> list[dict]:
    """The entries of ``ids`` (keys ``type/...``) that belong to one machine type."""
    return [e for k, e in ids.items() if k.split("/", 1)[0] == machine_type]


def summary(types: dict[str, dict], ids: dict[str, dict], skipped: list[str],
            **average: Any) -> dict[str, Any]:
    """What a protocol's ``compute`` returns: ``average`` holds the means over ``types`` of
    ``auc``, ``pauc``, ``mauc``, ``official`` None, then the protocol's own ``average`` keys
    (which may replace ``official``)."""
    base = {"auc": mean_of(t["auc"] for t in types.values()),
            "pauc": mean_of(t["pauc"] for t in types.values()),
            "mauc": mean_of(t["mauc"] for t in types.values()),
            "official": None}
    base.update(average)
    return {"average": base, "types": types, "ids": ids, "skipped": skipped}


# --- input -------------------------------------------------------------------------------------


def prepare_scores(scores: pd.DataFrame, labelled: bool = True) -> pd.DataFrame:
    """Validate and normalise a score table; with ``labelled``, drop clips of unknown label.

    ``machine_id``/``domain`` become strings (``domain`` "" when missing), ``label`` int.
    """
    missing = [c for c in ("machine_type", "machine_id", "score") if c not in scores.columns]
    if labelled and "label" not in scores.columns:
        missing.append("label")
    if missing:
        raise AsdbenchError(f"score table lacks column(s) {', '.join(missing)}; "
                            f"expected {', '.join(COLUMNS)}")
    df = scores.copy()
    if "domain" not in df.columns:
        df["domain"] = ""
    # object first: a CSV's all-empty domain column reads back as float NaN
    df["domain"] = df["domain"].astype(object).fillna("").astype(str)
    df["machine_type"] = df["machine_type"].astype(str)
    df["machine_id"] = df["machine_id"].astype(str)
    df["score"] = pd.to_numeric(df["score"], errors="coerce").astype(float)
    if not np.isfinite(df["score"].to_numpy()).all():
        bad = df.loc[~np.isfinite(df["score"].to_numpy())].iloc[0]
        raise AsdbenchError(f"score table has a non-finite score (first: "
                            f"{bad.get('file', bad['machine_type'] + '/' + bad['machine_id'])})")
    if not labelled:
        return df
    label = pd.to_numeric(df["label"], errors="coerce")
    df = df.loc[label.notna()].copy()
    df["label"] = label[label.notna()].astype(int)
    if not df["label"].isin([0, 1]).all():
        raise AsdbenchError("score table column 'label' must hold 0 (normal), 1 (anomaly) "
                            "or nothing (unknown)")
    return df


def roc_points(scores: pd.DataFrame, group: str = "type") -> dict[str, dict[str, Any]]:
    """ROC curve points for plots: ``{key: {"fpr": [...], "tpr": [...], "auc": float}}``.

    ``group`` "type" pools each machine type's clips; "id" gives one curve per (type, ID),
    keyed ``type/id``. Groups with one class only are left out.
    """
    if group not in ("type", "id"):
        raise AsdbenchError(f"roc_points: group must be 'type' or 'id', not {group!r}")
    df = prepare_scores(scores, labelled=True)
    by = ["machine_type"] if group == "type" else ["machine_type", "machine_id"]
    out: dict[str, dict[str, Any]] = {}
    for key, g in df.groupby(by, sort=True):
        y, s = g["label"].to_numpy(), g["score"].to_numpy()
        if y.min() == y.max():
            continue
        fpr, tpr, _ = roc_curve(y, s)
        name = "/".join(key) if isinstance(key, tuple) else str(key)
        out[name] = {"fpr": fpr.tolist(), "tpr": tpr.tolist(),
                     "auc": float(roc_auc_score(y, s))}
    return out
