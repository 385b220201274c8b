"""Claims: which process trains which run, as files ``RESULTS/claims/<run_id>.claim``.

One mechanism for ``asdbench matrix`` (a claim per cell) and ``asdbench run`` (the run folder's
lock, :meth:`asdbench.run.rundir.RunDir.training_lock`): never two trainings in one folder.
A matrix hands its claim to the cell's process through :data:`CLAIM_ENV` (the claim's token).
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asdbench.atomic import atomic_write_text

# A claim whose heartbeat is this old is stale, whoever holds it (a PID can be reused).
STALE_AFTER_S = 600.0
HEARTBEAT_S = 30.0
# The environment variable that gives a cell's process the token of the claim its matrix
# holds for it: that process trains under its parent's claim instead of taking its own.
CLAIM_ENV = "ASDBENCH_CLAIM_TOKEN"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    except OSError:
        return False
    return True


@dataclass
class Claim:
    path: Path
    info: dict[str, Any]


class Claims:
    """Exclusive claims on cells, as files ``RESULTS/claims/<run_id>.claim``.

    Creating the file with ``O_CREAT | O_EXCL`` is atomic, so of two processes claiming a
    cell exactly one wins. A claim is stale (and may be taken over) when its heartbeat (the
    file's mtime, refreshed by the holder) is older than ``stale_after``, whatever its PIDs
    (one may have been reused by an unrelated process), or sooner when its host is this host
    and none of its processes (the matrix and the cell's subprocess) is alive.
    """

    def __init__(self, results_dir: Path, owner: str = "", stale_after: float = STALE_AFTER_S):
        self.dir = Path(results_dir) / "claims"
        self.host = socket.gethostname()
        self.owner = owner
        self.stale_after = stale_after
        self.held: dict[str, Claim] = {}
        self._lock = threading.Lock()

    def path(self, key: str) -> Path:
        return self.dir / f"{key}.claim"

    def holder(self, key: str) -> dict[str, Any] | None:
        """The claim's content, or ``None`` when the cell is not claimed."""
        try:
            return json.loads(self.path(key).read_text() or "{}")
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, OSError):
            return {}  # being written right now, or garbage: treated by age alone

    def is_stale(self, key: str, info: dict[str, Any] | None = None) -> bool:
        path = self.path(key)
        info = self.holder(key) if info is None else info
        try:
            age = time.time() - path.stat().st_mtime
        except FileNotFoundError:
            return False
        if age > self.stale_after:
            return True
        if info and info.get("host") == self.host:
            pids = [p for p in (info.get("pid"), info.get("child")) if isinstance(p, int)]
            return bool(pids) and not any(_pid_alive(p) for p in pids)
        return False

    def acquire(self, key: str) -> Claim | None:
        """Claim a cell; ``None`` when a live process holds it."""
        self.dir.mkdir(parents=True, exist_ok=True)
        info = {"pid": os.getpid(), "host": self.host, "owner": self.owner,
                "since": time.strftime("%Y-%m-%dT%H:%M:%S"), "token": uuid.uuid4().hex}
        for _ in range(3):
            try:
                fd = os.open(self.path(key), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                seen = self.holder(key)
                if seen is None or not self.is_stale(key, seen):
                    if seen is None:
                        continue  # released in between: try again
                    return None
                self._break(key, seen)
                continue
            with os.fdopen(fd, "w") as fh:
                json.dump(info, fh)
            claim = Claim(self.path(key), info)
            with self._lock:
                self.held[key] = claim
            return claim
        return None

    def _break(self, key: str, seen: dict[str, Any]) -> None:
        """Remove a stale claim without ever removing a fresh one taken in the meantime."""
        path = self.path(key)
        aside = path.with_name(f"{path.name}.stale-{os.getpid()}-{threading.get_ident()}")
        try:
            os.rename(path, aside)  # atomic: of several breakers exactly one moves the file
        except FileNotFoundError:
            return
        try:
            moved = json.loads(aside.read_text() or "{}")
        except (json.JSONDecodeError, OSError):
            moved = {}
        if moved != seen:  # a fresh claim slipped in: put it back unless yet another exists
            try:
                os.link(aside, path)
            except FileExistsError:
                pass
        aside.unlink(missing_ok=True)

    def token(self, key: str) -> str:
        """The token of a held claim, which its cell's process receives in :data:`CLAIM_ENV`."""
        return str(self.held[key].info["token"])

    def set_child(self, key: str, pid: int) -> None:
        """Record the cell's subprocess so a restart sees it as alive while it runs."""
        claim = self.held.get(key)
        if claim is None:
            return
        claim.info["child"] = pid
        atomic_write_text(claim.path, json.dumps(claim.info))

    def release(self, key: str) -> None:
        with self._lock:
            claim = self.held.pop(key, None)
        if claim is not None:
            claim.path.unlink(missing_ok=True)

    def release_all(self) -> None:
        for key in list(self.held):
            self.release(key)

    def heartbeat(self) -> None:
        with self._lock:
            claims = list(self.held.values())
        for claim in claims:
            try:
                os.utime(claim.path)
            except FileNotFoundError:
                pass


class Heartbeat(threading.Thread):
    """Refreshes the held claims' mtime every ``every`` seconds until ``stop`` is set."""

    def __init__(self, claims: Claims, every: float = HEARTBEAT_S):
        super().__init__(daemon=True, name="asdbench-claim-heartbeat")
        self.claims, self.every, self.stop = claims, every, threading.Event()

    def run(self) -> None:
        while not self.stop.wait(self.every):
            self.claims.heartbeat()


def held_for_this_process(info: dict[str, Any] | None) -> bool:
    """Whether a claim is the one this process's parent took for it (:data:`CLAIM_ENV`)."""
    token = os.environ.get(CLAIM_ENV)
    return bool(token) and bool(info) and info.get("token") == token


def describe_holder(info: dict[str, Any] | None) -> str:
    """Who holds a claim, in words: ``matrix quick (pid 123 on host, since 2026-...)``."""
    info = info or {}
    where = f"pid {info.get('pid', '?')} on {info.get('host', '?')}"
    since = f", since {info['since']}" if info.get("since") else ""
    return f"{info.get('owner') or 'another process'} ({where}{since})"
