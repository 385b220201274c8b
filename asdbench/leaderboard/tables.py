"""Table kinds and the aggregation of runs into a table: seeds into mean ± std, rows ranked.

A :class:`TableKind` says which rows and metric columns a table shows and what ranks its rows.
The core ships one generic kind, ``types`` (per machine type AUC and pAUC); plugins add theirs
through the ``asdbench_tables`` hook (the OS-SCL plugin: the paper's ``table2`` ... ``table6``).
pandas is imported where a table is built, so that a plugin can import ``TableKind`` cheaply.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import pandas as pd

from asdbench.leaderboard.collect import (
    LIFT,
    SELECTED_ON_TEST,
    SELECTED_ON_TEST_NOTE,
    set_key,
)
from asdbench.leaderboard.ranking import track_table
from asdbench.leaderboard.tracks import (
    differing_data,
    place_references,
    table_key,
    title,
    track_order,
)
from asdbench.registry import AsdbenchError
from asdbench.sdk.tables import IDENTITY, OFFICIAL, TableKind

BY = ("type", "id")
TYPES = TableKind("types", "per machine type AUC and pAUC, averages last")
CORE_KINDS = (TYPES,)


class Plugins(Protocol):
    """What :func:`table_kinds` reads of the loaded plugins (``asdbench.plugins.PluginSet``)."""

    def package(self, plugin: str) -> str: ...

    def collect(self, hook: str, kind: type, warn: bool = False,
                **kwargs: Any) -> list[tuple[str, Any]]: ...


def owned_table_kinds(plugins: Plugins) -> dict[str, tuple[str, TableKind]]:
    """``name -> (plugin, kind)`` of the core's kinds (plugin "") and every plugin's
    (``asdbench_tables``). A plugin whose hook fails is recorded and skipped; a name provided
    twice is an error naming both packages."""
    kinds = {kind.name: ("", kind) for kind in CORE_KINDS}
    for plugin, kind in plugins.collect("asdbench_tables", TableKind):
        if kind.name in kinds:
            first = kinds[kind.name][0]
            raise AsdbenchError(f"table '{kind.name}' is provided by both "
                                f"{plugins.package(first) if first else 'asdbench'} and "
                                f"{plugins.package(plugin)}")
        kinds[kind.name] = (plugin, kind)
    return kinds


def table_kinds(plugins: Plugins) -> dict[str, TableKind]:
    """The core's table kinds and every plugin's, by name (:func:`owned_table_kinds`)."""
    return {name: kind for name, (_, kind) in owned_table_kinds(plugins).items()}


def default_kind(kinds: Mapping[str, TableKind]) -> TableKind:
    """The kind that offers itself as default when exactly one does, else ``types``."""
    offered = [kind for kind in kinds.values() if kind.default]
    return offered[0] if len(offered) == 1 else kinds.get(TYPES.name, TYPES)


def table_kind(name: str | None, kinds: Mapping[str, TableKind]) -> TableKind:
    """The kind called ``name`` (None: :func:`default_kind`); unknown: a one-line error."""
    if name is None:
        return default_kind(kinds)
    if name not in kinds:
        raise AsdbenchError(f"unknown table '{name}'; tables: {', '.join(sorted(kinds))}")
    return kinds[name]


def _group_sort_key(group: str, order: tuple[str, ...]) -> tuple:
    mtype = group.split("/", 1)[0]
    first = (order.index(mtype), "") if mtype in order else (len(order), mtype.lower())
    return (first, group)


def metric_columns(df: pd.DataFrame, kind: TableKind = TYPES, by: str = "type") -> list[str]:
    """The metric columns of a table kind, in display order (averages last)."""
    if by not in BY:
        raise AsdbenchError(f"--by must be 'type' or 'id', not '{by}'")
    groups: dict[str, list[str]] = {}
    for col in df.columns:
        if "." not in col or col.startswith("average."):
            continue
        group, metric = col.rsplit(".", 1)
        if ("/" in group) == (by == "id") and df[col].notna().any():
            groups.setdefault(group, []).append(metric)
    wanted = kind.id_metrics if by == "id" and kind.id_metrics is not None else kind.metrics
    average = kind.average if kind.average is not None else kind.metrics
    cols = [f"{g}.{m}" for g in sorted(groups, key=lambda g: _group_sort_key(g, kind.type_order))
            for m in wanted if m in groups[g]]
    official = [OFFICIAL] if OFFICIAL in df.columns and df[OFFICIAL].notna().any() else []
    lift = [LIFT] if LIFT in df.columns and df[LIFT].notna().any() else []
    return (cols + official + [f"average.{m}" for m in average if f"average.{m}" in df.columns]
            + lift)


def _measured(df: pd.DataFrame, protocol: str | None, kind: TableKind,
              test_set: str | None = None) -> pd.DataFrame:
    """The runs of a table: one protocol (None: each run's official one), one test set (None:
    every set, each its own table), ``kind.where``."""
    if df.empty:
        return df
    if test_set is not None:
        if test_set not in set(df["set"]):
            have = ", ".join(sorted(set(df["set"]), key=set_key))
            raise AsdbenchError(f"no finished run was evaluated on test set '{test_set}'; "
                                f"sets: {have}")
        df = df[df["set"] == test_set]
    if protocol is None:
        measured = df[df["official"]]
    else:
        measured = df[df["protocol"] == protocol]
        if measured.empty:
            have = ", ".join(sorted(df["protocol"].unique()))
            raise AsdbenchError(f"no finished run has protocol '{protocol}'; protocols: {have}")
    for col, allowed in kind.where.items():
        measured = measured[measured[col].isin(allowed)]
    return measured


def _references(refs: pd.DataFrame, protocol: str | None, kind: TableKind,
                test_set: str | None = None) -> pd.DataFrame:
    """Published rows of this kind (or of none), of the protocol and the set asked for (None:
    all; each lands in a table of its own protocol and set)."""
    refs = refs[(refs["table"] == kind.name) | refs["table"].isna()]
    refs = refs if test_set is None else refs[refs["set"] == test_set]
    return refs if protocol is None else refs[refs["protocol"] == protocol]


def _track(rows: pd.DataFrame, kind: TableKind, by: str) -> pd.DataFrame:
    """One track's rows ranked as ``kind`` says (:func:`asdbench.leaderboard.ranking.track_table`)."""
    metrics = metric_columns(rows, kind, by) if len(rows) else []
    return track_table(rows, metrics, kind.primary_metric(metrics), kind.rank_by[-1])


def _note(track: str, note: str) -> str:
    """A table's note, led by why a test-selected track is ranked apart."""
    if str(track).endswith(SELECTED_ON_TEST):
        return "; ".join(n for n in (SELECTED_ON_TEST_NOTE, note) if n)
    return note


def table(df: pd.DataFrame, protocol: str | None = None, by: str = "type",
          kind: TableKind = TYPES, references: pd.DataFrame | None = None,
          test_set: str | None = None) -> pd.DataFrame:
    """Group runs over seeds into one row per recipe, ranked within each track and test set.

    ``kind`` says the columns, rows and ranking. ``protocol=None`` takes the kind's protocol,
    else each run's official one; ``test_set`` keeps one set's rows (None: every set). Rows
    compare only within a track, set and protocol (same data, same test clips, same metrics:
    :mod:`asdbench.leaderboard.tracks`); the frame holds these tables one after the other,
    ``rank`` restarting in each. Reference rows (from
    :func:`asdbench.leaderboard.collect.reference_frame`) of this table kind and protocol join
    the track of their dataset, labelled by their ``source``. Within a track rows are ranked by
    the kind's primary metric (:meth:`TableKind.primary_metric`), best first, ties and rows
    without it (NaN: last) by its fallback; per row ``<metric>_mean``, ``_std`` over seeds,
    ``n``, the primary metric's 95 % jackknife interval and the ranks it does not separate
    (:func:`asdbench.leaderboard.ranking.track_table`). ``attrs`` hold ``metrics`` (of every
    track), ``kind`` (its name), ``by``, ``protocol``, ``primary`` (of the first track) and
    ``tracks``: per table its ``track``, ``set``, ``protocol``, ``title``, ``differing`` (the data
    settings that set it apart from the dataset's other tracks), ``data``, ``note``,
    ``metrics`` and ``primary``.
    """

    protocol = protocol if protocol is not None else kind.protocol
    measured = _measured(df, protocol, kind, test_set)
    notes: dict[str, str] = {}
    frames = [measured]
    if references is not None and not references.empty:
        refs, notes = place_references(_references(references, protocol, kind, test_set),
                                       measured)
        frames.append(refs)
    frames = [f for f in frames if not f.empty]
    data = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=IDENTITY)
    configs = ({} if measured.empty else
               dict(zip(measured["track"], measured["data_config"], strict=True)))
    differing = differing_data(configs)
    parts, infos = [], []
    for track, test, proto in track_order(data):
        part = _track(data[(data["track"] == track) & (data["set"] == test)
                           & (data["protocol"] == proto)], kind, by)
        own = measured[measured["track"] == track] if not measured.empty else measured
        parts.append(part)
        infos.append({"track": track, "set": test, "protocol": proto,
                      "metrics": part.attrs["metrics"], "primary": part.attrs["primary"],
                      "title": title(track, test, proto, differing.get(track, "")),
                      "differing": differing.get(track, ""),
                      "data": "" if own.empty else str(own["data"].iloc[0]),
                      "note": _note(track, notes.get(table_key(track, test, proto), ""))})
    out = pd.concat(parts, ignore_index=True) if parts else _track(data, kind, by)
    metrics = list(dict.fromkeys(m for info in infos for m in info["metrics"]))
    out.attrs.update({"metrics": metrics, "kind": kind.name, "by": by, "protocol": protocol,
                      "primary": infos[0]["primary"] if infos else kind.primary_metric(),
                      "tracks": infos})
    return out
