"""Registers the shipped scorers (entry point ``scorers`` of the ``asdbench`` group).

The hook imports only the light option schemas (:mod:`asdbench_scorers.options`) and names
each factory as a ``"module:function"`` string, which the registry imports on the first
``create``: loading the plugin and ``asdbench plugins`` import no numpy or torch.
"""

from __future__ import annotations

from asdbench.sdk import Component, hookimpl
from asdbench_scorers import options


@hookimpl
def asdbench_scorers() -> list[Component]:
    scorers = "asdbench_scorers.scorers"
    return [
        Component("ce", f"{scorers}:make_ce", {},
                  "cross-entropy of the logits against the clip's own class (the paper's score)"),
        Component("cosine", f"{scorers}:make_cosine", {},
                  "cosine distance to the mean train embedding of the clip's class"),
        Component("knn", f"{scorers}:make_knn", dict(options.KNN_OPTIONS),
                  "mean cosine distance to the k nearest train embeddings of the clip's class"),
        Component("knn-domain", f"{scorers}:make_knn_domain", dict(options.KNN_DOMAIN_OPTIONS),
                  "k-NN cosine distance per domain (source, target) of the class; the minimum"),
        Component("mahalanobis", f"{scorers}:make_mahalanobis", {},
                  "Mahalanobis distance to a Gaussian (Ledoit-Wolf) of the class's train embeddings"),
        Component("kmeans-domain", f"{scorers}:make_kmeans_domain",
                  dict(options.KMEANS_DOMAIN_OPTIONS),
                  "min cosine distance to k-means centres of source + all target embeddings"),
    ]


# The non-learned reference (asdbench_scorers.reference): a parameter-free backbone and
# method whose embeddings the shipped mahalanobis scorer models per ID.
@hookimpl
def asdbench_backbones() -> list[Component]:
    return [Component("stats", "asdbench_scorers.reference:stats_factory", {},
                      "non-learned: mean and std over time of every band (2 C F numbers); "
                      "the per-ID Gaussian reference with --method gaussian")]


@hookimpl
def asdbench_methods() -> list[Component]:
    return [Component("gaussian", "asdbench_scorers.reference:gaussian_factory", {},
                      "non-learned reference: nothing trained, embeddings pass through; "
                      "use --backbone stats --scorer mahalanobis")]
