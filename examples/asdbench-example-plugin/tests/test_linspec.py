"""The plugin's own tests: asdbench's contract checks over this package's components."""

import pytest

from asdbench.testing import (
    check_options,
    check_training_step,
    installed_registry,
    model_combinations,
)

REGISTRY = installed_registry()
PACKAGE = "asdbench-example-plugin"


@pytest.mark.parametrize("combo", model_combinations(REGISTRY, {PACKAGE}), ids=str)
def test_linspec_trains_with_every_shipped_backbone_and_method(combo):
    check_training_step(REGISTRY, combo)


def test_linspec_options_pass_their_schema():
    check_options(REGISTRY.get("frontend", "linspec"))
