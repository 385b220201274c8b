"""The resolved run config: frozen, typed, and hashing to the same run ids as before."""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
import pickle
from pathlib import Path

import pytest

import asdbench.config as config
from asdbench.config import (
    TRAIN_DEFAULTS,
    RunConfig,
    TrainSettings,
    flatten,
    load_toml,
    resolve,
    run_id,
)
from asdbench.plugins import get_registry
from asdbench.registry import AsdbenchError

QUICK = Path(__file__).resolve().parents[1] / "configs" / "quick.toml"
# The run ids of configs/quick.toml and of the paper's recipe: finished runs are found by these
# names, so they change only when what a run computes changes. (Synthetic generator version 3,
# issue 14: the option data.generator_version, which puts the generator's version into every
# synthetic run id, and the new default set and recipe changed the synthetic ones; the DCASE
# one is as computed before RunConfig existed.)
QUICK_RUN_IDS = [
    "arcface_logmel_mobilefacenet_synthetic_s0_d34a074caddb",
    "os-scl_logmel_mobilefacenet_synthetic_s0_5bbe4b1bccfe",
    "arcface_logmel_mobilefacenet_synthetic_s1_06c79117156f",
    "os-scl_logmel_mobilefacenet_synthetic_s1_41f866929307",
]
# the default set has 50 + 50 test clips per ID since issue 25 (was 10 + 10: ..._34e5715f2ef3)
DEFAULT_RUN_ID = "os-scl_tfstgram_mobilefacenet_synthetic_s0_f2ce60af1548"
PAPER_RUN_ID = "os-scl_tfstgram_mobilefacenet_dcase2020_s0_867b22e47792"


def quick_cells() -> list[dict]:
    """The cells of quick.toml (seed axis slowest), read without the matrix package."""
    raw = load_toml(QUICK)
    settings = flatten(raw["settings"])
    axes = raw["axes"]
    return [{**settings, **dict(zip(axes, values, strict=True))}
            for values in itertools.product(*axes.values())]


@pytest.fixture(scope="module")
def registry():
    return get_registry()


@pytest.fixture(scope="module")
def cfg(registry) -> RunConfig:
    return resolve(quick_cells()[1], registry)


def test_run_ids_of_shipped_configs_are_unchanged(registry):
    cells = quick_cells()
    assert [(c["seed"], c["method"]) for c in cells] == [
        (0, "arcface"), (0, "os-scl"), (1, "arcface"), (1, "os-scl")]
    assert [resolve(c, registry).run_id for c in cells] == QUICK_RUN_IDS
    assert [run_id(resolve(c, registry)) for c in cells] == QUICK_RUN_IDS
    assert resolve({}, registry).run_id == DEFAULT_RUN_ID
    assert resolve({"dataset": "dcase2020"}, registry).run_id == PAPER_RUN_ID


def test_run_id_functions_agree_with_plain_dicts(cfg, registry):
    flat = cfg.to_flat()
    assert type(flat) is dict
    assert run_id(flat) == cfg.run_id == QUICK_RUN_IDS[1]
    assert config.config_hash(flat) == cfg.config_hash == cfg.run_id.rsplit("_", 1)[1]
    # a plain dict spread from a config still hashes: where it ran is not identity
    assert run_id({**cfg, "train.device": "cuda"}) == cfg.run_id
    assert run_id({**cfg, "seed": 1}) == cfg.replace(seed=1).run_id == QUICK_RUN_IDS[3]


def test_run_id_is_computed_once(registry, monkeypatch):
    cfg = resolve({}, registry)

    def recompute(_cfg):
        raise AssertionError("the run id was recomputed")

    monkeypatch.setattr(config, "_config_hash", recompute)
    assert (cfg.run_id, run_id(cfg), cfg.config_hash) == (
        DEFAULT_RUN_ID, DEFAULT_RUN_ID, DEFAULT_RUN_ID[-12:])


def test_config_is_frozen(cfg):
    before = cfg.to_flat()
    mutations = [
        lambda c: c.__setitem__("train.lr", 1.0), lambda c: c.__delitem__("seed"),
        lambda c: c.update({"seed": 1}), lambda c: c.pop("seed"), lambda c: c.popitem(),
        lambda c: c.setdefault("x", 1), lambda c: c.clear(), lambda c: c.__ior__({"seed": 1}),
    ]
    for mutate in mutations:
        with pytest.raises(TypeError, match="immutable"):
            mutate(cfg)
    with pytest.raises(TypeError):
        cfg["seed"] = 5
    for name in ("seed", "method", "train", "run_id", "anything"):
        with pytest.raises(AttributeError):
            setattr(cfg, name, 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.train.lr = 1.0
    assert cfg == before and cfg.run_id == QUICK_RUN_IDS[1] and cfg.train.lr == 1e-3


def test_reads_as_the_flat_dict_it_was(cfg):
    assert isinstance(cfg, dict) and list(cfg) == sorted(cfg)
    assert cfg["train.lr"] == 1e-3 and cfg["data.types"] == "fan,pump"
    assert {**cfg} == dict(cfg) == dict(cfg.items()) == cfg.to_flat()
    copied = cfg.to_flat()
    copied["seed"] = 7  # a plain copy is the caller's to change
    assert cfg["seed"] == 0
    # the run folder's writers serialise the config inside a record, with default=str
    record = json.loads(json.dumps({"config": cfg}, default=str))
    assert record["config"] == cfg.to_flat()


def test_component_names_and_options(cfg):
    names = (cfg.dataset, cfg.frontend, cfg.backbone, cfg.method, cfg.scorer, cfg.seed)
    assert names == ("synthetic", "logmel", "mobilefacenet", "os-scl", "ce", 0)
    data = cfg.options("dataset")
    assert data == {k[len("data."):]: v for k, v in cfg.items() if k.startswith("data.")}
    assert (data["types"], data["ids_per_type"], data["clip_seconds"]) == ("fan,pump", 2, 1.0)
    assert set(cfg.options("method")) >= {"margin", "scale"}
    data["types"] = "valve"  # a fresh dict per call
    assert cfg.options("dataset")["types"] == "fan,pump"


def test_train_settings_are_typed_and_cover_every_train_key(registry):
    assert [f"train.{f.name}" for f in dataclasses.fields(TrainSettings)] == list(TRAIN_DEFAULTS)
    cfg = resolve({"train.lr": 1, "train.weight_decay": 0, "train.amp": "bf16",
                   "train.compile": False}, registry)
    train = cfg.train
    assert train.lr == 1.0 and type(train.lr) is float
    assert train.weight_decay == 0.0 and type(train.weight_decay) is float
    # the flat config keeps the value as given: it is what the run id hashes
    assert type(cfg["train.lr"]) is int
    assert (train.epochs, train.batch_size, train.bn_recalibrate) == (6, 32, 8)  # synthetic's
    assert type(train.epochs) is int and train.ema_warmup is True
    assert (train.amp, train.compile, train.channels_last) == ("bf16", False, "auto")
    assert (train.select, train.device, train.val_fraction) == ("val_ce", "auto", 0.05)
    assert resolve({"dataset": "dcase2020"}, registry).train.epochs == 300


def test_to_flat_resolves_to_the_same_config(registry):
    for overrides in [{}, {"dataset": "dcase2020", "method.margin": 0.3}, *quick_cells()]:
        cfg = resolve(overrides, registry)
        again = resolve(cfg.to_flat(), registry)
        assert again == cfg and again.run_id == cfg.run_id and again.train == cfg.train
        assert resolve(cfg, registry) == cfg


def test_pickle_and_copy_keep_a_working_config(cfg):
    for clone in (pickle.loads(pickle.dumps(cfg)), copy.copy(cfg), copy.deepcopy(cfg)):
        assert type(clone) is RunConfig and clone == cfg
        assert clone.run_id == cfg.run_id and clone.train == cfg.train
        with pytest.raises(TypeError):
            clone["seed"] = 1


def test_replace_checks_engine_settings_and_refuses_component_ones(cfg):
    fast = cfg.replace({"train.compile": False, "train.device": "cpu"})
    assert type(fast) is RunConfig and fast.train.compile is False and fast.train.device == "cpu"
    assert fast.run_id == cfg.run_id  # execution settings are not identity
    assert cfg["train.compile"] == "auto"  # the original is untouched
    longer = cfg.replace({"train.epochs": 9})
    assert longer.train.epochs == 9 and longer.run_id != cfg.run_id
    with pytest.raises(AsdbenchError, match=r"train\.lr must be a number above 0; got 0"):
        cfg.replace({"train.lr": 0})
    with pytest.raises(AsdbenchError, match=r"unknown setting 'train\.lrr' \(did you mean"):
        cfg.replace({"train.lrr": 1})
    for key, value in (("method", "arcface"), ("method.margin", 0.1), ("data.types", "fan")):
        with pytest.raises(AsdbenchError, match=rf"'{key}' is checked by its component"):
            cfg.replace({key: value})


def test_a_config_needs_every_engine_key():
    with pytest.raises(AsdbenchError, match="a run config needs .*train.lr.*resolve"):
        RunConfig({"seed": 0})


def test_unknown_and_bad_keys_fail_with_the_same_one_line_errors(registry):
    with pytest.raises(AsdbenchError) as err:
        resolve({"sed": 1}, registry)
    assert str(err.value) == "unknown setting 'sed' (did you mean 'seed'?)"
    with pytest.raises(AsdbenchError) as err:
        resolve({"train.epoch": 3}, registry)
    assert str(err.value) == ("unknown setting 'train.epoch' (did you mean 'train.epochs', "
                              "'train.ema', 'train.amp'?)")
    with pytest.raises(AsdbenchError, match="train.batch_size must be an integer, at least 2"):
        resolve({"train.batch_size": 1}, registry)
