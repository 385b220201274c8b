"""The test kit's selection of one plugin's components and combinations
(:func:`asdbench.testing.plugin_combinations`, :func:`asdbench.testing.plugin_components`):
against direct filters over every combination, on the installed plugins and on a hand-made
registry whose plugins share one distribution, as asdbench's own do."""

from __future__ import annotations

import dataclasses

import pytest

from asdbench.errors import AsdbenchError
from asdbench.registry import Registry
from asdbench.testing import (
    Combo,
    installed_registry,
    model_combinations,
    plugin_combinations,
    plugin_components,
)

REGISTRY = installed_registry()
ALL = model_combinations(REGISTRY)  # every combination that builds, whichever plugin
KINDS = ("frontend", "backbone", "method")
PLUGINS = ("adacos", "clpscf", "dcase_baselines", "glow_aff", "mobilenetv2", "osscl", "scorers")


def owners(registry: Registry, combo: Combo) -> set[str]:
    return {registry.get(kind, name).plugin for kind, name in zip(KINDS, combo, strict=True)}


@pytest.mark.parametrize("plugin", PLUGINS)
def test_plugin_combinations_are_those_holding_a_component_of_the_plugin(plugin):
    expected = [c for c in ALL if plugin in owners(REGISTRY, c)]
    assert expected  # each of these plugins has a frontend, backbone or method
    assert plugin_combinations(REGISTRY, plugin) == expected


@pytest.mark.parametrize("plugin", ["dcase_baselines", "mobilenetv2"])
def test_partners_limit_the_other_components_to_those_plugins(plugin):
    expected = [c for c in ALL if plugin in owners(REGISTRY, c)
                and owners(REGISTRY, c) <= {plugin, "osscl"}]
    got = plugin_combinations(REGISTRY, plugin, partners=["osscl"])
    assert got == expected
    assert len(got) < len(plugin_combinations(REGISTRY, plugin))  # some were left out


def test_plugin_components_are_the_plugins_own():
    assert [(c.kind, c.name) for c in plugin_components(REGISTRY, "mobilenetv2")] == [
        ("backbone", "mobilenetv2"), ("method", "softmax")]
    assert [c.name for c in plugin_components(REGISTRY, "adacos")] == [
        "adacos", "adaproj", "subcluster-adacos"]
    assert plugin_components(REGISTRY, "datasets")  # datasets count: a plugin without models
    assert plugin_combinations(REGISTRY, "datasets") == []


def _hand_made() -> Registry:
    """The installed log-Mel frontend and MobileFaceNet and frames backbones (plugins osscl and
    dcase_baselines), and two third-party plugins of one distribution, one method each (the
    installed ArcFace under another name)."""
    registry = Registry()
    registry.add("frontend", REGISTRY.get("frontend", "logmel"))
    registry.add("backbone", REGISTRY.get("backbone", "mobilefacenet"))
    registry.add("backbone", REGISTRY.get("backbone", "frames"))
    for name, plugin in (("head-a", "plugin_a"), ("head-b", "plugin_b")):
        registry.add("method", dataclasses.replace(REGISTRY.get("method", "arcface"), name=name,
                                                   package="thirdparty", plugin=plugin,
                                                   aliases=(), deprecated_aliases=()))
    return registry


def test_a_plugin_is_told_apart_from_the_other_plugins_of_its_distribution():
    registry = _hand_made()
    assert plugin_combinations(registry, "plugin_a") == [
        Combo("logmel", "frames", "head-a"), Combo("logmel", "mobilefacenet", "head-a")]
    assert plugin_combinations(registry, "plugin_a", partners={"osscl"}) == [
        Combo("logmel", "mobilefacenet", "head-a")]
    assert plugin_combinations(registry, "dcase_baselines") == [
        Combo("logmel", "frames", "head-a"), Combo("logmel", "frames", "head-b")]
    # by distribution, both plugins' methods
    assert {c.method for c in model_combinations(registry, {"thirdparty"})} == {"head-a",
                                                                                  "head-b"}
    assert [c.name for c in plugin_components(registry, "plugin_b")] == ["head-b"]


def test_an_unknown_plugin_is_a_one_line_error_listing_the_plugins():
    registry = _hand_made()
    listed = "plugins: dcase_baselines, osscl, plugin_a, plugin_b"
    for call in (lambda: plugin_combinations(registry, "plugin_c"),
                 lambda: plugin_components(registry, "plugin_c"),
                 lambda: plugin_combinations(registry, "plugin_a", partners=["plugin_c"])):
        with pytest.raises(AsdbenchError) as caught:
            call()
        assert str(caught.value) == f"no plugin 'plugin_c' provides components; {listed}"
    registry.failures["plugin_c"] = "package thirdparty: ImportError: no module named x"
    with pytest.raises(AsdbenchError) as caught:
        plugin_combinations(registry, "plugin_c")
    assert str(caught.value) == ("no plugin 'plugin_c' provides components (it failed to load: "
                                 f"package thirdparty: ImportError: no module named x); {listed}")
