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

# Every scorer of this plugin: its scores standardised per class (section) by the class's own
# held-out training scores (asdbench_scorers.normalize).
NORMALIZE: dict[str, Option] = {
    "normalize": Option("none", choices=("none", "zscore", "quantile"),
                        help="per-class score normalisation by the class's held-out training "
                             "scores: none, zscore (mean 0, std 1) or quantile (their "
                             "empirical CDF, linear beyond it)", omit_default=True),
}

_METRIC = Option("cosine", choices=("cosine", "euclid"),
                 help="cosine: Euclidean distance of L2-normalised embeddings; euclid: of the "
                      "embeddings as they are")

# ASDKit's Knn (asdkit/backends/knn.py, TakuyaFujimura/dcase-asd-toolkit); its option names.
KNN_SO_TA_OPTIONS: dict[str, Option] = {
    "n_neighbors_so": Option(1, minimum=1, help="nearest source-domain train embeddings "
                                                "averaged"),
    "n_neighbors_ta": Option(1, minimum=0, help="nearest target-domain train embeddings "
                                                "averaged (0: no target memory bank)"),
    "metric": _METRIC,
    "smote_ratio": Option(0.0, minimum=0.0, maximum=1.0,
                          help="SMOTE target/source ratio after oversampling the target "
                               "train embeddings (imbalanced-learn); 0: no SMOTE"),
    "smote_neighbors": Option(2, minimum=1, help="neighbours SMOTE interpolates towards "
                                                 "(capped at the target clips - 1)"),
}
# ASDKit's config/score/experiments/default.yaml SMOTE setting (ratio 0.2, 2 neighbours).
KNN_SMOTE_OPTIONS: dict[str, Option] = {
    **KNN_SO_TA_OPTIONS,
    "smote_ratio": Option(0.2, minimum=0.0, maximum=1.0,
                          help=KNN_SO_TA_OPTIONS["smote_ratio"].help),
}
# ASDKit's KnnRescale (Wilkinghoff et al., ICASSP 2025); k_ref_normalize as in
# config/score/experiments/default.yaml (the class's own default is 16).
KNN_RESCALE_OPTIONS: dict[str, Option] = {
    "n_neighbors": Option(1, minimum=1, help="nearest rescaled distances averaged"),
    "k_ref_normalize": Option(4, minimum=1, help="each reference's mean distance to its own "
                                                 "nearest train embeddings divides it"),
    "metric": _METRIC,
}
# GenRep (Phuriches/GenRepASD, run_genrep_dcase2023.py; arXiv 2409.05035); its option names.
GENREP_OPTIONS: dict[str, Option] = {
    "top_k": Option(1, minimum=1, help="nearest memory-bank entries averaged, per domain"),
    "n_mix_support": Option(990, minimum=0,
                            help="MemMixup: nearest source embeddings mixed into each target "
                                 "one (capped at the source clips; 0: no MemMixup)"),
    "alpha": Option(0.9, minimum=0.0, maximum=1.0,
                    help="MemMixup weight of the target embedding"),
    "domain_norm": Option(True, help="standardise each domain's distance before the minimum"),
    "domain_stats": Option("train", choices=("train", "test"),
                           help="where the standardisation's mean and std come from: the "
                                "held-out training clips, or the scored clips (the authors' "
                                "code; transductive, cannot be exported)"),
    "metric": Option("euclid", choices=("euclid", "cosine"), help=_METRIC.help),
}
