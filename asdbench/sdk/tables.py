"""What a leaderboard table kind declares (``asdbench_tables``): :class:`TableKind`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

# The columns a leaderboard row is told apart by (what ``TableKind.where`` may name).
IDENTITY = ["source", "method", "frontend", "backbone", "dataset", "set", "track", "scorer",
            "protocol", "settings", "recipe"]
# DCASE 2021+ score (harmonic mean over sections/domains, ``average.official`` in metrics.json);
# None under dcase2020/pooled, so its column appears only where some row has it.
OFFICIAL = "average.official"


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
