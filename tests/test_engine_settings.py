"""Engine settings the authors' recipes need: precision, no EMA, no validation split, a
schedule stepped from a given epoch, and which of them change a run's identity."""

from __future__ import annotations

import math

import pytest
import torch

from asdbench.config import resolve
from asdbench.ema import WeightEMA
from asdbench.model import build_model
from asdbench.plugins import get_registry
from asdbench.registry import AsdbenchError
from asdbench.run.device import amp_enabled, autocast, precision
from asdbench.run.loop import fit
from asdbench.run.rundir import RunDir
from asdbench.run.tensors import decode_data, make_splits
from asdbench.testing import TINY_RUN

CPU = torch.device("cpu")


def tiny(**over):
    return resolve({**TINY_RUN, **over}, get_registry())


# fewer clips and one step an epoch: what these tests check is the loop's bookkeeping
SMALL = {"data.train_per_id": 6, "data.test_normal_per_id": 2, "data.test_anomaly_per_id": 2,
         "train.batch_size": 4, "train.max_steps_per_epoch": 1, "train.bn_recalibrate": 0}


def train_tiny(tmp_path, test_metric=None, **over):
    """Train a tiny run with ``fit``; the live model, the returned (saved) one, the log."""
    cfg = tiny(**{"train.compile": False, **SMALL, **over})
    registry = get_registry()
    torch.manual_seed(cfg.seed)
    data = decode_data(cfg, registry, progress=False)
    model = build_model(cfg, registry, data.audio, len(data.classes))
    splits = make_splits(data, model.frontend, cfg, CPU, progress=False)
    run = RunDir.for_run(tmp_path, cfg.run_id)
    run.path.mkdir(parents=True, exist_ok=True)
    saved, summary = fit(cfg, model, splits.train, splits.val, run, CPU, resume=False,
                         progress=False, test_metric=test_metric)
    return model, saved, run.read_log(), summary, splits


def test_precision_is_in_the_run_id_and_auto_keeps_the_old_one():
    auto = tiny()
    ids = {amp: tiny(**{"train.amp": amp}).run_id for amp in ("fp32", "bf16", "fp16")}
    assert len(set(ids.values())) == 3 and auto.run_id not in ids.values()
    # one precision, one id, however it is spelled
    assert tiny(**{"train.amp": False}).run_id == ids["fp32"]
    assert tiny(**{"train.amp": True}).run_id == ids["bf16"]
    # new settings at their defaults leave the ids of earlier runs as they were
    assert tiny(**{"train.ema": True, "train.sched_start_epoch": 0,
                   "train.sched_t_max": 0}).run_id == auto.run_id
    for key, value in (("train.ema", False), ("train.sched_start_epoch", 20),
                       ("train.sched_t_max", 300)):
        assert tiny(**{key: value}).run_id != auto.run_id, key
    with pytest.raises(AsdbenchError, match="train.amp must be one of"):
        tiny(**{"train.amp": "fp8"})
    with pytest.raises(AsdbenchError, match="train.ema must be one of"):
        tiny(**{"train.ema": "no"})


def test_precision_names_and_where_each_autocasts():
    cuda = torch.device("cuda")
    assert [precision(CPU, a) for a in ("auto", True, False, "bf16", "fp16", "fp32")] == \
        ["fp32", "bf16", "fp32", "bf16", "fp16", "fp32"]
    assert precision(cuda, "auto") == "bf16"
    # bf16 everywhere; fp16 only in training steps (the Noisy-ArcMix authors validate and
    # test in fp32); fp32 nowhere
    assert amp_enabled(CPU, "bf16") and amp_enabled(CPU, "bf16", training=True)
    assert not amp_enabled(CPU, "fp16") and amp_enabled(CPU, "fp16", training=True)
    assert not amp_enabled(CPU, "fp32", training=True)
    x = torch.randn(4, 4)
    with autocast(CPU, "fp16", training=True):
        assert (x @ x).dtype == torch.float16
    with autocast(CPU, "fp16"):
        assert (x @ x).dtype == torch.float32


def test_without_ema_the_saved_model_is_the_last_live_weights(tmp_path):
    live, saved, log, summary, splits = train_tiny(
        tmp_path, **{"train.ema": False, "train.val_fraction": 0.0, "train.select": "last",
                     "train.bn_recalibrate": 0, "train.epochs": 2})
    assert len(splits.val) == 0 and len(splits.train) == len(splits.full)  # every clip
    assert summary["best_epoch"] == 1 and len(log) == 2
    assert all(math.isnan(r["val_loss"]) for r in log)
    live_state, saved_state = live.state_dict(), saved.state_dict()
    assert live_state.keys() == saved_state.keys()
    for key, value in live_state.items():
        assert torch.equal(value, saved_state[key]), key


def test_with_ema_the_saved_model_is_not_the_live_one(tmp_path):
    live, saved, *_ = train_tiny(tmp_path, **{"train.val_fraction": 0.0,
                                              "train.select": "last", "train.epochs": 1})
    assert not all(torch.equal(v, saved.state_dict()[k])
                   for k, v in live.state_dict().items())


def test_the_cosine_steps_from_the_given_epoch_with_its_own_t_max(tmp_path):
    lr, epochs, start, t_max = 1e-3, 4, 2, 3
    *_, log, _, _ = train_tiny(tmp_path, **{"train.epochs": epochs, "train.lr": lr,
                                            "train.sched_start_epoch": start,
                                            "train.sched_t_max": t_max,
                                            "train.max_steps_per_epoch": 1})
    # STgram-MFN: `if epoch >= start: scheduler.step()` after each epoch
    eta = 0.1 * lr
    expected = [eta + (lr - eta) * (1 + math.cos(math.pi * max(0, e + 1 - start) / t_max)) / 2
                for e in range(epochs)]
    assert [r["lr"] for r in log] == pytest.approx(expected)
    assert [r["lr"] for r in log][:start - 1] == [lr] * (start - 1)


def test_without_ema_the_copy_follows_the_live_weights_only_on_sync():
    live, copy_ = torch.nn.BatchNorm1d(3), torch.nn.BatchNorm1d(3)
    ema = WeightEMA(live, copy_, alpha=0.5, live_decay=0.0, enabled=False)
    with torch.no_grad():
        live.weight.add_(1.0)
    live(torch.randn(8, 3))  # moves the running statistics and the int64 counter
    ema.step()
    assert not torch.equal(copy_.weight, live.weight)  # no averaging
    ema.sync()
    for key, value in live.state_dict().items():
        assert torch.equal(value, copy_.state_dict()[key]), key


def test_selection_on_test_checks_every_nth_epoch_and_keeps_the_later_of_ties(tmp_path):
    values = iter([0.5, 0.7, 0.7])
    seen = []

    def metric(model):
        seen.append(model)
        return next(values)

    *_, log, summary, _ = train_tiny(tmp_path, metric, **{
        "train.select": "test", "train.select_every": 2, "train.epochs": 5,
        "train.max_steps_per_epoch": 1})
    assert [r.get("test_selection") for r in log] == [0.5, None, 0.7, None, 0.7]
    assert summary["best_epoch"] == 4 and summary["selected_on_test"] is True
    assert summary["best_test_selection"] == pytest.approx(0.7)
    with pytest.raises(AsdbenchError, match="train.select=test needs labelled"):
        train_tiny(tmp_path / "none", None, **{"train.select": "test", "train.epochs": 1,
                                               "train.max_steps_per_epoch": 1})
