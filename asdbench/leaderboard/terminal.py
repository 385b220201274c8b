"""A leaderboard for a terminal: rich tables that fit its width, or plain aligned text.

Rich: one table per track, titled with it. Identity columns (settings above all) fold onto
more lines; metric cells never break. When even folded columns leave the table wider than the
terminal, metric columns are left out, per-type ones first (the ranking metric and its
interval stay), and the caption names them. Plain: the same cells as aligned text with
no box characters, for pipes and logs.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from asdbench.leaderboard.cells import CI_HEADER, by_track, formatted, header
from asdbench.leaderboard.collect import IDENTITY, MEASURED

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console
    from rich.table import Table

KEPT = ("rank", "n", CI_HEADER, "official")  # never left out to fit
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
    from rich.markup import escape
    from rich.table import Table

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
    from rich.console import Console

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
