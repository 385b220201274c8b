"""The three heads: AdaCos, sub-cluster AdaCos and AdaProj (facts: NOTES.md).

The adaptive scale is a float32 buffer: saved with the model and checkpoints, and averaged
by the engine's weight EMA like any float state, so the evaluated EMA model carries the EMA of
the live scale. A fixed scale (``adaptive = false``) is a plain number, outside the state (the
engine's decay of the live float state would otherwise shrink it).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from asdbench.sdk import AsdbenchError, FrontendInfo, bool_option, float_option, int_option
from asdbench_adacos import losses


def _glorot(rows: int, cols: int, trainable: bool) -> nn.Parameter:
    """Centres ``[rows, cols]``, Glorot uniform as the authors' Keras ``[E, K]`` weights
    (the bound ``√(6 / (E + K))`` is symmetric in the two sizes)."""
    weight = torch.empty(rows, cols)
    nn.init.xavier_uniform_(weight)
    return nn.Parameter(weight, requires_grad=trainable)


class AdaCosMethod(nn.Module):
    """AdaCos: ``s·cos θ`` to one centre per class, soft-label cross-entropy, no margin."""

    name = "adacos"

    def __init__(self, options: dict[str, Any], num_classes: int, embedding_dim: int,
                 centres_per_class: int = 1) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.centres_per_class = centres_per_class
        num_centres = num_classes * centres_per_class
        if num_centres < 3:
            raise AsdbenchError(f"method '{self.name}' needs at least 3 centres (its initial "
                                f"scale sqrt(2)*log(K-1) is 0 or undefined for K={num_centres})")
        alpha = float_option(options, "mixup_alpha", "method", owner=self.name)
        self.mixup_alpha: float | None = alpha or None
        self.adaptive = bool_option(options, "adaptive", "method", owner=self.name)
        trainable = bool_option(options, "trainable", "method", owner=self.name)
        self.weight = self._make_weight(num_classes, embedding_dim, trainable)
        self.initial_scale = losses.initial_scale(self._scale_centres(num_classes))
        if self.adaptive:
            self.register_buffer("scale", torch.tensor(self.initial_scale))

    def _make_weight(self, num_classes: int, embedding_dim: int, trainable: bool) -> nn.Parameter:
        return _glorot(num_classes * self.centres_per_class, embedding_dim, trainable)

    def _scale_centres(self, num_classes: int) -> int:
        """``K`` of the initial scale ``√2·log(K − 1)``: every centre."""
        return num_classes * self.centres_per_class

    def current_scale(self) -> float | Tensor:
        return self.scale if self.adaptive else self.initial_scale

    def cosines(self, e: Tensor) -> Tensor:
        return losses.centre_cosines(e, self.weight)

    def updated_scale(self, cos: Tensor, targets: Tensor) -> Tensor:
        return losses.adacos_scale(cos, targets, self.current_scale())

    def class_logits(self, cos: Tensor, scale: float | Tensor) -> Tensor:
        """Class logits ``[B, C]`` from the cosines at scale ``scale``."""
        return scale * cos

    def embed(self, z: Tensor) -> Tensor:
        return z

    def logits(self, e: Tensor, labels: Tensor | None) -> Tensor:
        """Class logits at the current scale (no margin: ``labels`` change nothing)."""
        return self.class_logits(self.cosines(e), self.current_scale())

    def loss(self, z: Tensor, y_a: Tensor, y_b: Tensor, lam: float) -> tuple[Tensor, Tensor]:
        targets = losses.soft_targets(y_a, y_b, lam, self.num_classes)
        cos = self.cosines(self.embed(z))
        if self.training and self.adaptive:
            new = self.updated_scale(cos.detach(), targets)
            if torch.isfinite(new):  # a degenerate batch keeps the previous scale
                self.scale.copy_(new)
        logits = self.class_logits(cos, self.current_scale())
        return losses.soft_cross_entropy(logits, targets), logits


class SubclusterAdaCosMethod(AdaCosMethod):
    """Sub-cluster AdaCos: ``n`` centres per class, class probability = sum of its
    sub-clusters' softmax probabilities; logits ``log p_c``."""

    name = "subcluster-adacos"

    def updated_scale(self, cos: Tensor, targets: Tensor) -> Tensor:
        return losses.subcluster_scale(cos, targets, self.current_scale(),
                                       self.centres_per_class)

    def class_logits(self, cos: Tensor, scale: float | Tensor) -> Tensor:
        return losses.subcluster_log_probs(scale * cos, self.centres_per_class)


class AdaProjMethod(AdaCosMethod):
    """AdaProj: cosine to the projection onto each class's ``d``-dimensional subspace.
    ``weight`` is ``[C, d, E]``; the initial scale counts ``C·d`` as the author's code."""

    name = "adaproj"

    def __init__(self, options: dict[str, Any], num_classes: int, embedding_dim: int,
                 subspace_dim: int) -> None:
        if subspace_dim >= embedding_dim:
            raise AsdbenchError(f"method 'adaproj': subspace_dim {subspace_dim} must be below "
                                f"the embedding size {embedding_dim}")
        super().__init__(options, num_classes, embedding_dim, centres_per_class=subspace_dim)

    def _make_weight(self, num_classes: int, embedding_dim: int, trainable: bool) -> nn.Parameter:
        # Glorot over the author's [E, C·d] matrix, then one [d, E] basis per class
        weight = _glorot(num_classes * self.centres_per_class, embedding_dim, trainable)
        return nn.Parameter(weight.data.view(num_classes, self.centres_per_class, embedding_dim),
                            requires_grad=trainable)

    def cosines(self, e: Tensor) -> Tensor:
        return losses.subspace_cosines(e, self.weight)

    def updated_scale(self, cos: Tensor, targets: Tensor) -> Tensor:
        return losses.adaproj_scale(cos, targets, self.current_scale())


def adacos_factory(options: dict[str, Any], num_classes: int, embedding_dim: int,
                   frontend_info: FrontendInfo) -> AdaCosMethod:
    return AdaCosMethod(options, num_classes, embedding_dim)


def subcluster_adacos_factory(options: dict[str, Any], num_classes: int, embedding_dim: int,
                              frontend_info: FrontendInfo) -> SubclusterAdaCosMethod:
    n = int_option(options, "n_subclusters", "method", owner="subcluster-adacos")
    return SubclusterAdaCosMethod(options, num_classes, embedding_dim, centres_per_class=n)


def adaproj_factory(options: dict[str, Any], num_classes: int, embedding_dim: int,
                    frontend_info: FrontendInfo) -> AdaProjMethod:
    d = int_option(options, "subspace_dim", "method", owner="adaproj")
    return AdaProjMethod(options, num_classes, embedding_dim, subspace_dim=d)
