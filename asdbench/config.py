"""Run configuration: ``resolve()`` turns a user's settings into a frozen ``RunConfig``.

On disk and on the command line a config is one flat dict of dotted ``key -> value``, captured
whole with every run. Keys: the component names (``dataset``, ``frontend``, ``backbone``,
``method``, ``scorer``), ``seed``, engine settings ``train.*`` and each component's options
under its prefix (``data.*``, ``frontend.*``, ``backbone.*``, ``method.*``, ``scorer.*``), and
the decision rule ``decision.*`` and the method's ``recipe`` (asdbench.recipes), both hashed
into the run id only when not at their defaults.
A ``RunConfig`` is that flat dict, immutable, with typed views read once: the component names,
``cfg.train`` (a ``TrainSettings``), ``cfg.options(kind)``, ``cfg.run_id``, ``cfg.config_hash``.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, NoReturn

from asdbench.errors import AsdbenchError
from asdbench.options import float_option, int_option
from asdbench.recipes import COMMON, apply_recipe, recipe_settings
from asdbench.registry import CONFIG_PREFIX, KINDS, Registry, suggest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# What a run with no settings uses: the command line's documented defaults. Names only (the
# core imports no plugin); if the plugin providing one is missing, resolve() says so.
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
    # the cosine's T_max in epochs (0: the run's, or a stage's, epochs) and the first epoch
    # after which it steps (0: from the first; STgram-MFN's authors: 20), counted in the stage
    "train.sched_t_max": 0,
    "train.sched_start_epoch": 0,
    "train.ema": True,  # False: no weight averaging; the live model is validated, selected, saved
    "train.ema_decay": 0.9999,
    "train.ema_warmup": False,  # not in the paper: ramp the EMA decay up for short runs
    "train.bn_recalibrate": 0,  # not in the paper: >0 recomputes BN stats on N batches (short runs)
    "train.live_weight_decay": 2e-6,
    "train.val_fraction": 0.05,
    # "val_ce": lowest validation CE of the evaluated copy; "last"; "test": highest test AUC +
    # pAUC of the development set (STgram-MFN's authors; uses test labels: its rows are marked
    # "selected on test" and ranked apart), checked every train.select_every epochs
    "train.select": "val_ce",
    "train.select_every": 1,
    "train.device": "auto",
    # precision: "auto" (bf16 autocast on CUDA, fp32 on CPU), "bf16" (True), "fp32" (False),
    # "fp16": fp16 autocast of the training steps only, without a gradient scaler (the
    # Noisy-ArcMix authors'; validation and scoring in fp32)
    "train.amp": "auto",
    "train.max_steps_per_epoch": 0,  # 0 = full epochs; >0 caps steps (quick checks)
    # execution only (same model, same maths): NHWC layout for the 2-D backbone ("auto": on
    # when the model has 2-D convolutions) and torch.compile of frontend + backbone ("auto":
    # on for runs of >= 5000 steps, where it wins back its minute or two of compilation)
    "train.channels_last": "auto",
    "train.compile": "auto",
}

# How decisions are taken from scores (asdbench.metrics.decision): by default as the official
# baselines, a gamma fit to each machine's training scores, threshold at its 90th percentile;
# ``decision.per``: one threshold per "class" (type + ID/section) or per machine "type" (pooled
# training scores of all its classes, as the 2021/2022 baselines).
DECISION_DEFAULTS: dict[str, Any] = {"decision.rule": "gamma", "decision.percentile": 0.9,
                                     "decision.per": "class"}
# Keys hashed into the run id only when they differ from these defaults: the run ids of
# configs written before the keys existed stay what they were.
# ``recipe``: the method's named preset (asdbench.recipes); "common" = the shared recipe above.
# ``train.*`` keys added later, and the precision (``train.amp``, hashed as its precision name
# so True and "bf16" are one run): runs made before keep their ids. Runs made with an explicit
# train.amp before it was hashed get a new id (rerun them, or rename their folders).
HASHED_UNLESS_DEFAULT: dict[str, Any] = {
    **DECISION_DEFAULTS, "recipe": COMMON, "train.amp": "auto", "train.ema": True,
    "train.sched_t_max": 0, "train.sched_start_epoch": 0, "train.select_every": 1}
PRECISIONS = {True: "bf16", False: "fp32", "bf16": "bf16", "fp16": "fp16", "fp32": "fp32"}

DEFAULT_EPOCHS = 20
ENGINE_KEYS = {"seed", "recipe", *COMPONENT_DEFAULTS, *TRAIN_DEFAULTS, *DECISION_DEFAULTS}
_COMPONENT_PREFIXES = tuple(p + "." for p in CONFIG_PREFIX.values())
# Settings that identify where a run came from but not what it computes.
# Data folders stay part of a run's identity (which folders are given changes what is
# trained, e.g. dev-only vs dev + eval); the leaderboard compares folders by name, so the same
# recipe run on two machines still merges into one row.
NON_IDENTITY_KEYS = {"train.device", "train.channels_last", "train.compile"}
# Folder values that are words, not paths (a dataset's "auto": the folder beside the dev set).
_LOCATION_WORDS = ("", "auto", "none")


def is_location(key: str) -> bool:
    """Whether a setting is a dataset folder: ``data.root`` or ``data.<name>_root``."""
    last = key.rsplit(".", 1)[-1]
    return key.startswith("data.") and (last == "root" or last.endswith("_root"))


def absolute_locations(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``flat`` with every dataset folder (:func:`is_location`) made absolute and normalised
    (``~`` expanded, against this process's working directory), so that a run id never
    depends on where a command was started.

    Runs made before this hashed folders as typed: their ids and folders are kept, and their
    ``config.json`` shows the folder as typed; the same settings now give a new run id."""
    out = dict(flat)
    for key, value in flat.items():
        if (is_location(key) and isinstance(value, str)
                and value.strip().lower() not in _LOCATION_WORDS):
            out[key] = os.path.normpath(os.path.abspath(os.path.expanduser(value.strip())))
    return out


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


def resolve(overrides: Mapping[str, Any], registry: Registry) -> RunConfig:
    """Fill every default and validate every key; the result fully describes a run.

    ``resolve(cfg.to_flat(), registry) == cfg``: a saved config resolves to itself."""
    cfg: dict[str, Any] = {**COMPONENT_DEFAULTS, "seed": 0, "recipe": COMMON,
                           **TRAIN_DEFAULTS, **DECISION_DEFAULTS}
    for key, value in overrides.items():
        if value is None and key in cfg:
            continue
        cfg[key] = value
    registry.get("method", cfg["method"])  # an unknown method fails first, with suggestions
    preset = recipe_settings(registry, cfg["method"], cfg["recipe"])
    apply_recipe(cfg, overrides, preset)
    for kind in KINDS:
        component = registry.get(kind, cfg[kind])  # unknown names fail here, with suggestions
        for key, value in component.train_defaults.items():
            if overrides.get(key) is None and key not in preset:  # the user's, the recipe's win
                cfg[key] = value
        prefix = CONFIG_PREFIX[kind] + "."
        given = {k[len(prefix):]: v for k, v in cfg.items() if k.startswith(prefix)}
        for key, value in component.resolve_options(given).items():
            option = component.options[key]
            if getattr(option, "omit_default", False) and _same(value, option.default):
                cfg.pop(prefix + key, None)  # an option added later: old run ids stay
            else:
                cfg[prefix + key] = value
    for key in cfg:
        if key not in ENGINE_KEYS and not key.startswith(_COMPONENT_PREFIXES):
            known = list(ENGINE_KEYS) + [k for k in cfg if k.startswith(_COMPONENT_PREFIXES)]
            raise AsdbenchError(f"unknown setting '{key}'{suggest(key, known)}")
    if cfg["train.epochs"] is None:
        cfg["train.epochs"] = DEFAULT_EPOCHS
    return RunConfig(absolute_locations(cfg))  # checks the engine settings


MAX_SEED = 2**32 - 1
# (key, minimum) of the integer engine settings; a batch of 1 would break BatchNorm
_ENGINE_INTS = (("seed", 0), ("train.epochs", 1), ("train.batch_size", 2),
                ("train.bn_recalibrate", 0), ("train.max_steps_per_epoch", 0),
                ("train.sched_t_max", 0), ("train.sched_start_epoch", 0),
                ("train.select_every", 1))
_ENGINE_CHOICES = {"train.select": ("val_ce", "last", "test"),
                   "train.amp": ("auto", "bf16", "fp16", "fp32", True, False),
                   "train.ema": (True, False),
                   "train.channels_last": ("auto", True, False),
                   "train.compile": ("auto", True, False), "train.ema_warmup": (True, False),
                   "decision.rule": ("gamma", "quantile"), "decision.per": ("class", "type")}


def check_engine_settings(cfg: Mapping[str, Any]) -> None:
    """Every ``train.*`` value (and the seed) of a run, so a bad one fails before any data is
    decoded, with a one-line error naming it."""
    for key, minimum in _ENGINE_INTS:
        int_option(cfg, key, "", minimum=minimum)
    if cfg["seed"] > MAX_SEED:
        raise AsdbenchError(f"seed must be at most {MAX_SEED} (the seed range of numpy's and "
                            f"torch's generators); got {cfg['seed']!r}")
    for key in ("train.lr", "train.ema_decay"):
        float_option(cfg, key, "", above=0)
    for key in ("train.weight_decay", "train.eta_min_factor", "train.live_weight_decay"):
        if float_option(cfg, key, "") < 0:
            raise AsdbenchError(f"{key} must be >= 0, got {cfg[key]!r}")
    if not 0 <= float_option(cfg, "train.val_fraction", "") < 1:
        raise AsdbenchError(f"train.val_fraction must be in [0, 1), got {cfg['train.val_fraction']!r}")
    if not 0 < float_option(cfg, "decision.percentile", "") < 1:
        raise AsdbenchError(f"decision.percentile must be in (0, 1), got "
                            f"{cfg['decision.percentile']!r}")
    for key, allowed in _ENGINE_CHOICES.items():
        value = cfg[key]
        if not any(value is a or (isinstance(a, str) and value == a) for a in allowed):
            raise AsdbenchError(f"{key} must be one of {', '.join(map(str, allowed))}; "
                                f"got {value!r}")


def component_options(cfg: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """The options of component ``kind`` without their prefix (``frontend.n_mels`` -> ``n_mels``)."""
    prefix = CONFIG_PREFIX[kind] + "."
    return {k[len(prefix):]: v for k, v in cfg.items() if k.startswith(prefix)}


def config_hash(cfg: Mapping[str, Any]) -> str:
    """A short hash of everything that determines a run's results (seed included)."""
    if isinstance(cfg, RunConfig):
        return cfg.config_hash
    return _config_hash(cfg)


def run_id(cfg: Mapping[str, Any]) -> str:
    """``<method>_<frontend>_<backbone>_<dataset>_s<seed>_<hash>``: readable and unique."""
    if isinstance(cfg, RunConfig):
        return cfg.run_id
    return _run_id(cfg)


def _config_hash(cfg: Mapping[str, Any]) -> str:
    identity = {k: v for k, v in cfg.items() if k not in NON_IDENTITY_KEYS
                and not (k in HASHED_UNLESS_DEFAULT and _same(v, HASHED_UNLESS_DEFAULT[k]))}
    if "train.amp" in identity:  # one precision, one id, however it is spelled
        identity["train.amp"] = PRECISIONS.get(identity["train.amp"], identity["train.amp"])
    blob = json.dumps(identity, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _same(value: Any, default: Any) -> bool:
    """``value`` is ``default``, of the same type (``True`` is not ``1``)."""
    return type(value) is type(default) and value == default


def _run_id(cfg: Mapping[str, Any]) -> str:
    return (f"{cfg['method']}_{cfg['frontend']}_{cfg['backbone']}_{cfg['dataset']}"
            f"_s{cfg['seed']}_{_config_hash(cfg)}")


# field type (a string: annotations are postponed) -> the cast that makes a value that type
_CASTS = {"int": int, "float": float, "bool": bool, "str": str}


@dataclass(frozen=True)
class TrainSettings:
    """Every ``train.*`` setting of a run, typed (meanings: ``TRAIN_DEFAULTS``).

    Read once from a checked config, so ``train.lr = 1`` is ``1.0`` here while the flat config,
    which the run id hashes, keeps the value as given."""

    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    eta_min_factor: float
    sched_t_max: int
    sched_start_epoch: int
    ema: bool
    ema_decay: float
    ema_warmup: bool
    bn_recalibrate: int
    live_weight_decay: float
    val_fraction: float
    select: str  # "val_ce" | "last" | "test"
    select_every: int
    device: str
    amp: str | bool  # "auto" | "bf16" | "fp16" | "fp32" | True | False
    max_steps_per_epoch: int
    channels_last: str | bool  # "auto" | True | False
    compile: str | bool  # "auto" | True | False

    @classmethod
    def from_flat(cls, cfg: Mapping[str, Any]) -> TrainSettings:
        values = {}
        for field in fields(cls):
            value = cfg[f"train.{field.name}"]
            cast = _CASTS.get(str(field.type))
            values[field.name] = cast(value) if cast else value
        return cls(**values)


class RunConfig(dict):
    """A resolved run config: the flat ``key -> value`` dict, frozen, with typed views.

    Read it as the dict it is (``cfg["train.lr"]``, ``cfg.items()``, ``{**cfg}``,
    ``json.dumps(cfg)``) or through ``cfg.method`` ... ``cfg.seed``, ``cfg.train``,
    ``cfg.options(kind)``, ``cfg.run_id``; ``cfg.replace(...)`` gives a changed copy and
    ``cfg.to_flat()`` (or ``{**cfg}``) a plain, mutable one. Build it with ``resolve()``.
    """

    # A dict subclass rather than a Mapping: the run folder's writers call
    # ``json.dumps({"config": cfg, ...}, default=str)``, which would silently write a Mapping
    # as its str(); a dict subclass serialises as the dict it is, and every reader typed
    # ``dict`` (TOML writer, pandas, isinstance checks) keeps working. The price: mutation is
    # refused by overriding dict's mutators (``dict.__setitem__(cfg, ...)`` still bypasses it:
    # unsupported) and pickling goes through the constructor (``__reduce__``).
    __slots__ = ("_train", "_config_hash", "_run_id")

    def __init__(self, flat: Mapping[str, Any]) -> None:
        missing = sorted(k for k in ENGINE_KEYS if k not in flat)
        if missing:
            raise AsdbenchError(f"a run config needs {', '.join(missing)}: build it with resolve()")
        check_engine_settings(flat)
        super().__init__(sorted(flat.items()))
        object.__setattr__(self, "_train", TrainSettings.from_flat(self))
        object.__setattr__(self, "_config_hash", _config_hash(self))
        object.__setattr__(self, "_run_id", _run_id(self))

    def _immutable(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("a RunConfig is immutable: cfg.replace(...) gives a changed copy, "
                        "cfg.to_flat() a mutable one")

    __setitem__ = __delitem__ = __ior__ = _immutable
    clear = pop = popitem = setdefault = update = _immutable

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise AttributeError(f"a RunConfig is immutable: cannot set '{name}'")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"a RunConfig is immutable: cannot delete '{name}'")

    def __reduce__(self) -> tuple[type[RunConfig], tuple[dict[str, Any]]]:
        # the default pickling of a dict subclass fills it item by item, which is refused
        return RunConfig, (dict(self),)

    def __repr__(self) -> str:
        return f"RunConfig({dict.__repr__(self)})"

    @property
    def dataset(self) -> str:
        return self["dataset"]

    @property
    def frontend(self) -> str:
        return self["frontend"]

    @property
    def backbone(self) -> str:
        return self["backbone"]

    @property
    def method(self) -> str:
        return self["method"]

    @property
    def scorer(self) -> str:
        return self["scorer"]

    @property
    def seed(self) -> int:
        return int(self["seed"])

    @property
    def train(self) -> TrainSettings:
        return self._train

    @property
    def config_hash(self) -> str:
        """A short hash of everything that determines the run's results (computed once)."""
        return self._config_hash

    @property
    def run_id(self) -> str:
        """``<method>_<frontend>_<backbone>_<dataset>_s<seed>_<hash>`` (computed once)."""
        return self._run_id

    def options(self, kind: str) -> dict[str, Any]:
        """Component ``kind``'s options without their prefix (a fresh dict per call)."""
        return component_options(self, kind)

    def to_flat(self) -> dict[str, Any]:
        """The plain dict of dotted keys: the on-disk form (JSON, TOML, hashing)."""
        return dict(self)

    def replace(self, changes: Mapping[str, Any] | None = None, /, **settings: Any) -> RunConfig:
        """A copy with engine settings changed (``seed``, ``train.*``), checked as resolve()
        checks them: ``cfg.replace({"train.compile": False})``, ``cfg.replace(seed=1)``.

        Component names and options are checked by their components: ``resolve()`` a new
        config for those."""
        new = {**(changes or {}), **settings}
        for key in new:
            if (key in COMPONENT_DEFAULTS or key == "recipe"
                    or key.startswith(_COMPONENT_PREFIXES)):
                raise AsdbenchError(f"'{key}' is checked by its component: resolve() a new "
                                    f"config to change it")
            if key not in ENGINE_KEYS:
                raise AsdbenchError(f"unknown setting '{key}'{suggest(key, sorted(ENGINE_KEYS))}")
        return RunConfig({**self, **new})

