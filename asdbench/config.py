"""Run configuration: one flat dict of ``key -> value``, captured whole with every run.

Keys: the component names (``dataset``, ``frontend``, ``backbone``, ``method``, ``scorer``),
``seed``, engine settings ``train.*`` and each component's options under its prefix
(``data.*``, ``frontend.*``, ``backbone.*``, ``method.*``, ``scorer.*``).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from asdbench.registry import (
    CONFIG_PREFIX,
    KINDS,
    AsdbenchError,
    Registry,
    _suggest,
    float_option,
    int_option,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

COMPONENT_DEFAULTS: dict[str, str] = {
    "dataset": "synthetic",
    "frontend": "tfstgram",
    "backbone": "mobilefacenet",
    "method": "os-scl",
    "scorer": "ce",
}

# The paper's recipe (REFERENCE.md, "Training"); ``epochs=None`` takes the dataset's default.
TRAIN_DEFAULTS: dict[str, Any] = {
    "train.epochs": None,
    "train.batch_size": 64,
    "train.lr": 1e-4,
    "train.weight_decay": 0.01,  # torch AdamW default, as in the authors' code
    "train.eta_min_factor": 0.1,
    "train.ema_decay": 0.9999,
    "train.ema_warmup": False,  # not in the paper: ramp the EMA decay up for short runs
    "train.bn_recalibrate": 0,  # not in the paper: >0 recomputes BN stats on N batches (short runs)
    "train.live_weight_decay": 2e-6,
    "train.val_fraction": 0.05,
    "train.select": "val_ce",  # "val_ce": lowest validation CE of the EMA model; "last"
    "train.device": "auto",
    "train.amp": "auto",  # bf16 autocast on CUDA, off on CPU
    "train.max_steps_per_epoch": 0,  # 0 = full epochs; >0 caps steps (quick checks)
    # execution only (same model, same maths): NHWC layout for the 2-D backbone ("auto": on
    # when the model has 2-D convolutions) and torch.compile of frontend + backbone ("auto":
    # on for runs of >= 5000 steps, where it wins back its minute or two of compilation)
    "train.channels_last": "auto",
    "train.compile": "auto",
}

DEFAULT_EPOCHS = 20
# DCASE 2020 Task 2 dev + additional training IDs: the class count of the paper's figures.
PAPER_NUM_CLASSES = 41
ENGINE_KEYS = {"seed", *COMPONENT_DEFAULTS, *TRAIN_DEFAULTS}
# Settings that identify where a run came from but not what it computes.
# Data folders stay part of a run's identity (which folders are given changes what is
# trained, e.g. dev-only vs dev + eval); the leaderboard compares folders by name, so the same
# recipe run on two machines still merges into one row.
NON_IDENTITY_KEYS = {"train.device", "train.amp", "train.channels_last", "train.compile"}


def parse_value(text: str) -> Any:
    """Parse a ``--set`` value as a TOML literal (numbers, booleans, lists), else a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_sets(items: tuple[str, ...] | list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise AsdbenchError(f"--set expects key=value, got '{item}'")
        out[key.strip()] = parse_value(value.strip())
    return out


def flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested TOML tables into dotted keys (``{"train": {"epochs": 3}}`` → ``train.epochs``)."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{full}."))
        else:
            out[full] = value
    return out


def load_toml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise AsdbenchError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise AsdbenchError(f"{path}: invalid TOML: {exc}") from None


def resolve(overrides: dict[str, Any], registry: Registry) -> dict[str, Any]:
    """Fill every default and validate every key; the result fully describes a run."""
    cfg: dict[str, Any] = {**COMPONENT_DEFAULTS, "seed": 0, **TRAIN_DEFAULTS}
    for key, value in overrides.items():
        if value is None and key in cfg:
            continue
        cfg[key] = value
    for kind in KINDS:
        component = registry.get(kind, cfg[kind])  # unknown names fail here, with suggestions
        for key, value in component.train_defaults.items():
            if overrides.get(key) is None:  # what the user sets always wins
                cfg[key] = value
        prefix = CONFIG_PREFIX[kind] + "."
        given = {k[len(prefix):]: v for k, v in cfg.items() if k.startswith(prefix)}
        for key, value in component.resolve_options(given).items():
            cfg[prefix + key] = value
    prefixes = tuple(p + "." for p in CONFIG_PREFIX.values())
    for key in cfg:
        if key not in ENGINE_KEYS and not key.startswith(prefixes):
            known = list(ENGINE_KEYS) + [k for k in cfg if k.startswith(prefixes)]
            raise AsdbenchError(f"unknown setting '{key}'{_suggest(key, known)}")
    if cfg["train.epochs"] is None:
        cfg["train.epochs"] = DEFAULT_EPOCHS
    check_engine_settings(cfg)
    return dict(sorted(cfg.items()))


# (key, minimum) of the integer engine settings; a batch of 1 would break BatchNorm
_ENGINE_INTS = (("seed", 0), ("train.epochs", 1), ("train.batch_size", 2),
                ("train.bn_recalibrate", 0), ("train.max_steps_per_epoch", 0))
_ENGINE_CHOICES = {"train.select": ("val_ce", "last"), "train.amp": ("auto", "bf16", True, False),
                   "train.channels_last": ("auto", True, False),
                   "train.compile": ("auto", True, False), "train.ema_warmup": (True, False)}


def check_engine_settings(cfg: dict[str, Any]) -> None:
    """Every ``train.*`` value (and the seed) of a run, so a bad one fails before any data is
    decoded, with a one-line error naming it."""
    for key, minimum in _ENGINE_INTS:
        int_option(cfg, key, "", minimum=minimum)
    for key in ("train.lr", "train.ema_decay"):
        float_option(cfg, key, "", above=0)
    for key in ("train.weight_decay", "train.eta_min_factor", "train.live_weight_decay"):
        if float_option(cfg, key, "") < 0:
            raise AsdbenchError(f"{key} must be >= 0, got {cfg[key]!r}")
    if not 0 <= float_option(cfg, "train.val_fraction", "") < 1:
        raise AsdbenchError(f"train.val_fraction must be in [0, 1), got {cfg['train.val_fraction']!r}")
    for key, allowed in _ENGINE_CHOICES.items():
        value = cfg[key]
        if not any(value is a or (isinstance(a, str) and value == a) for a in allowed):
            raise AsdbenchError(f"{key} must be one of {', '.join(map(str, allowed))}; "
                                f"got {value!r}")


def component_options(cfg: dict[str, Any], kind: str) -> dict[str, Any]:
    prefix = CONFIG_PREFIX[kind] + "."
    return {k[len(prefix):]: v for k, v in cfg.items() if k.startswith(prefix)}


def config_hash(cfg: dict[str, Any]) -> str:
    """A short hash of everything that determines a run's results (seed included)."""
    identity = {k: v for k, v in cfg.items() if k not in NON_IDENTITY_KEYS}
    blob = json.dumps(identity, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def run_id(cfg: dict[str, Any]) -> str:
    """``<method>_<frontend>_<backbone>_<dataset>_s<seed>_<hash>``: readable and unique."""
    return (f"{cfg['method']}_{cfg['frontend']}_{cfg['backbone']}_{cfg['dataset']}"
            f"_s{cfg['seed']}_{config_hash(cfg)}")
