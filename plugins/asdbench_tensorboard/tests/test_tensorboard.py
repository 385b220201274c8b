"""The shipped TensorBoard plugin: off by default, on with ASDBENCH_TENSORBOARD=DIR; a run's
event files hold its train log and final metrics."""

from __future__ import annotations

import json
import sys

import pytest
from asdbench_tensorboard import plugin as tb

from asdbench import plugins
from asdbench.config import resolve
from asdbench.registry import AsdbenchError
from asdbench.run.pipeline import train_and_evaluate
from asdbench.testing import TINY_RUN

pytest.importorskip("tensorboard", reason="tensorboard not installed (the dev extra has it)")
from tensorboard.backend.event_processing.event_accumulator import (  # noqa: E402
    EventAccumulator,
)


def _events(folder) -> EventAccumulator:
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    return acc


def test_plugin_is_registered_by_its_entry_point():
    loaded = plugins.default_plugins()
    assert "tensorboard" in loaded.packages and "tensorboard" not in loaded.failures
    names = {impl.plugin_name for impl in loaded.hook.asdbench_epoch_end.get_hookimpls()}
    assert "tensorboard" in names


def test_off_without_the_variable_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv(tb.ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    run_dir = tmp_path / "runs" / "r1"
    tb.asdbench_run_started(config={"seed": 0}, run_dir=run_dir)
    tb.asdbench_epoch_end(run_dir=run_dir, record={"epoch": 0, "train_loss": 1.0})
    tb.asdbench_run_finished(run_dir=run_dir, metrics={"epochs": 1, "protocols": {}})
    assert list(tmp_path.iterdir()) == [] and tb._writers == {}


def test_missing_tensorboard_is_an_error_saying_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv(tb.ENV, str(tmp_path / "tb"))
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    with pytest.raises(AsdbenchError, match=r"asdbench\[tensorboard\]"):
        tb.asdbench_run_started(config={}, run_dir=tmp_path / "r")


def test_scalars_take_every_number_but_the_epoch():
    record = {"epoch": 3, "lr": 1e-3, "train_loss": 2.5, "steps": 8, "ok": True, "note": "x"}
    assert tb.epoch_scalars(record) == {"train/lr": 1e-3, "train/train_loss": 2.5,
                                        "train/steps": 8.0}
    metrics = {"epochs": 4, "best_epoch": 2, "wall_time_s": 9.5, "protocols": {"pooled": {
        "average": {"auc": 0.7, "official": None}, "types": {"fan": {"auc": 0.6}}}}}
    assert tb.final_scalars(metrics) == {"metrics/pooled/average/auc": 0.7,
                                         "metrics/pooled/fan/auc": 0.6,
                                         "run/best_epoch": 2.0, "run/wall_time_s": 9.5}


@pytest.mark.slow
def test_a_run_writes_its_train_log_and_metrics_as_scalars(tmp_path, monkeypatch):
    logs = tmp_path / "tb"
    monkeypatch.setenv(tb.ENV, str(logs))
    cfg = resolve({**TINY_RUN, "train.epochs": 2}, plugins.get_registry())
    metrics, run = train_and_evaluate(cfg, tmp_path / "results", progress=False)
    assert tb._writers == {}  # closed at the end
    assert [p.name for p in logs.iterdir()] == [cfg.run_id]
    acc = _events(logs / cfg.run_id)
    records = [json.loads(line) for line in (run.path / "train_log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [0, 1]
    expected: dict[str, list[tuple[int, float]]] = {}
    for record in records:
        for key, value in record.items():
            if key != "epoch" and isinstance(value, (int, float)) and not isinstance(value, bool):
                expected.setdefault(f"train/{key}", []).append((record["epoch"], value))
    for protocol, pm in metrics["protocols"].items():
        for name in ("auc", "pauc"):
            expected[f"metrics/{protocol}/average/{name}"] = [(2, pm["average"][name])]
    scalar_tags = set(acc.Tags()["scalars"])
    assert set(expected) <= scalar_tags
    assert {t for t in scalar_tags if t.startswith("train/")} == {
        t for t in expected if t.startswith("train/")}
    for tag, points in expected.items():
        got = [(e.step, e.value) for e in acc.Scalars(tag)]
        assert [s for s, _ in got] == [s for s, _ in points], tag
        assert [v for _, v in got] == pytest.approx([v for _, v in points], rel=1e-6), tag
    assert {"dcase2020", "pooled"} <= set(metrics["protocols"])
    assert any(t.startswith("config") for t in acc.Tags()["tensors"])
