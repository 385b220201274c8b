"""Leaderboards from finished runs: seeds grouped into mean ± std, rows ranked.

- ``collect``: finished runs (and published results) as rows, each with its identity,
- ``tables``: table kinds (``TableKind``, their registry) and the aggregation into a table,
- ``render``: a table as markdown, LaTeX, CSV, HTML or a rich table,
- ``plots``: PNG plots of a table and of its rows' runs.

Nothing here imports click (the command is ``asdbench.commands.leaderboard``). pandas is
imported inside the functions that build frames, so ``TableKind`` is a light import for a
plugin; only ``plots`` imports matplotlib (and pandas) at module level.
"""

from __future__ import annotations

FORMATS = ("rich", "markdown", "csv", "latex", "html")
