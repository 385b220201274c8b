"""Finished runs (and published results) as leaderboard rows, each with its identity.

Reads the ``metrics.json`` of every run folder under ``RESULTS/runs`` and nothing else of the
results folder. A row's identity is everything that determines its numbers except the seed:
method, frontend, backbone, dataset, scorer, protocol and every non-default setting, plus a
hash of the whole config (``recipe``) so that runs of different recipes are never averaged
together, even when they look alike. Dataset folders (``data.root``, ``data.eval_root``) count
by their last component only: the same recipe run on two machines is one row.

A run re-scored by ``asdbench eval`` (its ``eval/<name>/metrics.json``) gives rows of that run
too: the same run id and seed, its own scorer (so its own ``recipe``), ``rescored`` naming the
eval folder and ``path`` pointing there. Seeds group as for trained runs; a re-scoring that
repeats a trained row (same recipe, seed, track and protocol) is left out.

Each run also belongs to a *track* (:func:`track_of`): the data it was trained and tested on.
Its data settings (``data.*`` except folders) leave the row's ``settings`` for the ``data``
column, since every row of a track shares them.

A run gives rows per *test set* it was evaluated on (``set``: ``dev``, ``eval``, ...; its
``metrics.json`` ``sets``), one per set and protocol, never one of two sets mixed. A run
written before sets were kept apart (no ``sets``) has its top-level ``protocols`` only, which
are its development-set metrics (:data:`asdbench.data.DEFAULT_SET`, ``dev``): its rows
are of set ``dev``, unless its data settings had evaluation clips in its test set
(:func:`legacy_set`). Published rows are of the set their dict names, else ``dev`` (the papers'
tables are development-set numbers).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from asdbench.config import COMPONENT_DEFAULTS, NON_IDENTITY_KEYS, is_location, resolve
from asdbench.cost import add_cost_columns, read_latency_records
from asdbench.data import DEFAULT_SET, DEV, EVAL
from asdbench.matrix.grid import load_matrix, plan
from asdbench.registry import KINDS, AsdbenchError, Registry
from asdbench.run.rundir import RunDir

DATA_PREFIX = "data."
MEASURED = "measured"
# The set of a run written before sets were kept apart, and of a published row that names none,
# is DEFAULT_SET (asdbench.data).
# A run's average AUC minus the non-learned reference's on the same clips (per ID too:
# ``<type>/<id>.lift``), written by ``asdbench run`` (asdbench.run.reference).
LIFT = "average.lift"
MIXED_SET = "dev+eval"  # an old run that evaluated both sets as one (see legacy_set)
SET_ORDER = (DEV, EVAL, MIXED_SET)  # then any other set, alphabetically
COUNT_PREFIX = "n_"
NAN = float("nan")


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _is_location(key: str) -> bool:
    """Dataset folders (``data.root``, ``data.eval_root``): where data is, not what it is."""
    return is_location(key)


def _portable(key: str, value: Any) -> Any:
    """A folder reduced to its last component, so that one recipe run on two machines (data
    under different paths) is one row, while different datasets still differ."""
    if _is_location(key) and isinstance(value, str) and value:
        return Path(value.rstrip("/\\")).name or value
    return value


def _track_value(key: str, value: Any) -> Any:
    """A data setting as the track sees it: a folder only by whether one is given ("auto" and
    "none" kept), since its name differs between machines while giving one changes the clips
    (dev only vs dev + eval)."""
    if not _is_location(key):
        return value
    text = str(value or "").strip()
    return text.lower() if text.lower() in ("", "auto", "none") else "given"


def data_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """Everything of a run's config that decides its clips: dataset and ``data.*``."""
    out = {k: _track_value(k, v) for k, v in cfg.items() if k.startswith(DATA_PREFIX)}
    return {"dataset": cfg.get("dataset"), **out}


# the track suffix and row note of a run whose checkpoint was chosen on test labels
# (train.select = "test"): such rows are never ranked beside rows selected without them
SELECTED_ON_TEST = "selected-on-test"
SELECTED_ON_TEST_NOTE = ("selected on test: the checkpoint with the best test AUC + pAUC was "
                         "kept (uses test labels), so it is ranked in a track of its own")


def selected_on_test(cfg: dict[str, Any]) -> bool:
    """Whether a run chose its checkpoint with test labels (``train.select = "test"``)."""
    return cfg.get("train.select") == "test"


def track_of(cfg: dict[str, Any]) -> str:
    """The track of a run, ``<dataset>·<hash of its data config>``: rows compare only within
    one track (and one protocol). A run selected on test gets a track of its own
    (``…·selected-on-test``)."""
    digest = hashlib.sha256(_canon(data_config(cfg)).encode()).hexdigest()[:6]
    track = f"{cfg.get('dataset')}·{digest}"
    return f"{track}·{SELECTED_ON_TEST}" if selected_on_test(cfg) else track


def recipe_hash(cfg: dict[str, Any]) -> str:
    """Hash of everything that determines a run's numbers except its seed."""
    identity = {k: _portable(k, v) for k, v in cfg.items()
                if k != "seed" and k not in NON_IDENTITY_KEYS}
    return hashlib.sha256(_canon(identity).encode()).hexdigest()[:10]


class _Defaults:
    """Resolved default configs per component combination (cached), for ``settings``.

    ``registry`` may be a zero-argument function giving it, called on the first run only (a
    registry imports every plugin's components).
    """

    def __init__(self, registry: Registry | Callable[[], Registry]):
        self.registry = registry
        self.cache: dict[tuple, dict[str, Any] | str] = {}

    def __call__(self, cfg: dict[str, Any]) -> dict[str, Any] | str:
        names = tuple(cfg.get(k) for k in KINDS)
        if names not in self.cache:
            try:
                if not isinstance(self.registry, Registry):
                    self.registry = self.registry()
                self.cache[names] = resolve(dict(zip(KINDS, names, strict=True)), self.registry)
            except AsdbenchError as exc:  # a plugin no longer installed: say so in the row
                self.cache[names] = str(exc)
        return self.cache[names]


def settings_of(cfg: dict[str, Any], defaults: dict[str, Any], data: bool | None = None) -> str:
    """``key=value`` of every setting that differs from its default (seed and device aside);
    ``data``: True: only the data settings of the track, False: all others (folders included),
    None: all."""
    out = []
    for key in sorted(cfg):
        if key == "seed" or key in NON_IDENTITY_KEYS or key in KINDS:
            continue
        of_track = key.startswith(DATA_PREFIX) and not _is_location(key)
        if data is not None and of_track != data:
            continue
        value = _portable(key, cfg[key])
        if key not in defaults or _canon(_portable(key, defaults[key])) != _canon(value):
            out.append(f"{key}={short(value)}")
    return ", ".join(out)


def short(value: Any) -> str:
    """A setting's value as shown in a table (floats without trailing zeros, lists bracketed)."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(short(v) for v in value) + "]"
    return str(value)


def _metric_items(prefix: str, values: dict[str, Any]):
    if not isinstance(values, dict):
        raise TypeError(f"metrics of '{prefix}' are not an object ({type(values).__name__})")
    for name, value in values.items():
        if name.startswith(COUNT_PREFIX) or isinstance(value, bool):
            continue
        if isinstance(value, (int, float)) or value is None:
            yield f"{prefix}.{name}", (NAN if value is None else float(value))


def _dict(value: Any, what: str) -> dict:
    if not isinstance(value, dict):
        raise TypeError(f"'{what}' is not an object ({type(value).__name__})")
    return value


def set_key(name: str) -> tuple[int, str]:
    """Sort key of a test set: ``dev``, ``eval``, then the others alphabetically."""
    return (SET_ORDER.index(name) if name in SET_ORDER else len(SET_ORDER), str(name))


def legacy_set(cfg: dict[str, Any]) -> str:
    """The test set of a run written before sets were kept apart (no ``sets``): the default set
    (``dev``), unless its data settings put evaluation test clips into its one evaluation
    (``data.eval_root`` given, or ``data.test`` = ``all``/``eval``): then ``dev+eval`` or
    ``eval``, which is what its numbers are, ranked with neither set's."""
    test = str(cfg.get("data.test") or "").strip().lower()
    if test in (DEFAULT_SET, EVAL):
        return test
    if test == "all" or _track_value("data.eval_root", cfg.get("data.eval_root")) == "given":
        return MIXED_SET
    return DEFAULT_SET


def _set_protocols(m: dict[str, Any], cfg: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(set, its metrics per protocol) of a run: each entry of ``sets``; for a run written
    before sets were kept apart, its top-level ``protocols`` (:func:`legacy_set`)."""
    sets = m.get("sets")
    if sets is None:
        return [(legacy_set(cfg), _dict(m["protocols"], "protocols"))]
    return [(str(name), _dict(_dict(part, f"sets.{name}")["protocols"], f"sets.{name}.protocols"))
            for name, part in sorted(_dict(sets, "sets").items(), key=lambda kv: set_key(kv[0]))]


def _run_rows(metrics: Any, run_dir: Path, defaults: _Defaults) -> list[dict[str, Any]]:
    """One row per test set and protocol of one run's ``metrics.json``; TypeError/KeyError if
    malformed."""
    m = _dict(metrics, "metrics.json")
    cfg = _dict(m["config"], "config")
    if not isinstance(cfg.get("seed"), (int, type(None))) or isinstance(cfg.get("seed"), bool):
        raise TypeError(f"seed {cfg.get('seed')!r} is not an integer")
    base = defaults(cfg)
    settings, data, note = ("", "", f"defaults unknown: {base}") if isinstance(base, str) else (
        settings_of(cfg, base, data=False), settings_of(cfg, base, data=True), "")
    if selected_on_test(cfg):
        note = "; ".join(n for n in (SELECTED_ON_TEST_NOTE, note) if n)
    rows = []
    for test_set, name, pm in [(t, n, pm) for t, protocols in _set_protocols(m, cfg)
                               for n, pm in protocols.items()]:
        row: dict[str, Any] = {
            "source": MEASURED, "method": cfg.get("method"), "frontend": cfg.get("frontend"),
            "backbone": cfg.get("backbone"), "dataset": cfg.get("dataset"), "set": test_set,
            "track": track_of(cfg), "data": data, "data_config": _canon(data_config(cfg)),
            "config": _canon(cfg),
            "scorer": cfg.get("scorer"), "protocol": name, "settings": settings,
            "recipe": recipe_hash(cfg), "seed": cfg.get("seed"),
            "official": name == m.get("official_protocol"),
            "run_id": m.get("run_id", run_dir.name), "path": str(run_dir),
            "best_epoch": m.get("best_epoch"), "epochs": m.get("epochs"),
            "wall_time_s": m.get("wall_time_s"), "train_peak_mb": m.get("train_peak_mb"),
            "note": note, "rescored": "",
        }
        pm = _dict(pm, f"protocols.{name}")
        row.update(_metric_items("average", pm.get("average", {})))
        for group in ("types", "ids"):
            for key, values in _dict(pm.get(group, {}), f"protocols.{name}.{group}").items():
                row.update(_metric_items(key, values))
        rows.append(row)
    return rows


def collect(results_dir: str | Path, registry: Registry | Callable[[], Registry], *,
            cost: bool = True) -> pd.DataFrame:
    """One row per finished run, test set and protocol, with identity columns, every metric
    and ``config`` (the run's config as canonical JSON, for :mod:`asdbench.leaderboard.sweep`).

    ``registry`` (or a function giving it) resolves each run's default settings.

    Metric columns are ``<type>.<metric>``, ``average.<metric>`` and ``<type>/<id>.<metric>``
    (fractions). A run folder without ``metrics.json`` is not finished and not a row; a run
    whose ``metrics.json`` cannot be read or has the wrong shape, whose folder is not named
    by its run id (a copy: not a second seed) or repeats a run id already read is skipped;
    a metric outside [0, 1] or not finite is shown as missing. Each is listed (one line
    each) in ``df.attrs["warnings"]``. With ``cost`` the rows get the cost columns of
    :func:`asdbench.cost.add_cost_columns` (latencies from ``RESULTS/bench``, this CPU's only).
    """
    defaults = _Defaults(registry)
    rows: list[dict[str, Any]] = []
    rescored: list[dict[str, Any]] = []
    warnings: list[str] = []
    run_ids: set[str] = set()
    for run in RunDir.all_in(results_dir):
        if not run.metrics_path.exists():
            continue
        got = _rows_of(run, defaults, warnings, "run skipped")
        if got is None:
            continue  # an unreadable run: its re-scorings are not rows either
        rid = got[0]["run_id"] if got else run.name
        if rid != run.name or rid in run_ids:
            why = (f"its folder is not named by its run id {rid} (a copied or renamed run)"
                   if rid != run.name else f"run id {rid} read already")
            warnings.append(f"{run.path}: {why}; run skipped")
            continue
        run_ids.add(rid)
        rows += got
        for folder in run.evaluations():
            rescored += [row | {"rescored": folder.name}
                         for row in _rows_of(RunDir(folder), defaults, warnings,
                                                 "re-scoring skipped") or []]
    seen = {_repeat_key(r) for r in rows}
    for row in rescored:  # a repeat of a trained row, or of an earlier re-scoring: left out
        if _repeat_key(row) not in seen:
            seen.add(_repeat_key(row))
            rows.append(row)
    df = pd.DataFrame(rows)
    if cost and not df.empty:
        df = _with_cost(df, defaults, Path(results_dir))
    df.attrs["warnings"] = warnings
    return df


def _with_cost(df: pd.DataFrame, defaults: _Defaults, results_dir: Path) -> pd.DataFrame:
    """``df`` with the cost columns (:mod:`asdbench.cost`)."""
    from asdbench.run.provenance import cpu_model  # noqa: PLC0415 - torch: not for `plugins`

    try:
        if not isinstance(defaults.registry, Registry):
            defaults.registry = defaults.registry()
        registry = defaults.registry
    except AsdbenchError:
        registry = None
    return add_cost_columns(df, registry, read_latency_records([results_dir / "bench"]),
                            cpu_model())


def _rows_of(folder: Any, defaults: _Defaults, warnings: list[str],
             skipped: str) -> list[dict] | None:
    """The rows of one ``metrics.json`` (a run's or a re-scoring's), or None (and a warning)
    when it cannot be read or has the wrong shape."""
    metrics = folder.read_metrics()
    try:
        if metrics is None:
            raise ValueError("not a readable JSON object")
        rows = _run_rows(metrics, folder.path, defaults)
    except (ValueError, KeyError, TypeError) as exc:
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())  # one line
        warnings.append(f"{folder.metrics_path}: unreadable ({reason}); {skipped}")
        return None
    bad = _out_of_range(rows)
    if bad:
        warnings.append(f"{folder.metrics_path}: {len(bad)} metric(s) outside [0, 1] or not "
                        f"finite ({', '.join(bad[:3])}{', ...' * (len(bad) > 3)}); shown as "
                        "missing")
    return rows


# What a metric can be: fractions in [0, 1]; a lift is a difference of two of them.
_RANGE = {**{m: (0.0, 1.0) for m in ("auc", "pauc", "mauc", "official", "precision", "recall",
                                     "f1")}, "lift": (-1.0, 1.0)}


def _out_of_range(rows: list[dict[str, Any]]) -> list[str]:
    """Set every metric of ``rows`` outside its range (:data:`_RANGE`) or not finite (NaN:
    none) to NaN; returns them as ``protocol:column=value``, each once."""
    bad: list[str] = []
    for row in rows:
        for key, value in row.items():
            if "." not in key or not isinstance(value, float) or math.isnan(value):
                continue
            low, high = _RANGE.get(key.rsplit(".", 1)[1], (-math.inf, math.inf))
            if not (math.isfinite(value) and low <= value <= high):
                bad.append(f"{row['protocol']}:{key}={value:g}")
                row[key] = NAN
    return list(dict.fromkeys(bad))


def _repeat_key(row: dict[str, Any]) -> tuple:
    """What makes two rows the same measurement: a re-scoring equal to a trained run's row."""
    return row["recipe"], row["seed"], row["track"], row["set"], row["protocol"]


def reference_frame(references: list[list[dict]] | list[dict]) -> pd.DataFrame:
    """Published results as leaderboard rows: the dicts of the ``asdbench_reference_results``
    hook (one list per plugin, as the hook returns them, or one flat list).

    A row without ``backbone`` or ``scorer`` gets the core's default component, one without
    ``set`` the development set (:data:`DEFAULT_SET`); its track is chosen by the table
    (:func:`asdbench.leaderboard.tracks.place_references`).
    """
    flat: list[dict] = []
    for item in references or []:
        flat.extend(item if isinstance(item, list) else [item])
    rows = []
    for ref in flat:
        settings = ref.get("settings") or {}
        row: dict[str, Any] = {
            "source": f"reference: {ref.get('source', '?')}"
                      + (f" — {ref['label']}" if ref.get("label") else ""),
            "table": ref.get("table"), "note": ref.get("note", ""),
            "method": ref.get("method"), "frontend": ref.get("frontend"),
            "backbone": ref.get("backbone") or COMPONENT_DEFAULTS["backbone"],
            "dataset": ref.get("dataset"), "set": str(ref.get("set") or DEFAULT_SET),
            "track": None, "data": "", "data_config": "", "config": "",
            "scorer": ref.get("scorer") or COMPONENT_DEFAULTS["scorer"],
            "protocol": ref.get("protocol"),
            "settings": ", ".join(f"{k}={short(v)}" for k, v in sorted(settings.items())),
            "recipe": "", "seed": NAN, "official": False,
        }
        for key, values in (ref.get("metrics") or {}).items():
            row.update(_metric_items(key, values))
        rows.append(row)
    return pd.DataFrame(rows)


def matrix_run_ids(matrix_file: Path, registry: Registry) -> set[str]:
    """Run ids of the cells of a matrix config (``asdbench matrix`` file)."""
    cells = plan(load_matrix(matrix_file), registry)
    return {c.run_id for c in cells if c.run_id}
