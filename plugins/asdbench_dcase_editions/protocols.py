"""The official scores of DCASE Task 2 2021 and 2022-2025: metric protocols ``dcase2021``
and ``dcase2022`` (registered through ``asdbench_protocols``)."""

from __future__ import annotations

import pandas as pd
from sklearn.metrics import roc_auc_score

from asdbench.sdk.metrics import (
    MetricProtocol,
    entries_of_type,
    group_entry,
    harmonic_mean,
    hmean_of,
    mean_of,
    min_of,
    score_groups,
    summary,
)

DOMAINS = ("source", "target")


def dcase2021(df: pd.DataFrame) -> dict:
    """AUC/pAUC per type x section x domain on that domain's test clips; the official score is
    the harmonic mean of all AUCs and pAUCs."""
    skipped: list[str] = []
    ids = score_groups(df, ["machine_type", "machine_id", "domain"], skipped)
    types: dict[str, dict] = {}
    values: list[float] = []
    for mtype in sorted(df["machine_type"].unique()):
        entries = entries_of_type(ids, mtype)
        if not entries:
            continue
        type_values = [e["auc"] for e in entries] + [e["pauc"] for e in entries]
        values += type_values
        types[mtype] = {"auc": mean_of(e["auc"] for e in entries),
                        "pauc": mean_of(e["pauc"] for e in entries),
                        "mauc": min_of(e["auc"] for e in entries),
                        "hmean": harmonic_mean(type_values)}
    entries = list(ids.values())
    return summary(types, ids, skipped, official=hmean_of(values),
                   hmean_auc=hmean_of(e["auc"] for e in entries),
                   hmean_pauc=hmean_of(e["pauc"] for e in entries))


def _domain_aucs(g: pd.DataFrame, key: str, e: dict, skipped: list[str]) -> None:
    """``auc_source``/``auc_target`` of one section: each domain's normals against every
    anomaly of the section, whatever its domain."""
    y, s, dom = g["label"].to_numpy(), g["score"].to_numpy(), g["domain"].to_numpy()
    for d in DOMAINS:
        keep = (dom == d) | (y == 1)
        n_normal = int(((dom == d) & (y == 0)).sum())
        e[f"n_normal_{d}"] = n_normal
        if n_normal == 0:
            e[f"auc_{d}"] = None
            skipped.append(f"{key}/{d}: no normal clips")
        else:
            e[f"auc_{d}"] = float(roc_auc_score(y[keep], s[keep]))


def dcase2022(df: pd.DataFrame) -> dict:
    """Per type x section AUC(source), AUC(target) (each domain's normals + all anomalies) and
    pAUC on all clips; the official score is the harmonic mean of all of them."""
    skipped: list[str] = []
    ids: dict[str, dict] = {}
    for (mtype, mid), g in df.groupby(["machine_type", "machine_id"], sort=True):
        key = f"{mtype}/{mid}"
        # "auc" = AUC over all the section's clips, as "AUC (all)" officially
        e = group_entry(g["label"].to_numpy(), g["score"].to_numpy())
        if isinstance(e, str):
            skipped.append(f"{key}: {e}")
            continue
        _domain_aucs(g, key, e, skipped)
        ids[key] = e
    types: dict[str, dict] = {}
    official: list[float] = []
    for mtype in sorted(df["machine_type"].unique()):
        entries = entries_of_type(ids, mtype)
        if not entries:
            continue
        auc_s = [e["auc_source"] for e in entries if e["auc_source"] is not None]
        auc_t = [e["auc_target"] for e in entries if e["auc_target"] is not None]
        pauc = [e["pauc"] for e in entries]
        official += auc_s + auc_t + pauc
        types[mtype] = {"auc": mean_of(auc_s + auc_t), "pauc": mean_of(pauc),
                        "mauc": min_of(auc_s + auc_t),
                        "auc_source": mean_of(auc_s), "auc_target": mean_of(auc_t),
                        "hmean": harmonic_mean(auc_s + auc_t + pauc)}
    entries = list(ids.values())
    return summary(types, ids, skipped, official=hmean_of(official),
                   auc_source=mean_of(t["auc_source"] for t in types.values()),
                   auc_target=mean_of(t["auc_target"] for t in types.values()),
                   hmean_auc_source=hmean_of(e["auc_source"] for e in entries),
                   hmean_auc_target=hmean_of(e["auc_target"] for e in entries),
                   hmean_pauc=hmean_of(e["pauc"] for e in entries))


PROTOCOLS = (
    MetricProtocol(
        "dcase2021", dcase2021,
        "DCASE 2021: AUC/pAUC per type x section x domain on that domain's test clips; "
        "official score = harmonic mean of all AUCs and pAUCs",
        columns=("domain",), domains=DOMAINS, submission_layout="section_domain"),
    MetricProtocol(
        "dcase2022", dcase2022,
        "DCASE 2022-2025: per type x section, AUC(source) = source normals + all anomalies, "
        "AUC(target) = target normals + all anomalies, pAUC on all clips; official score = "
        "harmonic mean of all AUC(source), AUC(target) and pAUC",
        columns=("domain",), domains=DOMAINS, submission_layout="section"),
)
