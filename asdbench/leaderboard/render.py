"""A leaderboard table as text: markdown, LaTeX (booktabs), CSV, HTML, rich or plain.

Every format but CSV shows one table per track (titled with it when there are several) with
the cells of :mod:`asdbench.leaderboard.cells`; CSV keeps the numbers (fractions, one
``_mean``/``_std`` column pair per metric, the ``track`` of each row). Rich and plain text are
:mod:`asdbench.leaderboard.terminal`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape as html_escape
from typing import TYPE_CHECKING

from asdbench.leaderboard import FORMATS
from asdbench.leaderboard.cells import by_track, display_columns, formatted
from asdbench.leaderboard.collect import IDENTITY
from asdbench.registry import AsdbenchError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["display_columns", "render"]


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


def _terminal(fmt: str) -> Callable[[pd.DataFrame], str]:
    def text(tbl: pd.DataFrame) -> str:
        from asdbench.leaderboard.terminal import plain_text, rich_text

        return rich_text(tbl) if fmt == "rich" else plain_text(tbl)
    return text


_RENDERERS = {"markdown": to_markdown, "csv": to_csv, "latex": to_latex, "html": to_html,
              "rich": _terminal("rich"), "plain": _terminal("plain")}


def render(tbl: pd.DataFrame, fmt: str) -> str:
    """The table in format ``fmt`` (one of ``asdbench.leaderboard.FORMATS``)."""
    if fmt not in _RENDERERS:
        raise AsdbenchError(f"unknown --format '{fmt}'; formats: {', '.join(FORMATS)}")
    return _RENDERERS[fmt](tbl)
