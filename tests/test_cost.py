"""Cost columns (parameters, FLOPs, CPU latency of this machine only) and the Pareto front."""

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from asdbench.config import resolve
from asdbench.cost import (
    COST_RECORD,
    add_cost_columns,
    architecture_key,
    latency,
    pareto_front,
    read_latency_records,
)
from asdbench.modelinfo import describe_model
from asdbench.plugins import get_registry

NAN = float("nan")


def test_pareto_front_on_hand_made_points():
    scores = [0.90, 0.80, 0.85, 0.90, 0.95, 0.70, NAN, 0.99, 0.60]
    costs = [10.0, 5.0, 20.0, 12.0, 30.0, 5.0, 1.0, NAN, 1.0]
    assert pareto_front(scores, costs) == [
        True,   # best score up to cost 10
        True,   # best score at cost 5
        False,  # 0.90 at cost 10 beats it
        False,  # same score, higher cost than the first
        True,   # the best score (nothing better)
        False,  # same cost as 0.80, lower score
        False,  # no score: never on the front, and it beats nothing
        False,  # no cost
        True,   # the cheapest point
    ]


def test_pareto_front_keeps_equal_points_and_handles_edges():
    assert pareto_front([0.8, 0.8], [3.0, 3.0]) == [True, True]
    assert pareto_front([], []) == []
    assert pareto_front([0.5], [2.0]) == [True]
    assert pareto_front([0.5, 0.6], [2.0, 2.0]) == [False, True]


def _record(cpu: str, key: str, fp32: float, int8: float | None, created: str) -> dict:
    rows = [{"architecture_key": key, "precision": "fp32", "ms_per_clip": fp32}]
    if int8 is not None:
        rows.append({"architecture_key": key, "precision": "int8", "ms_per_clip": int8})
    return {"benchmark": COST_RECORD, "created": created, "machine": {"cpu": cpu},
            "results": rows}


def test_latency_is_never_another_machines():
    records = [_record("CPU A", "k1", 10.0, 4.0, "2026-01-01"),
               _record("CPU A", "k1", 12.0, None, "2026-02-01"),
               _record("CPU B", "k2", 3.0, 1.0, "2026-03-01")]
    assert latency(records, "k1", "CPU A") == {"fp32": 12.0, "int8": None, "machine": "CPU A"}
    assert latency(records, "k1", "CPU B") is None  # B never measured k1
    assert latency(records, "k2", "CPU A") is None  # A's record does not hold k2
    assert latency(records, "k2", "CPU B")["fp32"] == 3.0


def test_read_latency_records_skips_others(tmp_path):
    (tmp_path / f"{COST_RECORD}.json").write_text(json.dumps(_record("X", "k", 1.0, 1.0, "t")))
    assert len(read_latency_records([tmp_path, tmp_path / "missing"])) == 1
    (tmp_path / f"{COST_RECORD}.json").write_text("{not json")
    assert read_latency_records([tmp_path]) == []


def test_architecture_key_is_the_model_not_the_training():
    base = {"frontend": "logmel", "backbone": "mobilenetv2", "method": "softmax",
            "scorer": "ce", "backbone.width": 0.5, "seed": 0, "train.lr": 1e-3,
            "data.clip_seconds": 1.0}
    key = architecture_key(base)
    assert architecture_key({**base, "seed": 3, "train.lr": 1.0,
                             "data.clip_seconds": 10.0}) == key
    assert architecture_key({**base, "backbone.width": 1.0}) != key
    assert architecture_key({**base, "scorer": "mahalanobis"}) != key


def _run_folder(tmp_path, cfg, classes):
    folder = tmp_path / "runs" / "r"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"config": cfg, "classes": classes}))
    return folder


def test_cost_columns_match_describe_and_a_hand_count(tmp_path):
    """The DCASE 2020 autoencoder on log-Mel: its FLOPs counted by hand from its layers."""
    registry = get_registry()
    cfg = dict(resolve({"frontend": "logmel", "backbone": "frames", "method": "dcase2020-ae",
                        "scorer": "method", "data.types": "fan", "data.ids_per_type": 2,
                        "data.clip_seconds": 1.0}, registry))
    folder = _run_folder(tmp_path, cfg, ["fan/00", "fan/01"])
    key = architecture_key(cfg)
    records = [_record("this CPU", key, 7.5, 2.5, "t"), _record("other CPU", key, 1.0, 0.5, "t")]
    row = {"config": json.dumps(cfg), "path": str(folder / "eval" / "exported-int8-x")}
    int8 = {**cfg, "export.precision": "int8"}
    df = pd.DataFrame([{"config": json.dumps(cfg), "path": str(folder)}, row,
                       {"config": json.dumps(int8), "path": str(folder)},
                       {"config": "", "path": None}])
    got = add_cost_columns(df, registry, records, "this CPU")
    info = describe_model({**cfg, "data.clip_seconds": 10.0}, registry, 2)
    assert got["params"].iloc[0] == info["params"] == got["params"].iloc[1]
    # one network per machine type (one type here), every 5-frame window of the clip through it
    channels, mels, frames = info["input_shape"]
    dim, units, bottleneck = channels * mels * cfg["method.frames"], cfg["method.units"], \
        cfg["method.bottleneck"]
    depth = cfg["method.depth"]
    weights = 2 * dim * units + 2 * (depth - 1) * units * units + 2 * units * bottleneck
    windows = frames - cfg["method.frames"] + 1
    assert info["flops_by_part"]["method"] == 2 * windows * weights
    assert got["gflops_10s"].iloc[0] == pytest.approx(info["flops_per_clip"] / 1e9, rel=1e-12)
    assert got["gflops_clip"].iloc[0] < got["gflops_10s"].iloc[0]  # 1-s clips
    assert list(got["cpu_ms"][:3]) == [7.5, 7.5, 2.5]  # the int8 row gets the int8 latency
    assert set(got["cpu_ms_machine"][:3]) == {"this CPU"}
    assert math.isnan(got["params"].iloc[3]) and got["cpu_ms_machine"].iloc[3] == ""
    elsewhere = add_cost_columns(df.iloc[:1], registry, records[1:], "this CPU")
    assert math.isnan(elsewhere["cpu_ms"].iloc[0]) and elsewhere["cpu_ms_machine"].iloc[0] == ""


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="Linux /proc only")
def test_peak_training_memory_on_cpu_is_the_process_peak_rss_in_mb():
    import torch

    from asdbench.run.device import peak_memory

    got = peak_memory(torch.device("cpu"))
    status = Path("/proc/self/status").read_text()
    hwm_kb = int(next(ln for ln in status.splitlines() if ln.startswith("VmHWM:")).split()[1])
    assert got["train_peak_measure"] == "process RSS (ru_maxrss)"
    assert got["train_peak_mb"] == pytest.approx(hwm_kb / 1024, rel=0.05)
