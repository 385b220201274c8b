"""What scorers receive, and the shared maths of embedding-based anomaly scores.

A scorer (registered through ``asdbench_scorers``) has ``fit(train: ScoringInputs)`` and
``score(test: ScoringInputs) -> np.ndarray[N]`` (higher = more anomalous).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from asdbench.registry import AsdbenchError

# Test rows per block of a similarity matrix: a block is at most CHUNK x N_reference float32
# (1024 x 40k = 160 MB even if one class held every train clip; per class it is ~1k-6k).
CHUNK = 1024


@dataclass
class ScoringInputs:
    """Per-clip model outputs of one split.

    ``embeddings[N, E]`` (the method's ``embed``), ``logits[N, K]`` (``logits(e, labels)``),
    ``class_index[N]`` (int, the clip's (type, ID) class), ``domain[N]`` (str, "" if none).
    """

    embeddings: np.ndarray
    logits: np.ndarray
    class_index: np.ndarray
    domain: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.embeddings = np.asarray(self.embeddings)
        self.logits = np.asarray(self.logits)
        self.class_index = np.asarray(self.class_index, dtype=np.int64).reshape(-1)
        n = self.class_index.shape[0]
        if self.domain is None:
            self.domain = np.full(n, "", dtype=object)
        self.domain = np.asarray(self.domain, dtype=object).reshape(-1)
        for name in ("embeddings", "logits"):
            arr = getattr(self, name)
            if arr.ndim != 2 or arr.shape[0] != n:
                raise ValueError(f"ScoringInputs.{name} must be [N={n}, *], got {arr.shape}")
        if self.domain.shape[0] != n:
            raise ValueError(f"ScoringInputs.domain must have N={n} entries, "
                             f"got {self.domain.shape[0]}")

    def __len__(self) -> int:
        return int(self.class_index.shape[0])

    def classes(self) -> np.ndarray:
        """The distinct class indices present, sorted."""
        return np.unique(self.class_index)

    def rows_of_class(self, c: int) -> np.ndarray:
        return np.flatnonzero(self.class_index == c)


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows scaled to unit L2 norm (float32); an all-zero row stays zero."""
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), eps)


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity matrix ``[len(a), len(b)]``."""
    return l2_normalize(a) @ l2_normalize(b).T


def _chunks(n: int, size: int = CHUNK) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def knn_cosine_distance(query: np.ndarray, reference: np.ndarray, k: int = 1,
                        chunk: int = CHUNK) -> np.ndarray:
    """Mean cosine distance (1 - cos) of each query row to its ``k`` nearest reference rows.

    ``k`` is capped at ``len(reference)``. Computed in blocks of ``chunk`` query rows.
    """
    if len(reference) == 0:
        raise ValueError("knn_cosine_distance: empty reference set")
    k = max(1, min(int(k), len(reference)))
    q, r = l2_normalize(query), l2_normalize(reference)
    out = np.empty(len(q), dtype=np.float64)
    for sl in _chunks(len(q), chunk):
        dist = 1.0 - q[sl] @ r.T
        if k == 1:
            out[sl] = dist.min(axis=1)
        else:
            out[sl] = np.partition(dist, k - 1, axis=1)[:, :k].mean(axis=1)
    return out


def cross_entropy(logits: np.ndarray, class_index: np.ndarray) -> np.ndarray:
    """Per-row ``-log_softmax(logits)[class]`` in float64 (stable log-sum-exp)."""
    z = np.asarray(logits, dtype=np.float64)
    idx = np.asarray(class_index, dtype=np.int64).reshape(-1)
    if z.ndim != 2 or len(idx) != len(z):
        raise ValueError(f"cross_entropy: logits {z.shape} and class_index {idx.shape} disagree")
    if len(idx) and (idx.min() < 0 or idx.max() >= z.shape[1]):
        raise AsdbenchError(f"class index out of range for {z.shape[1]} logits "
                            f"(got {idx.min()}..{idx.max()})")
    m = z.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(z - m).sum(axis=1))
    return lse - z[np.arange(len(z)), idx]

