"""The report page's style sheet (embedded in the page: the file needs nothing else).

Sized for a laptop screen: one column up to 1280 px wide, tables that scroll sideways inside
their card rather than widen the page, numbers in tabular figures so that columns align.
"""

from __future__ import annotations

CSS = """
:root { --ink: #1f2328; --muted: #59636e; --line: #d8dee4; --card: #ffffff;
        --page: #f4f6f8; --accent: #0b5cad; --tie: #fff4d6; --ref: #f1f1f1; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--page); color: var(--ink);
       font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
main { max-width: 1280px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 0 0 10px; }
h3 { font-size: 15px; margin: 18px 0 8px; color: var(--muted); text-transform: uppercase;
     letter-spacing: .04em; }
a { color: var(--accent); }
.subtitle { color: var(--muted); margin: 0 0 18px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px;
        padding: 18px 22px; margin: 0 0 22px; box-shadow: 0 1px 2px rgba(0,0,0,.04); }
.toc ol { margin: 6px 0 0; padding-left: 22px; }
.toc li { margin: 2px 0; }
.legend { font-size: 14px; }
.legend ul { margin: 6px 0 0; padding-left: 20px; }
.badge { display: inline-block; border-radius: 10px; padding: 0 8px; font-size: 12px;
         background: #e7eef7; color: var(--accent); margin-left: 6px; vertical-align: 2px; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 3px 16px;
           margin: 0 0 14px; font-size: 14px; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
code { font: 13px/1.4 ui-monospace, "DejaVu Sans Mono", monospace; background: #f2f4f6;
       padding: 0 4px; border-radius: 3px; }
.setting-nd { font-weight: 600; }
.scroll { overflow-x: auto; border: 1px solid var(--line); border-radius: 6px; }
table.lb { border-collapse: collapse; width: 100%; font-size: 13px;
           font-variant-numeric: tabular-nums; }
table.lb th, table.lb td { padding: 5px 8px; border-bottom: 1px solid var(--line);
                           white-space: nowrap; }
table.lb thead th { background: #eef2f6; position: sticky; top: 0; text-align: right;
                    font-weight: 600; }
table.lb th.id, table.lb td.id { text-align: left; }
table.lb td { text-align: right; }
table.lb td.id.settings { white-space: normal; min-width: 180px; max-width: 360px; }
table.lb tbody tr:nth-child(even) { background: #fafbfc; }
table.lb tbody tr:hover { background: #eef5ff; }
table.lb .rank { font-weight: 700; text-align: center; }
table.lb tr.tie td.rank { background: var(--tie); }
table.lb tr.published td { background: var(--ref); font-style: italic; }
table.lb .primary { background: #e8f1fb; font-weight: 600; }
table.lb thead th.primary { background: #d6e6f7; }
table.lb td.runs a { margin-left: 4px; }
table.lb .std { display: block; color: var(--muted); font-size: 11px; line-height: 1.2; }
.caption { color: var(--muted); font-size: 13px; margin: 8px 0 0; }
.note { background: #fff8e5; border-left: 3px solid #e0a800; padding: 6px 10px;
        font-size: 14px; margin: 10px 0 0; }
.plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr));
         gap: 14px; }
figure { margin: 0; background: #fff; border: 1px solid var(--line); border-radius: 6px;
         padding: 8px; }
figure img { width: 100%; height: auto; display: block; }
figure.wide { grid-column: 1 / -1; }
figure.wide img { max-width: 900px; margin: 0 auto; }
figcaption { color: var(--muted); font-size: 12px; margin-top: 4px; }
details summary { cursor: pointer; color: var(--accent); margin: 10px 0; }
footer { color: var(--muted); font-size: 13px; text-align: center; }
"""
