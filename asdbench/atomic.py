"""Atomic file writes: a reader sees the old file or the new one, never half of either."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _umask() -> int:
    try:  # Linux says it without changing it (os.umask would, briefly, for every thread)
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o22)
    os.umask(mask)
    return mask


# What every temporary name of :func:`atomic_path` holds (``.<name>.asdtmp-XXXX<suffix>``).
TEMP_MARK = ".asdtmp-"


@contextmanager
def atomic_path(path: str | Path, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary path beside ``path`` for a writer (``torch.save``, ``savefig``, ...) to fill;
    on success it is fsynced, given the mode ``open()`` would give (0666 less the umask) and
    renamed onto ``path``; on failure removed. ``suffix`` keeps the extension for writers
    that pick the format from it. A killed writer's leftover: :func:`sweep_temp_files`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}{TEMP_MARK}", suffix=suffix,
                                dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
            # mkstemp creates 0600, and a writer may replace the file (safetensors does):
            # the mode is set on what the writer left, so a shared results folder stays
            # readable by the team
            os.fchmod(fh.fileno(), 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` as UTF-8 atomically; a file name read from disk that is not UTF-8
    (held as surrogates) is written back as the bytes it was."""
    return atomic_write_bytes(path, text.encode("utf-8", "surrogateescape"))


def unwritable_reason(folder: str | Path) -> str | None:
    """Why ``folder`` (created if missing) cannot take a new file, or None if it can: checked
    by writing one, so that a command fails before its work, not after it."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            return None
    except OSError as exc:
        return exc.strerror or type(exc).__name__


def sweep_temp_files(folder: str | Path, min_age: float = 0.0) -> list[Path]:
    """Remove the temporary files :func:`atomic_path` left in ``folder`` and its sub-folders
    (a killed writer's), those at least ``min_age`` seconds old; returns them. Only for a
    folder no other process writes (a run folder under its lock)."""
    now, removed = time.time(), []
    for tmp in Path(folder).rglob(f".*{TEMP_MARK}*"):
        try:
            if tmp.is_file() and now - tmp.lstat().st_mtime >= min_age:
                tmp.unlink()
                removed.append(tmp)
        except OSError:
            pass
    return removed
