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
