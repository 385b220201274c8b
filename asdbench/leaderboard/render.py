"""A leaderboard table as text: markdown, LaTeX (booktabs), CSV, HTML or a rich table.

Every format but CSV shows metrics in % as ``mean ± std`` with a caption naming the table
kind, the protocol and the identity columns that are the same in every row; CSV keeps the
numbers (fractions, one ``_mean``/``_std`` column pair per metric).
"""

from __future__ import annotations

import io
import math
from html import escape as html_escape
from typing import TYPE_CHECKING

from asdbench.leaderboard import FORMATS
from asdbench.leaderboard.collect import IDENTITY, MEASURED
from asdbench.leaderboard.tables import OFFICIAL
from asdbench.registry import AsdbenchError

if TYPE_CHECKING:
    import pandas as pd
    from rich.table import Table

# Shown even when every row has the same value; the others then move to the caption.
ALWAYS_SHOWN = ("method", "frontend")


def display_columns(tbl: pd.DataFrame) -> tuple[list[str], dict[str, str]]:
    """Identity columns worth a column (values differ) and the caption of the constant ones."""
    shown, caption = [], {}
    for col in IDENTITY:
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


def _header(col: str) -> str:
    if col == OFFICIAL:
        return "official"
    group, metric = col.rsplit(".", 1)
    return f"{group} {metric.upper().replace('MAUC', 'mAUC').replace('PAUC', 'pAUC')}"


def _caption(tbl: pd.DataFrame, constant: dict[str, str]) -> str:
    metrics = tbl.attrs.get("metrics", [])
    protocol = tbl.attrs.get("protocol") or "official protocol of each dataset"
    parts = [f"{tbl.attrs.get('kind', '')}", f"protocol: {protocol}"]
    parts += [f"{k}: {v}" for k, v in constant.items() if k != "protocol"]
    text = " · ".join(parts) + " · values in %, mean ± std over seeds (n runs)"
    if OFFICIAL in metrics:
        text += (" · official: DCASE 2021+ score (harmonic mean over sections and domains)"
                 + (", ranks the rows" if tbl.attrs.get("primary") == OFFICIAL else ""))
    return text


def formatted(tbl: pd.DataFrame, pm: str = " ± ") -> tuple[pd.DataFrame, str]:
    """The table as strings (metrics in %, ``mean ± std``) and its caption."""
    import pandas as pd

    shown, constant = display_columns(tbl)
    out = pd.DataFrame({"rank": tbl["rank"].astype(str)})
    for col in shown:
        out[col] = tbl[col].fillna("").astype(str)
    out["n"] = ["ref" if s != MEASURED else str(n)
                for s, n in zip(tbl["source"], tbl["n"], strict=True)]
    for col in tbl.attrs.get("metrics", []):
        out[_header(col)] = [_pct(m, s, pm) for m, s in
                             zip(tbl[f"{col}_mean"], tbl[f"{col}_std"], strict=True)]
    return out, _caption(tbl, constant)


def to_markdown(tbl: pd.DataFrame) -> str:
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


def to_latex(tbl: pd.DataFrame) -> str:
    """A booktabs ``tabular`` (needs ``\\usepackage{booktabs}``)."""
    frame, caption = formatted(tbl, pm=" \u00b1 ")
    cols = list(frame.columns)
    align = "".join("l" if c in IDENTITY else "r" for c in cols)

    def cell(v: str) -> str:
        return latex_escape(v).replace("\u00b1", r"$\pm$").replace("\u2014", "--")

    lines = [f"% {latex_escape(caption)}", f"\\begin{{tabular}}{{{align}}}", r"\toprule",
             " & ".join(cell(c) for c in cols) + r" \\", r"\midrule"]
    lines += [" & ".join(cell(v) for v in row) + r" \\" for row in frame.itertuples(False)]
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def to_csv(tbl: pd.DataFrame) -> str:
    """Numbers as fractions, one ``_mean``/``_std`` column pair per metric."""
    return tbl.to_csv(index=False)


def to_html(tbl: pd.DataFrame) -> str:
    frame, caption = formatted(tbl)
    body = frame.to_html(index=False, escape=True, border=0)
    return f"<p>{html_escape(caption)}</p>\n{body}\n"


def to_rich(tbl: pd.DataFrame, title: str = "asdbench leaderboard") -> Table:
    """A rich table; published rows dimmed, every value escaped (``[a,b]`` is not markup)."""
    from rich.markup import escape
    from rich.table import Table

    frame, caption = formatted(tbl)
    t = Table(title=escape(title), caption=escape(caption))
    for col in frame.columns:
        ident = col in IDENTITY
        t.add_column(escape(col), justify="left" if ident else "right", no_wrap=not ident)
    for row, source in zip(frame.itertuples(False), tbl["source"], strict=True):
        t.add_row(*(escape(str(v)) for v in row),
                  style="dim italic" if source != MEASURED else None)
    return t


def _rich_text(tbl: pd.DataFrame, width: int = 200) -> str:
    from rich.console import Console

    buf = io.StringIO()
    Console(file=buf, width=width, color_system=None).print(to_rich(tbl))
    return buf.getvalue()


_RENDERERS = {"markdown": to_markdown, "csv": to_csv, "latex": to_latex, "html": to_html,
              "rich": _rich_text}


def render(tbl: pd.DataFrame, fmt: str) -> str:
    """The table in format ``fmt`` (one of ``asdbench.leaderboard.FORMATS``)."""
    if fmt not in _RENDERERS:
        raise AsdbenchError(f"unknown --format '{fmt}'; formats: {', '.join(FORMATS)}")
    return _RENDERERS[fmt](tbl)
