"""A leaderboard table as text: markdown, LaTeX (booktabs), CSV, HTML, rich or plain.

Cells: metrics in % as ``mean ± std``, ranks with ties, the 95 % interval of the ranking
metric, and a caption (table kind, protocol, track, test set, the identity columns alike in
every row). Every format but CSV shows one table per track, titled with it when there are
several; CSV keeps the numbers (fractions, a ``_mean``/``_std`` pair per metric, each row's
``track``).

Rich tables fit the terminal: identity columns fold onto more lines, metric cells never
break. When folded columns still leave a table too wide, metric columns are left out,
per-type ones first, and the caption names them. Plain text has the same cells, aligned,
without box characters.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from html import escape as html_escape
from typing import Any

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from asdbench.leaderboard import FORMATS
from asdbench.leaderboard.collect import LIFT, MEASURED
from asdbench.leaderboard.ranking import CI_SUFFIX
from asdbench.registry import AsdbenchError
from asdbench.sdk.tables import IDENTITY, OFFICIAL

# Shown even when every row has the same value; the others then move to the caption.
ALWAYS_SHOWN = ("method", "frontend")
# Said by the table's title or caption, never a column (one table: one track, one set).
NOT_SHOWN = ("track", "set")
CI_HEADER = "95 % CI"
LIFT_CI_HEADER = "lift 95 % CI"  # half-width: the lift's jackknife over IDs, seeds averaged
FRONT_HEADER, FRONT_MARK = "front", "◆"


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
    cost = _cost_cells(tbl)
    for col, values in cost.items():
        out[col] = values
    return out, _caption(tbl, constant) + (_cost_caption(tbl) if cost else "")


def _num(value: Any, fmt: str) -> str:
    return "—" if value is None or value != value else format(value, fmt)


def _cost_cells(tbl: pd.DataFrame) -> dict[str, list[str]]:
    """The cost columns that some row has (:mod:`asdbench.cost`), formatted, and the Pareto
    mark (``front``)."""
    cells: dict[str, list[str]] = {}
    if "params" in tbl and tbl["params"].notna().any():
        cells["params M"] = [_num(v / 1e6 if v == v else v, ".2f") for v in tbl["params"]]
    for col, head, fmt in (("gflops_10s", "GFLOP /10-s", ".3g"), ("cpu_ms", "CPU ms", ".1f"),
                           ("cpu_ms_int8", "int8 ms", ".1f"),
                           ("train_peak_mb", "train MB", ".0f")):
        if col in tbl and tbl[col].notna().any():
            cells[head] = [_num(v, fmt) for v in tbl[col]]
    if cells and "front" in tbl and tbl["front"].any():
        cells[FRONT_HEADER] = [FRONT_MARK if f is True else "" for f in tbl["front"]]
    return cells


def _cost_caption(tbl: pd.DataFrame) -> str:
    """What the cost columns are, and on which CPU a latency was measured."""
    text = (" · cost: inference parameters (M) and GFLOP per 10-s clip as `asdbench describe` "
            "counts them")
    machines = sorted({m for m in tbl.get("cpu_ms_machine", []) if isinstance(m, str) and m})
    if machines:
        text += (f"; CPU ms per 10-s clip (exported ONNX, batch 1, 2 threads, median) on "
                 f"{' / '.join(machines)}")
    if "front" in tbl and tbl["front"].any():
        text += (f" · {FRONT_MARK}: on the Pareto front of {header(tbl.attrs['primary'])} "
                 "against GFLOP")
    return text


KEPT = ("rank", "n", CI_HEADER, "official", FRONT_HEADER)  # never left out to fit
IDENT_MIN = 10  # an identity column folds down to this width at least


def _droppable(columns: list[str], primary: str) -> list[str]:
    """Metric columns in the order they leave a table too wide for the terminal: per-type
    ones, then averages other than the ranking metric, each from the right."""
    metrics = [c for c in columns if c not in IDENTITY and c not in KEPT and c != primary]
    per_type = [c for c in metrics if not c.startswith("average ")]
    return [*per_type[::-1], *[c for c in metrics if c not in per_type][::-1]]


def _min_width(frame: pd.DataFrame, col: str) -> int:
    """Numbers never break; words fold, but not below a readable width."""
    longest = max([len(str(v)) for v in frame[col]] + [len(col)])
    return min(longest, IDENT_MIN) if col in IDENTITY else longest


def _fits(frame: pd.DataFrame, width: int) -> bool:
    """Whether the table fits ``width`` columns with every column at its minimum width (one
    space of padding either side and a border between columns, as rich draws them)."""
    need = sum(_min_width(frame, c) + 3 for c in frame.columns) + 1
    return need <= width


def _table(frame: pd.DataFrame, caption: str, title: str, sources: list[str]) -> Table:
    t = Table(title=escape(title), caption=escape(caption))
    for col in frame.columns:
        ident = col in IDENTITY
        t.add_column(escape(col), justify="left" if ident else "right", no_wrap=not ident,
                     overflow="fold", min_width=_min_width(frame, col))
    for row, source in zip(frame.itertuples(False), sources, strict=True):
        t.add_row(*(escape(str(v)) for v in row),
                  style="dim italic" if source != MEASURED else None)
    return t


def rich_tables(tbl: pd.DataFrame, console: Console) -> list[Table]:
    """One rich table per track, each fitted to ``console.width``; published rows dimmed,
    every value escaped (``[a,b]`` is not markup)."""
    out = []
    for part in by_track(tbl):
        frame, caption = formatted(part)
        info = part.attrs.get("track_info") or {}
        title = info.get("title", "asdbench leaderboard")
        sources = list(part["source"])
        dropped: list[str] = []
        order = _droppable(list(frame.columns), header(part.attrs.get("primary") or ""))
        while order and not _fits(frame.drop(columns=dropped), console.width):
            dropped.append(order.pop(0))
        if dropped:
            caption += (f" · left out to fit {console.width} columns: {', '.join(dropped)} "
                        "(a wider terminal or --format markdown shows them)")
        table = _table(frame.drop(columns=dropped), caption, title, sources)
        out.append(table)
    return out


def rich_text(tbl: pd.DataFrame, width: int = 200) -> str:
    """The rich tables as text at ``width`` columns (no colour)."""
    buf = io.StringIO()
    console = Console(file=buf, width=width, color_system=None)
    for i, table in enumerate(rich_tables(tbl, console)):
        console.print(*([""] if i else []), table)
    return buf.getvalue()


def plain_text(tbl: pd.DataFrame) -> str:
    """Aligned text without box characters: per track its title (when there are several),
    caption, header and rows; identity columns left-aligned, numbers right-aligned."""
    parts = by_track(tbl)
    blocks = []
    for part in parts:
        frame, caption = formatted(part)
        rows = [list(map(str, frame.columns))] + [list(map(str, r))
                                                  for r in frame.itertuples(False)]
        widths = [max(len(r[i]) for r in rows) for i in range(len(frame.columns))]
        left = [c in IDENTITY for c in frame.columns]
        lines = ["  ".join(v.ljust(w) if lf else v.rjust(w)
                           for v, w, lf in zip(r, widths, left, strict=True)).rstrip()
                 for r in rows]
        head = [part.attrs["track_info"]["title"]] if len(parts) > 1 else []
        blocks.append("\n".join([*head, caption, "", *lines]) + "\n")
    return "\n".join(blocks)


def _each_track(one: Callable[[pd.DataFrame], str], heading: Callable[[str], str]
                ) -> Callable[[pd.DataFrame], str]:
    """A renderer of one track made a renderer of every track, each after a heading when
    there are several."""
    def every(tbl: pd.DataFrame) -> str:
        parts = by_track(tbl)
        if len(parts) == 1:
            return one(parts[0])
        return "\n".join(heading(p.attrs["track_info"]["title"]) + one(p) for p in parts)
    return every


def _markdown(tbl: pd.DataFrame) -> str:
    frame, caption = formatted(tbl)
    cols = list(frame.columns)

    def esc(s: str) -> str:
        return str(s).replace("|", "\\|")

    lines = ["| " + " | ".join(esc(c) for c in cols) + " |",
             "|" + "|".join("---:" if c not in IDENTITY else "---" for c in cols) + "|"]
    lines += ["| " + " | ".join(esc(v) for v in row) + " |" for row in frame.itertuples(False)]
    return f"{caption}\n\n" + "\n".join(lines) + "\n"


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def _latex(tbl: pd.DataFrame) -> str:
    """A booktabs ``tabular`` (needs ``\\usepackage{booktabs}``)."""
    frame, caption = formatted(tbl, pm=" \u00b1 ")
    cols = list(frame.columns)
    align = "".join("l" if c in IDENTITY else "r" for c in cols)

    def cell(v: str) -> str:
        return latex_escape(v).replace("\u00b1", r"$\pm$").replace("\u2014", "--").replace("\u2013", "--")

    lines = [f"% {latex_escape(caption)}", f"\\begin{{tabular}}{{{align}}}", r"\toprule",
             " & ".join(cell(c) for c in cols) + r" \\", r"\midrule"]
    lines += [" & ".join(cell(v) for v in row) + r" \\" for row in frame.itertuples(False)]
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def to_csv(tbl: pd.DataFrame) -> str:
    """Numbers as fractions, one ``_mean``/``_std`` column pair per metric."""
    return tbl.to_csv(index=False)


def _html(tbl: pd.DataFrame) -> str:
    frame, caption = formatted(tbl)
    body = frame.to_html(index=False, escape=True, border=0)
    return f"<p>{html_escape(caption)}</p>\n{body}\n"


to_markdown = _each_track(_markdown, lambda title: f"### {title}\n\n")
to_latex = _each_track(_latex, lambda title: f"% {latex_escape(title)}\n")
to_html = _each_track(_html, lambda title: f"<h3>{html_escape(title)}</h3>\n")


_RENDERERS = {"markdown": to_markdown, "csv": to_csv, "latex": to_latex, "html": to_html,
              "rich": rich_text, "plain": plain_text}


def render(tbl: pd.DataFrame, fmt: str) -> str:
    """The table in format ``fmt`` (one of ``asdbench.leaderboard.FORMATS``)."""
    if fmt not in _RENDERERS:
        raise AsdbenchError(f"unknown --format '{fmt}'; formats: {', '.join(FORMATS)}")
    return _RENDERERS[fmt](tbl)
