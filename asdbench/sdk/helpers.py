"""The core's cache folder, atomic folder builds and progress bars, for plugins.

Thin, stable wrappers: the modules behind them (:mod:`asdbench.cache` imports torch) are
imported on first use, so importing :mod:`asdbench.sdk` stays light.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.progress import Progress


def cache_dir() -> Path:
    """asdbench's cache folder: ``$ASDBENCH_CACHE`` if set, else ``~/.cache/asdbench``
    (e.g. where a generated dataset is written when the user gives no ``data.root``)."""
    from asdbench.cache import default_cache_dir  # here: asdbench.cache imports torch

    return default_cache_dir()


def is_complete(path: str | os.PathLike) -> bool:
    """True when ``path`` is a folder finished by :func:`atomic_dir`."""
    from asdbench.cache import is_complete as complete

    return complete(path)


def atomic_dir(target: str | os.PathLike,
               meta: dict[str, Any] | None = None) -> AbstractContextManager[Path]:
    """``with atomic_dir(folder, meta) as tmp:`` write into ``tmp``; on success it becomes
    ``folder`` with a completion marker (``meta`` as JSON), on failure nothing is left."""
    from asdbench.cache import atomic_dir as build

    return build(target, meta)


def progress(enabled: bool = True) -> Progress:
    """A rich progress bar on stderr (``with progress() as bar: bar.add_task(...)``);
    ``enabled=False`` draws nothing (tests, ``--json``)."""
    from asdbench.progress import make_progress

    return make_progress(enabled)


__all__ = ["cache_dir", "is_complete", "atomic_dir", "progress"]
