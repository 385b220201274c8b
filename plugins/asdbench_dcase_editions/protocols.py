"""The official scores of DCASE Task 2 2021 and 2022-2025: metric protocols ``dcase2021``
and ``dcase2022`` (registered through ``asdbench_protocols``), computed as the organisers'
evaluators print them.

Sources (read, not copied): ``dcase2021_task2_evaluator.py`` (y-kawagu/
dcase2021_task2_evaluator, ``output_result``), ``dcase2022_task2_evaluator.py``
(Kota-Dohi/dcase2022_evaluator), ``dcase2023_task2_evaluator.py`` (nttcslab/
dcase2023_task2_evaluator) and ``dcase2024_task2_evaluator.py`` (nttcslab/
dcase2024_task2_evaluator), whose score code is the 2023 one; the 2025 evaluator's README
(nttcslab/dcase2025_task2_evaluator) describes the same outputs (its code was not read).
Every harmonic mean floors its values at
``sys.float_info.epsilon`` first, as they do (``numpy.maximum(x, eps)`` before ``hmean``).

Precision, recall and F1 of the decision files (when the score table has a ``decision``
column): one row per section and domain, on that domain's clips (normal and anomalous; the
2021 evaluator reads one file per domain, the 2022-2024 ones filter ``y_domain == d``). Per
type and over all rows: their arithmetic and floored harmonic means, and the harmonic mean
of each domain's rows (:func:`add_evaluator_decisions`).

The evaluators report one harmonic mean *per column* (AUC, pAUC): a single harmonic mean
pooling a type's AUCs and pAUCs is printed by none of them, so none is reported per type.
Which sections count is the caller's: a run scores its development and evaluation sets apart
(:mod:`asdbench.metrics.sets`, ``metrics.json`` ``sets.dev`` / ``sets.eval``); the score the
organisers publish is the ``eval`` set's ``average.official``.
"""

from __future__ import annotations

import pandas as pd
from sklearn.metrics import roc_auc_score

from asdbench.sdk.metrics import (
    MetricProtocol,
    entries_of_type,
    group_entry,
    hmean_of,
    mean_of,
    min_of,
    precision_recall_f1,
    score_groups,
    summary,
)

DOMAINS = ("source", "target")
DECISION_METRICS = ("precision", "recall", "f1")


def _decision_means(rows: list[tuple[str, dict]]) -> dict[str, float | None]:
    """The "arithmetic mean", "harmonic mean" and "source/target harmonic mean" rows of the
    evaluators' tables for precision, recall and F1, over ``rows`` ``(domain, values)``."""
    out: dict[str, float | None] = {}
    for n in DECISION_METRICS:
        values = [r[n] for _, r in rows]
        out[n], out[f"hmean_{n}"] = mean_of(values), hmean_of(values)
        for d in DOMAINS:
            out[f"hmean_{n}_{d}"] = hmean_of([r[n] for dom, r in rows if dom == d])
    return out


def add_evaluator_decisions(result: dict, df: pd.DataFrame) -> dict:
    """Precision, recall and F1 as the evaluators compute them, into ``result`` (nothing
    without a ``decision`` column): each ``ids`` entry gets them on each domain's clips
    (``precision_source`` ...; a 2021 entry, one domain already, as ``precision`` ...); each
    type and ``average`` the means of :func:`_decision_means` over its (section, domain)
    rows, ``average`` over all of them ("over all machine types, sections, and domains")."""
    if "decision" not in df.columns:
        return result
    rows: dict[str, list[tuple[str, dict]]] = {}
    for key, entry in result["ids"].items():
        mtype, mid, *domain = key.split("/")
        g = df.loc[(df["machine_type"] == mtype) & (df["machine_id"] == mid)]
        for d in domain or DOMAINS:
            part = g.loc[g["domain"] == d]
            if part.empty:
                continue
            got = precision_recall_f1(part["label"].to_numpy(), part["decision"].to_numpy())
            entry.update(got if domain else {f"{n}_{d}": v for n, v in got.items()})
            rows.setdefault(mtype, []).append((d, got))
    for mtype, own in rows.items():
        if mtype in result["types"]:
            result["types"][mtype].update(_decision_means(own))
    every = [row for own in rows.values() for row in own]
    if every:
        result["average"].update(_decision_means(every))
    return result


def dcase2021(df: pd.DataFrame) -> dict:
    """AUC/pAUC per type x section x domain on that domain's test clips (the 2021 evaluator's
    rows: ``anomaly_score_<type>_section_<XX>_{source,target}_test.csv`` each scored alone).

    Per type, as its "arithmetic mean" / "harmonic mean" rows: ``auc``/``pauc`` the
    arithmetic and ``hmean_auc``/``hmean_pauc`` the harmonic mean of the column over the
    type's (section, domain) rows. Average: ``amean_auc``/``amean_pauc`` and
    ``hmean_auc``/``hmean_pauc`` over all (type, section, domain) rows ("... over all machine
    types, sections, and domains"); ``official`` = the harmonic mean of all those AUCs and
    pAUCs together, the evaluator's printed "official score" (y-kawagu/
    dcase2021_task2_evaluator, dcase2021_task2_evaluator.py lines 154-155).
    """
    skipped: list[str] = []
    ids = score_groups(df, ["machine_type", "machine_id", "domain"], skipped)
    types: dict[str, dict] = {}
    for mtype in sorted(df["machine_type"].unique()):
        entries = entries_of_type(ids, mtype)
        if not entries:
            continue
        auc, pauc = [e["auc"] for e in entries], [e["pauc"] for e in entries]
        types[mtype] = {"auc": mean_of(auc), "pauc": mean_of(pauc), "mauc": min_of(auc),
                        "hmean_auc": hmean_of(auc), "hmean_pauc": hmean_of(pauc)}
    auc = [e["auc"] for e in ids.values()]
    pauc = [e["pauc"] for e in ids.values()]
    return add_evaluator_decisions(
        summary(types, ids, skipped, official=hmean_of(auc + pauc),
                amean_auc=mean_of(auc), amean_pauc=mean_of(pauc),
                hmean_auc=hmean_of(auc), hmean_pauc=hmean_of(pauc)), df)


def _domain_aucs(g: pd.DataFrame, key: str, e: dict, skipped: list[str]) -> None:
    """``auc_source``/``auc_target`` of one section: each domain's normals against every
    anomaly of the section, whatever its domain (the evaluators' ``(y_domain == d) |
    (y_true != 0)``)."""
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


def _columns(entries: list[dict]) -> tuple[list[float], list[float], list[float]]:
    """The AUC(source), AUC(target) and pAUC columns of some sections (None left out)."""
    return ([e["auc_source"] for e in entries if e["auc_source"] is not None],
            [e["auc_target"] for e in entries if e["auc_target"] is not None],
            [e["pauc"] for e in entries])


def _type_2022(entries: list[dict]) -> dict:
    """One machine type's rows of the 2022-2024 evaluators' table: "arithmetic mean" (AUC =
    mean of the source and target AUCs, pAUC), "harmonic mean" (the same columns, harmonic),
    "source/target harmonic mean" (AUC column of one domain; their pAUC column is
    ``hmean_pauc`` again); ``auc_source``/``auc_target`` the per-type means of the 2023+
    ``official_score.csv``. (The 2022 evaluator's per-type source/target rows slice its
    columns by half the section count, a slip the 2023 one fixed; these follow 2023.)"""
    auc_s, auc_t, pauc = _columns(entries)
    return {"auc": mean_of(auc_s + auc_t), "pauc": mean_of(pauc), "mauc": min_of(auc_s + auc_t),
            "auc_source": mean_of(auc_s), "auc_target": mean_of(auc_t),
            "hmean_auc": hmean_of(auc_s + auc_t), "hmean_pauc": hmean_of(pauc),
            "hmean_auc_source": hmean_of(auc_s), "hmean_auc_target": hmean_of(auc_t)}


def dcase2022(df: pd.DataFrame) -> dict:
    """Per type x section AUC(source), AUC(target) (each domain's normals + all anomalies),
    ``auc`` = "AUC (all)" and pAUC on all the section's clips (one
    ``anomaly_score_<type>_section_<XX>_test.csv`` each).

    Per type: :func:`_type_2022`. Average, as the evaluators' "... over all machine types,
    sections, and domains" rows: ``amean_auc``/``hmean_auc`` over every AUC(source) and
    AUC(target), ``amean_pauc``/``hmean_pauc`` over every pAUC, ``hmean_auc_source`` /
    ``hmean_auc_target`` one domain's AUCs; ``official`` = "official score", the harmonic
    mean of every AUC(source), AUC(target) and pAUC (each pAUC once)."""
    skipped: list[str] = []
    ids: dict[str, dict] = {}
    for (mtype, mid), g in df.groupby(["machine_type", "machine_id"], sort=True):
        key = f"{mtype}/{mid}"
        e = group_entry(g["label"].to_numpy(), g["score"].to_numpy())
        if isinstance(e, str):
            skipped.append(f"{key}: {e}")
            continue
        _domain_aucs(g, key, e, skipped)
        ids[key] = e
    types = {mtype: _type_2022(entries_of_type(ids, mtype))
             for mtype in sorted(df["machine_type"].unique()) if entries_of_type(ids, mtype)}
    auc_s, auc_t, pauc = _columns(list(ids.values()))
    return add_evaluator_decisions(
        summary(types, ids, skipped, official=hmean_of(auc_s + auc_t + pauc),
                auc_source=mean_of(t["auc_source"] for t in types.values()),
                auc_target=mean_of(t["auc_target"] for t in types.values()),
                amean_auc=mean_of(auc_s + auc_t), amean_pauc=mean_of(pauc),
                hmean_auc=hmean_of(auc_s + auc_t), hmean_pauc=hmean_of(pauc),
                hmean_auc_source=hmean_of(auc_s), hmean_auc_target=hmean_of(auc_t)), df)


PROTOCOLS = (
    MetricProtocol(
        "dcase2021", dcase2021,
        "DCASE 2021: AUC/pAUC per type x section x domain on that domain's test clips; "
        "harmonic means per column (AUC, pAUC); official score = harmonic mean of all AUCs "
        "and pAUCs (of the evaluation sections: metrics.json sets.eval)",
        columns=("domain",), domains=DOMAINS, submission_layout="section_domain"),
    MetricProtocol(
        "dcase2022", dcase2022,
        "DCASE 2022-2025 (2026 assumed): per type x section, AUC(source) = source normals + "
        "all anomalies, AUC(target) = target normals + all anomalies, pAUC on all clips; "
        "harmonic means per "
        "column; official score = harmonic mean of all AUC(source), AUC(target) and pAUC "
        "(of the evaluation sections: metrics.json sets.eval)",
        columns=("domain",), domains=DOMAINS, submission_layout="section"),
)
