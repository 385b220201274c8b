"""Registers the shipped scorers (entry point ``scorers`` of the ``asdbench`` group).

The component modules (torch) are imported inside the hooks, so that loading the plugin
(``asdbench --help``) stays light.
"""

from __future__ import annotations

from asdbench.sdk import Component, hookimpl


@hookimpl
def asdbench_scorers() -> list[Component]:
    from asdbench_scorers import scorers

    return [
        Component("ce", scorers.make_ce, {},
                  "cross-entropy of the logits against the clip's own class (the paper's score)"),
        Component("cosine", scorers.make_cosine, {},
                  "cosine distance to the mean train embedding of the clip's class"),
        Component("knn", scorers.make_knn, {"k": 1},
                  "mean cosine distance to the k nearest train embeddings of the clip's class"),
        Component("knn-domain", scorers.make_knn_domain, {"k": 1},
                  "k-NN cosine distance per domain (source, target) of the class; the minimum"),
        Component("mahalanobis", scorers.make_mahalanobis, {},
                  "Mahalanobis distance to a Gaussian (Ledoit-Wolf) of the class's train embeddings"),
        Component("kmeans-domain", scorers.make_kmeans_domain, {"n_clusters": 16, "seed": 0},
                  "min cosine distance to k-means centres of source + all target embeddings"),
    ]
