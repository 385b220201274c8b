"""The core plugin ``asdbench-metrics``: registers ``dcase2020`` and ``pooled`` through
``asdbench_protocols``, as a third-party package registers its protocols.

Light on purpose: loading the plugins (``asdbench --help``) imports no pandas or sklearn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from asdbench.meta import hookimpl

if TYPE_CHECKING:
    from asdbench.metrics.protocols import MetricProtocol


@hookimpl
def asdbench_protocols() -> list[MetricProtocol]:
    from asdbench.metrics.dcase2020 import PROTOCOLS  # pandas: not for `asdbench --help`

    return list(PROTOCOLS)
