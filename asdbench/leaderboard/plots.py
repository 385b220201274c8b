"""Leaderboard plots as PNG files (matplotlib, Agg backend: no display needed).

Per track (each file name gets the track's name when a table has several):

- ``leaderboard_<metric>.png``: bar chart of the track's rows, mean ± std over seeds and the
  95 % interval of the ranking metric;
- ``pareto_flops_<metric>.png``, ``pareto_latency_<metric>.png``: the ranking metric against
  GFLOP per 10-s clip (log scale) and against CPU latency (where measured on this CPU), the
  Pareto front drawn, intervals as whiskers;
- ``roc_<type>.png``: ROC curve per machine type, one curve per leaderboard row;
- ``scores_<row>.png``: anomaly-score distributions, normal vs anomaly, per machine type.

Every plot is titled with its track, test set and protocol; rows carry short labels
(``method · frontend``, then what differs between rows), the rest is in a caption under the plot. ROC and score
plots read the per-clip scores of, for each row, its run with the lowest seed (a fixed,
unbiased choice rather than the best seed), those of the table's test set only (the ``set``
column of ``scores.csv``): a run of several sets gets a ROC and score plot per set; one
whose ``scores.csv`` predates that column (its clips not told apart) gets none.
When the tables are of several sets, file names get the set too.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: never needs a display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from asdbench.atomic import atomic_path  # noqa: E402
from asdbench.cost import pareto_front  # noqa: E402
from asdbench.leaderboard.collect import MEASURED  # noqa: E402
from asdbench.leaderboard.ranking import CI_SUFFIX  # noqa: E402
from asdbench.leaderboard.render import by_track  # noqa: E402
from asdbench.leaderboard.tables import TYPES  # noqa: E402
from asdbench.metrics import prepare_scores, roc_points  # noqa: E402
from asdbench.run.rundir import RunDir  # noqa: E402
from asdbench.sdk.tables import IDENTITY  # noqa: E402

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

MAX_ROWS = 8  # curves per ROC plot / score plots written: the top rows of the table


def row_labels(tbl: pd.DataFrame) -> list[str]:
    """Short labels of the rows (:func:`short_labels`)."""
    return short_labels(tbl)[0]


def plot_title(tbl: pd.DataFrame, what: str = "") -> str:
    """``what`` and the track and protocol of the table's (first) track, wrapped."""
    infos = tbl.attrs.get("tracks") or []
    track = infos[0]["title"] if infos else f"protocol {tbl.attrs.get('protocol') or 'official'}"
    return "\n".join(textwrap.wrap(f"{what} · {track}" if what else track, 90))


def add_caption(ax, text: str) -> None:
    """What the short labels leave out, under the axes' label (an offset in points, so any
    figure height leaves room for it)."""
    if text:
        lines = [part for line in text.splitlines() for part in textwrap.wrap(line, 120)]
        ax.annotate("\n".join(lines), xy=(0, 0), xycoords="axes fraction", xytext=(0, -44),
                    textcoords="offset points", ha="left", va="top", fontsize=7, color="0.3")


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:80] or "row"


def save_figure(fig, path: Path) -> Path:
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
    """Horizontal bars of ``metric`` (default: the table's primary one), best at the top:
    mean ± std over seeds, and the 95 % interval over machine IDs where the table has it."""
    metric = metric or _primary(tbl)
    mean = tbl[f"{metric}_mean"].to_numpy(dtype=float) * 100
    std = np.nan_to_num(tbl[f"{metric}_std"].to_numpy(dtype=float) * 100)
    labels, caption = short_labels(tbl)
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(tbl) + 1.6))
    y = np.arange(len(tbl))[::-1]
    colors = ["tab:blue" if s == MEASURED else "tab:gray" for s in tbl["source"]]
    ax.barh(y, np.nan_to_num(mean), xerr=std, color=colors, capsize=3, height=0.6)
    ci = f"{metric}{CI_SUFFIX}"
    has_ci = ci in tbl and tbl[ci].notna().any()
    if has_ci:
        half = tbl[ci].to_numpy(dtype=float) * 100
        ax.hlines(y - 0.38, np.clip(mean - half, 0, 100), np.clip(mean + half, 0, 100),
                  color="black", lw=1.2)
    ax.set_yticks(y, labels)
    finite = mean[np.isfinite(mean)]
    low = max(0.0, float(finite.min()) - 10) if finite.size else 0.0
    if has_ci and np.isfinite(half).any():
        low = max(0.0, min(low, float(np.nanmin(mean - half)) - 2))
    ax.set_xlim(low, 100)
    if low < 50:
        ax.axvline(50, color="gray", lw=0.8, ls="--")  # chance level of AUC
    group, name = metric.rsplit(".", 1)
    pretty = {"auc": "AUC", "pauc": "pAUC", "mauc": "mAUC"}.get(name, name)
    ax.set_xlabel(f"{group} {pretty} (%): bar mean ± std over seeds"
                  + (", line below: 95 % CI over machine IDs" if has_ci else "")
                  + " (gray: published)")
    ax.set_title(plot_title(tbl), fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    add_caption(ax, caption)
    return save_figure(fig, Path(path))


PARETO_COSTS = {  # cost column -> (file name part, axis label, log scale)
    "gflops_10s": ("flops", "GFLOP per 10-s clip (log scale)", True),
    "cpu_ms": ("latency", "CPU ms per 10-s clip (exported ONNX, batch 1, 2 threads)", False),
}


def pareto_plot(tbl: pd.DataFrame, path: str | Path, cost: str) -> Path | None:
    """The ranking metric (mean over seeds, whiskers: its 95 % interval, else ± std) against
    ``cost`` (a column of :data:`PARETO_COSTS`), the Pareto front drawn as a line; None when
    fewer than one row has both. On the log scale a zero cost (no network) is drawn at the
    left edge, marked ``0``."""
    metric = _primary(tbl)
    if cost not in tbl or f"{metric}_mean" not in tbl:
        return None
    _, label, log = PARETO_COSTS[cost]
    y = tbl[f"{metric}_mean"].to_numpy(dtype=float) * 100
    x = tbl[cost].to_numpy(dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    if not ok.any():
        return None
    ci = f"{metric}{CI_SUFFIX}"
    half = (tbl[ci] if ci in tbl and tbl[ci].notna().any() else tbl[f"{metric}_std"])
    half = np.nan_to_num(half.to_numpy(dtype=float) * 100)
    zero = ok & (x <= 0) if log else np.zeros_like(ok)
    positive = x[ok & ~zero]
    floor = float(positive.min()) / 3 if positive.size else 1e-3
    shown = np.where(zero, floor, x)
    front = np.array(pareto_front(y, x))
    labels, caption = short_labels(tbl)
    fig, ax = plt.subplots(figsize=(8, 5.2))
    ax.errorbar(shown[ok], y[ok], yerr=half[ok], fmt="none", ecolor="gray", lw=1, capsize=3)
    ax.scatter(shown[ok & ~front], y[ok & ~front], color="tab:blue", zorder=3, label="row")
    ax.scatter(shown[front], y[front], color="tab:red", marker="D", zorder=4,
               label="on the Pareto front")
    order = np.argsort(shown[front], kind="stable")
    ax.step(shown[front][order], y[front][order], where="post", color="tab:red", lw=1.2)
    for i in np.flatnonzero(ok):
        ax.annotate(labels[i] + (" (0)" if zero[i] else ""), (shown[i], y[i]), fontsize=7,
                    xytext=(4, 3), textcoords="offset points")
    if log:
        ax.set_xscale("log")
    group, name = metric.rsplit(".", 1)
    pretty = {"auc": "AUC", "pauc": "pAUC", "mauc": "mAUC"}.get(name, name)
    whisker = "95 % CI" if ci in tbl and tbl[ci].notna().any() else "± std over seeds"
    ax.set_ylabel(f"{group} {pretty} (%), whiskers: {whisker}")
    machines = sorted({m for m in tbl.get("cpu_ms_machine", []) if isinstance(m, str) and m})
    ax.set_xlabel(label + (f" on {' / '.join(machines)}" if cost == "cpu_ms" and machines
                           else ""))
    ax.set_title(plot_title(tbl, "cost"), fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    add_caption(ax, caption)
    return save_figure(fig, Path(path))


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


def run_scores(run_dir: Path, test_set: str | None = None) -> pd.DataFrame | None:
    """The labelled per-clip scores of a run, of ``test_set`` only (None: every clip); None
    when there are none, or when they cannot be told apart by set (a ``scores.csv`` older
    than its ``set`` column, of a run with several sets: :meth:`RunDir.read_scores`).

    A run written before sets were kept apart (no ``sets`` in its metrics) had one
    evaluation, whose set the leaderboard names from its config (``dev``, ``eval`` or
    ``dev+eval``): all its clips are that set's."""
    run = RunDir(run_dir)
    frame = run.read_scores()
    if frame is None:
        return None
    if test_set is not None and "sets" in (run.read_metrics() or {}):
        if "set" not in frame.columns:
            return None  # clips of several sets, not marked: no plot rather than a mixed one
        frame = frame[frame["set"] == test_set]
    return prepare_scores(frame, labelled=True)


def roc_curves(runs: list[tuple[str, Path]], out_dir: str | Path, title: str = "",
               caption: str = "", prefix: str = "", test_set: str | None = None) -> list[Path]:
    """One PNG per machine type (``roc_<prefix><type>.png``) with the ROC curve of each run
    on ``test_set`` (None: every clip); ``title``: the table's track, set and protocol, under
    the plot's own."""
    curves: dict[str, list[tuple[str, dict]]] = {}
    for label, run_dir in runs:
        scores = run_scores(run_dir, test_set)
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
               ylim=(0, 1.01))
        ax.set_title(f"ROC: {mtype} (all IDs pooled, lowest seed)" + (f"\n{title}" if title
                                                                      else ""), fontsize=8)
        ax.legend(fontsize=7, loc="lower right")
        add_caption(ax, caption)
        paths.append(save_figure(fig, Path(out_dir) / f"roc_{prefix}{slug(mtype)}.png"))
    return paths


def score_distributions(run_dir: str | Path, path: str | Path, title: str = "",
                        test_set: str | None = None) -> Path | None:
    """Histograms of normal vs anomaly scores on ``test_set`` (None: every clip), one panel
    per machine type."""
    scores = run_scores(Path(run_dir), test_set)
    if scores is None or scores.empty:
        return None
    types = sorted(scores["machine_type"].unique(), key=str.lower)
    cols = min(3, len(types))
    rows = int(np.ceil(len(types) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows + 0.6), squeeze=False,
                             layout="constrained")  # room for the suptitle
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
        fig.suptitle(title, fontsize=9)
    return save_figure(fig, Path(path))


def make_plots(df: pd.DataFrame, tbl: pd.DataFrame, out_dir: str | Path,
               limit: int = MAX_ROWS) -> list[Path]:
    """Every plot for a leaderboard, per table (track, set, protocol); returns the files
    written."""
    out_dir = Path(out_dir)
    paths: list[Path] = []
    parts = by_track(tbl)
    several_sets = len({(p.attrs.get("track_info") or {}).get("set") for p in parts}) > 1
    for part in parts:
        info = part.attrs.get("track_info") or {}
        test_set = info.get("set")
        own = f"_{slug(test_set)}" if several_sets and test_set else ""
        prefix = f"{slug(info['track'])}{own}_" if len(parts) > 1 and info else ""
        title = plot_title(part)
        if len(part):
            metric = _primary(part)
            if f"{metric}_mean" in part.columns:
                paths.append(bar_chart(part, out_dir / f"leaderboard_{prefix}{slug(metric)}.png",
                                       metric))
            for cost, (name, _, _) in PARETO_COSTS.items():
                drawn = pareto_plot(part, out_dir / f"pareto_{name}_{prefix}{slug(metric)}.png",
                                    cost)
                paths += [drawn] if drawn is not None else []
        runs = representative_runs(df, part, limit)
        paths += roc_curves(runs, out_dir, title, short_labels(part)[1], prefix, test_set)
        for label, run_dir in runs:
            p = score_distributions(run_dir, out_dir / f"scores_{slug(run_dir.name)}{own}.png",
                                    f"{label} (its lowest seed)\n{title}", test_set)
            if p is not None:
                paths.append(p)
    return paths
