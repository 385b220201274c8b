"""Detection metrics under each DCASE Task 2 scoring protocol, and official submission files.

Every function takes a DataFrame of per-clip anomaly scores with the columns
``file, machine_type, machine_id, domain, label, score`` (``label`` 0 = normal, 1 = anomaly,
None/NaN = unknown; ``domain`` "" for DCASE 2020, "source"/"target" for 2021+; ``machine_id``
is the machine ID or section). Results are fractions in [0, 1] in plain JSON-friendly dicts.

AUC is sklearn ``roc_auc_score``; pAUC is ``roc_auc_score(y, s, max_fpr=0.1)``, which is the
McClish-standardised partial AUC that the official DCASE evaluators report.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score, roc_curve

from asdbench.atomic import atomic_write_text
from asdbench.registry import AsdbenchError, _suggest

MAX_FPR = 0.1
# The official 2021-2023 evaluators floor every value at ``sys.float_info.epsilon`` (2.22e-16)
# before the harmonic mean, so that an AUC of 0 cannot make it undefined.
HMEAN_FLOOR = sys.float_info.epsilon

PROTOCOLS: dict[str, str] = {
    "dcase2020": "official DCASE 2020 evaluator: AUC/pAUC per (type, ID), arithmetic mean over "
                 "IDs per type, mean over types; mAUC = lowest per-ID AUC of a type",
    "pooled": "OS-SCL authors' eval script: AUC/pAUC per type over all its IDs' clips pooled, "
              "mean over types; mAUC = lowest per-ID AUC of a type",
    "dcase2021": "DCASE 2021: AUC/pAUC per type x section x domain on that domain's test clips; "
                 "official score = harmonic mean of all AUCs and pAUCs",
    "dcase2022": "DCASE 2022-2025: per type x section, AUC(source) = source normals + all "
                 "anomalies, AUC(target) = target normals + all anomalies, pAUC on all clips; "
                 "official score = harmonic mean of all AUC(source), AUC(target) and pAUC",
}

COLUMNS = ("file", "machine_type", "machine_id", "domain", "label", "score")
# Submission file-name layouts; a protocol name selects its edition's layout.
LAYOUTS = ("id", "section", "section_domain")
_LAYOUT_OF_PROTOCOL = {"dcase2020": "id", "pooled": "id", "dcase2021": "section_domain",
                       "dcase2022": "section"}


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


def _mean(values: Iterable[float | None]) -> float | None:
    v = [x for x in values if x is not None]
    return float(np.mean(v)) if v else None


def _min(values: Iterable[float | None]) -> float | None:
    v = [x for x in values if x is not None]
    return float(min(v)) if v else None


def _hmean_or_none(values: Iterable[float | None]) -> float | None:
    v = [x for x in values if x is not None]
    return harmonic_mean(v) if v else None


def _entry(y: np.ndarray, s: np.ndarray) -> dict[str, Any] | str:
    """AUC/pAUC and counts of one group, or the reason it cannot be scored."""
    n_anomaly = int(y.sum())
    n_normal = int(y.size - n_anomaly)
    if n_anomaly == 0 or n_normal == 0:
        return "no anomaly clips" if n_anomaly == 0 else "no normal clips"
    auc, pauc = auc_pauc(y, s)
    return {"auc": auc, "pauc": pauc, "n_normal": n_normal, "n_anomaly": n_anomaly}


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
    df["domain"] = df["domain"].fillna("").astype(str)
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


def _check_protocol(protocol: str) -> None:
    if protocol not in PROTOCOLS:
        raise AsdbenchError(f"unknown metric protocol '{protocol}'{_suggest(protocol, PROTOCOLS)}"
                            f"; protocols: {', '.join(PROTOCOLS)}")


# --- protocols ---------------------------------------------------------------------------------


def _per_id(df: pd.DataFrame, ids: dict, skipped: list[str]) -> dict[str, list[float]]:
    """Score each (type, ID); return each type's list of per-ID AUCs."""
    aucs: dict[str, list[float]] = {}
    for (mtype, mid), g in df.groupby(["machine_type", "machine_id"], sort=True):
        key = f"{mtype}/{mid}"
        e = _entry(g["label"].to_numpy(), g["score"].to_numpy())
        if isinstance(e, str):
            skipped.append(f"{key}: {e}")
            continue
        ids[key] = e
        aucs.setdefault(mtype, []).append(e["auc"])
    return aucs


def _dcase2020(df: pd.DataFrame, ids: dict, types: dict, skipped: list[str]) -> dict:
    _per_id(df, ids, skipped)
    for mtype in sorted(df["machine_type"].unique()):
        entries = [e for k, e in ids.items() if k.split("/", 1)[0] == mtype]
        if not entries:
            continue
        types[mtype] = {"auc": _mean(e["auc"] for e in entries),
                        "pauc": _mean(e["pauc"] for e in entries),
                        "mauc": _min(e["auc"] for e in entries)}
    return {}


def _pooled(df: pd.DataFrame, ids: dict, types: dict, skipped: list[str]) -> dict:
    per_type_aucs = _per_id(df, ids, skipped)
    for mtype, g in df.groupby("machine_type", sort=True):
        e = _entry(g["label"].to_numpy(), g["score"].to_numpy())
        if isinstance(e, str):
            skipped.append(f"{mtype} (pooled): {e}")
            continue
        types[mtype] = {"auc": e["auc"], "pauc": e["pauc"],
                        "mauc": _min(per_type_aucs.get(mtype, [])),
                        "n_normal": e["n_normal"], "n_anomaly": e["n_anomaly"]}
    return {}


def _require_domains(df: pd.DataFrame, protocol: str) -> None:
    bad = sorted(set(df["domain"]) - {"source", "target"})
    if bad:
        raise AsdbenchError(f"protocol '{protocol}' needs domain 'source' or 'target' for every "
                            f"labelled clip; found {bad[0]!r}")


def _dcase2021(df: pd.DataFrame, ids: dict, types: dict, skipped: list[str]) -> dict:
    _require_domains(df, "dcase2021")
    values: list[float] = []
    for (mtype, mid, dom), g in df.groupby(["machine_type", "machine_id", "domain"], sort=True):
        key = f"{mtype}/{mid}/{dom}"
        e = _entry(g["label"].to_numpy(), g["score"].to_numpy())
        if isinstance(e, str):
            skipped.append(f"{key}: {e}")
            continue
        ids[key] = e
    for mtype in sorted(df["machine_type"].unique()):
        entries = [e for k, e in ids.items() if k.split("/", 1)[0] == mtype]
        if not entries:
            continue
        type_values = [e["auc"] for e in entries] + [e["pauc"] for e in entries]
        values += type_values
        types[mtype] = {"auc": _mean(e["auc"] for e in entries),
                        "pauc": _mean(e["pauc"] for e in entries),
                        "mauc": _min(e["auc"] for e in entries),
                        "hmean": harmonic_mean(type_values)}
    entries = list(ids.values())
    return {"official": _hmean_or_none(values),
            "hmean_auc": _hmean_or_none(e["auc"] for e in entries),
            "hmean_pauc": _hmean_or_none(e["pauc"] for e in entries)}


def _dcase2022(df: pd.DataFrame, ids: dict, types: dict, skipped: list[str]) -> dict:
    _require_domains(df, "dcase2022")
    for (mtype, mid), g in df.groupby(["machine_type", "machine_id"], sort=True):
        key = f"{mtype}/{mid}"
        y, s = g["label"].to_numpy(), g["score"].to_numpy()
        e = _entry(y, s)  # "auc" = AUC over all the section's clips, as "AUC (all)" officially
        if isinstance(e, str):
            skipped.append(f"{key}: {e}")
            continue
        dom = g["domain"].to_numpy()
        for d in ("source", "target"):
            # Each domain's normals against every anomaly of the section, whatever its domain.
            keep = (dom == d) | (y == 1)
            n_normal = int(((dom == d) & (y == 0)).sum())
            e[f"n_normal_{d}"] = n_normal
            if n_normal == 0:
                e[f"auc_{d}"] = None
                skipped.append(f"{key}/{d}: no normal clips")
            else:
                e[f"auc_{d}"] = float(roc_auc_score(y[keep], s[keep]))
        ids[key] = e
    official: list[float] = []
    for mtype in sorted(df["machine_type"].unique()):
        entries = [e for k, e in ids.items() if k.split("/", 1)[0] == mtype]
        if not entries:
            continue
        auc_s = [e["auc_source"] for e in entries if e["auc_source"] is not None]
        auc_t = [e["auc_target"] for e in entries if e["auc_target"] is not None]
        pauc = [e["pauc"] for e in entries]
        official += auc_s + auc_t + pauc
        types[mtype] = {"auc": _mean(auc_s + auc_t), "pauc": _mean(pauc),
                        "mauc": _min(auc_s + auc_t),
                        "auc_source": _mean(auc_s), "auc_target": _mean(auc_t),
                        "hmean": harmonic_mean(auc_s + auc_t + pauc)}
    entries = list(ids.values())
    return {"official": _hmean_or_none(official),
            "auc_source": _mean(t["auc_source"] for t in types.values()),
            "auc_target": _mean(t["auc_target"] for t in types.values()),
            "hmean_auc_source": _hmean_or_none(e["auc_source"] for e in entries),
            "hmean_auc_target": _hmean_or_none(e["auc_target"] for e in entries),
            "hmean_pauc": _hmean_or_none(e["pauc"] for e in entries)}


_IMPL = {"dcase2020": _dcase2020, "pooled": _pooled, "dcase2021": _dcase2021,
         "dcase2022": _dcase2022}


def compute_metrics(scores: pd.DataFrame, protocol: str) -> dict[str, Any]:
    """Metrics of a score table under one protocol of :data:`PROTOCOLS`.

    Returns ``{"protocol", "average": {"auc", "pauc", "mauc", "official", ...},
    "types": {type: {"auc", "pauc", "mauc", ...}}, "ids": {key: {"auc", "pauc", "n_normal",
    "n_anomaly", ...}}, "skipped": [..], "n_clips", "n_unlabelled"}``.

    ``ids`` keys are ``type/id`` (dcase2020, pooled, and dcase2022 where each section entry also
    holds ``auc_source``/``auc_target``; its ``auc`` is over all the section's clips) or
    ``type/section/domain`` (dcase2021). Per type, ``auc``/``pauc`` are arithmetic means over
    the type's groups (its pooled clips for "pooled"; for dcase2022 ``auc`` is the mean of its
    source and target AUCs) and ``mauc`` is its lowest group AUC. ``average`` values are means
    over types; ``official`` is the edition's harmonic-mean score (None for dcase2020/pooled).
    Clips of unknown label are left out; a group with one class only is left out and listed
    in ``skipped``; a value that cannot be computed at all is None.
    """
    _check_protocol(protocol)
    df = prepare_scores(scores, labelled=True)
    ids: dict[str, dict] = {}
    types: dict[str, dict] = {}
    skipped: list[str] = []
    extra = _IMPL[protocol](df, ids, types, skipped)
    average = {"auc": _mean(t["auc"] for t in types.values()),
               "pauc": _mean(t["pauc"] for t in types.values()),
               "mauc": _mean(t["mauc"] for t in types.values()),
               "official": None}
    average.update(extra)
    return {"protocol": protocol, "average": average, "types": types, "ids": ids,
            "skipped": skipped, "n_clips": int(len(df)),
            "n_unlabelled": int(len(scores) - len(df))}


def compute_all(scores: pd.DataFrame, protocols: Iterable[str]) -> dict[str, dict[str, Any]]:
    """:func:`compute_metrics` under each of ``protocols``, keyed by protocol name."""
    return {p: compute_metrics(scores, p) for p in protocols}


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


# --- official submission files -----------------------------------------------------------------


def _bare(machine_id: str) -> str:
    """``"00"`` from ``"00"``, ``"id_00"`` or ``"section_00"``."""
    for prefix in ("id_", "section_"):
        if machine_id.startswith(prefix):
            return machine_id[len(prefix):]
    return machine_id


def submission_name(machine_type: str, machine_id: str, domain: str = "",
                    layout: str = "id") -> str:
    """Official anomaly-score file name of one (type, ID/section[, domain]).

    ``id`` (2020): ``anomaly_score_<type>_id_<XX>.csv``; ``section`` (2022-2025):
    ``anomaly_score_<type>_section_<XX>_test.csv``; ``section_domain`` (2021):
    ``anomaly_score_<type>_section_<XX>_<domain>_test.csv``.
    """
    mid = _bare(str(machine_id))
    if layout == "id":
        return f"anomaly_score_{machine_type}_id_{mid}.csv"
    if layout == "section":
        return f"anomaly_score_{machine_type}_section_{mid}_test.csv"
    if layout == "section_domain":
        return f"anomaly_score_{machine_type}_section_{mid}_{domain}_test.csv"
    raise AsdbenchError(f"unknown submission layout {layout!r}; layouts: {', '.join(LAYOUTS)} "
                        f"or a protocol name ({', '.join(PROTOCOLS)})")


def write_submission(scores: pd.DataFrame, out_dir: str | Path,
                     layout: str = "auto") -> list[Path]:
    """Write the official anomaly-score files (``file_name,score`` lines, no header).

    One file per (type, ID) — per (type, section, domain) for the 2021 layout — holding every
    clip whatever its label (evaluation clips have none), sorted by file name. ``layout`` is one
    of :data:`LAYOUTS`, a protocol name (its edition's layout) or "auto": "id" when no clip has a
    domain, else "section". Each file is written atomically. Returns the paths written.
    """
    if "file" not in scores.columns:
        raise AsdbenchError("score table lacks column 'file' needed for submission files")
    df = prepare_scores(scores, labelled=False)
    if layout == "auto":
        layout = "id" if (df["domain"] == "").all() else "section"
    layout = _LAYOUT_OF_PROTOCOL.get(layout, layout)
    if layout not in LAYOUTS:
        submission_name("", "", layout=layout)  # raises the error listing the layouts
    by = ["machine_type", "machine_id"] + (["domain"] if layout == "section_domain" else [])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for key, g in df.groupby(by, sort=True):
        mtype, mid = key[0], key[1]
        dom = key[2] if layout == "section_domain" else ""
        if layout == "section_domain" and dom not in ("source", "target"):
            raise AsdbenchError(f"the 2021 submission layout needs domain 'source' or 'target'; "
                                f"{mtype}/{mid} has {dom!r}")
        path = out / submission_name(mtype, mid, dom, layout)
        g = g.sort_values("file", kind="stable")
        text = "".join(f"{f},{s!r}\n" for f, s in zip(g["file"].astype(str),
                                                       g["score"].astype(float).tolist(),
                                                       strict=True))
        atomic_write_text(path, text)
        written.append(path)
    return written
