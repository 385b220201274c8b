"""Score normalisation across sections: each class's scores mapped by its own training clips'
held-out scores, so one threshold or one pooled AUC across classes compares like with like.

``normalize = "zscore"``: ``(s - mean) / std`` of the class's held-out training scores.
``normalize = "quantile"``: the empirical CDF of those scores (plotting positions ``(i - 0.5)
/ n`` at the sorted scores, linear between them), continued beyond the lowest and highest
score with the CDF's mean slope, so scores outside the training range stay ranked.
Both maps increase strictly within a class: the per-class AUC and pAUC do not change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from asdbench.sdk import AsdbenchError, ScoringInputs

if TYPE_CHECKING:
    from torch import nn

NONE, ZSCORE, QUANTILE = "none", "zscore", "quantile"
MODES = (NONE, ZSCORE, QUANTILE)


@dataclass(frozen=True)
class Quantiles:
    """A class's quantile map: CDF ``y`` at the distinct sorted scores ``x``, ``slope``
    beyond them."""

    x: np.ndarray
    y: np.ndarray
    slope: float


def zscore_stats(held: np.ndarray) -> tuple[float, float]:
    """Mean and std (ddof 0) of the finite held-out scores; std 1 with fewer than two
    scores or no spread."""
    v = np.asarray(held, dtype=np.float64)
    v = v[np.isfinite(v)]
    if not len(v):
        return 0.0, 1.0
    sd = float(v.std())
    return float(v.mean()), (sd if len(v) >= 2 and sd > 0 else 1.0)


def quantile_stats(held: np.ndarray) -> Quantiles:
    """The quantile map of the finite held-out scores; tied scores share their mean
    position; a single distinct score maps to 0.5 with slope 1."""
    v = np.sort(np.asarray(held, dtype=np.float64)[np.isfinite(held)])
    if not len(v):
        return Quantiles(np.zeros(1), np.full(1, 0.5), 1.0)
    pos = (np.arange(len(v)) + 0.5) / len(v)
    x, first, counts = np.unique(v, return_index=True, return_counts=True)
    y = np.add.reduceat(pos, first) / counts
    slope = float((y[-1] - y[0]) / (x[-1] - x[0])) if len(x) > 1 else 1.0
    return Quantiles(x, y, slope)


def quantile_map(scores: np.ndarray, q: Quantiles) -> np.ndarray:
    """``scores`` through the quantile map ``q``."""
    s = np.asarray(scores, dtype=np.float64)
    out = np.interp(s, q.x, q.y)
    low, high = s < q.x[0], s > q.x[-1]
    out[low] = q.y[0] + q.slope * (s[low] - q.x[0])
    out[high] = q.y[-1] + q.slope * (s[high] - q.x[-1])
    return out


def held_out_scores(scorer: Any, train: ScoringInputs) -> np.ndarray:
    """The training clips' scores as if held out (``score_train``), else ``score``."""
    held = getattr(scorer, "score_train", None)
    return np.asarray(held(train) if callable(held) else scorer.score(train), dtype=np.float64)


class SectionNormalized:
    """Any fitted scorer, its scores normalised per class by its held-out training scores."""

    def __init__(self, inner: Any, mode: str) -> None:
        if mode not in (ZSCORE, QUANTILE):
            raise AsdbenchError(f"scorer.normalize must be one of {', '.join(MODES)}, "
                                f"got {mode!r}")
        self.inner, self.mode = inner, mode
        self.name = getattr(inner, "name", "")
        self._stats: dict[int, Any] | None = None

    def fit(self, train: ScoringInputs) -> None:
        self.inner.fit(train)
        held = held_out_scores(self.inner, train)
        fit = zscore_stats if self.mode == ZSCORE else quantile_stats
        self._stats = {int(c): fit(held[train.rows_of_class(c)]) for c in train.classes()}

    def _apply(self, raw: np.ndarray, inputs: ScoringInputs) -> np.ndarray:
        if self._stats is None:
            raise AsdbenchError(f"scorer '{self.name}': scores normalised before fit()")
        out = np.empty(len(inputs), dtype=np.float64)
        for c in inputs.classes():
            rows = inputs.rows_of_class(c)
            if int(c) not in self._stats:
                raise AsdbenchError(f"scorer '{self.name}': class {int(c)} has test clips but "
                                    "no training clips to normalise by")
            stats = self._stats[int(c)]
            if self.mode == ZSCORE:
                out[rows] = (raw[rows] - stats[0]) / stats[1]
            else:
                out[rows] = quantile_map(raw[rows], stats)
        return out

    def score(self, test: ScoringInputs) -> np.ndarray:
        return self._apply(np.asarray(self.inner.score(test), dtype=np.float64), test)

    def score_train(self, train: ScoringInputs) -> np.ndarray:
        return self._apply(held_out_scores(self.inner, train), train)

    def to_torch(self, head: nn.Module, num_classes: int) -> nn.Module:
        """The inner scorer's module, each column mapped by its class's normalisation."""
        to_torch = getattr(self.inner, "to_torch", None)
        if not callable(to_torch):
            raise AsdbenchError(f"scorer '{self.name}' cannot be exported: it has no "
                                "to_torch(head, num_classes)")
        if self._stats is None:
            raise AsdbenchError(f"scorer '{self.name}': to_torch() called before fit()")
        missing = [c for c in range(num_classes) if c not in self._stats]
        if missing:
            raise AsdbenchError(f"scorer '{self.name}': class {missing[0]} has no training "
                                "embeddings")
        from asdbench_scorers.torch_modules import ColumnNormalized

        stats = [self._stats[c] for c in range(num_classes)]
        if self.mode == ZSCORE:
            return ColumnNormalized.zscore(to_torch(head, num_classes), stats)
        return ColumnNormalized.quantile(to_torch(head, num_classes), stats)


def normalized(scorer: Any, options: dict[str, Any]) -> Any:
    """``scorer`` wrapped by :class:`SectionNormalized` unless ``options["normalize"]`` is
    ``"none"`` (or absent)."""
    mode = options.get("normalize", NONE)
    if mode == NONE:
        return scorer
    return SectionNormalized(scorer, mode)
