"""Method ``softmax``: machine-ID classification with a linear layer and softmax cross-entropy
(no margin, no normalisation, no mixup): the loss of the DCASE 2021 organisers' MobileNetV2
baseline (Keras ``Dense(classes, softmax)`` + ``categorical_crossentropy``).

The logits are the class scores ``W e + b``; the anomaly score of a clip comes from the
engine's scorers (``ce``, the default: ``-log softmax`` at the clip's own class).
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from asdbench.sdk import FrontendInfo


class SoftmaxMethod(nn.Module):
    """Linear classifier ``embedding_dim -> num_classes`` trained with cross-entropy."""

    mixup_alpha = None  # trained on the clips as they are

    def __init__(self, num_classes: int, embedding_dim: int) -> None:
        super().__init__()
        self.classifier = nn.Linear(embedding_dim, num_classes)
        # small normal weights, zero bias: the reference MobileNetV2 classifier's init
        nn.init.normal_(self.classifier.weight, 0.0, 0.01)
        nn.init.zeros_(self.classifier.bias)

    def embed(self, z: Tensor) -> Tensor:
        return z

    def logits(self, e: Tensor, labels: Tensor | None) -> Tensor:
        """Class logits (the clip's labels change nothing: there is no margin)."""
        return self.classifier(e.float())

    def loss(self, z: Tensor, y_a: Tensor, y_b: Tensor, lam: float) -> tuple[Tensor, Tensor]:
        logits = self.logits(z, y_a)
        return F.cross_entropy(logits, y_a), logits


def softmax_factory(options: dict[str, Any], num_classes: int, embedding_dim: int,
                    frontend_info: FrontendInfo) -> SoftmaxMethod:
    return SoftmaxMethod(num_classes, embedding_dim)
