"""Where a user's own results go when no ``--results`` is given: the one owner of that default.

The repository's ``results/`` folder holds the committed, published results (run folders,
leaderboards, plots, benchmark records, the report page). A command that wrote there by
default would skip cells already published ("4 already finished"), fail on shipped runs that
carry no checkpoint, and rewrite tracked files. So every command and benchmark writes to
``asdbench-results/`` in the working directory (git-ignored), or to ``$ASDBENCH_RESULTS``
when that is set; publishing into ``results/`` is always an explicit ``--results results``
or ``--out results/...``.

Standard library only: the command modules import this at ``asdbench --help`` time.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

ENV_VAR = "ASDBENCH_RESULTS"
DEFAULT_FOLDER = Path("asdbench-results")
PUBLISHED_FOLDER = Path("results")
# What --help shows as the default (click would print "(dynamic)" for a callable default).
DEFAULT_HELP = f"{DEFAULT_FOLDER}/, or ${ENV_VAR} when set"


def default_results() -> Path:
    """The user's results folder: ``$ASDBENCH_RESULTS`` when set (``~`` expanded), else
    ``asdbench-results`` relative to the working directory. Read at each call, so that a
    variable set after import (a test, a wrapper script) counts."""
    value = os.environ.get(ENV_VAR, "").strip()
    return Path(value).expanduser() if value else DEFAULT_FOLDER


def default_bench_out() -> Path:
    """Where the benchmark scripts write their JSON records by default."""
    return default_results() / "bench"


def private_matplotlib_dir() -> None:
    """Point matplotlib's config and font cache (``MPLCONFIGDIR``) at a per-user temporary
    folder unless the user set one: plotting never writes to ``$HOME``. Call before
    matplotlib is imported."""
    user = getattr(os, "getuid", lambda: "user")()
    os.environ.setdefault("MPLCONFIGDIR",
                          os.path.join(tempfile.gettempdir(), f"asdbench-matplotlib-{user}"))
