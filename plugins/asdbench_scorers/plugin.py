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
    scorers, banks = "asdbench_scorers.scorers", "asdbench_scorers.memory_bank"

    def schema(own: dict) -> dict:  # every scorer also takes the per-class normalisation
        return {**own, **options.NORMALIZE}

    return [
        Component("ce", f"{scorers}:make_ce", schema({}),
                  "cross-entropy of the logits against the clip's own class (the paper's score)"),
        Component("cosine", f"{scorers}:make_cosine", schema({}),
                  "cosine distance to the mean train embedding of the clip's class"),
        Component("knn", f"{scorers}:make_knn", schema(options.KNN_OPTIONS),
                  "mean cosine distance to the k nearest train embeddings of the clip's class"),
        Component("knn-domain", f"{scorers}:make_knn_domain",
                  schema(options.KNN_DOMAIN_OPTIONS),
                  "k-NN cosine distance per domain (source, target) of the class; the minimum"),
        Component("mahalanobis", f"{scorers}:make_mahalanobis", schema({}),
                  "Mahalanobis distance to a Gaussian (Ledoit-Wolf) of the class's train embeddings"),
        Component("kmeans-domain", f"{scorers}:make_kmeans_domain",
                  schema(options.KMEANS_DOMAIN_OPTIONS),
                  "min cosine distance to k-means centres of source + all target embeddings"),
        Component("knn-so-ta", f"{banks}:make_knn_so_ta", schema(options.KNN_SO_TA_OPTIONS),
                  "ASDKit's kNN: source and target memory banks with their own neighbour "
                  "counts, the nearer wins (optional SMOTE of the target clips)"),
        Component("knn-smote", f"{banks}:make_knn_so_ta", schema(options.KNN_SMOTE_OPTIONS),
                  "ASDKit's kNN after SMOTE oversampling of the target clips (ratio 0.2, "
                  "2 neighbours, as its default experiment)"),
        Component("knn-rescale", f"{banks}:make_knn_rescale",
                  schema(options.KNN_RESCALE_OPTIONS),
                  "ASDKit's rescaled kNN: distances divided by each reference's mean distance "
                  "to its own nearest references (Wilkinghoff, ICASSP 2025)"),
        Component("genrep", f"{banks}:make_genrep", schema(options.GENREP_OPTIONS),
                  "GenRep: kNN per domain, MemMixup target bank, each domain's distance "
                  "standardised before the minimum"),
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
