"""Table kinds and the aggregation of runs into a table: seeds into mean ± std, rows ranked.

A :class:`TableKind` says which rows and metric columns a table shows and what ranks its rows.
The core ships one generic kind, ``types`` (per machine type AUC and pAUC); plugins add theirs
through the ``asdbench_tables`` hook (the OS-SCL plugin: the paper's ``table2`` ... ``table6``).
pandas is imported where a table is built, so that a plugin can import ``TableKind`` cheaply.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from asdbench.leaderboard.collect import IDENTITY, MEASURED
from asdbench.registry import AsdbenchError

if TYPE_CHECKING:
    import pandas as pd

# DCASE 2021+ score (harmonic mean over sections/domains, ``average.official`` in metrics.json);
# None under dcase2020/pooled, so its column appears only where some row has it.
OFFICIAL = "average.official"
BY = ("type", "id")


@dataclass(frozen=True)
class TableKind:
    """What a leaderboard table shows (``asdbench leaderboard --table NAME``).

    - ``metrics``: metric names shown per machine type (``auc`` gives ``fan.auc``, ...);
      ``id_metrics`` those per machine ID with ``--by id`` (None: the same as ``metrics``);
      ``average`` the ``average.<metric>`` columns, shown last (None: the same as ``metrics``).
      The DCASE 2021+ ``official`` score is shown too wherever a row has it.
    - ``rank_by``: metric columns in order of preference; the first one the table shows ranks
      the rows, ties and rows without it by the last one.
    - ``protocol``: the metric protocol when ``--protocol`` is not given (None: each dataset's
      official one).
    - ``where``: identity column -> allowed values: the measured rows shown (empty: all).
    - ``type_order``: machine types shown first, in this order; the others follow
      alphabetically.
    - ``default``: offered as the default ``--table`` (used when exactly one kind says so).

    Published rows (``asdbench_reference_results``) appear in the kind named by their
    ``table`` key, and in every kind when they have none.
    """

    name: str
    description: str
    metrics: tuple[str, ...] = ("auc", "pauc")
    id_metrics: tuple[str, ...] | None = None
    average: tuple[str, ...] | None = None
    rank_by: tuple[str, ...] = (OFFICIAL, "average.auc")
    protocol: str | None = None
    where: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    type_order: tuple[str, ...] = ()
    default: bool = False

    def __post_init__(self) -> None:
        if not self.name or not self.metrics or not self.rank_by:
            raise ValueError(f"table kind {self.name!r}: name, metrics and rank_by are required")
        unknown = set(self.where) - set(IDENTITY)
        if unknown:
            raise ValueError(f"table kind {self.name!r}: where names {sorted(unknown)}, "
                             f"not identity columns ({', '.join(IDENTITY)})")

    def primary_metric(self, metrics: Iterable[str] = ()) -> str:
        """The metric the rows are ranked by, given the table's metric columns."""
        shown = set(metrics)
        return next((m for m in self.rank_by if m in shown), self.rank_by[-1])


TYPES = TableKind("types", "per machine type AUC and pAUC, averages last")
CORE_KINDS = (TYPES,)


class Plugins(Protocol):
    """What :func:`table_kinds` reads of the loaded plugins (``asdbench.plugins.PluginSet``)."""

    hook: Any
    packages: dict[str, tuple[str, str]]
    failures: dict[str, str]


def table_kinds(plugins: Plugins) -> dict[str, TableKind]:
    """The core's table kinds and every plugin's (``asdbench_tables``), by name.

    A plugin whose hook raises or returns anything but ``TableKind`` objects is recorded in
    ``plugins.failures`` and its kinds are skipped; a name provided twice is an error naming
    both packages.
    """
    kinds = {kind.name: kind for kind in CORE_KINDS}
    owner = dict.fromkeys(kinds, "asdbench")
    for impl in plugins.hook.asdbench_tables.get_hookimpls():
        package = plugins.packages.get(impl.plugin_name, (impl.plugin_name, ""))[0]
        try:
            provided = list(impl.function() or [])
            wrong = [type(k).__name__ for k in provided if not isinstance(k, TableKind)]
            if wrong:
                raise TypeError(f"returned {wrong[0]}, expected TableKind")
        except Exception as exc:  # one broken plugin must not take the leaderboard down
            plugins.failures[impl.plugin_name] = (f"package {package}: asdbench_tables: "
                                                  f"{type(exc).__name__}: {exc}")
            continue
        for kind in provided:
            if kind.name in kinds:
                raise AsdbenchError(f"table '{kind.name}' is provided by both "
                                    f"{owner[kind.name]} and {package}")
            kinds[kind.name], owner[kind.name] = kind, package
    return kinds


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
    return cols + official + [f"average.{m}" for m in average if f"average.{m}" in df.columns]


def _measured(df: pd.DataFrame, protocol: str | None, kind: TableKind) -> pd.DataFrame:
    """The runs of a table: one protocol (None: each run's official one), ``kind.where``."""
    if df.empty:
        return df
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


def _references(refs: pd.DataFrame, measured: pd.DataFrame, protocol: str | None,
                kind: TableKind) -> pd.DataFrame:
    """Published rows of this kind (or of none) and of the protocols and datasets shown."""
    refs = refs[(refs["table"] == kind.name) | refs["table"].isna()]
    if protocol is not None:
        refs = refs[refs["protocol"] == protocol]
    elif not measured.empty:
        refs = refs[refs["protocol"].isin(set(measured["protocol"]))]
    if not measured.empty:  # numbers on another dataset compare with nothing here
        refs = refs[refs["dataset"].isin(set(measured["dataset"]))]
    return refs


def _aggregate(data: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """One row per identity: ``n`` runs, their seeds, ``<metric>_mean`` and ``_std``."""
    import numpy as np
    import pandas as pd

    rows = []
    for key, group in data.groupby(IDENTITY, dropna=False, sort=False):
        row: dict[str, Any] = dict(zip(IDENTITY, key, strict=True))
        is_ref = row["source"] != MEASURED
        row["n"] = 0 if is_ref else len(group)
        row["seeds"] = "" if is_ref else ",".join(
            str(int(s)) for s in sorted(group["seed"].dropna()))
        for col in metrics:
            values = group[col].dropna() if col in group else pd.Series(dtype=float)
            row[f"{col}_mean"] = float(values.mean()) if len(values) else np.nan
            row[f"{col}_std"] = float(values.std(ddof=1)) if len(values) > 1 else np.nan
        rows.append(row)
    return pd.DataFrame(rows, columns=[*IDENTITY, "n", "seeds",
                                       *(f"{c}_{s}" for c in metrics for s in ("mean", "std"))])


def table(df: pd.DataFrame, protocol: str | None = None, by: str = "type",
          kind: TableKind = TYPES, references: pd.DataFrame | None = None) -> pd.DataFrame:
    """Group runs over seeds into one row per recipe: ``<metric>_mean``, ``_std``, ``n``.

    ``kind`` says the columns, rows and ranking. ``protocol=None`` takes the kind's protocol,
    else each run's official one. Reference rows (from
    :func:`asdbench.leaderboard.collect.reference_frame`) of this table kind and of the
    protocols and datasets shown are added, labelled by their ``source``. Rows are ranked by
    the kind's primary metric (:meth:`TableKind.primary_metric`), best first, ties and rows
    without it (NaN: last) by its fallback. ``attrs`` hold ``metrics``, ``kind`` (its name),
    ``by``, ``protocol`` and ``primary``.
    """
    import pandas as pd

    protocol = protocol if protocol is not None else kind.protocol
    measured = _measured(df, protocol, kind)
    frames = [measured]
    if references is not None and not references.empty:
        frames.append(_references(references, measured, protocol, kind))
    frames = [f for f in frames if not f.empty]
    data = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=IDENTITY)
    metrics = metric_columns(data, kind, by) if not data.empty else []
    out = _aggregate(data, metrics)
    primary = kind.primary_metric(metrics)
    # Rows without the primary metric (a dcase2020 run beside dcase2022 ones under each
    # dataset's own protocol) go after those with one, ranked among themselves by the fallback.
    keys = [f"{m}_mean" for m in dict.fromkeys([primary, kind.rank_by[-1]])
            if f"{m}_mean" in out.columns]
    if keys and len(out):
        out = out.sort_values(keys, ascending=False, na_position="last", kind="stable")
    out.insert(0, "rank", range(1, len(out) + 1))
    out = out.reset_index(drop=True)
    out.attrs.update({"metrics": metrics, "kind": kind.name, "by": by, "protocol": protocol,
                      "primary": primary})
    return out
