"""Every shipped frontend × backbone × method trains one step on tiny 1 s clips, with the test
kit plugin authors use (:mod:`asdbench.testing`).

Generated from the registry but limited to the components this repository ships: a broken
third-party plugin installed beside asdbench fails its own test suite, not this one.
"""

from __future__ import annotations

import pytest
import torch

from asdbench.registry import Component, Registry
from asdbench.testing import (
    SHIPPED,
    check_options,
    check_scorer,
    check_training_step,
    installed_registry,
    model_combinations,
)

_REGISTRY = installed_registry()
COMBOS = model_combinations(_REGISTRY, {SHIPPED})
SHIPPED_COMPONENTS = [c for c in _REGISTRY if c.package == SHIPPED]


def test_registry_has_the_shipped_components():
    assert {"logmel", "stgram", "tfstgram", "tastgram"} <= set(_REGISTRY.names("frontend"))
    assert "mobilefacenet" in _REGISTRY.names("backbone")
    assert {"arcface", "arcmix", "noisy-arcmix", "os-scl"} <= set(_REGISTRY.names("method"))
    # every shipped frontend (the 4 OS-SCL ones, beats and eat) x backbone x method that fits
    # together: 11 embedding methods (the 5 OS-SCL ones, the AdaCos family's 3, softmax,
    # clp-scf and the non-learned gaussian) on the 5 backbones (mobilefacenet, mobilenetv2,
    # frames, stats, pool), and the 4 frame-level methods (dcase2020-ae, dcase-ae, idnn,
    # glow-aff) on frames only
    assert {"adacos", "subcluster-adacos", "adaproj", "softmax", "clp-scf", "glow-aff",
            "dcase-ae"} <= set(_REGISTRY.names("method"))
    assert "mobilenetv2" in _REGISTRY.names("backbone")
    assert len(COMBOS) == 6 * (11 * 5 + 4)


@pytest.mark.parametrize("combo", COMBOS, ids=str)
def test_one_training_step(combo):
    check_training_step(_REGISTRY, combo)


@pytest.mark.parametrize("component", SHIPPED_COMPONENTS, ids=lambda c: f"{c.kind}-{c.name}")
def test_option_defaults_pass_their_schema(component):
    check_options(component)


@pytest.mark.parametrize("name", [c.name for c in SHIPPED_COMPONENTS if c.kind == "scorer"])
def test_scorer_fits_and_scores(name):
    check_scorer(_REGISTRY, name)


# --- the kit itself -----------------------------------------------------------------------


class _Unused(torch.nn.Module):
    """A method with a parameter the loss never reaches (the contract forbids it)."""

    mixup_alpha = None

    def __init__(self, options, num_classes, embedding_dim, frontend_info):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(num_classes, embedding_dim))
        self.unused = torch.nn.Parameter(torch.zeros(3))

    def loss(self, z, y_a, y_b, lam):
        logits = z @ self.weight.T
        return torch.nn.functional.cross_entropy(logits, y_a), logits

    def embed(self, z):
        return z

    def logits(self, e, labels):
        return e @ self.weight.T


def _with_third_party_method() -> Registry:
    registry = Registry()
    for component in _REGISTRY:
        if component.kind in ("frontend", "backbone"):
            registry.add(component.kind, component)
    registry.add("method", Component("dead-weight", _Unused, package="thirdparty-pkg"))
    return registry


def test_kit_selects_a_plugins_components_and_names_it_on_failure():
    registry = _with_third_party_method()
    combos = model_combinations(registry, {"thirdparty-pkg"})
    # with each shipped frontend and backbone
    assert [c.method for c in combos] == ["dead-weight"] * (len(registry.names("frontend"))
                                                          * len(registry.names("backbone")))
    assert model_combinations(registry, {SHIPPED}) == []  # no shipped method registered
    with pytest.raises(AssertionError, match=r"logmel-mobilefacenet-dead-weight \(packages "
                                             r"asdbench, thirdparty-pkg\): method\.unused gets no "
                                             r"gradient"):
        check_training_step(registry, ("logmel", "mobilefacenet", "dead-weight"))


def test_kit_rejects_a_default_outside_its_schema():
    from asdbench.options import Option  # noqa: PLC0415

    bad = Component("bad", dict, {"k": Option(0, minimum=1)}, kind="scorer", package="p")
    with pytest.raises(AssertionError, match=r"scorer 'bad' \(p\): default 0 of option k"):
        check_options(bad)
