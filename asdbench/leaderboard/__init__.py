"""Leaderboards from finished runs: seeds grouped into mean ± std, rows ranked.

- ``collect``: finished runs (and published results) as rows, each with its identity,
- ``tables``: table kinds (``TableKind``, their registry) and the aggregation into a table,
- ``tracks``: which runs compare (same data, same test set, same protocol) and their names,
- ``ranking``: one track's rows, 95 % jackknife intervals and ties,
- ``render``: a table's cells as markdown, LaTeX, CSV, HTML, and rich or plain text that fit
  the terminal,
- ``plots``: short row labels and PNG plots of a table and of its rows' runs; ``sweep``: a
  metric per method against one swept setting (``--sweep``), as points and PNG,
- ``report``: the whole leaderboard as one self-contained HTML page (style: ``report.css``).

Nothing here imports click (the command is ``asdbench.commands.leaderboard``). The modules
import pandas at module level: the commands import them lazily, and a plugin's ``TableKind``
comes from :mod:`asdbench.sdk.tables`.
"""

from __future__ import annotations

from asdbench.workspace import private_matplotlib_dir

private_matplotlib_dir()  # before plots or sweep import matplotlib: nothing under $HOME

FORMATS = ("rich", "plain", "markdown", "csv", "latex", "html")
