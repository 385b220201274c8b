"""Which GPU a local cell runs on: several cells per GPU, each placed where its memory fits.

With ``cells_per_gpu = N`` and G visible GPUs up to N x G cells run at once, never more than
N on one device. A cell is placed on the least busy device whose free memory covers the
cell's need, less what the cells started there still have to allocate (a cell takes seconds
to reach its peak, so the free figure alone would let N cells start into memory that only
one of them will get). The need is a measured figure once there is one (the peak a cell of
this matrix reached on its GPU, sampled with nvidia-smi while it runs), else the estimate
``gpu_memory_per_cell``, else unknown (no memory check). A cell that fits nowhere waits for
memory to free up, unless nothing of this matrix runs on a device: then it starts there
anyway (with a warning), so the matrix never waits for memory that only others can free.

Free memory comes from ``nvidia-smi``; where it is missing or fails, memory is "unknown"
and never blocks. A cell's own figure is matched by process id, so inside a container whose
process ids nvidia-smi does not share it stays unmeasured and the estimate is the need. Only the standard library is used: the matrix process never loads CUDA.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from asdbench.registry import AsdbenchError

# device id (as in CUDA_VISIBLE_DEVICES: an index or a UUID) -> free bytes; {} = unknown
FreeMemory = Callable[[], dict[str, int]]
# process id -> bytes it holds on a GPU; {} = unknown
ProcessMemory = Callable[[], dict[int, int]]

GiB = 2**30
_UNITS = {"b": 1, "k": 2**10, "kib": 2**10, "kb": 10**3, "m": 2**20, "mib": 2**20,
          "mb": 10**6, "g": GiB, "gib": GiB, "gb": 10**9, "t": 2**40, "tib": 2**40,
          "tb": 10**12}
MPS_DEFAULT_PIPE = "/tmp/nvidia-mps"
NVIDIA_SMI_TIMEOUT_S = 10.0


def parse_memory(text: str | int | float, source: str = "gpu_memory_per_cell") -> int:
    """Bytes from ``"6GiB"``, ``"5.5 GB"``, ``"6000MiB"`` (``G``/``M`` alone are binary)."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]+)\s*", str(text))
    unit = match and _UNITS.get(match.group(2).lower())
    if not match or not unit:
        raise AsdbenchError(f"{source}: {text!r} is not a memory size; give a number and a "
                            "unit, e.g. 6GiB, 5.5GB or 6000MiB")
    return int(float(match.group(1)) * unit)


def format_memory(nbytes: int | None) -> str:
    return "unknown" if nbytes is None else f"{nbytes / GiB:.1f} GiB"


def _nvidia_smi(query: str) -> list[list[str]]:
    """Rows of ``nvidia-smi --query-<query> --format=csv,noheader,nounits`` ([] on failure)."""
    try:
        out = subprocess.run(["nvidia-smi", f"--query-{query}", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=NVIDIA_SMI_TIMEOUT_S,
                             check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [[part.strip() for part in line.split(",")] for line in out.splitlines() if line]


def nvidia_smi_free() -> dict[str, int]:
    """Free memory of every GPU, keyed by its index and its UUID (nvidia-smi counts in MiB).

    nvidia-smi numbers devices in PCI order; so does CUDA when ``CUDA_DEVICE_ORDER=PCI_BUS_ID``
    (its default orders the fastest first, which differs only on machines with mixed GPUs).
    """
    free: dict[str, int] = {}
    for row in _nvidia_smi("gpu=index,uuid,memory.free"):
        try:
            index, uuid, mib = row[0], row[1], int(float(row[2]))
        except (IndexError, ValueError):  # "[N/A]": that device's figure is unknown
            continue
        free[index] = free[uuid] = mib * 2**20
    return free


def nvidia_smi_process_memory() -> dict[int, int]:
    """GPU memory held by each process (its CUDA context, caching allocator and tensors)."""
    used: dict[int, int] = {}
    for row in _nvidia_smi("compute-apps=pid,used_memory"):
        try:
            pid, mib = int(row[0]), int(float(row[1]))
        except (IndexError, ValueError):
            continue
        used[pid] = used.get(pid, 0) + mib * 2**20  # one process may hold several devices
    return used


def mps_pipe_dir(environ: dict[str, str] | None = None) -> Path | None:
    """The pipe folder of a running CUDA MPS control daemon, or None.

    The daemon (``nvidia-cuda-mps-control -d``) creates its ``control`` pipe there; clients
    find it through ``CUDA_MPS_PIPE_DIRECTORY`` (default ``/tmp/nvidia-mps``).
    """
    env = os.environ if environ is None else environ
    folder = Path(env.get("CUDA_MPS_PIPE_DIRECTORY") or MPS_DEFAULT_PIPE)
    return folder if (folder / "control").exists() else None


@dataclass
class Placement:
    """One cell placed on a device: its process id once started, the peak it reached."""

    gpu: str
    pid: int | None = None
    peak: int = 0
    current: int = 0


@dataclass
class GpuSlots:
    """Places cells on devices: at most ``per_gpu`` per device, where memory fits."""

    gpus: list[str]
    per_gpu: int = 1
    estimate: int | None = None  # bytes per cell, from gpu_memory_per_cell
    free_memory: FreeMemory = nvidia_smi_free
    process_memory: ProcessMemory = nvidia_smi_process_memory
    refresh_s: float = 2.0  # how old a free-memory or per-process reading may be
    placed: dict[int, Placement] = field(default_factory=dict)  # job key -> placement
    finished_peaks: list[int] = field(default_factory=list)
    waiting: str | None = None  # why the last pick found no device
    _free: dict[str, int] = field(default_factory=dict)
    _free_at: float = -1e9
    _sampled_at: float = -1e9

    def need(self) -> int | None:
        """A cell's memory: the peak of a finished cell; before that, the larger of the
        estimate and what running cells hold already; None when nothing is known."""
        if self.finished_peaks:
            return max(self.finished_peaks)
        running = max((p.peak for p in self.placed.values()), default=0)
        return max(self.estimate or 0, running) or None

    def load(self, gpu: str) -> int:
        return sum(p.gpu == gpu for p in self.placed.values())

    def pick(self) -> tuple[str | None, str | None]:
        """``(device, warning)``: the device for the next cell, or ``(None, None)`` when it
        must wait (the reason is in ``waiting``)."""
        open_ = [g for g in self.gpus if self.load(g) < self.per_gpu]
        if not open_:
            self.waiting = None
            return None, None
        open_.sort(key=self.load)  # stable: the first listed of the least busy
        need = self.need()
        if need is None:
            self.waiting = None
            return open_[0], None
        free = self._read_free()
        for gpu in open_:
            avail = self.available(gpu, free)
            if avail is None or avail >= need:
                self.waiting = None
                return gpu, None
        idle = [g for g in open_ if self.load(g) == 0]
        if idle:
            self.waiting = None
            return idle[0], (f"GPU {idle[0]}: {format_memory(free.get(idle[0]))} free, below "
                             f"the {format_memory(need)} a cell needs; starting anyway "
                             "(no cell of this matrix runs there to free any)")
        left = {g: self.available(g, free) for g in open_}  # what other cells leave over
        self.waiting = (f"waiting for GPU memory: a cell needs {format_memory(need)}, free "
                        + ", ".join(f"{g}: {format_memory(None if a is None else max(0, a))}"
                                    for g, a in left.items()))
        return None, None

    def available(self, gpu: str, free: dict[str, int]) -> int | None:
        """Free memory of ``gpu`` less what the cells placed there have yet to allocate."""
        if gpu not in free:
            return None
        need = self.need() or 0
        pending = sum(max(0, need - p.current) for p in self.placed.values() if p.gpu == gpu)
        return free[gpu] - pending

    def place(self, key: int, gpu: str) -> None:
        self.placed[key] = Placement(gpu)
        self._free_at = -1e9  # a new cell changes what is free: read again next time

    def started(self, key: int, pid: int | None) -> None:
        self.placed[key].pid = pid

    def release(self, key: int) -> int | None:
        """The cell ended: its device is free again; returns its peak (None: never seen)."""
        placement = self.placed.pop(key, None)
        self._free_at = -1e9
        if placement is None or not placement.peak:
            return None
        self.finished_peaks.append(placement.peak)
        return placement.peak

    def sample(self, now: float | None = None) -> None:
        """Record what each running cell holds on its GPU (at most every ``refresh_s``)."""
        now = time.monotonic() if now is None else now
        if not self.placed or now - self._sampled_at < self.refresh_s:
            return
        self._sampled_at = now
        used = self.process_memory()
        for placement in self.placed.values():
            if placement.pid in used:
                placement.current = used[placement.pid]
                placement.peak = max(placement.peak, placement.current)

    def _read_free(self) -> dict[str, int]:
        now = time.monotonic()
        if now - self._free_at >= self.refresh_s:
            self._free, self._free_at = self.free_memory(), now
        return self._free
