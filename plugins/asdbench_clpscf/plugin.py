"""Hook implementations of the CLP-SCF plugin (entry point ``clpscf``).

Light: the hook imports only the option schema and the recipes (no torch); the factory is a
``"module:function"`` string the registry imports on the first ``create``.
"""

from __future__ import annotations

from asdbench.sdk import Component, hookimpl
from asdbench_clpscf.options import CLPSCF_OPTIONS
from asdbench_clpscf.recipes import recipes_of


@hookimpl
def asdbench_methods() -> list[Component]:
    component = Component(
        "clp-scf", "asdbench_clpscf.methods:clpscf_factory", dict(CLPSCF_OPTIONS),
        "CLP-SCF (Guan et al., ICASSP 2023): two stages, machine-ID contrastive pre-training "
        "(t 0.1), then ArcFace ID classification fine-tuning (m 1.0, s 30); authors: "
        "--frontend stgram --backbone mobilefacenet")
    component.recipes = recipes_of(component.name)
    return [component]
