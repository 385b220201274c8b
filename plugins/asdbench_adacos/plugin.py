"""Hook implementations of the AdaCos-family plugin (entry point ``adacos``).

Light: the hooks import only the option schemas and the recipes (no torch); each factory is a
``"module:function"`` string the registry imports on the first ``create``.
"""

from __future__ import annotations

from asdbench.sdk import Component, hookimpl
from asdbench_adacos import options
from asdbench_adacos.recipes import recipes_of

# The author's score for this family (NOTES.md): min cosine distance to k-means (16)
# centres of the class's source train embeddings and to every target train embedding
SCORER_DEFAULTS = {"scorer": "kmeans-domain"}


@hookimpl
def asdbench_methods() -> list[Component]:
    methods = "asdbench_adacos.methods"
    components = [
        Component("adacos", f"{methods}:adacos_factory", dict(options.ADACOS_OPTIONS),
                  "AdaCos (Zhang et al. 2019): s*cos to class centres, adaptive scale "
                  "s0 = sqrt(2)log(C-1), no margin; mixup; scorer kmeans-domain",
                  train_defaults=dict(SCORER_DEFAULTS)),
        Component("subcluster-adacos", f"{methods}:subcluster_adacos_factory",
                  dict(options.SUBCLUSTER_OPTIONS),
                  "sub-cluster AdaCos (Wilkinghoff 2021): 16 centres per class, class "
                  "probability = sum over its sub-clusters, adaptive scale; scorer kmeans-domain",
                  train_defaults=dict(SCORER_DEFAULTS)),
        Component("adaproj", f"{methods}:adaproj_factory", dict(options.ADAPROJ_OPTIONS),
                  "AdaProj (Wilkinghoff 2024): s*cos to the projection onto each class's "
                  "16-d subspace (fixed bases), adaptive scale; scorer kmeans-domain",
                  train_defaults=dict(SCORER_DEFAULTS)),
    ]
    for component in components:
        component.recipes = recipes_of(component.name)
    return components
