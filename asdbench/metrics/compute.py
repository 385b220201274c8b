"""Metrics of a score table under named protocols, looked up among the loaded plugins."""

from __future__ import annotations

import dataclasses
import traceback
from collections.abc import Iterable
from typing import Any

import pandas as pd

import asdbench.plugins
from asdbench.metrics.core import BASE_COLUMNS, prepare_scores
from asdbench.metrics.decision import add_decision_metrics
from asdbench.metrics.protocols import MetricProtocol, ProtocolRegistry
from asdbench.registry import AsdbenchError

_RESULT_KEYS = ("average", "types", "ids", "skipped")
_AVERAGE_KEYS = ("auc", "pauc", "mauc", "official")


def protocol_registry(plugins: asdbench.plugins.PluginSet | None = None) -> ProtocolRegistry:
    """Every protocol of ``plugins`` (default: the process-wide plugin set) and the core's.

    The core's protocols come from its plugin ``asdbench-metrics``
    (:mod:`asdbench.metrics.builtin`), registered like any other. A plugin whose hook raises
    is recorded in ``failures`` and skipped, as for components.
    """
    plugins = plugins if plugins is not None else asdbench.plugins.default_plugins()
    hook = plugins.manager.hook.asdbench_protocols
    sources = [(impl.plugin_name, impl.function) for impl in hook.get_hookimpls()]
    registry = ProtocolRegistry()
    for plugin, function in sources:
        package = plugins.packages.get(plugin, (plugin, ""))[0]
        try:
            found = function() or []
        except Exception as exc:  # a broken third-party plugin must not take the tool down
            tb = traceback.extract_tb(exc.__traceback__)[-1]
            registry.failures[plugin] = (f"package {package}: {type(exc).__name__}: {exc} "
                                         f"({tb.filename}:{tb.lineno})")
            continue
        wrong = [p for p in found if not isinstance(p, MetricProtocol)]
        if wrong:
            registry.failures[plugin] = (f"package {package}: asdbench_protocols returned "
                                         f"{type(wrong[0]).__name__}, expected MetricProtocol")
            continue
        for protocol in found:
            registry.add(dataclasses.replace(protocol, package=package, plugin=plugin))
    registry.failures.update(plugins.failures)
    return registry


def _check_input(protocol: MetricProtocol, scores: pd.DataFrame, df: pd.DataFrame) -> None:
    missing = [c for c in (*BASE_COLUMNS, *protocol.columns) if c not in scores.columns]
    if missing:
        raise AsdbenchError(f"score table lacks column(s) {', '.join(missing)} needed by "
                            f"metric protocol '{protocol.name}'")
    if protocol.domains is not None:
        bad = sorted(set(df["domain"]) - set(protocol.domains))
        if bad:
            wanted = " or ".join(repr(d) for d in protocol.domains)
            raise AsdbenchError(f"protocol '{protocol.name}' needs domain {wanted} for every "
                                f"labelled clip; found {bad[0]!r}")


def _checked(protocol: MetricProtocol, result: Any) -> dict[str, Any]:
    """The protocol's result if it has the documented keys, else an error naming its package."""
    ok = (isinstance(result, dict) and all(k in result for k in _RESULT_KEYS)
          and isinstance(result["average"], dict)
          and all(k in result["average"] for k in _AVERAGE_KEYS))
    if not ok:
        raise AsdbenchError(f"metric protocol '{protocol.name}' ({protocol.package or '?'}) "
                            f"returned no {{{', '.join(_RESULT_KEYS)}}} dict with average "
                            f"{', '.join(_AVERAGE_KEYS)}")
    return result


def compute_metrics(scores: pd.DataFrame, protocol: str | MetricProtocol,
                    registry: ProtocolRegistry | None = None) -> dict[str, Any]:
    """Metrics of a score table under one protocol (a name looked up in ``registry``, by
    default :func:`protocol_registry`, or a :class:`MetricProtocol`).

    Returns ``{"protocol", "average": {"auc", "pauc", "mauc", "official", ...},
    "types": {type: {"auc", "pauc", "mauc", ...}}, "ids": {key: {"auc", "pauc", "n_normal",
    "n_anomaly", ...}}, "skipped": [..], "n_clips", "n_unlabelled"}``: the protocol's result
    (see :class:`MetricProtocol`) and the clip counts. ``average`` values are means over types;
    ``official`` is an edition's single score (None for dcase2020/pooled). With a ``decision``
    column (0/1), precision, recall and F1 are added (:func:`add_decision_metrics`). Clips of
    unknown label are left out; a group with one class only is left out and listed in ``skipped``;
    a value that cannot be computed at all is None.
    """
    if not isinstance(protocol, MetricProtocol):
        protocol = (registry or protocol_registry()).get(protocol)
    df = prepare_scores(scores, labelled=True)
    _check_input(protocol, scores, df)
    result = _checked(protocol, protocol.compute(df))
    if "decision" in df.columns:
        result = add_decision_metrics(result, df)
    return {"protocol": protocol.name, **{k: result[k] for k in _RESULT_KEYS},
            "n_clips": int(len(df)), "n_unlabelled": int(len(scores) - len(df))}


def compute_all(scores: pd.DataFrame, protocols: Iterable[str], *, dataset: str = "",
                registry: ProtocolRegistry | None = None) -> dict[str, dict[str, Any]]:
    """:func:`compute_metrics` under each of ``protocols``, keyed by protocol name.

    Every name is looked up before any is computed; an unknown one is a one-line error naming
    ``dataset`` (the dataset that lists the protocols, when given) and the protocols there are.
    """
    registry = registry or protocol_registry()
    found = [registry.get(name, dataset) for name in protocols]
    return {p.name: compute_metrics(scores, p) for p in found}
