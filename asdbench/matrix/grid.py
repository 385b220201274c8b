"""The grid: a matrix file expanded into cells, each resolved to its run id."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asdbench.config import absolute_locations, flatten, load_toml, resolve
from asdbench.matrix.gpus import parse_memory
from asdbench.registry import AsdbenchError, Registry, suggest
from asdbench.run.evaluations import parse_scorers

MATRIX_KEYS = ("name", "description", "axes", "settings", "exclude", "include",
               "cells_per_gpu", "gpu_memory_per_cell")
DEFAULT_NAME = "matrix"
SCORERS = "scorers"  # scorers evaluated on each cell's model, not a run setting
# The most cells one matrix file may expand to (before exclusions): a larger grid is
# almost surely a mistake, and would exhaust memory before the first cell runs.
MAX_CELLS = 10_000


def load_matrix(path: str | Path) -> dict[str, Any]:
    """Read and validate a matrix file; ``name`` defaults to the file's stem."""
    path = Path(path)
    config = load_toml(path)
    config.setdefault("name", path.stem)
    expand(config, source=str(path))  # validates; errors name the file
    return config


def matrix_name(config: dict[str, Any]) -> str:
    return str(config.get("name", DEFAULT_NAME))


def _fail(source: str, message: str) -> AsdbenchError:
    return AsdbenchError(f"{source}: {message}")


def _check_name(config: dict[str, Any], source: str) -> None:
    """The name becomes the folder ``RESULTS/matrix/<name>``: it must be one plain component."""
    name = config.get("name", DEFAULT_NAME)
    if (not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\\" in name
            or "\0" in name):
        raise _fail(source, f"name {name!r} must be a single folder name "
                    "(no '/', '..' or absolute path)")


def packing(config: dict[str, Any], source: str = "matrix") -> tuple[int | None, int | None]:
    """The matrix file's ``(cells_per_gpu, gpu_memory_per_cell in bytes)``; None when unset.

    How cells share GPUs, not what they compute: neither changes a run id.
    """
    per_gpu = config.get("cells_per_gpu")
    if per_gpu is not None and (isinstance(per_gpu, bool) or not isinstance(per_gpu, int)
                                or per_gpu < 1):
        raise _fail(source, f"cells_per_gpu must be a whole number >= 1, not {per_gpu!r}")
    memory = config.get("gpu_memory_per_cell")
    if memory is not None:
        try:
            memory = parse_memory(memory)
        except AsdbenchError as exc:
            raise _fail(source, str(exc)) from None
    return per_gpu, memory


def _as_choices(value: Any) -> list[Any]:
    """An exclude/include value: a list means "each of", anything else is one value."""
    return list(value) if isinstance(value, list) else [value]


def expand(config: dict[str, Any], source: str = "matrix") -> list[dict[str, Any]]:
    """Expand a matrix config into the run overrides of each cell, in a stable order.

    1. the cartesian product of ``axes`` (first axis varies slowest); none when there are no
       axes but includes (a matrix of includes only), one cell of the settings when neither;
    2. cells matching any ``exclude`` entry are dropped (an entry matches when every key it
       names has one of its values);
    3. each ``include`` entry adds cells: its own values (lists expanded) combined with every
       value of each axis it does not name;
    4. shared ``settings`` are added under every cell (a cell's own values win) and identical
       cells are kept once;
    5. ``scorers`` (an axis, a setting or an include key: a scorer spec or a list of them,
       ``asdbench run --scorers``) is not a run setting: cells that differ only in it are one
       cell, trained once, which evaluates every scorer named (its ``scorers`` list).
    """
    axes, settings, excludes, includes = _parts(config, source)
    keys = list(axes)
    size = (math.prod(map(len, axes.values())) if axes or not includes else 0) + sum(
        math.prod(len(v) for v in entry.values())
        * math.prod(len(axes[k]) for k in keys if k not in entry) for entry in includes)
    if size > MAX_CELLS:
        raise _fail(source, f"the grid has {size} cells, more than {MAX_CELLS}: split it "
                    "into several matrix files, or use fewer values per axis")
    base = itertools.product(*axes.values()) if axes or not includes else ()
    cells = [dict(zip(keys, combo, strict=True)) for combo in base]
    cells = [c for c in cells if not any(_matches(c, e) for e in excludes)]
    for entry in includes:
        free = [k for k in keys if k not in entry]
        own = list(entry)
        for combo in itertools.product(*(entry[k] for k in own), *(axes[k] for k in free)):
            cells.append(dict(zip(own + free, combo, strict=True)))

    out: dict[str, dict[str, Any]] = {}
    for cell in cells:
        overrides = {**settings, **cell}
        scorers = _scorer_list(overrides.pop(SCORERS, None), source)
        key = json.dumps(overrides, sort_keys=True, default=str)
        kept = out.setdefault(key, overrides)
        if scorers:  # one training, every scorer of the cells that differ only in these
            kept[SCORERS] = list(dict.fromkeys([*kept.get(SCORERS, []), *scorers]))
    return list(out.values())


def _scorer_list(value: Any, source: str) -> list[str]:
    """The scorer specs of a cell's ``scorers`` value: one spec or a list of them."""
    if value is None:
        return []
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, str) and v.strip() for v in values):
        raise _fail(source, f"scorers must be scorer specs (e.g. \"own\", \"mahalanobis\", "
                    f"\"knn:k=2\"), not {value!r}")
    return values


Entries = list[dict[str, list[Any]]]


def _parts(config: dict[str, Any], source: str
           ) -> tuple[dict[str, list[Any]], dict[str, Any], Entries, Entries]:
    """Validated ``(axes, settings, excludes, includes)``, every key flat and dotted."""
    unknown = sorted(set(config) - set(MATRIX_KEYS))
    if unknown:
        raise _fail(source, f"unknown top-level key '{unknown[0]}'"
                    f"{suggest(unknown[0], MATRIX_KEYS)}; expected {', '.join(MATRIX_KEYS)}")
    _check_name(config, source)
    packing(config, source)
    for key in ("axes", "settings"):
        if not isinstance(config.get(key, {}), dict):
            raise _fail(source, f"'{key}' must be a table")
    axes = flatten(config.get("axes", {}))
    for key, values in axes.items():
        if not isinstance(values, list) or not values:
            raise _fail(source, f"axis '{key}' must be a non-empty list (put single values "
                        "in [settings])")
    excludes = _entries(config, "exclude", source)
    includes = _entries(config, "include", source)
    names = set(axes) | {k for entry in includes for k in entry}
    for i, entry in enumerate(excludes, 1):
        for key in entry:
            if key not in names:
                raise _fail(source, f"exclude entry {i} names '{key}', which is neither an axis "
                            f"nor an include key{suggest(key, names)}")
    return axes, flatten(config.get("settings", {})), excludes, includes


def _entries(config: dict[str, Any], key: str, source: str) -> Entries:
    raw = config.get(key, [])
    if not isinstance(raw, list) or not all(isinstance(e, dict) for e in raw):
        raise _fail(source, f"'{key}' must be a list of tables ([[{key}]] or {key} = [{{...}}])")
    entries = []
    for i, entry in enumerate(raw, 1):
        flat = flatten(entry)
        if not flat:
            raise _fail(source, f"{key} entry {i} is empty")
        entries.append({k: _as_choices(v) for k, v in flat.items()})
    return entries


def _matches(cell: dict[str, Any], entry: dict[str, list[Any]]) -> bool:
    return all(k in cell and cell[k] in values for k, values in entry.items())


def varying_keys(cells: list[dict[str, Any]]) -> list[str]:
    """The keys whose value differs between cells, in first-seen order (for display)."""
    keys: list[str] = []
    for cell in cells:
        keys.extend(k for k in cell if k not in keys)
    return [k for k in keys if len({json.dumps(c.get(k), default=str) for c in cells}) > 1]


# --- cells -------------------------------------------------------------------------------


@dataclass
class Cell:
    """One combination of a matrix: its overrides and, when they resolve, its run id."""

    index: int
    overrides: dict[str, Any]
    run_id: str | None = None
    error: str | None = None  # why the overrides do not resolve (unknown name, bad value)
    duplicate_of: int | None = None  # index of an earlier cell with the same run id
    attempts: int = 0

    @property
    def key(self) -> str:
        """Run id, or a stable stand-in for a cell that does not resolve."""
        if self.run_id:
            return self.run_id
        blob = json.dumps(self.overrides, sort_keys=True, default=str).encode()
        return f"invalid-{self.index:03d}-{hashlib.sha256(blob).hexdigest()[:8]}"


def plan(config: dict[str, Any], registry: Registry) -> list[Cell]:
    """Expand and resolve every cell; an unresolvable cell carries its error instead.

    Dataset folders are made absolute here (against the driver's working directory), so a
    cell resolves to the same run id wherever its process starts (a Ray worker)."""
    cells: list[Cell] = []
    first: dict[str, int] = {}
    for i, overrides in enumerate(expand(config, source=matrix_name(config))):
        cell = Cell(i, absolute_locations(overrides))
        try:
            cfg = resolve({k: v for k, v in cell.overrides.items() if k != SCORERS}, registry)
            cell.run_id = cfg.run_id
            if SCORERS in cell.overrides:
                cell.overrides[SCORERS] = parse_scorers(cell.overrides[SCORERS])
            to_toml(cell.overrides)  # what the cell's process receives: fails this cell only
        except AsdbenchError as exc:
            cell.error = str(exc)
        if cell.run_id in first:
            cell.duplicate_of = first[cell.run_id]
        elif cell.run_id:
            first[cell.run_id] = i
        cells.append(cell)
    return cells


# --- a cell's settings file --------------------------------------------------------------


def to_toml(flat: dict[str, Any]) -> str:
    """Flat settings as TOML with quoted dotted keys (``None`` = default, left out).

    A cell's overrides go to its child process as ``--config`` (the user-facing form of a
    run's settings); the child resolves them itself and must arrive at the cell's run id.
    """
    lines = [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in flat.items() if v is not None]
    return "\n".join(lines) + "\n"


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        return repr(v) if math.isfinite(v) else ("inf" if v > 0 else "-inf")
    if isinstance(v, str):
        return json.dumps(v)  # JSON string escapes are valid TOML basic-string escapes
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise AsdbenchError(f"cannot write setting value {v!r} ({type(v).__name__}) to TOML")
