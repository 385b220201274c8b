"""The package's name, version and pluggy markers: a leaf module that imports nothing of
asdbench, so that every core module can use them without importing the package's face
(:mod:`asdbench`, which re-exports the SDK)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import pluggy

PROJECT_NAME = "asdbench"

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
hookspec = pluggy.HookspecMarker(PROJECT_NAME)

try:
    __version__ = version(PROJECT_NAME)
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
