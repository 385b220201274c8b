"""Metric protocols: how a run's per-clip scores become its reported numbers.

A protocol is the SDK's :class:`~asdbench.sdk.metric_protocols.MetricProtocol`, registered
through the ``asdbench_protocols`` hook (the core's ``dcase2020`` and ``pooled`` through :mod:`asdbench.metrics.builtin`, the DCASE
2021+ rules in the DCASE editions plugin). :class:`ProtocolRegistry` holds them by name;
:func:`asdbench.metrics.compute.protocol_registry` builds it from a plugin set; the maths
takes it as an argument (:func:`given`).
"""

from __future__ import annotations

from collections.abc import Iterator

from asdbench.registry import AsdbenchError, suggest
from asdbench.sdk.metric_protocols import LAYOUTS, MetricProtocol

__all__ = ["LAYOUTS", "MetricProtocol", "ProtocolRegistry", "given"]


class ProtocolRegistry:
    """Metric protocols by name; a name provided twice is an error naming both packages."""

    def __init__(self) -> None:
        self._items: dict[str, MetricProtocol] = {}
        # Plugins whose ``asdbench_protocols`` failed: name -> "package: error".
        self.failures: dict[str, str] = {}

    def add(self, protocol: MetricProtocol) -> None:
        if protocol.submission_layout not in LAYOUTS:
            raise AsdbenchError(f"metric protocol '{protocol.name}' ({protocol.package}): "
                                f"submission_layout {protocol.submission_layout!r} is not one "
                                f"of {', '.join(LAYOUTS)}")
        existing = self._items.get(protocol.name)
        if existing is not None:
            raise AsdbenchError(f"metric protocol '{protocol.name}' is provided twice: by "
                                f"{existing.package or existing.plugin} and by "
                                f"{protocol.package or protocol.plugin}")
        self._items[protocol.name] = protocol

    def get(self, name: str, dataset: str = "") -> MetricProtocol:
        """The protocol ``name``; else a one-line error naming ``dataset`` (when it is the one
        listing the name) and the protocols there are."""
        if name in self._items:
            return self._items[name]
        owner = f"dataset '{dataset}' lists " if dataset else ""
        message = (f"{owner}unknown metric protocol '{name}'{suggest(name, self._items)}; "
                   f"protocols: {', '.join(self.names()) or 'none'}")
        if self.failures:
            message += "; plugins that failed to load: " + "; ".join(
                f"{k} ({v})" for k, v in self.failures.items())
        raise AsdbenchError(message)

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[MetricProtocol]:
        return (self._items[n] for n in self.names())


def given(registry: ProtocolRegistry | None) -> ProtocolRegistry:
    """``registry``; None is the caller's bug (``asdbench.metrics.default_protocols()`` gives
    the process-wide plugins' protocols)."""
    if registry is None:
        raise TypeError("metric protocols not given: pass registry= (a ProtocolRegistry)")
    return registry
