"""A matrix's bookkeeping folder, ``RESULTS/matrix/<name>/``.

``cells/<run_id>.toml`` (each cell's settings, passed to its process), ``logs/<key>.log``
(each cell's output), ``failures.jsonl`` (one line per failed attempt, appended by every
matrix process sharing the folder) and ``status.json`` (what the last invocation did).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from asdbench.atomic import atomic_write_text


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")


class MatrixFolder:
    """Paths and writers of one matrix's bookkeeping folder."""

    def __init__(self, results_dir: str | Path, name: str) -> None:
        self.path = Path(results_dir) / "matrix" / name

    @property
    def failures_path(self) -> Path:
        return self.path / "failures.jsonl"

    @property
    def status_path(self) -> Path:
        return self.path / "status.json"

    def cell_file(self, run_id: str) -> Path:
        return self.path / "cells" / f"{run_id}.toml"

    def log_path(self, key: str) -> Path:
        return self.path / "logs" / f"{key}.log"

    def append_failure(self, record: dict[str, Any]) -> None:
        _append_jsonl(self.failures_path, record)

    def read_failures(self) -> list[dict[str, Any]]:
        """Every failure record, skipping a line cut short by a crash."""
        if not self.failures_path.exists():
            return []
        out = []
        for line in self.failures_path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out

    def write_status(self, status: dict[str, Any]) -> None:
        atomic_write_text(self.status_path, json.dumps(status, indent=2))


def matrix_dir(results_dir: str | Path, name: str) -> Path:
    return MatrixFolder(results_dir, name).path


def read_failures(results_dir: str | Path, name: str) -> list[dict[str, Any]]:
    return MatrixFolder(results_dir, name).read_failures()


def _append_jsonl(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # One write() of one line on an O_APPEND file: concurrent matrix processes never interleave.
    line = (json.dumps(record, default=str) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
