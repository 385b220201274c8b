"""Peak memory of ``asdbench run``: resident set (CPU) and, on a GPU, peak allocated memory.

Each size runs ``python -m asdbench run ...`` as a child process (a fresh cache, a fresh
results folder); its peak RSS is the child's ``ru_maxrss`` (``os.wait4``, cross-checked with
``resource.getrusage(RUSAGE_CHILDREN)``). Sizes:

- ``default``: the defaults of ``asdbench run`` (synthetic set, TFSTgram, OS-SCL, and the
  synthetic dataset's own defaults: 2-s clips, batch 32), one epoch;
- ``paper``: 10-s clips at batch 64 (the paper's step), one step of training then evaluation.

The floor of training memory is what autograd saves for the backward pass: measured here per
clip with ``torch.autograd.graph.saved_tensors_hooks`` (unique storages), times the batch.
The child also reports peak GPU memory (``torch.cuda.max_memory_allocated``) when it ran on one.
Usage: ``python -m bench.memory [--quick]``.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

from bench.common import (
    console,
    memory_available_gb,
    parser,
    print_context,
    print_table,
    setup,
    start_record,
    work_dir,
    write_record,
)

NAME = "memory"
# Runs inside the child: the CLI as `asdbench` runs it, then the GPU peak to a file.
CHILD = r"""
import json, sys, torch
out, argv = sys.argv[1], sys.argv[2:]
sys.argv = ["asdbench", *argv]
from asdbench.cli import main
code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
peak = {}
if torch.cuda.is_available() and torch.cuda.max_memory_allocated() > 0:
    peak = {"gpu_max_allocated_mb": torch.cuda.max_memory_allocated() / 2**20,
            "gpu_max_reserved_mb": torch.cuda.max_memory_reserved() / 2**20}
json.dump(peak, open(out, "w"))
sys.exit(code)
"""
# The floor of every run: the interpreter with torch, asdbench and its plugins imported.
BASELINE = r"""
import torch, asdbench.run.pipeline
from asdbench.plugins import get_registry
get_registry()
"""


def saved_activation_bytes(frontend: str, clip_seconds: float, batch: int = 2) -> int:
    """Bytes autograd keeps for backward for ``batch`` clips (unique storages)."""
    from asdbench.config import resolve  # noqa: PLC0415
    from asdbench.model import build_model  # noqa: PLC0415
    from asdbench.modelinfo import PAPER_NUM_CLASSES, audio_spec  # noqa: PLC0415
    from asdbench.plugins import get_registry  # noqa: PLC0415

    registry = get_registry()
    cfg = resolve({"frontend": frontend, "method": "os-scl", "data.clip_seconds": clip_seconds},
                  registry)
    audio = audio_spec(cfg)
    model = build_model(cfg, registry, audio, PAPER_NUM_CLASSES).train()
    wave = 0.1 * torch.randn(batch, audio.num_samples)
    with torch.no_grad():
        feats = model.frontend.features(wave)
    y = torch.arange(batch) % PAPER_NUM_CLASSES
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor):
        if t.device.type == "cpu" and t.untyped_storage().data_ptr() not in seen:
            seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss, _ = model.loss(wave, feats, y, y.flip(0), 0.5)
    del loss
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    return sum(n for ptr, n in seen.items() if ptr not in params)


def run_child(args: list[str], env: dict[str, str], workdir: Path,
              code: str = CHILD) -> dict:
    """Run ``asdbench <args>`` in a child; its peak RSS, GPU peak, wall time and output tail."""
    tag = time.monotonic_ns()
    peak_file, out_file, err_file = (workdir / f"{kind}-{tag}.txt" for kind in
                                     ("peak", "stdout", "stderr"))
    cmd = [sys.executable, "-c", code, str(peak_file), *args]
    t = time.perf_counter()
    with out_file.open("wb") as out, err_file.open("wb") as err:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err)
        # wait4 gives this child's own rusage (RUSAGE_CHILDREN is the max over all children)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"asdbench {' '.join(args)} failed ({proc.returncode}):\n"
                           f"{err_file.read_text()[-2000:]}")
    info = json.loads(peak_file.read_text()) if peak_file.exists() else {}
    info["peak_rss_mb"] = usage.ru_maxrss / 1024
    info["wall_s"] = wall
    info["stdout_tail"] = out_file.read_text()[-500:]
    return info


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--sizes", default=None, help="comma list of default,paper (quick: tiny)")
    args = p.parse_args(argv)
    device = setup(args)
    work = work_dir(args)
    sizes = (args.sizes or ("tiny" if args.quick else "default,paper")).split(",")
    record = start_record(NAME, args, device, {"sizes": sizes})
    print_context(record)
    common = ["run", "--quiet", "--json", "--device", str(device), "--seed", "0"]
    specs = {
        "tiny": ["--frontend", "tfstgram", "--epochs", "1", "--batch-size", "4",
                 "--set", "data.types=fan", "--set", "data.ids_per_type=2",
                 "--set", "data.train_per_id=4", "--set", "data.test_normal_per_id=1",
                 "--set", "data.test_anomaly_per_id=1", "--set", "data.clip_seconds=1.0"],
        "default": ["--epochs", "1"],
        "paper": ["--frontend", "tfstgram", "--epochs", "1", "--batch-size", "64",
                  "--set", "data.types=fan", "--set", "data.ids_per_type=2",
                  "--set", "data.train_per_id=34", "--set", "data.test_normal_per_id=4",
                  "--set", "data.test_anomaly_per_id=4", "--set", "data.clip_seconds=10.0",
                  "--set", "train.max_steps_per_epoch=1"],
    }
    base = run_child([], dict(os.environ), work, BASELINE)
    record["baseline_rss_mb"] = base["peak_rss_mb"]
    rows = []
    for size in sizes:
        for old in (work / f"cache-{size}", work / f"results-{size}"):  # a finished run is
            shutil.rmtree(old, ignore_errors=True)  # returned as is: start from scratch
        env = dict(os.environ, ASDBENCH_CACHE=str(work / f"cache-{size}"))
        if args.threads:
            env["OMP_NUM_THREADS"] = str(args.threads)
        run_args = [*common, "--results", str(work / f"results-{size}"),
                    "--set", f"data.root={work / 'data'}", *specs[size]]
        available = memory_available_gb()
        console.print(f"  {size}: asdbench {' '.join(specs[size])}  "
                      f"(memory available {available} GB)")
        info = run_child(run_args, env, work)
        # the sizes the run really used (dataset plugins may set their own defaults)
        run_info = json.loads(next((work / f"results-{size}").glob("runs/*/config.json"))
                              .read_text())
        frontend = run_info["config"]["frontend"]
        clip = float(run_info["audio"]["clip_seconds"])
        batch = int(run_info["config"]["train.batch_size"])
        saved = saved_activation_bytes(frontend, clip, 2) / 2  # BN needs 2 clips in training
        row = {"size": size, "frontend": frontend, "clip_seconds": clip, "batch_size": batch,
               "args": specs[size], "peak_rss_mb": info.get("peak_rss_mb"),
               "gpu_max_allocated_mb": info.get("gpu_max_allocated_mb"),
               "gpu_max_reserved_mb": info.get("gpu_max_reserved_mb"),
               "wall_s": info["wall_s"], "memory_available_gb_before": available,
               "saved_activations_mb_per_clip": saved / 2**20,
               "activation_floor_mb": batch * saved / 2**20,
               "above_baseline_mb": info.get("peak_rss_mb", 0) - base["peak_rss_mb"]}
        rows.append(row)
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    record["rusage_children_max_rss_mb"] = children
    record["results"] = rows
    record["notes"].append("peak_rss_mb: the child's ru_maxrss (os.wait4); baseline_rss_mb: "
                           "a child that only imports torch, asdbench and its plugins; "
                           "rusage_children_max_rss_mb: getrusage(RUSAGE_CHILDREN), the max over "
                           "all children; activation_floor_mb = batch x tensors saved for "
                           "backward per clip (training cannot need less)")
    path = write_record(record, args.out)
    print_table(f"peak memory of asdbench run ({device})", rows, [
        ("size", "size", ""), ("clip_seconds", "clip s", "g"), ("batch_size", "batch", "d"),
        ("peak_rss_mb", "peak RSS MB", ".0f"), ("gpu_max_allocated_mb", "GPU peak MB", ".0f"),
        ("above_baseline_mb", "above imports MB", ".0f"),
        ("activation_floor_mb", "activation floor MB", ".0f"), ("wall_s", "wall s", ".0f")])
    console.print(f"baseline (python + torch + asdbench imported): {base['peak_rss_mb']:.0f} MB")
    console.print(f"wrote {path}")


if __name__ == "__main__":
    main()
