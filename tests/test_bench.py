"""Every benchmark script runs in its tiny mode and writes a record of the documented shape."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# per benchmark: keys every result row must have (numbers must be finite and > 0 where listed)
ROW_KEYS = {
    "train_throughput": {"frontend": str, "pipeline": str, "clips_per_s": float,
                         "ratio_vs_naive": float, "data_ms_per_step": float,
                         "compute_ms_per_step": float, "bound_clips_per_s": float,
                         "fraction_of_peak": float},
    "data": {"step": str, "clips": int, "seconds": float, "clips_per_s": float},
    "inference": {"frontend": str, "variant": str, "batch": int, "threads": int,
                  "ms_per_clip": float, "clips_per_s": float, "bound_ms_per_clip": float,
                  "speedup_vs_eager": float},
    "memory": {"size": str, "peak_rss_mb": float, "activation_floor_mb": float,
               "wall_s": float},
    "schedule": {"frontend": str, "train_clips": int, "clips_per_s": float,
                 "epoch_s_measured": float, "paper_epoch_s": float,
                 "paper_schedule_hours": float},
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ROW_KEYS))
def test_benchmark_quick_mode_writes_its_record(name, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-m", f"bench.{name}", "--quick", "--threads", "1", "--device", "cpu",
         "--out", str(tmp_path / "out"), "--work", str(tmp_path / "work")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads((tmp_path / "out" / f"{name}.json").read_text())
    assert record["benchmark"] == name and record["schema"] == 1 and record["quick"] is True
    machine = record["machine"]
    for key in ("cpu", "logical_cores", "torch", "torch_threads", "device"):
        assert machine[key], key
    assert machine["gpu"] is None and machine["torch_threads"] == 1  # --device cpu
    assert len(record["load_avg"]["start"]) == 3 and len(record["load_avg"]["end"]) == 3
    assert record["contention"]["wall_s"] > 0 and "_cpu_start" not in record
    assert record["peak"]["fp32_matmul_gflops"] > 0
    rows = record["results"]
    assert rows
    for row in rows:
        for key, kind in ROW_KEYS[name].items():
            value = row[key]
            assert isinstance(value, kind) or (kind is float and isinstance(value, int)), key
            if kind is float:
                assert math.isfinite(value) and value > 0, (key, value)
    if name == "train_throughput":
        assert {r["pipeline"] for r in rows} >= {"engine", "naive"}
        assert {r["frontend"] for r in rows} == {"tfstgram", "logmel"}
        for frontend in ("tfstgram", "logmel"):
            mine = {r["pipeline"]: r for r in rows if r["frontend"] == frontend}
            engine = mine["engine"]
            assert engine["ratio_vs_naive"] == pytest.approx(
                engine["clips_per_s"] / mine["naive"]["clips_per_s"])
            # the bound uses the peak of the precision the pipeline runs in (fp32 on a CPU)
            assert engine["peak_dtype"] == "fp32" and engine["bound_clips_per_s"] == pytest.approx(
                record["peak"]["fp32_matmul_gflops"] / (3 * engine["forward_gflop_per_clip"]))
    if name == "schedule":
        row = rows[0]
        assert row["paper_schedule_hours"] == pytest.approx(300 * row["paper_epoch_s"] / 3600)
        assert row["paper_epoch_s"] == pytest.approx(
            41_000 * 0.95 / row["clips_per_s"] + row["overhead_s_per_epoch"] * 41_000
            / (record["settings"]["train_per_id"] * record["settings"]["classes"]))
    if name == "inference":
        assert {r["variant"] for r in rows} == {"eager", "eager+speed", "torchscript",
                                                "torchscript+opt"}
    if name == "memory":
        assert record["baseline_rss_mb"] > 0
        assert rows[0]["peak_rss_mb"] > record["baseline_rss_mb"]
