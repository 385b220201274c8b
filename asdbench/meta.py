"""The package's name, version and pluggy markers: a leaf module that imports nothing of
asdbench, so that every core module can use them without importing the package's face
(:mod:`asdbench`, which re-exports the SDK)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version

import pluggy

PROJECT_NAME = "asdbench"

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
hookspec = pluggy.HookspecMarker(PROJECT_NAME)

try:
    __version__ = version(PROJECT_NAME)
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"


@contextlib.contextmanager
def plugin_stdout() -> Iterator[None]:
    """Send what plugin code prints to stdout to stderr while the block runs, so that no
    plugin's print reaches machine-readable output (``--json``, CSV)."""
    with contextlib.redirect_stdout(sys.stderr):
        yield
