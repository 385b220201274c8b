"""Sweeps: a metric per method against one swept setting (``asdbench leaderboard --sweep KEY``).

A sweep is a set of runs that differ in one setting, typically a data option such as
``data.id_similarity`` (each value then has its own track, so its own table). A *line* is the
runs whose configs are equal but for the swept key and the seed (a recipe as
:func:`asdbench.leaderboard.collect.recipe_hash` hashes it, the swept key left out); a point
is one value's mean ± std over those runs' seeds of ``average.auc`` under the protocol asked
for (None: each run's official protocol, as the tables take it). Runs of different datasets,
test sets or protocols never share a plot: one plot per dataset, set and protocol.

A bad key fails before anything is drawn. ``plot_sweeps`` writes each plot as
``leaderboard_sweep_<key>[_<dataset>_<set>_<protocol>].png`` (the suffix when there are several)
and every point of the key as ``leaderboard_sweep_<key>.csv`` (fractions).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd

from asdbench.atomic import atomic_write_text
from asdbench.leaderboard.collect import (
    DATA_PREFIX,
    MEASURED,
    _is_location,
    recipe_hash,
    set_key,
    short,
)
from asdbench.leaderboard.plots import add_caption, parse_settings, save_figure, short_labels, slug
from asdbench.matrix.grid import expand, load_matrix, varying_keys
from asdbench.registry import AsdbenchError, suggest

METRIC = "average.auc"
FILE_PREFIX = "leaderboard_sweep_"
GROUP = ["dataset", "set", "protocol"]  # what one plot holds
MAX_NAMED = 8  # settings an error names at most
POINTS = [*GROUP, "line", "label", "value", "x", "mean", "std", "n", "seeds"]


def matrix_sweeps(matrix_file: str | Path) -> list[str]:
    """The data settings (``data.*`` but folders) whose value differs between the cells of a
    matrix config: what it sweeps, in the order the file names them."""
    return [k for k in varying_keys(expand(load_matrix(matrix_file), source=str(matrix_file)))
            if k.startswith(DATA_PREFIX) and not _is_location(k)]


def _runs(df: pd.DataFrame, protocol: str | None, test_set: str | None) -> pd.DataFrame:
    """The measured rows a sweep reads: one protocol (None: each run's official one), one set
    (None: all)."""
    if df.empty or "config" not in df:
        return df.iloc[0:0]
    rows = df[df["source"] == MEASURED]
    rows = rows[rows["official"]] if protocol is None else rows[rows["protocol"] == protocol]
    return rows if test_set is None else rows[rows["set"] == test_set]


def _unknown_key(key: str, configs: list[dict[str, Any]]) -> AsdbenchError:
    """The error for a key no run has, with close names and the settings that do vary."""
    names = sorted({k for c in configs for k in c})
    hint = suggest(key, names)
    varying = [k for k in names if k != "seed"
               and len({json.dumps(c.get(k), sort_keys=True, default=str) for c in configs}) > 1]
    data = [k for k in varying if k.startswith(DATA_PREFIX)]
    shown = data or varying[:MAX_NAMED] + ([f"+{len(varying) - MAX_NAMED} more"]
                                           if len(varying) > MAX_NAMED else [])
    what = "data settings" if data else "settings"
    found = (f"; {what} that differ between the runs: {', '.join(shown)}" if shown
             else "; no setting differs between the runs")
    return AsdbenchError(f"--sweep {key}: no run here has the setting '{key}'{hint}{found}")


def _x_positions(values: list[Any]) -> tuple[dict[str, float], bool]:
    """Each distinct value's x (by its JSON text): the value itself when all are numbers, else
    its place in sorted order (numbers first); and whether the axis is numeric."""
    def numeric(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

    distinct = {json.dumps(v, sort_keys=True, default=str): v for v in values}
    if all(numeric(v) for v in distinct.values()):
        return {text: float(v) for text, v in distinct.items()}, True
    order = sorted(distinct, key=lambda t: (0, float(distinct[t]), "") if numeric(distinct[t])
                   else (1, 0.0, short(distinct[t])))
    return {text: float(i) for i, text in enumerate(order)}, False


def _label_settings(row: pd.Series, key: str) -> str:
    """A row's settings and data settings without the swept key, for its line's label."""
    own = {**parse_settings(row["settings"]), **parse_settings(row["data"])}
    own.pop(key, None)
    return ", ".join(f"{k}={v}" for k, v in sorted(own.items()))


def _labels(firsts: pd.DataFrame, key: str) -> dict[tuple, str]:
    """A short label per line of each plot (:func:`short_labels` among the plot's lines)."""
    out: dict[tuple, str] = {}
    for _, lines in firsts.groupby(GROUP, sort=False):
        frame = lines.assign(settings=[_label_settings(r, key) for _, r in lines.iterrows()])
        for (_, row), label in zip(frame.iterrows(), short_labels(frame)[0], strict=True):
            out[(*row[GROUP], row["line"])] = label
    return out


def sweep_points(df: pd.DataFrame, key: str, protocol: str | None = None,
                 test_set: str | None = None, metric: str = METRIC) -> pd.DataFrame:
    """The points of a sweep over ``key``: one row per dataset, set, protocol, line and value
    (columns :data:`POINTS`; ``mean``/``std`` fractions, std NaN for one seed; ``value`` the
    value as shown, ``x`` where it is plotted), ordered by plot, line and x. ``attrs``:
    ``key``, ``metric``, ``numeric`` (whether x is the value itself), ``official`` (each run's
    official protocol). A key no run has, or one every run has the same value of, is a
    one-line error naming it."""
    rows = _runs(df, protocol, test_set)
    configs = [json.loads(c) for c in rows["config"]] if len(rows) else []
    have = [key in c for c in configs]
    if not any(have):
        raise _unknown_key(key, configs)
    rows, configs = rows[have], [c for c, h in zip(configs, have, strict=True) if h]
    values = [c[key] for c in configs]
    xs, numeric = _x_positions(values)
    if len(xs) < 2:
        raise AsdbenchError(f"--sweep {key}: every run here has {key}={short(values[0])}; a "
                            "sweep needs runs with two values or more")
    texts = [json.dumps(v, sort_keys=True, default=str) for v in values]
    runs = rows.assign(line=[recipe_hash({k: v for k, v in c.items() if k != key})
                             for c in configs],
                       value=[short(v) for v in values], x=[xs[t] for t in texts])
    firsts = runs.drop_duplicates([*GROUP, "line"])
    labels = _labels(firsts, key)
    out = []
    for (*group, line, value, x), part in runs.groupby([*GROUP, "line", "value", "x"],
                                                        sort=False):
        got = part[metric].dropna() if metric in part else pd.Series(dtype=float)
        out.append({**dict(zip(GROUP, group, strict=True)), "line": line,
                    "label": labels[(*group, line)], "value": value, "x": x,
                    "mean": float(got.mean()) if len(got) else math.nan,
                    "std": float(got.std(ddof=1)) if len(got) > 1 else math.nan,
                    "n": len(got), "seeds": ",".join(str(int(s)) for s in
                                                     sorted(part["seed"].dropna()))})
    points = pd.DataFrame(out, columns=POINTS)
    points["_set"] = [set_key(s) for s in points["set"]]
    points = (points.sort_values(["dataset", "_set", "protocol", "label", "x"], kind="stable")
              .drop(columns="_set").reset_index(drop=True))
    points.attrs.update({"key": key, "metric": metric, "numeric": numeric,
                         "official": protocol is None})
    return points


def plot_groups(points: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """(file stem, its points) per plot: one per dataset, set and protocol."""
    groups = list(points.groupby(GROUP, sort=False))
    stem = FILE_PREFIX + slug(points.attrs["key"])
    return [(stem + ("" if len(groups) == 1 else "_" + "_".join(slug(str(g)) for g in group)),
             part) for group, part in groups]


def _pretty(metric: str) -> str:
    group, name = metric.rsplit(".", 1)
    return f"{group} {name.upper().replace('PAUC', 'pAUC').replace('MAUC', 'mAUC')}"


def sweep_plot(points: pd.DataFrame, path: str | Path) -> Path:
    """One plot's lines (:func:`sweep_points` rows of one dataset, set and protocol) as a PNG:
    mean ± std over seeds against the swept value, chance (50 %) dashed."""
    key, metric = points.attrs["key"], points.attrs["metric"]
    first = points.iloc[0]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, line in points.groupby("label", sort=False):
        line = line.sort_values("x")
        std = line["std"].fillna(0.0).to_numpy() * 100
        ax.errorbar(line["x"], line["mean"] * 100, yerr=std, marker="o", capsize=3, label=label)
    ticks = points.drop_duplicates("x").sort_values("x")
    ax.set_xticks(ticks["x"], ticks["value"])
    ax.axhline(50, color="gray", lw=0.8, ls="--")  # chance level of AUC
    ax.set_xlabel(key)
    ax.set_ylabel(f"{_pretty(metric)} (%), mean ± std over seeds")
    official = " (official)" if points.attrs.get("official") else ""
    ax.set_title(f"{_pretty(metric)} against {key}\n{first['dataset']} · set {first['set']} · "
                 f"protocol {first['protocol']}{official}", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    n = sorted(set(points["n"]))
    add_caption(ax, f"seeds per point: {'–'.join(map(str, n[::max(len(n) - 1, 1)]))}")
    return save_figure(fig, Path(path))


def plot_sweeps(points: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """Every plot of one key's sweep and the CSV of its points; returns the files written."""
    out_dir = Path(out_dir)
    paths = [sweep_plot(part, out_dir / f"{stem}.png") for stem, part in plot_groups(points)]
    key = points.attrs["key"]
    table = points.drop(columns=["line", "x"]).rename(columns={"value": key})
    csv = out_dir / f"{FILE_PREFIX}{slug(key)}.csv"
    return [*paths, atomic_write_text(csv, table.to_csv(index=False))]
