"""What a metric protocol plugin is written with (``asdbench_protocols``): the protocol type
and the maths the core's own protocols use, so that a plugin's numbers are computed the same
way (AUC and pAUC at ``MAX_FPR``, the floored harmonic mean of the DCASE evaluators).

Imports pandas and scikit-learn: import it inside the module that computes, not in a plugin's
``plugin.py``.
"""

from __future__ import annotations

from asdbench.metrics.core import (
    BASE_COLUMNS,
    HMEAN_FLOOR,
    MAX_FPR,
    auc_pauc,
    entries_of_type,
    group_entry,
    harmonic_mean,
    hmean_of,
    mean_of,
    min_of,
    score_groups,
    summary,
)
from asdbench.metrics.decision import precision_recall_f1
from asdbench.sdk.metric_protocols import MetricProtocol

__all__ = ["MetricProtocol", "BASE_COLUMNS", "HMEAN_FLOOR", "MAX_FPR", "auc_pauc",
           "entries_of_type", "group_entry", "harmonic_mean", "hmean_of", "mean_of", "min_of",
           "precision_recall_f1", "score_groups", "summary"]
