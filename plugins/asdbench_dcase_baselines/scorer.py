"""Scorer ``method``: the anomaly score a method computes itself (``own_score = True``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from asdbench.sdk import ScoringInputs

if TYPE_CHECKING:
    from torch import nn


class OwnScoreScorer:
    """Reads each clip's score at its own class from the method's per-class scores (what
    ``logits(e, labels)`` gives for a method with ``own_score = True``); fits nothing."""

    name = "method"
    needs_own_score = True  # meaningless on class logits: the engine refuses other methods

    def fit(self, train: ScoringInputs) -> None:  # the method's score needs no reference
        return None

    def score(self, test: ScoringInputs) -> np.ndarray:
        own = np.clip(test.class_index, 0, None)  # -1: a class the run has not seen (dropped)
        return test.logits[np.arange(len(test)), own].astype(np.float64)

    def to_torch(self, head: nn.Module, num_classes: int) -> nn.Module:
        """The method's scores of every class: column k is the clip's score as class k."""
        from torch import nn

        class OwnScores(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.head = head

            def forward(self, e):
                return self.head.logits(e, None)

        return OwnScores()


def make_own_score(options: dict) -> OwnScoreScorer:
    return OwnScoreScorer()
