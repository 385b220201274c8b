"""The contract checks of asdbench components, importable by plugin authors.

asdbench trains every frontend × backbone × method combination one step on tiny clips; a
plugin package runs the same checks on its own components (pytest, or any runner: a failed
check raises ``AssertionError`` naming the combination and the packages providing it)::

    import pytest
    from asdbench.testing import check_training_step, installed_registry, model_combinations

    REGISTRY = installed_registry()

    @pytest.mark.parametrize("combo", plugin_combinations(REGISTRY, "my_plugin"), ids=str)
    def test_my_components_train(combo):
        check_training_step(REGISTRY, combo)

``plugin_combinations(registry, plugin)`` pairs each component of one plugin (its entry-point
name in the ``asdbench`` group) with whatever else is installed, or with ``partners`` plugins
only; :func:`plugin_components` lists the plugin's components (for :func:`check_options`).
``model_combinations(registry, packages)`` selects by distribution (``package``, as ``asdbench
plugins`` lists it) and pairs each component of ``packages`` with the components asdbench
ships, so a failure is the plugin's own. A training step must give a finite scalar loss, logits ``[B, K]``, the
frontend's declared ``out_shape``, and a finite, non-zero gradient for every trainable
parameter (a parameter that never receives one is dead weight, counted in the model size);
inference must give finite embeddings and logits (a method with training stages: each
stage's loss, reaching every parameter the stage trains). A method may return None for the logits
of its loss (no class logits, e.g. an autoencoder); one with ``own_score = True`` must give
finite per-class anomaly scores at inference. Combinations a factory refuses with
:class:`asdbench.sdk.IncompatibleComponents` (a frame-level method behind a pooling backbone)
are left out by :func:`model_combinations`. The methods are built with :data:`CLASS_NAMES`
(two machine types), so methods that keep one network per type are checked with two.
:func:`check_options` checks that each option default passes its own schema,
:func:`check_scorer` that a scorer fits and scores.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd
import torch

from asdbench.data import AudioSpec
from asdbench.errors import AsdbenchError
from asdbench.meta import PROJECT_NAME
from asdbench.model import ASDModel, build_method, build_model
from asdbench.options import as_option
from asdbench.plugins import load_plugins
from asdbench.registry import Component, Registry
from asdbench.run.loop import trains
from asdbench.run.stages import declared, stage_loss, under
from asdbench.scoring import ScoringInputs
from asdbench.sdk.protocols import FrontendInfo, IncompatibleComponents, has_own_score

if TYPE_CHECKING:
    from collections.abc import Iterable

# Tiny inputs: 1 s clips, 3 classes, one class shared by two clips (contrastive positives).
AUDIO = AudioSpec(sample_rate=16000, clip_seconds=1.0)
NUM_CLASSES = 3
LABELS = (0, 0, 1, 2)
CLASS_NAMES = ("fan/00", "fan/02", "pump/00")  # the classes' names: two machine types
SHIPPED = PROJECT_NAME  # the distribution of the components asdbench itself ships
MODEL_KINDS = ("frontend", "backbone", "method")  # the kinds a Combo holds, in its order
# The settings of a whole run small enough for a test (seconds on a CPU): the built-in
# synthetic set, 2 types x 2 IDs of 1-s clips, 3 epochs. For plugins that act on runs
# (trackers, protocols, scorers end to end): ``resolve({**TINY_RUN, ...}, registry)``.
TINY_RUN: dict = {
    "dataset": "synthetic", "data.types": "fan,pump", "data.ids_per_type": 2,
    "data.train_per_id": 16, "data.test_normal_per_id": 6, "data.test_anomaly_per_id": 6,
    "data.clip_seconds": 1.0, "data.difficulty": 0.3,
    "frontend": "logmel", "method": "os-scl", "train.epochs": 3, "train.batch_size": 16,
    "train.lr": 1e-3, "train.device": "cpu", "train.ema_warmup": True,
    "train.bn_recalibrate": 4,
}
# The easy setting on which a trained detector must beat chance clearly: strong faults
# (difficulty 0.2), 3 IDs per type and 48 training clips per ID, 16 + 16 test clips per ID
# (the chance AUC's spread over the 6 IDs is then about 0.04: sqrt(33 / (12 * 16 * 16)) per
# ID, over sqrt(6)), 8 epochs. Why 48 clips, and its run time: results/notes.md.
# ``resolve({**EASY_RUN, "method": ..., "data.root": ...}, registry)``.
EASY_RUN: dict = {
    **TINY_RUN, "data.ids_per_type": 3, "data.train_per_id": 48,
    "data.test_normal_per_id": 16, "data.test_anomaly_per_id": 16, "data.difficulty": 0.2,
    "method": "arcface", "train.epochs": 8, "train.batch_size": 32, "train.bn_recalibrate": 8,
}


class Combo(NamedTuple):
    """One frontend × backbone × method combination (``str``: ``frontend-backbone-method``)."""

    frontend: str
    backbone: str
    method: str

    def __str__(self) -> str:
        return "-".join(self)


def installed_registry() -> Registry:
    """The registry of every installed plugin (what ``asdbench`` itself would use)."""
    return load_plugins().registry


def model_combinations(registry: Registry, packages: Iterable[str] | None = None) -> list[Combo]:
    """Every combination that builds with default options (no factory refuses it with
    :class:`IncompatibleComponents`) when ``packages`` is None; otherwise those with at least one component of ``packages`` and the others from
    ``packages`` or asdbench's own."""
    combos = _all_combos(registry)
    if packages is None:
        return _fitting(registry, combos)
    mine = set(packages)

    def keep(combo: Combo) -> bool:
        owners = _owners(registry, combo, "package")
        return any(o in mine for o in owners) and all(o in mine | {SHIPPED} for o in owners)

    return _fitting(registry, [c for c in combos if keep(c)])


def plugin_components(registry: Registry, plugin: str) -> list[Component]:
    """The components of ``plugin`` (its entry-point name in the ``asdbench`` group, e.g.
    ``glow_aff``), by kind then name; an unknown name is a one-line AsdbenchError listing the
    plugins."""
    _check_plugins(registry, [plugin])
    return [c for c in registry if c.plugin == plugin]


def plugin_combinations(registry: Registry, plugin: str,
                        partners: Iterable[str] | None = None) -> list[Combo]:
    """The combinations that fit together and hold at least one component of ``plugin`` (an
    entry-point name); the other components come from any installed plugin, or, given
    ``partners`` (entry-point names), from ``plugin`` and ``partners`` only. Selecting by plugin,
    not by package, tells apart the plugins of one distribution (asdbench ships several)."""
    allowed = None if partners is None else {plugin, *partners}
    _check_plugins(registry, [plugin, *(allowed or ())])

    def keep(combo: Combo) -> bool:
        owners = _owners(registry, combo, "plugin")
        return plugin in owners and (allowed is None or allowed.issuperset(owners))

    return _fitting(registry, [c for c in _all_combos(registry) if keep(c)])


def _all_combos(registry: Registry) -> list[Combo]:
    return [Combo(*c) for c in itertools.product(*(registry.names(k) for k in MODEL_KINDS))]


def _owners(registry: Registry, combo: Combo, attribute: str) -> list[str]:
    """The ``package`` or ``plugin`` of each component of ``combo``."""
    return [getattr(registry.get(kind, name), attribute)
            for kind, name in zip(MODEL_KINDS, combo, strict=True)]


def _check_plugins(registry: Registry, plugins: Iterable[str]) -> None:
    known = {c.plugin for c in registry if c.plugin}
    for plugin in plugins:
        if plugin not in known:
            failed = registry.failures.get(plugin)
            why = f" (it failed to load: {failed})" if failed else ""
            raise AsdbenchError(f"no plugin '{plugin}' provides components{why}; plugins: "
                                + (", ".join(sorted(known)) or "none"))


def _fitting(registry: Registry, combos: list[Combo], audio: AudioSpec = AUDIO) -> list[Combo]:
    """The combinations that build with default options: a factory raising
    :class:`IncompatibleComponents` drops its combination, any other error propagates (it is
    the component's). Each frontend and backbone is built once, each method per pair."""
    inputs: dict[tuple[str, str], tuple[int, FrontendInfo]] = {}
    kept = []
    for combo in combos:
        pair = (combo.frontend, combo.backbone)
        try:
            if pair not in inputs:
                inputs[pair] = _backbone_output(registry, combo, audio)
            dim, info = inputs[pair]
            build_method({"method": combo.method}, registry, NUM_CLASSES, dim, info, CLASS_NAMES)
        except IncompatibleComponents:
            continue
        kept.append(combo)
    return kept


def _backbone_output(registry: Registry, combo: Combo, audio: AudioSpec) -> tuple[int, FrontendInfo]:
    frontend = registry.create("frontend", combo.frontend, audio=audio)
    backbone = registry.create("backbone", combo.backbone, in_shape=tuple(frontend.out_shape))
    return int(backbone.embedding_dim), FrontendInfo.of(frontend)


def _build(registry: Registry, combo: Combo, audio: AudioSpec) -> ASDModel:
    cfg = {"frontend": combo.frontend, "backbone": combo.backbone, "method": combo.method}
    return build_model(cfg, registry, audio, NUM_CLASSES, class_names=CLASS_NAMES)


def _label(registry: Registry, combo: Combo) -> str:
    owners = sorted({o or "?" for o in _owners(registry, combo, "package")})
    return f"{combo} (packages {', '.join(owners)})"


def _mixed(model: ASDModel, wave: torch.Tensor, feats: torch.Tensor, labels: torch.Tensor):
    """The batch as the engine mixes it: one λ ~ Beta(α, α), one permutation for both."""
    alpha = getattr(model.method, "mixup_alpha", None)
    if not alpha:
        return wave, feats, labels, 1.0
    lam = float(np.random.default_rng(0).beta(alpha, alpha))
    perm = torch.roll(torch.arange(len(labels)), len(labels) // 2)
    wave = lam * wave + (1 - lam) * wave[perm]
    feats = lam * feats + (1 - lam) * feats[perm]
    return wave, feats, labels[perm], lam


def _check_gradients(model: ASDModel, where: str, trains: tuple[str, ...] | None = None) -> None:
    for name, param in model.named_parameters():
        if param.requires_grad and under(name, trains):
            assert param.grad is not None, f"{where}: {name} gets no gradient"
            assert torch.isfinite(param.grad).all(), f"{where}: {name}: non-finite gradient"
            assert param.grad.abs().sum() > 0, f"{where}: {name}: zero gradient"


def _check_step(model: ASDModel, wave: torch.Tensor, feats: torch.Tensor, labels: torch.Tensor,
                y_b: torch.Tensor, lam: float, where: str) -> None:
    """One training step's loss, logits and gradients; for a method with training stages one
    per stage, on the stage's loss and the parameters it trains."""
    for stage in declared(model.method) or (None,):
        model.zero_grad(set_to_none=True)
        at = where if stage is None else f"{where}, stage {stage.name}"
        trains = None if stage is None else stage.trains
        fn = stage_loss(model, stage) or model.loss  # as the engine calls it
        loss, logits = fn(wave, feats, labels, y_b, lam)
        assert loss.ndim == 0 and torch.isfinite(loss), f"{at}: loss {loss}"
        assert logits is None or logits.shape == (len(labels), NUM_CLASSES), \
            f"{at}: logits {tuple(logits.shape)}"
        loss.backward()
        _check_gradients(model, at, trains)


def check_training_step(registry: Registry, combo: Combo | tuple[str, str, str],
                        audio: AudioSpec = AUDIO) -> None:
    """Build ``combo`` with default options, train one step and infer on random clips;
    raises AssertionError naming the combination and its packages on a broken contract."""
    combo = Combo(*combo)
    where = _label(registry, combo)
    torch.manual_seed(0)
    model = _build(registry, combo, audio).train()
    labels = torch.tensor(LABELS)
    wave = 0.1 * torch.randn(len(labels), audio.num_samples)
    feats = model.frontend.features(wave)
    assert feats.shape[0] == len(labels), f"{where}: features of {feats.shape[0]} clips"
    wave, feats, y_b, lam = _mixed(model, wave, feats, labels)
    shape = tuple(model.frontend(wave, feats).shape[1:])
    assert shape == tuple(model.frontend.out_shape), \
        f"{where}: frontend output {shape}, declared out_shape {tuple(model.frontend.out_shape)}"
    # what the engine does not train (a non-learned method, nothing trainable) is checked by
    # inference only, as the engine evaluates it as built
    if trains(model):
        _check_step(model, wave, feats, labels, y_b, lam, where)
    model.eval()
    embedding, eval_logits = model.infer(wave, feats, labels)
    assert embedding.shape[0] == len(labels) and torch.isfinite(embedding).all(), \
        f"{where}: embeddings {tuple(embedding.shape)} or not finite"
    kind = "anomaly scores" if has_own_score(model.method) else "logits"
    assert eval_logits.shape == (len(labels), NUM_CLASSES), \
        f"{where}: inference {kind} {tuple(eval_logits.shape)}"
    assert torch.isfinite(eval_logits).all(), f"{where}: inference {kind} not finite"


def check_options(component: Component) -> None:
    """Every option default is accepted by its own schema and described for ``asdbench
    plugins`` (so a saved run config resolves again)."""
    where = f"{component.kind} '{component.name}' ({component.package or '?'})"
    for key, value in component.options.items():
        option = as_option(value)
        assert option.accepts(option.default), \
            f"{where}: default {option.default!r} of option {key} is not {option.describe()}"
    assert [row.name for row in component.describe_options()] == list(component.options)


def check_scorer(registry: Registry, name: str, dim: int = 8, per_class: int = 24) -> None:
    """Scorer ``name`` (default options) fits on two classes of random train embeddings and
    logits (source and target domain) and gives one finite score per test clip."""
    rng = np.random.default_rng(0)

    def inputs(n: int) -> ScoringInputs:
        classes = np.repeat([0, 1], n)
        domain = np.where(np.arange(2 * n) % 4 == 0, "target", "source")
        return ScoringInputs(rng.standard_normal((2 * n, dim)).astype(np.float32),
                             rng.standard_normal((2 * n, 2)).astype(np.float32), classes, domain)

    scorer = registry.create("scorer", name)
    scorer.fit(inputs(per_class))
    scores = np.asarray(scorer.score(inputs(5)))
    where = f"scorer '{name}' ({registry.get('scorer', name).package or '?'})"
    assert scores.shape == (10,), f"{where}: {scores.shape} scores for 10 test clips"
    assert np.isfinite(scores).all(), f"{where}: non-finite scores"


# --- for metric protocol authors: a score table and the direct computations to test against --


def score_table(rows: list[tuple]) -> Any:
    """A run's score table from ``(machine_type, machine_id, domain, label, score)`` rows, with
    generated file names: what a protocol's ``compute`` receives."""
    df = pd.DataFrame(rows, columns=["machine_type", "machine_id", "domain", "label", "score"])
    df.insert(0, "file", [f"clip_{i:04d}.wav" for i in range(len(df))])
    return df


def pairwise_auc(labels: Any, scores: Any) -> float:
    """AUC computed directly: the fraction of (anomalous, normal) pairs ranked right, ties
    counting half (no library's ROC code involved)."""
    y, s = np.asarray(labels), np.asarray(scores, dtype=float)
    diff = s[y == 1][:, None] - s[y == 0][None, :]
    return float(((diff > 0) + 0.5 * (diff == 0)).mean())
