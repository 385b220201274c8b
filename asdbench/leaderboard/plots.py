"""Leaderboard plots as PNG files (matplotlib, Agg backend: no display needed).

- ``leaderboard_<metric>.png``: bar chart of a table's rows, mean ± std over seeds;
- ``roc_<type>.png``: ROC curve per machine type, one curve per leaderboard row;
- ``scores_<row>.png``: anomaly-score distributions, normal vs anomaly, per machine type.

ROC and score plots read the per-clip scores of, for each row, its run with the lowest seed
(a fixed, unbiased
choice rather than the best seed).
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: never needs a display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from asdbench.atomic import atomic_path  # noqa: E402
from asdbench.leaderboard.cells import display_columns  # noqa: E402
from asdbench.leaderboard.collect import IDENTITY, MEASURED  # noqa: E402
from asdbench.leaderboard.tables import TYPES  # noqa: E402
from asdbench.metrics import prepare_scores, roc_points  # noqa: E402
from asdbench.run.rundir import RunDir  # noqa: E402

MAX_ROWS = 8  # curves per ROC plot / score plots written: the top rows of the table


def row_labels(tbl: pd.DataFrame) -> list[str]:
    """Short labels from the identity columns that differ between rows."""
    shown, _ = display_columns(tbl)
    labels = []
    for _, row in tbl.iterrows():
        parts = [str(row[c]) for c in shown if c != "source" and str(row[c]) not in ("", "nan")]
        label = " · ".join(parts) or str(row.get("method"))
        if row["source"] != MEASURED:
            label += " [published]"
        labels.append(label)
    return labels


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:80] or "row"


def _save(fig, path: Path) -> Path:
    """Save atomically: a reader never sees half a PNG."""
    try:
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=120, bbox_inches="tight")
    finally:
        plt.close(fig)
        Path(tmp).unlink(missing_ok=True)
    return path


def _primary(tbl: pd.DataFrame) -> str:
    """The metric the table was ranked by (``tables.table`` records it)."""
    return tbl.attrs.get("primary") or TYPES.primary_metric(tbl.attrs.get("metrics", ()))


def bar_chart(tbl: pd.DataFrame, path: str | Path, metric: str | None = None) -> Path:
    """Horizontal bars of ``metric`` (default: the table's primary one), best at the top."""
    metric = metric or _primary(tbl)
    mean = tbl[f"{metric}_mean"].to_numpy(dtype=float) * 100
    std = np.nan_to_num(tbl[f"{metric}_std"].to_numpy(dtype=float) * 100)
    labels = row_labels(tbl)
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(tbl) + 1.2))
    y = np.arange(len(tbl))[::-1]
    colors = ["tab:blue" if s == MEASURED else "tab:gray" for s in tbl["source"]]
    ax.barh(y, np.nan_to_num(mean), xerr=std, color=colors, capsize=3)
    ax.set_yticks(y, labels)
    finite = mean[np.isfinite(mean)]
    low = max(0.0, float(finite.min()) - 10) if finite.size else 0.0
    ax.set_xlim(low, 100)
    if low < 50:
        ax.axvline(50, color="gray", lw=0.8, ls="--")  # chance level of AUC
    group, name = metric.rsplit(".", 1)
    pretty = {"auc": "AUC", "pauc": "pAUC", "mauc": "mAUC"}.get(name, name)
    ax.set_xlabel(f"{group} {pretty} (%), mean ± std over seeds (gray: published)")
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, Path(path))


def representative_runs(df: pd.DataFrame, tbl: pd.DataFrame,
                        limit: int = MAX_ROWS) -> list[tuple[str, Path]]:
    """(label, run folder) of the lowest-seed run of each measured row, top ``limit`` rows."""
    labels = row_labels(tbl)
    out = []
    for label, (_, row) in zip(labels, tbl.iterrows(), strict=True):
        if row["source"] != MEASURED or df.empty:
            continue
        match = df
        for col in IDENTITY:
            match = match[match[col].astype(str) == str(row[col])]
        if match.empty:
            continue
        first = match.sort_values("seed").iloc[0]
        out.append((label, Path(first["path"])))
        if len(out) >= limit:
            break
    return out


def _scores(run_dir: Path) -> pd.DataFrame | None:
    frame = RunDir(run_dir).read_scores()
    return None if frame is None else prepare_scores(frame, labelled=True)


def roc_curves(runs: list[tuple[str, Path]], out_dir: str | Path) -> list[Path]:
    """One PNG per machine type with the ROC curve of each run."""
    curves: dict[str, list[tuple[str, dict]]] = {}
    for label, run_dir in runs:
        scores = _scores(run_dir)
        if scores is None or scores.empty:
            continue
        for mtype, pts in roc_points(scores, "type").items():
            curves.setdefault(mtype, []).append((label, pts))
    paths = []
    for mtype, items in sorted(curves.items()):
        fig, ax = plt.subplots(figsize=(5.5, 5))
        for label, pts in items:
            ax.plot(pts["fpr"], pts["tpr"], label=f"{label} (AUC {100 * pts['auc']:.1f})")
        ax.plot([0, 1], [0, 1], color="gray", lw=0.8, ls="--")
        ax.axvspan(0, 0.1, color="tab:orange", alpha=0.08, label="pAUC region (FPR ≤ 0.1)")
        ax.set(xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1),
               ylim=(0, 1.01), title=f"ROC: {mtype} (all IDs pooled)")
        ax.legend(fontsize=7, loc="lower right")
        paths.append(_save(fig, Path(out_dir) / f"roc_{_slug(mtype)}.png"))
    return paths


def score_distributions(run_dir: str | Path, path: str | Path, title: str = "") -> Path | None:
    """Histograms of normal vs anomaly scores, one panel per machine type."""
    scores = _scores(Path(run_dir))
    if scores is None or scores.empty:
        return None
    types = sorted(scores["machine_type"].unique(), key=str.lower)
    cols = min(3, len(types))
    rows = int(np.ceil(len(types) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
    for ax, mtype in zip(axes.flat, types, strict=False):
        g = scores[scores["machine_type"] == mtype]
        bins = np.histogram_bin_edges(g["score"], bins=30)
        for label, name, color in ((0, "normal", "tab:blue"), (1, "anomaly", "tab:red")):
            values = g.loc[g["label"] == label, "score"]
            if len(values):
                ax.hist(values, bins=bins, alpha=0.55, density=True, color=color,
                        label=f"{name} ({len(values)})")
        ax.set_title(mtype)
        ax.set_xlabel("anomaly score")
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(types):]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    return _save(fig, Path(path))


def make_plots(df: pd.DataFrame, tbl: pd.DataFrame, out_dir: str | Path,
               limit: int = MAX_ROWS) -> list[Path]:
    """Every plot for a leaderboard; returns the files written."""
    out_dir = Path(out_dir)
    paths: list[Path] = []
    if len(tbl):
        metric = _primary(tbl)
        if f"{metric}_mean" in tbl.columns:
            paths.append(bar_chart(tbl, out_dir / f"leaderboard_{_slug(metric)}.png", metric))
    runs = representative_runs(df, tbl, limit)
    paths += roc_curves(runs, out_dir)
    for label, run_dir in runs:
        p = score_distributions(run_dir, out_dir / f"scores_{_slug(run_dir.name)}.png", label)
        if p is not None:
            paths.append(p)
    return paths
