"""The dry run: every cell of a matrix with its run id and whether it is done."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape as esc
from rich.table import Table

from asdbench.claims import Claims
from asdbench.matrix.grid import SCORERS, Cell, matrix_name, plan, varying_keys
from asdbench.matrix.outcome import is_finished
from asdbench.matrix.records import read_failures
from asdbench.registry import Registry

STYLES = {"done": "green", "invalid": "red", "running": "yellow"}


def cell_status(cell: Cell, results_dir: Path, claims: Claims,
                failures: dict[str, int]) -> tuple[str, str]:
    """``(state, text)``: state is invalid, duplicate, done, running or "to run"."""
    if cell.error:
        return "invalid", f"invalid: {cell.error}"
    if cell.duplicate_of is not None:
        return "duplicate", f"duplicate of cell {cell.duplicate_of}"
    if is_finished(results_dir, cell.run_id):
        return "done", "done"
    holder = claims.holder(cell.run_id)
    if holder is not None and not claims.is_stale(cell.run_id, holder):
        return "running", f"running (pid {holder.get('pid')} on {holder.get('host')})"
    n = failures.get(cell.run_id, 0)
    return "to run", f"to run (failed {n}x before)" if n else "to run"


def failure_counts(results_dir: Path, name: str) -> dict[str, int]:
    """How often each run id failed before, from the matrix's failure records."""
    counts: dict[str, int] = {}
    for rec in read_failures(results_dir, name):
        if rec.get("run_id"):
            counts[rec["run_id"]] = counts.get(rec["run_id"], 0) + 1
    return counts


def print_plan(config: dict[str, Any], results_dir: Path, registry: Registry,
               console: Console) -> list[Cell]:
    """Print the table of cells and a count per state; writes nothing."""
    cells = plan(config, registry)
    name = matrix_name(config)
    claims = Claims(results_dir)
    failures = failure_counts(results_dir, name)
    keys = varying_keys([c.overrides for c in cells])
    if any(SCORERS in c.overrides for c in cells) and SCORERS not in keys:
        keys.append(SCORERS)  # each cell's evaluations, shown even when alike
    table = Table(title=f"matrix {esc(name)}: {len(cells)} cells")
    table.add_column("#", justify="right")
    for key in keys:
        table.add_column(key)
    table.add_column("run id", no_wrap=True)
    table.add_column("status")
    counts: dict[str, int] = {}
    for cell in cells:
        state, status = cell_status(cell, results_dir, claims, failures)
        counts[state] = counts.get(state, 0) + 1
        style = STYLES.get(state, "")
        shown = [cell.overrides.get(k, "") for k in keys]
        shown = [", ".join(v) if k == SCORERS and isinstance(v, list) else v
                 for k, v in zip(keys, shown, strict=True)]
        table.add_row(str(cell.index), *(esc(str(v)) for v in shown),
                      cell.run_id or "—", f"[{style}]{esc(status)}[/]" if style else esc(status))
    console.print(table)
    console.print(", ".join(f"{v} {k}" for k, v in counts.items()))
    return cells
