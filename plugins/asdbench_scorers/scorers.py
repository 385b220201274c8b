"""Anomaly scorers: ``fit(train)`` on normal training clips, ``score(test)``, higher = anomalous.

Embedding scorers work per class (one (type, ID) or (type, section) at a time), so memory
stays at one class's train × test block even for ~40k train and ~7k test clips.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from asdbench.sdk import (
    AsdbenchError,
    ScoringInputs,
    cross_entropy,
    int_option,
    knn_cosine_distance,
    l2_normalize,
)

if TYPE_CHECKING:
    from torch import nn

TARGET = "target"


def _positive_int(options: dict[str, Any], key: str) -> int:
    return int_option(options, key, "scorer")


class CrossEntropyScorer:
    """``-log_softmax(logits)[own class]`` (the OS-SCL / STgram-MFN score); needs no fitting."""

    name = "ce"

    def fit(self, train: ScoringInputs) -> None:  # nothing to learn
        return None

    def score(self, test: ScoringInputs) -> np.ndarray:
        return cross_entropy(test.logits, test.class_index)

    def to_torch(self, head: nn.Module, num_classes: int) -> nn.Module:
        from asdbench_scorers.torch_modules import CrossEntropyAllClasses

        return CrossEntropyAllClasses(head, num_classes)


class _PerClassScorer:
    """Fits one reference per class on train embeddings, scores test clips of that class."""

    name = ""
    k = 1  # nearest reference rows averaged by the exported model (KnnScorer sets its own)

    def __init__(self) -> None:
        self._refs: dict[int, Any] | None = None

    def _reference(self, emb: np.ndarray, domain: np.ndarray) -> Any:
        raise NotImplementedError

    def _distance(self, ref: Any, emb: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def fit(self, train: ScoringInputs) -> None:
        self._refs = {}
        for c in train.classes():
            rows = train.rows_of_class(c)
            self._refs[int(c)] = self._reference(train.embeddings[rows], train.domain[rows])

    def score(self, test: ScoringInputs) -> np.ndarray:
        if self._refs is None:
            raise AsdbenchError(f"scorer '{self.name}': score() called before fit()")
        out = np.empty(len(test), dtype=np.float64)
        for c in test.classes():
            rows = test.rows_of_class(c)
            if int(c) not in self._refs:
                raise AsdbenchError(f"scorer '{self.name}': class {int(c)} has test clips but "
                                    "no training embeddings to compare them with")
            out[rows] = self._distance(self._refs[int(c)], test.embeddings[rows])
        return out

    def _references(self, num_classes: int) -> list[Any]:
        """The fitted reference of every class ``0 .. num_classes - 1``, for ``to_torch``."""
        if self._refs is None:
            raise AsdbenchError(f"scorer '{self.name}': to_torch() called before fit()")
        missing = [c for c in range(num_classes) if c not in self._refs]
        if missing:
            raise AsdbenchError(f"scorer '{self.name}': class {missing[0]} has no training "
                                "embeddings")
        return [self._refs[c] for c in range(num_classes)]

    def _reference_sets(self, ref: Any) -> list[np.ndarray]:
        """The sets of rows a class's reference compares with (the nearest set wins)."""
        return [ref]

    def to_torch(self, head: nn.Module, num_classes: int) -> nn.Module:
        """Cosine distance to the nearest ``k`` rows of each class's reference sets."""
        from asdbench_scorers.torch_modules import NearestReferences

        sets = [self._reference_sets(r) for r in self._references(num_classes)]
        return NearestReferences(sets, self.k)


class CosineScorer(_PerClassScorer):
    """Cosine distance to the mean train embedding of the clip's class."""

    name = "cosine"

    def _reference(self, emb, domain):
        return np.asarray(emb, dtype=np.float64).mean(axis=0, keepdims=True)

    def _distance(self, ref, emb):
        return knn_cosine_distance(emb, ref, k=1)


class KnnScorer(_PerClassScorer):
    """Mean cosine distance to the ``k`` nearest train embeddings of the clip's class."""

    name = "knn"

    def __init__(self, k: int = 1) -> None:
        super().__init__()
        self.k = k

    def _reference(self, emb, domain):
        return l2_normalize(emb)

    def _distance(self, ref, emb):
        return knn_cosine_distance(emb, ref, k=self.k)


class KnnDomainScorer(KnnScorer):
    """k-NN cosine distance to each domain's train embeddings of the class; the minimum wins.

    Domains are those present among the class's train clips ("source"/"target"; "" when the
    data has none, which makes this equal to ``knn``).
    """

    name = "knn-domain"

    def _reference(self, emb, domain):
        emb = l2_normalize(emb)
        return [emb[domain == d] for d in sorted(set(domain.tolist()))]

    def _distance(self, ref, emb):
        return np.min([knn_cosine_distance(emb, r, k=self.k) for r in ref], axis=0)

    def _reference_sets(self, ref):
        return list(ref)


class MahalanobisScorer(_PerClassScorer):
    """Squared Mahalanobis distance to a Gaussian fitted on the class's train embeddings.

    The covariance is Ledoit-Wolf shrunk (sklearn): a class has tens of clips against a
    128-dimensional embedding, so the plain sample covariance would be singular.
    """

    name = "mahalanobis"

    def _reference(self, emb, domain):
        from sklearn.covariance import LedoitWolf  # noqa: PLC0415

        emb = np.asarray(emb, dtype=np.float64)
        fit = LedoitWolf().fit(emb)
        return fit.location_, fit.precision_

    def _distance(self, ref, emb):
        mean, precision = ref
        d = np.asarray(emb, dtype=np.float64) - mean
        return np.einsum("ij,jk,ik->i", d, precision, d)

    def to_torch(self, head: nn.Module, num_classes: int) -> nn.Module:
        from asdbench_scorers.torch_modules import Mahalanobis

        refs = self._references(num_classes)
        return Mahalanobis(np.stack([m for m, _ in refs]), np.stack([p for _, p in refs]))


class KMeansDomainScorer(_PerClassScorer):
    """Minimum cosine distance to k-means centres of the class's source train embeddings
    plus every target train embedding (few-shot target domain kept as is).

    k-means (sklearn, seeded) runs on L2-normalised embeddings with ``min(n_clusters,
    n_source)`` centres; every clip whose domain is not "target" counts as source.
    """

    name = "kmeans-domain"

    def __init__(self, n_clusters: int = 16, seed: int = 0) -> None:
        super().__init__()
        self.n_clusters = n_clusters
        self.seed = seed

    def _reference(self, emb, domain):
        from sklearn.cluster import KMeans

        emb = l2_normalize(emb)
        is_target = domain == TARGET
        source, target = emb[~is_target], emb[is_target]
        centres = [target]
        if len(source):
            n = min(self.n_clusters, len(source))
            km = KMeans(n_clusters=n, random_state=self.seed, n_init=1).fit(source)
            centres.insert(0, km.cluster_centers_.astype(np.float32))
        return l2_normalize(np.concatenate(centres, axis=0))

    def _distance(self, ref, emb):
        return knn_cosine_distance(emb, ref, k=1)


def make_ce(options: dict[str, Any]) -> CrossEntropyScorer:
    return CrossEntropyScorer()


def make_cosine(options: dict[str, Any]) -> CosineScorer:
    return CosineScorer()


def make_knn(options: dict[str, Any]) -> KnnScorer:
    return KnnScorer(k=_positive_int(options, "k"))


def make_knn_domain(options: dict[str, Any]) -> KnnDomainScorer:
    return KnnDomainScorer(k=_positive_int(options, "k"))


def make_mahalanobis(options: dict[str, Any]) -> MahalanobisScorer:
    return MahalanobisScorer()


def make_kmeans_domain(options: dict[str, Any]) -> KMeansDomainScorer:
    return KMeansDomainScorer(n_clusters=_positive_int(options, "n_clusters"),
                              seed=int_option(options, "seed", "scorer", minimum=0))
