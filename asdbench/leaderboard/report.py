"""The leaderboard as one self-contained HTML page (``asdbench report``).

The page holds, per track, what every number in its table is (protocol, test set, data
settings, table kind), the table itself with the cells of :mod:`asdbench.leaderboard.render`
(ranks with ties, mean ± std over seeds, the 95 % interval), links to each row's run folders
(relative to the page, so a results folder moved or published with its page keeps them), and
the plots of :mod:`asdbench.leaderboard.plots` embedded as PNG data. Style is embedded
(``report.css``, package data); the page loads nothing from anywhere.
"""

from __future__ import annotations

import base64
import importlib.resources
import json
import os
import tempfile
from collections.abc import Mapping
from html import escape
from pathlib import Path
from typing import Any

import pandas as pd

from asdbench.atomic import atomic_write_text
from asdbench.leaderboard.collect import MEASURED
from asdbench.leaderboard.plots import make_plots
from asdbench.leaderboard.render import CI_HEADER, by_track, formatted, header
from asdbench.leaderboard.sweep import plot_groups, sweep_plot
from asdbench.meta import __version__
from asdbench.run.rundir import RunDir
from asdbench.sdk.tables import IDENTITY

TITLE = "asdbench leaderboard report"
REPORT_NAME = "report.html"  # the page's name when --out is a folder


def _css() -> str:
    """The page's style sheet (``report.css`` beside this module)."""
    return importlib.resources.files(__package__).joinpath("report.css").read_text("utf-8")


def report_path(out: Path) -> Path:
    """``out`` itself when it names an ``.html``/``.htm`` file, else ``out/report.html``."""
    return out if out.suffix.lower() in (".html", ".htm") else out / REPORT_NAME


SET_NAMES = {"dev": "development set", "eval": "evaluation set",
             "dev+eval": "development and evaluation test clips as one evaluation, as runs "
                         "made before the sets were kept apart have them"}


def _track_runs(df: pd.DataFrame, info: dict[str, Any]) -> pd.DataFrame:
    """The measured runs (one row per run) of a table: its track, test set and protocol."""
    if df.empty:
        return df
    return df[(df["track"] == info["track"]) & (df["set"] == info["set"])
              & (df["protocol"] == info["protocol"])]


def _set_metrics(metrics: dict[str, Any], test_set: str, protocol: str) -> dict[str, Any]:
    """One set's metrics under ``protocol`` (a run without ``sets``: its top-level ones, its
    development set's)."""
    sets = metrics.get("sets")
    part = (sets.get(test_set) or {}) if isinstance(sets, dict) else metrics
    return (part.get("protocols") or {}).get(protocol) or {}


def set_description(runs: pd.DataFrame, protocol: str, test_set: str = "dev") -> str:
    """What a table's numbers are computed on, read from one of its runs' ``metrics.json``:
    the test set, its labelled test clips (normal, anomalous) and machine IDs, and the clips
    left out."""
    if runs.empty:
        return f"set {test_set}, as published (see the source)"
    first = runs.sort_values("run_id").iloc[0]
    metrics = RunDir(Path(first["path"])).read_metrics() or {}
    pm = _set_metrics(metrics, test_set, protocol)
    ids = pm.get("ids") or {}
    normal = sum(int(v.get("n_normal", 0)) for v in ids.values())
    anomaly = sum(int(v.get("n_anomaly", 0)) for v in ids.values())
    named = f" ({SET_NAMES[test_set]})" if test_set in SET_NAMES else ""
    text = f"set {test_set}{named} of {first['dataset']}"
    if ids:
        text += (f": {normal + anomaly} labelled clips ({normal} normal, {anomaly} anomalous)"
                 f" of {len(ids)} machine IDs")
    if pm.get("n_unlabelled"):
        text += f"; {pm['n_unlabelled']} unlabelled clips not scored"
    return text + " (the same clips in every run of the track)"


def _data_settings(runs: pd.DataFrame, info: dict[str, Any]) -> str:
    """Every data setting of the track, the non-default ones in bold."""
    if runs.empty:
        return "the dataset's official data (published numbers)"
    cfg = json.loads(runs["data_config"].iloc[0] or "{}")
    changed = {item.split("=", 1)[0] for item in info.get("data", "").split(", ") if item}
    items = []
    for key, value in sorted(cfg.items()):
        if key == "dataset" or value in ("", None):  # no folder given: nothing to say
            continue
        shown = escape(f"{key.removeprefix('data.')}={value}")
        cls = ' class="setting-nd"' if key in changed else ""
        items.append(f"<code{cls}>{shown}</code>")
    return " ".join(items) + " <span class=\"caption\">(bold: not the dataset's default)</span>"


def _facts(part: pd.DataFrame, runs: pd.DataFrame, info: dict[str, Any]) -> str:
    """The track's definition list: protocol, test set, data settings, table kind, runs."""
    proto = info["protocol"]
    official = "" if runs.empty else (" (the dataset's official protocol)"
                                      if bool(runs["official"].iloc[0]) else "")
    facts = [("protocol", f"<code>{escape(str(proto))}</code>{official}"),
             ("set", escape(set_description(runs, proto, info["set"]))),
             ("dataset", escape(str(part["dataset"].iloc[0]) if len(part) else "")),
             ("data settings", _data_settings(runs, info)),
             ("table", f"<code>{escape(str(part.attrs.get('kind', '')))}</code>, ranked by "
                       f"{escape(header(info['primary']))}"),
             ("runs", f"{len(runs)} finished run(s) in {len(part)} row(s)")]
    body = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)
    return f'<dl class="facts">{body}</dl>'


def row_runs(df: pd.DataFrame, row: pd.Series) -> list[tuple[int, Path]]:
    """(seed, run folder) of every run averaged into a measured table row, by seed."""
    if row["source"] != MEASURED or df.empty:
        return []
    match = df
    for col in IDENTITY:
        match = match[match[col].astype(str) == str(row[col])]
    return sorted((int(s), Path(p)) for s, p in zip(match["seed"], match["path"], strict=True))


def _link(path: Path, out_dir: Path) -> str:
    rel = Path(os.path.relpath(path.resolve(), out_dir.resolve())).as_posix()
    return escape(rel.rstrip("/") + "/", quote=True)


def _cell(col: str, value: str, primary: str) -> str:
    classes = []
    if col == "rank":
        classes.append("rank")
    elif col in IDENTITY:
        classes += ["id"] + (["settings"] if col == "settings" else [])
    if col in (primary, CI_HEADER):
        classes.append("primary")
    cls = f' class="{" ".join(classes)}"' if classes else ""
    mean, pm, std = value.partition(" ± ")
    text = escape(mean) + (f'<span class="std">± {escape(std)}</span>' if pm else "")
    return f"<td{cls}>{text}</td>"


def _ordered(frame: pd.DataFrame, primary: str) -> pd.DataFrame:
    """The ranking metric and its interval right after ``n``: the columns a reader needs
    first stay in view when a wide table scrolls."""
    first = [c for c in (primary, CI_HEADER) if c in frame.columns]
    cols = list(frame.columns)
    at = cols.index("n") + 1 if "n" in cols else len(cols)
    rest = [c for c in cols if c not in first]
    return frame[rest[:at] + first + rest[at:]]


def table_html(part: pd.DataFrame, df: pd.DataFrame, out_dir: Path) -> tuple[str, str]:
    """One track's table as HTML (a ``runs`` column of links to the run folders) and its
    caption (:func:`asdbench.leaderboard.render.formatted`)."""
    frame, caption = formatted(part)
    primary = header(part.attrs["primary"]) if part.attrs.get("primary") else ""
    frame = _ordered(frame, primary)
    heads = []
    for col in frame.columns:
        cls = ["id"] if col in IDENTITY else []
        cls += ["primary"] if col in (primary, CI_HEADER) else []
        cls += ["rank"] if col == "rank" else []
        attr = f' class="{" ".join(cls)}"' if cls else ""
        group, _, metric = col.rpartition(" ")  # "gearbox pAUC": the metric under its type
        text = (f"{escape(group)}<br>{escape(metric)}" if group and col not in IDENTITY
                and col != CI_HEADER else escape(col))
        heads.append(f"<th{attr}>{text}</th>")
    heads.append('<th class="id">runs</th>')
    rows = []
    for (_, src), values in zip(part.iterrows(), frame.itertuples(index=False), strict=True):
        classes = (["tie"] if bool(src.get("tie", False)) else []) + (
            ["published"] if src["source"] != MEASURED else [])
        cells = [_cell(col, str(v), primary) for col, v in zip(frame.columns, values,
                                                                strict=True)]
        links = " ".join(f'<a href="{_link(p, out_dir)}">s{seed}</a>'
                         for seed, p in row_runs(df, src))
        cells.append(f'<td class="id runs">{links or "—"}</td>')
        cls = f' class="{" ".join(classes)}"' if classes else ""
        rows.append(f"<tr{cls}>{''.join(cells)}</tr>")
    html = (f'<div class="scroll"><table class="lb"><thead><tr>{"".join(heads)}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')
    return html, caption


def _figure(path: Path, wide: bool = False) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    cls = ' class="wide"' if wide else ""
    return (f'<figure{cls}><img alt="{escape(path.stem, quote=True)}" '
            f'src="data:image/png;base64,{data}"><figcaption>{escape(path.name)}'
            "</figcaption></figure>")


def plots_html(df: pd.DataFrame, part: pd.DataFrame) -> str:
    """The track's plots (:func:`asdbench.leaderboard.plots.make_plots`) embedded: the bar
    chart, the ROC curves per machine type, the score distributions folded away."""
    with tempfile.TemporaryDirectory(prefix="asdbench-report-") as tmp:
        paths = make_plots(df, part, tmp)
        bars = [p for p in paths if p.name.startswith(("leaderboard_", "pareto_"))]
        rocs = [p for p in paths if p.name.startswith("roc_")]
        scores = [p for p in paths if p.name.startswith("scores_")]
        out = ""
        if bars or rocs:
            out += ('<h3>Plots</h3><div class="plots">'
                    + "".join(_figure(p, wide=True) for p in bars)
                    + "".join(_figure(p) for p in rocs) + "</div>")
        if scores:
            out += (f"<details><summary>Score distributions, normal vs anomalous "
                    f"({len(scores)} row(s), each its lowest seed)</summary>"
                    f'<div class="plots">{"".join(_figure(p) for p in scores)}</div>'
                    "</details>")
    return out


def _track_section(i: int, part: pd.DataFrame, df: pd.DataFrame, out_dir: Path,
                   plots: bool) -> str:
    info = part.attrs["track_info"]
    runs = _track_runs(df, info)
    table, caption = table_html(part, df, out_dir)
    note = (f'<p class="note">{escape(info["note"])}</p>' if info.get("note") else "")
    figures = plots_html(df, part) if plots and len(part) else ""
    return (f'<section class="card track" id="track-{i}" data-track="{escape(info["track"])}" '
            f'data-set="{escape(info["set"])}">'
            f'<h2>{escape(info["title"])}</h2>{_facts(part, runs, info)}{table}'
            f'<p class="caption">{escape(caption)}</p>{note}{figures}</section>')


LEGEND = """<section class="card legend"><h2>How to read the tables</h2><ul>
<li>A <b>track</b> is one dataset with the same data settings (so the same clips); a table
holds one track, one <b>test set</b> (<code>dev</code>: the development set,
<code>eval</code>: the evaluation set) and one metric protocol: only rows of one table are
ranked against each other.</li>
<li>Values are in %: mean ± standard deviation over seeds; <b>n</b> is the number of runs
(seeds) in the row, <i>ref</i> a published number.</li>
<li><b>95 % CI</b>: the interval of the ranking metric (highlighted) as the official DCASE
evaluators compute it: jackknife over machine IDs (sections), seeds averaged.</li>
<li><b>Rank</b> <code>=k</code> (shaded): ranks the intervals do not separate (a tie).</li>
<li><b>Cost</b>: inference parameters (millions) and GFLOP per 10-s clip as
<code>asdbench describe</code> counts them; CPU ms per 10-s clip of the exported model (fp32,
and int8), shown only when measured on this machine's CPU, named in the caption;
<b>◆</b>: on the Pareto front of the ranking metric against GFLOP (no row is both better and
cheaper).</li>
<li><b>runs</b>: the run folders of the row's seeds (config, train log, metrics, per-clip
scores).</li></ul></section>"""


def _sweep_table(points: pd.DataFrame) -> str:
    """One plot's points as a table: a row per line, a column per value, mean ± std in %."""
    values = list(points.drop_duplicates("x").sort_values("x")["value"])
    heads = "".join(f"<th>{escape(h)}</th>" for h in ["", *values])
    rows = []
    for label, line in points.groupby("label", sort=False):
        by_value = {v: (m, s) for v, m, s in zip(line["value"], line["mean"], line["std"],
                                                 strict=True)}
        cells = [_cell("value", _percent(*by_value[v]) if v in by_value else "—", "")
                 for v in values]
        rows.append(f'<tr><td class="id">{escape(str(label))}</td>{"".join(cells)}</tr>')
    return (f'<div class="scroll"><table class="lb"><thead><tr>{heads}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def _percent(mean: float, std: float) -> str:
    if mean != mean:
        return "—"
    return f"{100 * mean:.2f}" + (f" ± {100 * std:.2f}" if std == std else "")


def sweep_html(i: int, points: pd.DataFrame) -> str:
    """One sweep (:func:`asdbench.leaderboard.sweep.sweep_points`): per dataset, set and
    protocol its plot embedded and its points as a table."""
    key = str(points.attrs["key"])
    body = ""
    with tempfile.TemporaryDirectory(prefix="asdbench-report-") as tmp:
        for stem, part in plot_groups(points):
            first = part.iloc[0]
            figure = _figure(sweep_plot(part, Path(tmp) / f"{stem}.png"), wide=True)
            body += (f"<h3>{escape(str(first['dataset']))} · set {escape(str(first['set']))}"
                     f" · protocol {escape(str(first['protocol']))}</h3>"
                     f'<div class="plots">{figure}</div>{_sweep_table(part)}')
    caption = (f"average AUC in %, mean ± std over seeds; a line per recipe: the runs equal "
               f"but for {key} and the seed")
    return (f'<section class="card sweep" id="sweep-{i}"><h2>Sweep: average AUC against '
            f'<code>{escape(key)}</code></h2><p class="caption">{escape(caption)}</p>'
            f"{body}</section>")


def _toc(parts: list[pd.DataFrame], sweeps: list[str] = ()) -> str:
    items = "".join(
        f'<li><a href="#track-{i}">{escape(p.attrs["track_info"]["title"])}</a>'
        f'<span class="badge">{len(p)} row(s)</span></li>'
        for i, p in enumerate(parts, 1))
    items += "".join(f'<li><a href="#sweep-{i}">sweep: average AUC against {escape(key)}</a>'
                     "</li>" for i, key in enumerate(sweeps, 1))
    return f'<nav class="card toc"><h2>Tracks</h2><ol>{items}</ol></nav>'


def report_html(df: pd.DataFrame, tbl: pd.DataFrame, out_dir: Path, *, results: str = "",
                plots: bool = True, warnings: list[str] | tuple[str, ...] = (),
                sweeps: Mapping[str, pd.DataFrame] | None = None) -> str:
    """The page for ``tbl`` (:func:`asdbench.leaderboard.tables.table` of ``df``'s runs),
    its links relative to ``out_dir`` (where the page will be); with ``plots``, the sweeps
    (key -> :func:`asdbench.leaderboard.sweep.sweep_points`) after the tables."""
    parts = [p for p in by_track(tbl) if p.attrs.get("track_info")]
    sweeps = dict(sweeps or {}) if plots else {}
    sections = "".join(_track_section(i, p, df, out_dir, plots)
                       for i, p in enumerate(parts, 1))
    sections += "".join(sweep_html(i, points) for i, points in enumerate(sweeps.values(), 1))
    runs = 0 if df.empty else int(df["run_id"].nunique())
    sub = (f"{runs} finished run(s) from <code>{escape(results)}</code> in {len(parts)} "
           f"track(s) · table <code>{escape(str(tbl.attrs.get('kind', '')))}</code> · "
           f"protocol: {escape(tbl.attrs.get('protocol') or 'each dataset’s official one')}")
    warn = "".join(f'<p class="note">{escape(w)}</p>' for w in warnings)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{TITLE}</title><style>{_css()}</style></head><body><main>"
            f'<h1>{TITLE}</h1><p class="subtitle">{sub}</p>{warn}'
            f"{_toc(parts, list(sweeps))}{LEGEND}{sections}"
            f"<footer>made by asdbench {escape(__version__)} (<code>asdbench report</code>)"
            "</footer></main></body></html>\n")


def write_report(df: pd.DataFrame, tbl: pd.DataFrame, out: Path, **kwargs: Any) -> Path:
    """Write the page (atomically) to ``out`` (a ``.html`` file, or a folder: its
    ``report.html``); returns the file. ``kwargs``: those of :func:`report_html`."""
    path = report_path(Path(out))
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(path, report_html(df, tbl, path.parent, **kwargs))
