"""A leaderboard table's cells as text: metrics in % as ``mean ± std``, ranks with ties, the
95 % interval of the ranking metric, and the caption (table kind, protocol, track, test set,
the identity columns that are the same in every row). Shared by every text format."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from asdbench.leaderboard.collect import IDENTITY, LIFT, MEASURED
from asdbench.leaderboard.ranking import CI_SUFFIX
from asdbench.leaderboard.tables import OFFICIAL

if TYPE_CHECKING:
    import pandas as pd

# Shown even when every row has the same value; the others then move to the caption.
ALWAYS_SHOWN = ("method", "frontend")
# Said by the table's title or caption, never a column (one table: one track, one set).
NOT_SHOWN = ("track", "set")
CI_HEADER = "95 % CI"
LIFT_CI_HEADER = "lift 95 % CI"  # half-width: the lift's jackknife over IDs, seeds averaged


def by_track(tbl: pd.DataFrame) -> list[pd.DataFrame]:
    """The table as one frame per track, test set and protocol, in order, each with the
    table's ``attrs`` and its own (``track_info``; ``metrics`` and ``primary`` its own)."""
    infos = tbl.attrs.get("tracks") or []
    if not infos or "track" not in tbl:
        return [tbl]
    out = []
    for info in infos:
        part = tbl[(tbl["track"] == info["track"]) & (tbl["set"] == info["set"])
                   & (tbl["protocol"] == info["protocol"])]
        part = part.reset_index(drop=True)
        part.attrs = {**tbl.attrs, "metrics": info["metrics"], "primary": info["primary"],
                      "tracks": [info], "track_info": info}
        out.append(part)
    return out


def display_columns(tbl: pd.DataFrame) -> tuple[list[str], dict[str, str]]:
    """Identity columns worth a column (values differ) and the caption of the constant ones."""
    shown, caption = [], {}
    for col in IDENTITY:
        if col in NOT_SHOWN:
            continue
        values = set(tbl[col].fillna("").astype(str)) if col in tbl else set()
        if col == "recipe":
            # Shown only when two rows would otherwise look identical.
            looks = tbl[[c for c in IDENTITY if c != "recipe"]].astype(str).duplicated(keep=False)
            if looks.any():
                shown.append(col)
            continue
        if col == "source" and values == {MEASURED}:
            continue
        if col in ALWAYS_SHOWN or len(values) > 1:
            shown.append(col)
        elif values and values != {""}:
            caption[col] = next(iter(values))
    return shown, caption


def _pct(mean: float, std: float, plain_pm: str = " ± ") -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "—"
    text = f"{100 * mean:.2f}"
    if std is not None and not (isinstance(std, float) and math.isnan(std)):
        text += f"{plain_pm}{100 * std:.2f}"
    return text


def header(col: str) -> str:
    """A metric column's heading: ``fan AUC``, ``average pAUC``, ``official``."""
    if col == OFFICIAL:
        return "official"
    if col == LIFT:
        return "lift vs ref."
    group, metric = col.rsplit(".", 1)
    return f"{group} {metric.upper().replace('MAUC', 'mAUC').replace('PAUC', 'pAUC')}"


def _track_caption(tbl: pd.DataFrame) -> list[str]:
    """The track's name (its title says what sets it apart), its test set and its
    non-default data settings."""
    info = tbl.attrs.get("track_info")
    if not info:
        return []
    data = ", ".join(item.removeprefix("data.") for item in info.get("data", "").split(", "))
    return ([f"track: {info['track']}", f"set: {info['set']}"]
            + ([f"data: {data}"] if info.get("data") else []))


def _ci_caption(tbl: pd.DataFrame, primary: str) -> str:
    ids = sorted({int(n) for n in tbl["ci_n"] if n == n and n > 0}) if "ci_n" in tbl else []
    over = f"{'/'.join(map(str, ids))} machine IDs (sections)" if ids else "machine IDs"
    return (f" · {CI_HEADER} of {header(primary)}: jackknife over {over}, seeds averaged"
            " · =: ranks the intervals do not separate")


def _caption(tbl: pd.DataFrame, constant: dict[str, str]) -> str:
    metrics = tbl.attrs.get("metrics", [])
    info = tbl.attrs.get("track_info") or {}
    protocol = tbl.attrs.get("protocol")
    if protocol is None and info and not (tbl["source"] == MEASURED).any():
        protocol = info["protocol"]  # published rows only: theirs, official or not
    elif protocol is None:
        protocol = ("official protocol of each dataset"
                    + (f" ({info['protocol']})" if info else ""))
    parts = [f"{tbl.attrs.get('kind', '')}", f"protocol: {protocol}", *_track_caption(tbl)]
    parts += [f"{k}: {v}" for k, v in constant.items() if k != "protocol"]
    text = " · ".join(parts) + " · values in %, mean ± std over seeds (n runs)"
    primary = tbl.attrs.get("primary")
    if f"{primary}{CI_SUFFIX}" in tbl and tbl[f"{primary}{CI_SUFFIX}"].notna().any():
        text += _ci_caption(tbl, primary)
    if OFFICIAL in metrics:
        text += (" · official: DCASE 2021+ score (harmonic mean over sections and domains)"
                 + (", ranks the rows" if primary == OFFICIAL else ""))
    if info.get("note"):
        text += f" · note: {info['note']}"
    return text


def _rank_text(tbl: pd.DataFrame) -> list[str]:
    """Shared ranks, ``=`` where the intervals do not separate rows; else positions."""
    if "rank_ci" not in tbl:
        return [str(r) for r in tbl["rank"]]
    return [str(pos) if rank != rank else ("=" if tie else "") + str(int(rank))
            for pos, rank, tie in zip(tbl["rank"], tbl["rank_ci"], tbl["tie"], strict=True)]


def _interval(mean: float, half: float) -> str:
    if mean != mean or half != half:
        return "—"
    # AUCs lie in [0, 1]: a t-interval over few IDs may reach past either end
    return f"{100 * max(0.0, mean - half):.2f}–{100 * min(1.0, mean + half):.2f}"


def formatted(tbl: pd.DataFrame, pm: str = " ± ") -> tuple[pd.DataFrame, str]:
    """The table as strings (metrics in %, ``mean ± std``) and its caption."""
    import pandas as pd

    shown, constant = display_columns(tbl)
    out = pd.DataFrame({"rank": _rank_text(tbl)})
    for col in shown:
        out[col] = tbl[col].fillna("").astype(str)
    out["n"] = ["ref" if s != MEASURED else str(n)
                for s, n in zip(tbl["source"], tbl["n"], strict=True)]
    primary = tbl.attrs.get("primary")
    for col in tbl.attrs.get("metrics", []):
        out[header(col)] = [_pct(m, s, pm) for m, s in
                             zip(tbl[f"{col}_mean"], tbl[f"{col}_std"], strict=True)]
        ci = f"{col}{CI_SUFFIX}"
        if col == primary and ci in tbl and tbl[ci].notna().any():
            out[CI_HEADER] = [_interval(m, h) for m, h in
                              zip(tbl[f"{col}_mean"], tbl[ci], strict=True)]
        elif col == LIFT and ci in tbl and tbl[ci].notna().any():
            out[LIFT_CI_HEADER] = ["—" if h != h else f"± {100 * h:.2f}" for h in tbl[ci]]
    return out, _caption(tbl, constant)


