"""What every benchmark shares: the machine, its peak FLOP rate, timing, the JSON record, tables.

A record (``<out>/<name>.json``; ``--out`` defaults to ``asdbench-results/bench``, see
:mod:`asdbench.workspace`; publish with ``--out results/bench``)::

    {"benchmark": name, "schema": 1, "created": ISO time, "quick": bool, "command": argv,
     "settings": {...}, "machine": {...}, "load_avg": {"start": [1, 5, 15 min], "end": [...]},
     "peak": {"fp32_matmul_gflops": ..., ...}, "results": [row, ...], "notes": [...],
     "contention": {"self_cpu_per_thread": ..., "others_cpu_s": ..., ...}}

``contention`` says how much of the machine the run had: ``others_cpu_s`` is CPU time other
processes used meanwhile (a shared machine), ``self_cpu_per_thread`` near 1 means the threads
were never starved.

The physical limit of a figure is its FLOPs divided by ``peak`` measured in the same process
(a large matmul: the best the BLAS reaches on this machine), at the start and at the end of
the run (the better of the two counts: other processes can only slow a measurement down).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from asdbench.workspace import default_bench_out

SCHEMA_VERSION = 1
# CPU features that decide which kernels run (AVX-512 convs, bf16 dot products, AMX tiles).
INTERESTING_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile",
                     "amx_bf16")
TRAIN_FLOPS_FACTOR = 3  # forward + backward ≈ 3 forwards (backward: grads of inputs and weights)

console = Console()


# --- the machine ----------------------------------------------------------------------------


def _cpuinfo() -> dict[str, str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    first = text.split("\n\n", 1)[0]
    return {k.strip(): v.strip() for k, _, v in
            (line.partition(":") for line in first.splitlines()) if k.strip()}


def cpu_model() -> str:
    return _cpuinfo().get("model name") or platform.processor() or platform.machine()


def cpu_flags() -> list[str]:
    flags = set(_cpuinfo().get("flags", "").split())
    return [f for f in INTERESTING_FLAGS if f in flags]


def _meminfo_gb(key: str) -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith(key + ":"):
                return round(int(line.split()[1]) / 2**20, 2)
    except OSError:
        pass
    return None


def memory_available_gb() -> float | None:
    return _meminfo_gb("MemAvailable")


def load_average() -> list[float]:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return []


def cpu_times() -> dict[str, float]:
    """Machine-wide busy/idle/steal jiffies (``/proc/stat``) and this process's CPU seconds."""
    out: dict[str, float] = {"wall": time.perf_counter()}
    usage = os.times()
    # children count as this benchmark's own work (bench.memory runs `asdbench run` children)
    out["self_cpu"] = (usage.user + usage.system + usage.children_user
                       + usage.children_system)
    try:
        fields = [float(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0.0] * 8)[:8]
        out.update(busy=user + nice + system + irq + softirq, idle=idle + iowait, steal=steal)
    except (OSError, ValueError):
        pass
    return out


def contention(start: dict[str, float], end: dict[str, float], threads: int) -> dict[str, Any]:
    """How much of the machine the benchmark had: its CPU time per wall second per thread,
    and the share of the machine's busy time that was someone else's (or the hypervisor's)."""
    wall = end["wall"] - start["wall"]
    own = end["self_cpu"] - start["self_cpu"]
    out: dict[str, Any] = {"wall_s": round(wall, 1),
                           "self_cpu_per_thread": round(own / max(wall * threads, 1e-9), 3)}
    if "busy" in start and "busy" in end:
        hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        busy = (end["busy"] - start["busy"]) / hz
        total = busy + (end["idle"] - start["idle"]) / hz + (end["steal"] - start["steal"]) / hz
        out["machine_busy_fraction"] = round(busy / max(total, 1e-9), 3)
        out["others_cpu_s"] = round(max(busy - own, 0.0), 1)
        out["steal_fraction"] = round((end["steal"] - start["steal"]) / hz / max(total, 1e-9), 3)
    return out


def machine_info(device: torch.device) -> dict[str, Any]:
    """CPU model, cores, memory, kernels, torch build and the GPU when one is used."""
    from asdbench import __version__  # noqa: PLC0415
    from asdbench.run.provenance import git_commit  # noqa: PLC0415

    info: dict[str, Any] = {
        "cpu": cpu_model(), "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "torch_threads": torch.get_num_threads(), "cpu_flags": cpu_flags(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "memory_gb": _meminfo_gb("MemTotal"), "memory_available_gb": memory_available_gb(),
        "torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version(),
        "platform": platform.platform(), "mkl": torch.backends.mkl.is_available(),
        "onednn": torch.backends.mkldnn.is_available(), "asdbench": __version__,
        "git_commit": git_commit(), "device": str(device), "gpu": None,
        "cuda": torch.version.cuda,
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["gpu_memory_gb"] = round(torch.cuda.get_device_properties(device).total_memory
                                      / 2**30, 1)
    return info


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_matmul_gflops(device: torch.device, dtype: torch.dtype = torch.float32, n: int = 2048,
                       repeats: int = 10) -> float:
    """Best GFLOP/s of an ``n×n @ n×n`` matmul (2n³ FLOPs): the machine's practical peak."""
    g = torch.Generator(device="cpu").manual_seed(0)
    a = torch.randn(n, n, generator=g).to(device, dtype)
    b = torch.randn(n, n, generator=g).to(device, dtype)
    a @ b  # warm-up: thread pool, kernel choice
    sync(device)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        sync(device)
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def peaks(device: torch.device, quick: bool) -> dict[str, float]:
    n = 512 if quick else 2048
    out = {"fp32_matmul_gflops": round(peak_matmul_gflops(device, torch.float32, n), 1),
           "bf16_matmul_gflops": round(peak_matmul_gflops(device, torch.bfloat16, n), 1),
           "matmul_n": n}
    return out


# --- command line, records, tables ----------------------------------------------------------


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true",
                   help="tiny sizes (1 s clips, a few steps): checks the script, not the machine")
    p.add_argument("--out", type=Path, default=default_bench_out(),
                   help="folder of the JSON record (default: %(default)s; the published "
                   "records: results/bench)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--work", type=Path, default=None,
                   help="folder for generated WAVs and caches (default: a temporary folder)")
    return p


def setup(args: argparse.Namespace) -> torch.device:
    from asdbench.run.device import select_device  # noqa: PLC0415

    if args.threads:
        torch.set_num_threads(args.threads)
    return select_device(args.device)


def work_dir(args: argparse.Namespace) -> Path:
    if args.work is not None:
        args.work.mkdir(parents=True, exist_ok=True)
        return args.work
    return Path(tempfile.mkdtemp(prefix="asdbench-bench-"))


def start_record(name: str, args: argparse.Namespace, device: torch.device,
                 settings: dict[str, Any]) -> dict[str, Any]:
    return {"benchmark": name, "schema": SCHEMA_VERSION,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "quick": bool(args.quick), "command": [Path(sys.argv[0]).name, *sys.argv[1:]],
            "settings": settings, "machine": machine_info(device),
            "load_avg": {"start": load_average()}, "peak": peaks(device, args.quick),
            "results": [], "notes": [], "_cpu_start": cpu_times(),
            "_peak_context": (device, bool(args.quick))}


def finish_peak(record: dict[str, Any]) -> float:
    """Measure the peak again at the end (once) and keep the better value of start and end:
    other processes can only slow a measurement down. Returns the fp32 peak in GFLOP/s."""
    context = record.pop("_peak_context", None)
    if context is not None:
        start, end = dict(record["peak"]), peaks(*context)
        record["peak_measurements"] = {"start": start, "end": end}
        for key, value in end.items():
            record["peak"][key] = max(record["peak"].get(key, 0), value)
    return float(record["peak"]["fp32_matmul_gflops"])


def write_record(record: dict[str, Any], out_dir: Path) -> Path:
    """Finish ``record`` (load at the end) and write ``<out_dir>/<benchmark>.json`` atomically."""
    from asdbench.atomic import atomic_write_text  # noqa: PLC0415

    record["load_avg"]["end"] = load_average()
    finish_peak(record)
    start = record.pop("_cpu_start", None)
    if start is not None:
        record["contention"] = contention(start, cpu_times(), torch.get_num_threads())
    path = Path(out_dir) / f"{record['benchmark']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(record, indent=2, default=_json_default) + "\n")
    return path


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    return str(obj)


def print_table(title: str, rows: Sequence[dict[str, Any]],
                columns: Sequence[tuple[str, str, str]]) -> None:
    """``columns``: (row key, header, format spec such as ".1f"; "" for str())."""
    table = Table(title=title)
    for _, header, _ in columns:
        table.add_column(header, justify="right")
    for row in rows:
        cells = []
        for key, _, fmt in columns:
            value = row.get(key)
            cells.append("–" if value is None else (format(value, fmt) if fmt else str(value)))
        table.add_row(*cells)
    console.print(table)


def print_context(record: dict[str, Any]) -> None:
    m, p = record["machine"], record["peak"]
    console.print(f"[bold]{record['benchmark']}[/]  {m['cpu']}, {m['usable_cores']} cores, "
                  f"{m['torch_threads']} torch threads, torch {m['torch']}"
                  + (f", GPU {m['gpu']}" if m["gpu"] else ", no GPU")
                  + f"; peak matmul {p['fp32_matmul_gflops']} GFLOP/s fp32, "
                    f"{p['bf16_matmul_gflops']} bf16; load {record['load_avg']}")


# --- shared workloads -----------------------------------------------------------------------


def timed(fn: Callable[[], Any], device: torch.device) -> float:
    """Seconds of one call, the device synchronised before and after."""
    sync(device)
    t = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t


def median(values: Sequence[float]) -> float:
    return float(np.median(np.asarray(values, dtype=np.float64)))


def forward_flops(cfg: dict[str, Any], num_classes: int) -> int:
    """Forward FLOPs of one clip (``asdbench.modelinfo.describe_model``)."""
    from asdbench.modelinfo import describe_model  # noqa: PLC0415
    from asdbench.plugins import get_registry  # noqa: PLC0415

    return int(describe_model(cfg, get_registry(), num_classes)["flops_per_clip"])


def synthetic_config(work: Path, clip_seconds: float, train_per_id: int, *, ids: int = 2,
                     test_per_id: int = 1, **extra: Any) -> dict[str, Any]:
    """A resolved run config over a small synthetic set (one machine type) under ``work``."""
    from asdbench.config import resolve  # noqa: PLC0415
    from asdbench.plugins import get_registry  # noqa: PLC0415

    overrides = {"dataset": "synthetic", "data.root": str(work / "data"), "data.types": "fan",
                 "data.ids_per_type": ids, "data.train_per_id": train_per_id,
                 "data.test_normal_per_id": test_per_id, "data.test_anomaly_per_id": test_per_id,
                 "data.clip_seconds": float(clip_seconds), "method": "os-scl", **extra}
    return resolve(overrides, get_registry())
