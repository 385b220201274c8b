"""The core's metric protocols for the DCASE 2020 layout (machine IDs, no domains):
``dcase2020`` (the official evaluator) and ``pooled`` (the OS-SCL authors' script).

Registered by :mod:`asdbench.metrics.builtin`; the later DCASE editions' rules live in the
``asdbench_dcase_editions`` plugin.
"""

from __future__ import annotations

import pandas as pd

from asdbench.metrics.core import (
    entries_of_type,
    group_entry,
    mean_of,
    min_of,
    score_groups,
    summary,
)
from asdbench.sdk.metric_protocols import MetricProtocol

ID_KEYS = ["machine_type", "machine_id"]


def dcase2020(df: pd.DataFrame) -> dict:
    """Per (type, ID) AUC/pAUC; per type their arithmetic means and the lowest AUC (mAUC)."""
    skipped: list[str] = []
    ids = score_groups(df, ID_KEYS, skipped)
    types: dict[str, dict] = {}
    for mtype in sorted(df["machine_type"].unique()):
        entries = entries_of_type(ids, mtype)
        if not entries:
            continue
        types[mtype] = {"auc": mean_of(e["auc"] for e in entries),
                        "pauc": mean_of(e["pauc"] for e in entries),
                        "mauc": min_of(e["auc"] for e in entries)}
    return summary(types, ids, skipped)


def pooled(df: pd.DataFrame) -> dict:
    """Per type AUC/pAUC over all its IDs' clips pooled; mAUC is still the lowest per-ID AUC."""
    skipped: list[str] = []
    ids = score_groups(df, ID_KEYS, skipped)
    types: dict[str, dict] = {}
    for mtype, g in df.groupby("machine_type", sort=True):
        e = group_entry(g["label"].to_numpy(), g["score"].to_numpy())
        if isinstance(e, str):
            skipped.append(f"{mtype} (pooled): {e}")
            continue
        types[mtype] = {"auc": e["auc"], "pauc": e["pauc"],
                        "mauc": min_of(x["auc"] for x in entries_of_type(ids, mtype)),
                        "n_normal": e["n_normal"], "n_anomaly": e["n_anomaly"]}
    return summary(types, ids, skipped)


PROTOCOLS = (
    MetricProtocol(
        "dcase2020", dcase2020,
        "official DCASE 2020 evaluator: AUC/pAUC per (type, ID), arithmetic mean over IDs per "
        "type, mean over types; mAUC = lowest per-ID AUC of a type"),
    MetricProtocol(
        "pooled", pooled,
        "OS-SCL authors' eval script: AUC/pAUC per type over all its IDs' clips pooled, mean "
        "over types; mAUC = lowest per-ID AUC of a type"),
)

