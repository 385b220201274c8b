"""What a metric protocol plugin returns (``asdbench_protocols``): :class:`MetricProtocol`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

# Official submission-file layouts (see :func:`asdbench.metrics.submission.submission_name`).
LAYOUTS = ("id", "section", "section_domain")


@dataclass(frozen=True)
class MetricProtocol:
    """One way of turning per-clip scores into metrics.

    ``compute(df) -> dict`` receives the labelled clips of a score table as
    :func:`asdbench.metrics.core.prepare_scores` leaves them (``machine_type``,
    ``machine_id`` and ``domain`` strings, ``domain`` "" when the data has none, ``label`` 0/1,
    ``score`` finite float; clips of unknown label already dropped) and returns
    ``{"average": {"auc", "pauc", "mauc", "official", ...}, "types": {type: {"auc", "pauc",
    "mauc", ...}}, "ids": {key: {...}}, "skipped": [reason, ...]}``
    (:func:`asdbench.metrics.core.summary` builds it); values are fractions or None.

    ``columns``: score-table columns it reads beyond ``machine_type, machine_id, label,
    score`` (e.g. ``("domain",)``); ``domains``: the values every labelled clip's ``domain``
    must take (None: any); ``submission_layout``: the layout of the official submission files
    of its edition, one of :data:`LAYOUTS`. ``package``/``plugin`` are filled in on
    registration.
    """

    name: str
    compute: Callable[[pd.DataFrame], dict[str, Any]]
    description: str = ""
    columns: tuple[str, ...] = ()
    domains: tuple[str, ...] | None = None
    submission_layout: str = "id"
    package: str = ""
    plugin: str = ""
