"""The option schemas of the shipped scorers (read by the plugin's hook).

Light on purpose: no numpy or torch, so ``asdbench plugins`` lists the scorers and their
options without importing them. The types are inferred from the defaults; the factories
check the ranges (:mod:`asdbench_scorers.scorers`).
"""

from __future__ import annotations

from asdbench.sdk import Option

KNN_OPTIONS: dict[str, Option] = {
    "k": Option(1, help="nearest train embeddings of the class averaged (at least 1)"),
}
KNN_DOMAIN_OPTIONS: dict[str, Option] = {
    "k": Option(1, help="nearest train embeddings of each domain averaged (at least 1)"),
}
KMEANS_DOMAIN_OPTIONS: dict[str, Option] = {
    "n_clusters": Option(16, help="k-means centres of the source train embeddings per class "
                                  "(at most the number of source clips; at least 1)"),
    "seed": Option(0, help="seed of k-means (at least 0)"),
}
