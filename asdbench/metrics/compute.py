"""Metrics of a score table under named protocols, looked up among the loaded plugins."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any, Protocol

import pandas as pd

from asdbench.metrics.core import BASE_COLUMNS, prepare_scores
from asdbench.metrics.decision import add_decision_metrics
from asdbench.metrics.protocols import ProtocolRegistry, given
from asdbench.registry import AsdbenchError
from asdbench.sdk.metric_protocols import MetricProtocol

_RESULT_KEYS = ("average", "types", "ids", "skipped")
_AVERAGE_KEYS = ("auc", "pauc", "mauc", "official")


class Plugins(Protocol):
    """What :func:`protocol_registry` reads of the loaded plugins (``asdbench.plugins``)."""

    failures: dict[str, str]

    def package(self, plugin: str) -> str: ...

    def collect(self, hook: str, kind: type, warn: bool = False,
                **kwargs: Any) -> list[tuple[str, Any]]: ...


def protocol_registry(plugins: Plugins) -> ProtocolRegistry:
    """Every protocol of ``plugins``, the core's among them (its plugin ``asdbench-metrics``).
    A plugin whose hook fails is recorded and skipped."""
    registry = ProtocolRegistry()
    for plugin, protocol in plugins.collect("asdbench_protocols", MetricProtocol):
        registry.add(dataclasses.replace(protocol, package=plugins.package(plugin),
                                         plugin=plugin))
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
    :func:`protocol_registry`, or a :class:`MetricProtocol`).

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
        protocol = given(registry).get(protocol)
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
    registry = given(registry)
    found = [registry.get(name, dataset) for name in protocols]
    return {p.name: compute_metrics(scores, p) for p in found}
