"""Anomaly scorers: ``fit(train)`` on normal training clips, ``score(test)``, higher = anomalous.

Embedding scorers work per class (one (type, ID) or (type, section) at a time), so memory
stays at one class's train × test block even for ~40k train and ~7k test clips.

``score_train(train)`` gives the clips ``fit`` was given the scores they would get held out,
for the decision thresholds (:func:`asdbench.metrics.decision.training_scores`): a scorer
whose reference keeps each training clip (``knn``, ``knn-domain``, the target clips of
``kmeans-domain``) leaves the clip out of its own reference (leave-one-out), else it is at
distance 0 from itself and the threshold fitted on those scores is far too low. Aggregate
references (``cosine``'s mean, ``mahalanobis``' Gaussian, k-means centres) weigh a clip 1/n
and are not refitted per clip: they score the training clips as any clip.
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
from asdbench_scorers.normalize import normalized

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

    def score_train(self, train: ScoringInputs) -> np.ndarray:
        """The scores of the clips ``fit`` was given (``train``, in the same order), each as
        if it were held out (:meth:`_held_out`); a clip with nothing left to compare with
        (its class's only clip) keeps its plain score."""
        if self._refs is None:
            raise AsdbenchError(f"scorer '{self.name}': score_train() called before fit()")
        out = np.empty(len(train), dtype=np.float64)
        for c in train.classes():
            rows = train.rows_of_class(c)
            ref, emb = self._refs.get(int(c)), train.embeddings[rows]
            if ref is None:
                raise AsdbenchError(f"scorer '{self.name}': score_train() needs the inputs "
                                    "fit() was given")
            held = np.asarray(self._held_out(ref, emb, train.domain[rows]), dtype=np.float64)
            lone = ~np.isfinite(held)
            if lone.any():
                held[lone] = self._distance(ref, emb[lone])
            out[rows] = held
        return out

    def _held_out(self, ref: Any, emb: np.ndarray, domain: np.ndarray) -> np.ndarray:
        """A class's training clips scored each without itself in ``ref`` (inf where nothing
        is left); an aggregate reference scores them as it is."""
        return self._distance(ref, emb)

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

    def _held_out(self, ref, emb, domain):
        return knn_leaving_out(emb, ref, _own_rows(ref, emb, 0), self.k)


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

    def _held_out(self, ref, emb, domain):
        names = sorted(set(domain.tolist()))  # the order _reference gave ``ref``
        out = np.full(len(emb), np.inf)
        for d, r in zip(names, ref, strict=True):
            mine = domain == d
            out[mine] = np.minimum(out[mine], knn_leaving_out(emb[mine], r,
                                                              _own_rows(r, emb[mine], 0), self.k))
            if (~mine).any():
                out[~mine] = np.minimum(out[~mine], knn_cosine_distance(emb[~mine], r, k=self.k))
        return out

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

    def _held_out(self, ref, emb, domain):
        """Target clips (the reference's last rows, in order) leave themselves out; source
        clips are scored as is (the centres are not refitted)."""
        is_target = domain == TARGET
        out = self._distance(ref, emb)
        if is_target.any():
            first = len(ref) - int(is_target.sum())
            out[is_target] = knn_leaving_out(emb[is_target], ref,
                                             _own_rows(ref, emb[is_target], first), 1)
        return out


def _own_rows(ref: np.ndarray, emb: np.ndarray, first: int) -> np.ndarray:
    """The rows ``first ..`` of ``ref`` that are ``emb``'s own clips, checked to be them."""
    own = np.arange(first, first + len(emb))
    if first + len(emb) > len(ref) or not np.allclose(ref[own], l2_normalize(emb), atol=1e-5):
        raise AsdbenchError("score_train() needs the inputs fit() was given")
    return own


def knn_leaving_out(emb: np.ndarray, ref: np.ndarray, own: np.ndarray, k: int) -> np.ndarray:
    """Mean cosine distance of each row ``i`` of ``emb`` to its ``k`` nearest rows of ``ref``
    other than ``ref[own[i]]`` (its own clip), ``k`` capped at the rows left; inf when none
    is left. Computed as :func:`knn_cosine_distance` (float32 blocks of 1024 rows)."""
    out = np.full(len(emb), np.inf)
    k = max(1, min(int(k), len(ref) - 1))
    if len(ref) < 2 or not len(emb):
        return out
    q, r = l2_normalize(emb), l2_normalize(ref)
    for start in range(0, len(q), 1024):
        rows = np.arange(start, min(start + 1024, len(q)))
        dist = 1.0 - q[rows] @ r.T
        dist[np.arange(len(rows)), own[rows]] = np.inf
        out[rows] = np.partition(dist, k - 1, axis=1)[:, :k].mean(axis=1)
    return out


def make_ce(options: dict[str, Any]) -> Any:
    return normalized(CrossEntropyScorer(), options)


def make_cosine(options: dict[str, Any]) -> Any:
    return normalized(CosineScorer(), options)


def make_knn(options: dict[str, Any]) -> Any:
    return normalized(KnnScorer(k=_positive_int(options, "k")), options)


def make_knn_domain(options: dict[str, Any]) -> Any:
    return normalized(KnnDomainScorer(k=_positive_int(options, "k")), options)


def make_mahalanobis(options: dict[str, Any]) -> Any:
    return normalized(MahalanobisScorer(), options)


def make_kmeans_domain(options: dict[str, Any]) -> Any:
    return normalized(KMeansDomainScorer(n_clusters=_positive_int(options, "n_clusters"),
                                         seed=int_option(options, "seed", "scorer", minimum=0)),
                      options)
