"""What each component kind's factory returns, as ``typing.Protocol`` classes.

They restate the contracts of :mod:`asdbench.hookspecs` as types a plugin author can check
against (``mypy``/``pyright``, or ``isinstance`` for the runtime-checkable ones). The engine
relies on exactly these attributes and methods, nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from asdbench.errors import AsdbenchError

if TYPE_CHECKING:
    import numpy as np
    from torch import Tensor

    from asdbench.data import AudioSpec, Clip, DataReport
    from asdbench.scoring import ScoringInputs

# Traits a frontend may declare (``Frontend.traits``): the maps it stacks as channels. Methods
# choose per-input defaults by them (OS-SCL: other margins when the input is log-Mel alone).
LOG_MEL = "log-mel"


@runtime_checkable
class Dataset(Protocol):
    """``asdbench_datasets``: ``factory(options) -> Dataset``."""

    name: str
    audio: AudioSpec  # the rate and length every clip is brought to
    # metric protocols its results are reported under, the official one first
    protocols: tuple[str, ...]

    @property
    def report(self) -> DataReport: ...  # problems found while listing

    def clips(self) -> list[Clip]: ...  # train clips (normal only) and labelled test clips


@runtime_checkable
class Frontend(Protocol):
    """``asdbench_frontends``: ``factory(options, audio: AudioSpec) -> Frontend`` (an
    ``nn.Module``). It may also declare ``traits: frozenset[str]`` (e.g. ``{LOG_MEL}``), which
    methods receive through :class:`FrontendInfo`; none declared means no traits."""

    out_shape: tuple[int, int, int]  # (channels, frequency bins, frames) of forward's output
    feature_key: str  # changes whenever ``features`` would (cache key)

    def features(self, wave: Tensor) -> Tensor: ...  # [B, L] -> [B, F, T], fixed, cached

    def __call__(self, wave: Tensor, feats: Tensor) -> Tensor: ...  # -> [B, C, F, T]


@runtime_checkable
class Backbone(Protocol):
    """``asdbench_backbones``: ``factory(options, in_shape) -> Backbone`` (an ``nn.Module``)."""

    embedding_dim: int

    def __call__(self, x: Tensor) -> Tensor: ...  # [B, C, F, T] -> [B, embedding_dim]


@runtime_checkable
class Method(Protocol):
    """``asdbench_methods``: ``factory(options, num_classes, embedding_dim, frontend_info)
    -> Method`` (an ``nn.Module``); a factory with a ``class_names`` keyword parameter also
    receives the run's classes. ``mixup_alpha``: None or 0 trains on unmixed batches.
    Optional ``own_score = True``: ``logits`` gives anomaly scores (see the hook).
    Optional ``stages``: a sequence of :class:`asdbench.sdk.Stage` (e.g. contrastive
    pre-training, then classification fine-tuning), trained in order within ``train.epochs``,
    each with its own epochs, loss function (a method attribute called like ``loss``),
    trained parameters and learning-rate scale; selection applies to the final stage, and
    ``loss`` stays the final stage's (contract checks, validation). None: one stage on ``loss``
    with every parameter (see :mod:`asdbench.run.stages`)."""

    mixup_alpha: float | None

    def loss(self, z: Tensor, y_a: Tensor, y_b: Tensor,
             lam: float) -> tuple[Tensor, Tensor | None]: ...  # (loss, logits or None)

    def embed(self, z: Tensor) -> Tensor: ...  # the embedding scorers use

    def logits(self, e: Tensor, labels: Tensor | None) -> Tensor: ...  # [B, K] for the score


@runtime_checkable
class Scorer(Protocol):
    """``asdbench_scorers``: ``factory(options) -> Scorer``."""

    def fit(self, train: ScoringInputs) -> None: ...

    def score(self, test: ScoringInputs) -> np.ndarray: ...  # [N], higher = more anomalous


class IncompatibleComponents(AsdbenchError):
    """Raised by a factory when the components it is combined with cannot work together (a
    frame-level method behind a backbone that pools the frames away, say). ``asdbench run``
    shows its message; :func:`asdbench.testing.model_combinations` leaves the combination out."""


def has_own_score(method: Any) -> bool:
    """Whether ``method`` declares ``own_score = True``: its ``logits(e, labels)`` are anomaly
    scores of each clip as a clip of each class (higher = more anomalous), not class logits."""
    return bool(getattr(method, "own_score", False))


@dataclass(frozen=True)
class FrontendInfo:
    """What a method's factory learns about its input: the frontend's declared output shape
    and traits (never its name, so a renamed or third-party frontend gets the same defaults)."""

    out_shape: tuple[int, int, int]
    traits: frozenset[str] = frozenset()

    @classmethod
    def of(cls, frontend: Any) -> FrontendInfo:
        """The info a built frontend declares (``traits`` empty when it declares none)."""
        return cls(tuple(int(v) for v in frontend.out_shape),
                   frozenset(getattr(frontend, "traits", ())))


DatasetFactory = Callable[[dict[str, Any]], Dataset]
FrontendFactory = Callable[..., Frontend]  # (options, audio=AudioSpec)
BackboneFactory = Callable[..., Backbone]  # (options, in_shape=(C, F, T))
MethodFactory = Callable[..., Method]  # (options, num_classes=, embedding_dim=, frontend_info=)
ScorerFactory = Callable[[dict[str, Any]], Scorer]
