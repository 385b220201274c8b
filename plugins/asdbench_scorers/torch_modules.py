"""The shipped scorers as torch modules, for ``asdbench export`` (each scorer's ``to_torch``).

Every module maps embeddings ``[B, E]`` (the method's ``embed``) to scores ``[B, K]``: column
``k`` is what the scorer's ``score`` gives the clip as a clip of class ``k``. Pure torch ops
that ``torch.jit.trace`` and ``torch.onnx.export(dynamo=True)`` handle; constants are buffers,
so an exported file runs on any device.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn


def ce_all_classes(method: nn.Module, e: Tensor, num_classes: int,
                   class_ids: Tensor | None = None) -> Tensor:
    """``[B, K]``: ``-log_softmax(method.logits(e, k))[k]`` for every class ``k`` at once.

    Each clip's embedding is repeated K times, row ``(b, k)`` labelled ``k`` (so a margin lands
    on ``k``), and the method's own ``logits`` is called once on the ``B·K`` rows: the same
    maths as the ``ce`` scorer, for every column. The extra cost is ``B·K·K·E`` multiply-adds,
    negligible beside the network (41 classes: 0.2 MFLOP per clip against ~4.5 GFLOP).
    """
    dim = e.shape[-1]
    rows = e.unsqueeze(1).expand(-1, num_classes, dim).reshape(-1, dim)
    if class_ids is None:
        class_ids = torch.arange(num_classes, device=e.device)
    labels = class_ids.unsqueeze(0).expand(e.shape[0], -1)
    logits = method.logits(rows, labels.reshape(-1)).float().reshape(-1, num_classes, num_classes)
    own = torch.diagonal(logits, dim1=1, dim2=2)
    return torch.logsumexp(logits, dim=2) - own


class CrossEntropyAllClasses(nn.Module):
    """The ``ce`` scorer: :func:`ce_all_classes` with the run's method head."""

    def __init__(self, head: nn.Module, num_classes: int) -> None:
        super().__init__()
        self.head = head
        self.num_classes = num_classes
        # a buffer, not a traced arange: the exported file then runs on any device
        self.register_buffer("class_ids", torch.arange(num_classes), persistent=False)

    def forward(self, e: Tensor) -> Tensor:
        return ce_all_classes(self.head, e, self.num_classes, self.class_ids)


def cosine_distance_topk(e: Tensor, reference: Tensor, k: int) -> Tensor:
    """Mean cosine distance of each row of ``e`` to its ``k`` nearest rows of the L2-normalised
    ``reference`` (``1 <= k <= len(reference)``), as ``asdbench.scoring.knn_cosine_distance``."""
    q = F.normalize(e.float(), dim=1)
    dist = 1.0 - q @ reference.T
    if k == 1:
        return dist.min(dim=1).values
    return dist.topk(k, dim=1, largest=False).values.mean(dim=1)


def _normalized(x: np.ndarray) -> Tensor:
    x = np.asarray(x, dtype=np.float32)
    return torch.from_numpy(x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12))


class NearestReferences(nn.Module):
    """Per class, the mean cosine distance to the ``k`` nearest rows of each of its reference
    sets, the nearest set winning (``cosine``, ``knn``, ``knn-domain``, ``kmeans-domain``)."""

    def __init__(self, references: list[list[np.ndarray]], k: int = 1) -> None:
        super().__init__()
        self.num_classes = len(references)
        # (class, buffer name, k capped at the set's size): traced as unrolled comparisons,
        # with every size fixed here rather than read from a tensor while tracing
        self._refs: list[tuple[int, str, int]] = []
        for c, sets in enumerate(references):
            for j, ref in enumerate(sets):
                name = f"ref_{c}_{j}"
                self.register_buffer(name, _normalized(ref).contiguous())
                self._refs.append((c, name, max(1, min(int(k), len(ref)))))

    def forward(self, e: Tensor) -> Tensor:
        columns: list[list[Tensor]] = [[] for _ in range(self.num_classes)]
        for c, name, k in self._refs:
            columns[c].append(cosine_distance_topk(e, getattr(self, name), k))
        return torch.stack([torch.stack(col).amin(dim=0) for col in columns], dim=1)


class Mahalanobis(nn.Module):
    """Squared Mahalanobis distance to each class's Gaussian, in float64 as the scorer."""

    def __init__(self, means: np.ndarray, precisions: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("means", torch.from_numpy(np.asarray(means, np.float64)))
        self.register_buffer("precisions", torch.from_numpy(np.asarray(precisions, np.float64)))

    def forward(self, e: Tensor) -> Tensor:
        d = e.double().unsqueeze(1) - self.means.unsqueeze(0)  # [B, K, E]
        return torch.einsum("bke,kef,bkf->bk", d, self.precisions, d)


class MemoryBanks(nn.Module):
    """Per class, the minimum over its memory banks of ``weight * mean_k(d(e, p_j) / scale_j)
    + offset``, ``d`` Euclidean (after scaling ``e`` to unit length for ``cosine``), in
    float64 as :mod:`asdbench_scorers.memory_bank`.

    ``banks[c]``: class ``c``'s banks as ``(points [M, E], k, scale [M] or None, weight,
    offset)``.
    """

    def __init__(self, banks: list[list[tuple]], cosine: bool) -> None:
        super().__init__()
        self.num_classes, self.cosine = len(banks), cosine
        self._banks: list[tuple[int, str, str, int, float, float]] = []
        for c, class_banks in enumerate(banks):
            for j, (points, k, scale, weight, offset) in enumerate(class_banks):
                points = np.asarray(points, np.float64)
                scale = np.ones(len(points)) if scale is None else np.asarray(scale, np.float64)
                self.register_buffer(f"points_{c}_{j}", torch.from_numpy(points.copy()))
                self.register_buffer(f"scale_{c}_{j}", torch.from_numpy(scale.copy()))
                self._banks.append((c, f"points_{c}_{j}", f"scale_{c}_{j}",
                                    max(1, min(int(k), len(points))), float(weight),
                                    float(offset)))

    def forward(self, e: Tensor) -> Tensor:
        x = e.double()
        if self.cosine:
            x = x / x.norm(dim=1, keepdim=True).clamp(min=1e-12)
        sq_x = (x * x).sum(dim=1, keepdim=True)
        columns: list[list[Tensor]] = [[] for _ in range(self.num_classes)]
        for c, points_name, scale_name, k, weight, offset in self._banks:
            p = getattr(self, points_name)
            sq = sq_x + (p * p).sum(dim=1).unsqueeze(0) - 2.0 * (x @ p.T)
            d = sq.clamp(min=0.0).sqrt() / getattr(self, scale_name)
            near = d.topk(k, dim=1, largest=False).values.mean(dim=1)
            columns[c].append(weight * near + offset)
        return torch.stack([torch.stack(col).amin(dim=0) for col in columns], dim=1)


class ColumnNormalized(nn.Module):
    """A scorer module whose column ``k`` is mapped by class ``k``'s normalisation
    (:mod:`asdbench_scorers.normalize`): ``(s - mean) / std``, or the quantile map written
    as ``y_0 + slope (s - x_0) + sum_i c_i relu(s - x_i)`` (its slope changes at each knot)."""

    def __init__(self, inner: nn.Module, a: np.ndarray, b: np.ndarray,
                 knots: np.ndarray | None = None, coef: np.ndarray | None = None) -> None:
        super().__init__()
        self.inner = inner
        self.register_buffer("a", torch.from_numpy(np.asarray(a, np.float64)))
        self.register_buffer("b", torch.from_numpy(np.asarray(b, np.float64)))
        self.quantile = knots is not None
        if self.quantile:
            self.register_buffer("knots", torch.from_numpy(np.asarray(knots, np.float64)))
            self.register_buffer("coef", torch.from_numpy(np.asarray(coef, np.float64)))

    @classmethod
    def zscore(cls, inner: nn.Module, stats: list[tuple[float, float]]) -> ColumnNormalized:
        mean, std = np.array([s[0] for s in stats]), np.array([s[1] for s in stats])
        return cls(inner, 1.0 / std, -mean / std)

    @classmethod
    def quantile(cls, inner: nn.Module, stats: list) -> ColumnNormalized:
        """``stats``: one ``Quantiles`` (x, y, slope) per class; knots padded with zero
        coefficients to the longest class."""
        width = max(len(q.x) for q in stats)
        knots, coef = np.zeros((len(stats), width)), np.zeros((len(stats), width))
        slope0, base = np.zeros(len(stats)), np.zeros(len(stats))
        for c, q in enumerate(stats):
            seg = np.diff(q.y) / np.diff(q.x) if len(q.x) > 1 else np.zeros(0)
            slopes = np.concatenate([[q.slope], seg, [q.slope]])
            knots[c, :len(q.x)], knots[c, len(q.x):] = q.x, q.x[-1]
            coef[c, :len(q.x)] = np.diff(slopes)
            slope0[c], base[c] = q.slope, q.y[0] - q.slope * q.x[0]
        return cls(inner, slope0, base, knots, coef)

    def forward(self, e: Tensor) -> Tensor:
        s = self.inner(e).double()
        out = self.a * s + self.b
        if self.quantile:
            out = out + (self.coef * torch.relu(s.unsqueeze(2) - self.knots)).sum(dim=2)
        return out
