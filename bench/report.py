"""Markdown tables of the benchmark records, for ``results/BENCHMARKS.md``.

Usage: ``python -m bench.report [--dir results/bench]`` prints one section per record found
(default folder: ``asdbench-results/bench``, where the scripts write without ``--out``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from asdbench.workspace import default_bench_out

COLUMNS: dict[str, list[tuple[str, str, str]]] = {
    "train_throughput": [
        ("frontend", "frontend", ""), ("pipeline", "pipeline", ""),
        ("clips_per_s", "clips/s", ".2f"), ("ratio_vs_naive", "× naive", ".2f"),
        ("data_ms_per_step", "data ms/step", ".1f"), ("compute_ms_per_step", "compute ms/step", ".0f"),
        ("first_step_s", "first step s", ".1f"), ("bound_clips_per_s", "peak-bound clips/s", ".1f"),
        ("fraction_of_peak", "of peak", ".0%")],
    "data": [
        ("step", "step", ""), ("clips_per_s", "clips/s", ".0f"), ("ms_per_clip", "ms/clip", ".2f"),
        ("seconds", "total s", ".3f"), ("bound_s", "memcpy bound s", ".3f")],
    "inference": [
        ("frontend", "frontend", ""), ("variant", "variant", ""), ("batch", "batch", "d"),
        ("threads", "threads", "d"), ("ms_per_clip", "ms/clip (median)", ".1f"),
        ("ms_per_clip_min", "min", ".1f"),
        ("clips_per_s", "clips/s", ".1f"), ("speedup_vs_eager", "× eager", ".2f"),
        ("bound_ms_per_clip", "bound ms", ".1f"), ("fraction_of_peak", "of peak", ".0%")],
    "memory": [
        ("size", "size", ""), ("clip_seconds", "clip s", "g"), ("batch_size", "batch", "d"),
        ("peak_rss_mb", "peak RSS MB", ".0f"), ("above_baseline_mb", "above imports MB", ".0f"),
        ("activation_floor_mb", "activation floor MB", ".0f"),
        ("gpu_max_allocated_mb", "GPU peak MB", ".0f"), ("wall_s", "wall s", ".0f")],
}


def _cell(value: Any, fmt: str) -> str:
    if value is None:
        return "–"
    return format(value, fmt) if fmt else str(value)


def markdown_table(rows: list[dict[str, Any]], columns: list[tuple[str, str, str]]) -> str:
    lines = ["| " + " | ".join(h for _, h, _ in columns) + " |",
             "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(k), f) for k, _, f in columns) + " |")
    return "\n".join(lines)


def context(record: dict[str, Any]) -> str:
    m, p = record["machine"], record["peak"]
    c = record.get("contention", {})
    gpu = m.get("gpu") or "no GPU"
    return (f"{record['created']}; {m['cpu']} ({m['usable_cores']} cores, "
            f"{', '.join(m['cpu_flags'])}), {m['torch_threads']} torch threads, torch "
            f"{m['torch']}, {gpu}; peak matmul {p['fp32_matmul_gflops']} GFLOP/s fp32, "
            f"{p['bf16_matmul_gflops']} bf16; load average {record['load_avg']['start']} → "
            f"{record['load_avg']['end']}; other processes used {c.get('others_cpu_s', '?')} "
            f"CPU-s during its {c.get('wall_s', '?')} s")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dir", type=Path, default=default_bench_out(),
                   help="folder of the records (default: %(default)s; the published ones: "
                   "results/bench)")
    args = p.parse_args(argv)
    for name, columns in COLUMNS.items():
        path = args.dir / f"{name}.json"
        if not path.exists():
            continue
        record = json.loads(path.read_text())
        print(f"### {name}\n\n{context(record)}\n")
        print(markdown_table(record["results"], columns) + "\n")


if __name__ == "__main__":
    main()
