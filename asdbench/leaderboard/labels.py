"""Short row labels for plots, and the caption that says the rest.

A label is ``method · frontend``, the backbone, scorer or dataset where rows differ in it, and
at most :data:`MAX_SETTINGS` of the settings that differ between the rows (by their last name
part: ``fph_reduction=32``), ``+k`` when a row has more; published rows end in ``(published)``.
The caption names what every row shares (first line) and, one line each, the full settings
of rows whose label had to leave some out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from asdbench.leaderboard.collect import MEASURED

if TYPE_CHECKING:
    import pandas as pd

MAX_SETTINGS = 2
SHOWN_IF_DIFFERENT = ("backbone", "scorer", "dataset")


def parse_settings(text: str) -> dict[str, str]:
    """``key=value, key=value`` (as :func:`asdbench.leaderboard.collect.settings_of` writes
    it; values never hold ", ") back into a dict."""
    pairs = [item.split("=", 1) for item in str(text or "").split(", ") if "=" in item]
    return {k: v for k, v in pairs}


def _differing(rows: list[dict[str, str]]) -> tuple[list[str], dict[str, str]]:
    """Setting keys whose value differs between rows (a missing one is the default), and the
    settings every row has alike."""
    keys = sorted({k for r in rows for k in r})
    differ = [k for k in keys if len({r.get(k) for r in rows}) > 1]
    common = {k: rows[0][k] for k in keys if k not in differ}
    return differ, common


def short_labels(tbl: pd.DataFrame) -> tuple[list[str], str]:
    """(a short label per row, the caption of what the labels leave out)."""
    settings = [parse_settings(s) for s in tbl.get("settings", [""] * len(tbl))]
    differ, common = _differing(settings) if len(tbl) else ([], {})
    extra = [c for c in SHOWN_IF_DIFFERENT if c in tbl and tbl[c].astype(str).nunique() > 1]
    labels, full = [], []
    for (_, row), own in zip(tbl.iterrows(), settings, strict=True):
        parts = [str(row["method"]), str(row["frontend"])] + [str(row[c]) for c in extra]
        mine = [k for k in differ if k in own]
        parts += [f"{k.rsplit('.', 1)[-1]}={own[k]}" for k in mine[:MAX_SETTINGS]]
        label = " · ".join(parts) + (f" +{len(mine) - MAX_SETTINGS}"
                                     if len(mine) > MAX_SETTINGS else "")
        if row["source"] != MEASURED:
            label += " (published)"
        if len(mine) > MAX_SETTINGS:
            full.append(f"{label}: {', '.join(f'{k}={own[k]}' for k in mine)}")
        labels.append(label)
    seen: dict[str, int] = {}
    for i, label in enumerate(labels):  # rows told apart only by their recipe hash
        seen[label] = seen.get(label, 0) + 1
        if labels.count(label) > 1:
            labels[i] = f"{label} #{seen[label]}"
    shared = [f"{c}: {tbl[c].iloc[0]}" for c in ("backbone", "scorer", "dataset")
              if c in tbl and c not in extra and len(tbl)]
    if common:
        shared.append("settings: " + ", ".join(f"{k}={v}" for k, v in common.items()))
    return labels, "\n".join([" · ".join(shared), *full]).strip("\n")
