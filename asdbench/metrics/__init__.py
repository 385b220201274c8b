"""Detection metrics under named protocols, and official submission files.

- :mod:`~asdbench.metrics.core`: AUC/pAUC, the floored harmonic mean, score-table checks, ROC
  points, and the group helpers protocols are written with;
- :mod:`~asdbench.metrics.protocols`: :class:`MetricProtocol` and :class:`ProtocolRegistry`;
- :mod:`~asdbench.metrics.dcase2020`: the core's protocols ``dcase2020`` and ``pooled``,
  registered by the core plugin :mod:`~asdbench.metrics.builtin` (others come from plugins
  through the ``asdbench_protocols`` hook);
- :mod:`~asdbench.metrics.compute`: :func:`compute_metrics` / :func:`compute_all` by name;
- :mod:`~asdbench.metrics.decision`: decision thresholds (the baselines' gamma fit), 0/1
  decisions, precision/recall/F1;
- :mod:`~asdbench.metrics.submission`: the official anomaly-score and decision-result files.

The maths takes its protocols as an argument; :func:`default_protocols` gives those of the
process-wide plugin set to a caller that passes none. The names below are imported on first
use, so that importing the light submodules (:mod:`~asdbench.metrics.builtin` is loaded by
``asdbench --help``) does not import pandas and sklearn.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from asdbench.plugins import default_plugins  # the face, not the maths, asks the plugins

if TYPE_CHECKING:  # the same names, for type checkers
    from asdbench.metrics.core import (
        COLUMNS,
        HMEAN_FLOOR,
        MAX_FPR,
        auc_pauc,
        harmonic_mean,
        prepare_scores,
        roc_points,
    )
    from asdbench.metrics.decision import DecisionRule, decide, fit_thresholds
    from asdbench.metrics.protocols import LAYOUTS, MetricProtocol, ProtocolRegistry
    from asdbench.metrics.submission import decision_name, submission_name

_EXPORTS = {
    "COLUMNS": "core", "HMEAN_FLOOR": "core", "MAX_FPR": "core", "auc_pauc": "core",
    "harmonic_mean": "core", "prepare_scores": "core", "roc_points": "core",
    "LAYOUTS": "protocols", "MetricProtocol": "protocols", "ProtocolRegistry": "protocols",
    "submission_name": "submission",
    "decision_name": "submission", "DecisionRule": "decision", "decide": "decision",
    "fit_thresholds": "decision",
}

__all__ = [
    "COLUMNS", "HMEAN_FLOOR", "LAYOUTS", "MAX_FPR", "DecisionRule", "MetricProtocol",
    "ProtocolRegistry", "auc_pauc", "compute_all", "compute_metrics", "decide", "decision_name",
    "fit_thresholds", "harmonic_mean", "prepare_scores", "protocol_registry", "roc_points",
    "submission_name", "write_submission", "default_protocols",
]


def default_protocols() -> ProtocolRegistry:
    """The protocols of the process-wide plugin set."""
    from asdbench.metrics.compute import protocol_registry as of_plugins  # pandas: not for --help

    return of_plugins(default_plugins())


def protocol_registry(plugins: Any = None) -> ProtocolRegistry:
    """The protocols of ``plugins`` (None: the process-wide set)."""
    from asdbench.metrics.compute import protocol_registry as of_plugins  # pandas: not for --help

    return default_protocols() if plugins is None else of_plugins(plugins)


def compute_metrics(scores: Any, protocol: Any, registry: ProtocolRegistry | None = None
                    ) -> dict[str, Any]:
    """:func:`asdbench.metrics.compute.compute_metrics`; protocols by default the process's."""
    from asdbench.metrics import compute  # pandas: not for --help

    if registry is None and isinstance(protocol, str):
        registry = default_protocols()
    return compute.compute_metrics(scores, protocol, registry)


def compute_all(scores: Any, protocols: Any, *, dataset: str = "",
                registry: ProtocolRegistry | None = None) -> dict[str, dict[str, Any]]:
    """:func:`asdbench.metrics.compute.compute_all`; protocols by default the process's."""
    from asdbench.metrics import compute  # pandas: not for --help

    return compute.compute_all(scores, protocols, dataset=dataset,
                               registry=registry or default_protocols())


def write_submission(scores: Any, out_dir: Any, layout: str = "auto",
                     registry: ProtocolRegistry | None = None) -> list[Any]:
    """:func:`asdbench.metrics.submission.write_submission`; protocols by default the
    process's."""
    from asdbench.metrics import submission  # pandas: not for --help

    return submission.write_submission(scores, out_dir, layout,
                                       registry or default_protocols())


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'asdbench.metrics' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"asdbench.metrics.{_EXPORTS[name]}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
