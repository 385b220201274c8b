"""asdbench: a plugin-based benchmark for unsupervised anomalous sound detection of machines.

A plugin needs only ``from asdbench import hookimpl``; the hooks it may implement are
documented in :mod:`asdbench.hookspecs`.
"""

import os
from importlib.metadata import PackageNotFoundError, version

import pluggy

# Large CPU tensors on transparent huge pages (PyTorch's allocator, read once at its first big
# allocation, hence here, before torch allocates): a training step's activations are GBs,
# and on 4-KB pages every step page-faults them in again (measured: 40x fewer page faults,
# 1.5-2x faster CPU training steps). A user's own setting wins; THP_MEM_ALLOC_ENABLE=0 disables.
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

PROJECT_NAME = "asdbench"

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
hookspec = pluggy.HookspecMarker(PROJECT_NAME)

try:
    __version__ = version(PROJECT_NAME)
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["hookimpl", "hookspec", "__version__", "PROJECT_NAME"]
