"""asdbench: a plugin-based benchmark for unsupervised anomalous sound detection of machines.

A plugin needs only ``from asdbench import hookimpl``; the hooks it may implement are
documented in :mod:`asdbench.hookspecs`.
"""

from importlib.metadata import PackageNotFoundError, version

import pluggy

PROJECT_NAME = "asdbench"

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
hookspec = pluggy.HookspecMarker(PROJECT_NAME)

try:
    __version__ = version(PROJECT_NAME)
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["hookimpl", "hookspec", "__version__", "PROJECT_NAME"]
