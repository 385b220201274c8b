"""The plugin's own tests: asdbench's contract checks over this package's components."""

import pytest

from asdbench.testing import (
    check_options,
    check_training_step,
    installed_registry,
    plugin_combinations,
    plugin_components,
)

REGISTRY = installed_registry()
PLUGIN = "example_method"  # the entry-point name in pyproject.toml


def test_cosine_is_registered_with_its_package():
    method = REGISTRY.get("method", "cosine-id")
    assert (method.plugin, method.package) == (PLUGIN, "asdbench-example-method")


# one training step on each of the OS-SCL plugin's frontends and backbone
@pytest.mark.parametrize("combo", plugin_combinations(REGISTRY, PLUGIN, partners=["osscl"]),
                         ids=str)
def test_cosine_trains(combo):
    check_training_step(REGISTRY, combo)


@pytest.mark.parametrize("component", plugin_components(REGISTRY, PLUGIN),
                         ids=lambda c: f"{c.kind}-{c.name}")
def test_options_pass_their_schema(component):
    check_options(component)
