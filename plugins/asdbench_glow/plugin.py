"""Hook implementations of the Glow plugin (entry point ``glow_aff``).

Light: the hook imports only the option schema and the recipes (no torch); the factory is a
``"module:function"`` string the registry imports on the first ``create``.
"""

from __future__ import annotations

from asdbench.sdk import Component, hookimpl
from asdbench_glow.options import GLOW_OPTIONS
from asdbench_glow.recipes import recipes_of

# its own score, unless the user sets another scorer; nothing to recalibrate (no BatchNorm)
OWN_SCORE_DEFAULTS = {"scorer": "method", "train.bn_recalibrate": 0}


@hookimpl
def asdbench_methods() -> list[Component]:
    component = Component(
        "glow-aff", "asdbench_glow.methods:glow_aff_factory", dict(GLOW_OPTIONS),
        "Glow-Aff (Dohi et al. 2021): Glow with affine couplings on log-Mel segments, one flow "
        "per machine ID, the type's other IDs as pseudo-anomalies; score = negative "
        "log-likelihood (backbone frames, scorer method)",
        train_defaults=dict(OWN_SCORE_DEFAULTS))
    component.recipes = recipes_of(component.name)
    return [component]
