"""What a run's model costs: inference parameters, FLOPs per clip and measured CPU latency.

Parameters and FLOPs are those ``asdbench describe`` counts (:func:`asdbench.modelinfo.
describe_model`: frontend, backbone and method head; the scorer's fitted statistics are not
parameters), computed from a run's config when the leaderboard reads it, so runs made before
these columns existed show them too. FLOPs are given per 10-s clip (the DCASE clip, comparable
across datasets) and at the run's own clip length.

Latency is never measured here: ``python -m bench.inference --cost MATRIX`` measures each
architecture once (the exported ONNX model, fp32 and int8, batch 1, 2 threads, median of
repeats) and keeps a record (``<results>/bench/inference-cost.json``) naming the machine. A
latency is shown only on a machine with the same CPU model as the record's, and always with
that CPU's name: another machine's number is never shown as this one's.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from asdbench.config import resolve
from asdbench.registry import CONFIG_PREFIX, AsdbenchError, Registry

TEN_SECONDS = 10.0
COST_RECORD = "inference-cost"  # the benchmark name of bench.inference --cost (its record file)
PRECISIONS = ("fp32", "int8")
MODEL_KINDS = ("frontend", "backbone", "method", "scorer")  # what an exported model holds
CLIP_KEYS = ("data.sample_rate",)  # data settings that change the model's shapes (clip length aside)
# columns added by :func:`add_cost_columns`
COLUMNS = ("params", "gflops_10s", "gflops_clip", "cpu_ms", "cpu_ms_int8", "cpu_ms_machine",
           "train_peak_mb")


def architecture(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """What decides an exported model's cost: the frontend, backbone, method and scorer, their
    options and the sample rate (not the clip length: latency is per 10-s clip)."""
    out: dict[str, Any] = {kind: cfg.get(kind) for kind in MODEL_KINDS}
    prefixes = tuple(CONFIG_PREFIX[kind] + "." for kind in MODEL_KINDS)
    out.update({k: v for k, v in cfg.items() if k.startswith(prefixes) or k in CLIP_KEYS})
    return out


def architecture_key(cfg: Mapping[str, Any]) -> str:
    """A short hash of :func:`architecture`: how a latency record is matched to a run."""
    blob = json.dumps(architecture(cfg), sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:10]


def architecture_label(cfg: Mapping[str, Any], registry: Registry | None = None) -> str:
    """``method + frontend + backbone / scorer`` and their options, for tables: with
    ``registry``, only those that differ from the components' defaults."""
    arch = architecture(cfg)
    defaults: Mapping[str, Any] = {}
    if registry is not None:
        defaults = resolve({kind: arch[kind] for kind in MODEL_KINDS}, registry)
    options = ", ".join(f"{k}={v}" for k, v in sorted(arch.items())
                        if k not in MODEL_KINDS and (k not in defaults or defaults[k] != v))
    label = f"{arch['method']} + {arch['frontend']} + {arch['backbone']} / {arch['scorer']}"
    return label + (f" ({options})" if options else "")


_MODEL_COSTS: dict[tuple, dict[str, Any]] = {}


def model_cost(cfg: Mapping[str, Any], registry: Registry, num_classes: int) -> dict[str, Any]:
    """``{"params", "flops_10s", "flops_clip", "clip_seconds"}`` of the model of ``cfg`` with
    ``num_classes`` classes (remembered per architecture, class count and clip length)."""
    # torch: the leaderboard and `asdbench plugins` import this module
    from asdbench.modelinfo import describe_model  # noqa: PLC0415

    clip = float(cfg.get("data.clip_seconds", TEN_SECONDS))
    key = (architecture_key(cfg), int(num_classes), clip)
    if key not in _MODEL_COSTS:
        base = {**cfg}
        at_10s = describe_model({**base, "data.clip_seconds": TEN_SECONDS}, registry, num_classes)
        own = at_10s if clip == TEN_SECONDS else describe_model(base, registry, num_classes)
        _MODEL_COSTS[key] = {"params": int(own["params"]), "flops_10s": int(at_10s["flops_per_clip"]),
                             "flops_clip": int(own["flops_per_clip"]), "clip_seconds": clip}
    return _MODEL_COSTS[key]


def run_classes(path: str | Path) -> int | None:
    """The class count of the run whose folder is ``path`` or holds it (an ``eval/<name>``
    folder): from its ``config.json``; None when it cannot be read."""
    for folder in (Path(path), *Path(path).parents[:3]):
        config = folder / "config.json"
        if config.is_file():
            try:
                classes = json.loads(config.read_text(encoding="utf-8")).get("classes")
            except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
                return None
            return len(classes) if isinstance(classes, list) else None
    return None


def read_latency_records(folders: Iterable[str | Path]) -> list[dict[str, Any]]:
    """The ``bench.inference --cost`` records found in ``folders`` (unreadable ones skipped)."""
    records = []
    for folder in folders:
        path = Path(folder) / f"{COST_RECORD}.json"
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        if isinstance(record, dict) and record.get("benchmark") == COST_RECORD:
            records.append(record)
    return records


def latency(records: list[dict[str, Any]], key: str, cpu: str) -> dict[str, Any] | None:
    """``{"fp32": ms, "int8": ms or None, "machine": cpu}`` of architecture ``key`` from the
    latest record made on CPU model ``cpu``; None when no such record has it."""
    mine = [r for r in records if (r.get("machine") or {}).get("cpu") == cpu]
    for record in sorted(mine, key=lambda r: str(r.get("created", "")), reverse=True):
        rows = [r for r in record.get("results", []) if r.get("architecture_key") == key]
        by = {r.get("precision"): r.get("ms_per_clip") for r in rows}
        if by.get("fp32") is not None:
            return {"fp32": by["fp32"], "int8": by.get("int8"), "machine": cpu}
    return None


def add_cost_columns(df: Any, registry: Registry | None, records: list[dict[str, Any]],
                     cpu: str) -> Any:
    """``df`` (leaderboard rows with ``config`` JSON and ``path``) with :data:`COLUMNS`:
    parameters, GFLOP per 10-s clip and per own clip, CPU ms per 10-s clip fp32 and int8
    (of this CPU model ``cpu`` only), the CPU they were measured on, and peak training memory
    (MB) where the run recorded one. A row evaluated through an int8 export
    (``export.precision``) gets the int8 latency as ``cpu_ms``. Cells that cannot be
    computed (a published row, a plugin not installed) are empty."""
    nan = float("nan")
    values: dict[str, list[Any]] = {c: [] for c in COLUMNS}
    for config, path, peak in zip(df.get("config", [""] * len(df)),
                                  df.get("path", [None] * len(df)),
                                  df.get("train_peak_mb", [nan] * len(df)), strict=True):
        cost, lat = _row_cost(config, path, registry, records, cpu)
        values["params"].append(cost.get("params", nan))
        values["gflops_10s"].append(cost.get("flops_10s", nan) / 1e9)
        values["gflops_clip"].append(cost.get("flops_clip", nan) / 1e9)
        int8 = isinstance(config, str) and '"export.precision": "int8"' in config
        ms = lat or {}
        values["cpu_ms"].append(_num(ms.get("int8" if int8 else "fp32")))
        values["cpu_ms_int8"].append(_num(ms.get("int8")))
        values["cpu_ms_machine"].append(ms.get("machine", ""))
        values["train_peak_mb"].append(peak)
    return df.assign(**values)


def _num(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) else float("nan")


def _row_cost(config: Any, path: Any, registry: Registry | None,
              records: list[dict[str, Any]], cpu: str) -> tuple[dict[str, Any], dict | None]:
    if not isinstance(config, str) or not config or registry is None:
        return {}, None
    try:
        cfg = json.loads(config)
        classes = run_classes(path) if path else None
        if classes is None:
            return {}, latency(records, architecture_key(cfg), cpu)
        return model_cost(cfg, registry, classes), latency(records, architecture_key(cfg), cpu)
    except (AsdbenchError, ValueError, KeyError, TypeError, RuntimeError):
        return {}, None


def pareto_front(scores: Sequence[float], costs: Sequence[float]) -> list[bool]:
    """Which points are on the Pareto front of a higher ``score`` at a lower ``cost``.

    A point is on the front when no other point is at least as good in both and better in
    one. Equal points are all on it (none beats another); a point with a missing (NaN) score
    or cost is never on it and beats none.
    """
    points = [(float(s), float(c)) for s, c in zip(scores, costs, strict=True)]
    valid = [not (math.isnan(s) or math.isnan(c)) for s, c in points]
    out = []
    for i, (s, c) in enumerate(points):
        out.append(valid[i] and not any(
            valid[j] and s2 >= s and c2 <= c and (s2 > s or c2 < c)
            for j, (s2, c2) in enumerate(points) if j != i))
    return out
