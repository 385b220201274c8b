"""The plugin contract: what each component kind's factory returns, as ``typing.Protocol``s.

The component protocols (:class:`Dataset` ... :class:`Scorer`) hold what every component has.
The optional seams (:data:`SEAMS`) hold what some components add; the engine reads no other
attribute of a component (``tests/test_architecture.py`` checks it). Check a plugin with
``mypy``/``pyright``, ``isinstance`` (all are runtime-checkable), or :mod:`asdbench.testing`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from asdbench.errors import AsdbenchError

if TYPE_CHECKING:
    import numpy as np
    from torch import Tensor, nn

    from asdbench.data import AudioSpec, Clip, DataReport
    from asdbench.scoring import ScoringInputs

@dataclass(frozen=True)
class Stage:
    """One training stage of a method (``Method.stages``).

    - ``name``: shown in the progress line and logged with every epoch (``train_log.jsonl``);
    - ``epochs``: an int ``>= 0`` is a number of epochs, a float in (0, 1) a share of
      ``train.epochs`` (rounded, at least 1), ``None`` the epochs the other stages leave (at
      most one stage); a stage of 0 epochs is skipped, the final one needs at least 1;
    - ``loss``: the name of the method's loss function for this stage, called like ``loss``
      (``fn(z, y_a, y_b, lam) -> (loss, logits or None)``);
    - ``trains``: the parameters it updates, as names or name prefixes of the model's modules
      (``"backbone"``, ``"method.projector"``; ``None``: every parameter); the others stay as
      they are, apart from BatchNorm statistics of modules run in training mode;
    - ``lr_scale``: its learning rate is ``train.lr * lr_scale``.
    """

    name: str
    epochs: int | float | None = None
    loss: str = "loss"
    trains: tuple[str, ...] | None = None
    lr_scale: float = 1.0


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


# --- optional seams: what some components add to their kind's protocol ----------------------


@runtime_checkable
class OwnScore(Protocol):
    """A method whose ``logits(e, labels)`` are anomaly scores of each clip as a clip of each
    class (higher = more anomalous); validation selects on the mean own-class score."""

    own_score: bool


@runtime_checkable
class FitsTrain(Protocol):
    """A method that fits buffers after training: called once, in eval mode, without
    gradients, with ``(z, labels, domains)`` batches of the training clips."""

    def fit_train(self, batches: Any) -> None: ...


@runtime_checkable
class Trains(Protocol):
    """A method that may not train: ``trains = False`` evaluates the model as built."""

    trains: bool


@runtime_checkable
class Staged(Protocol):
    """A method trained in stages, in order, within ``train.epochs`` (:class:`Stage`)."""

    stages: Sequence[Stage] | None


@runtime_checkable
class EvalMargin(Protocol):
    """A method whose margin applies when it scores too (``eval_margin = True``)."""

    eval_margin: bool


@runtime_checkable
class HasTraits(Protocol):
    """A frontend's traits (e.g. ``{LOG_MEL}``), passed to methods in :class:`FrontendInfo`."""

    traits: frozenset[str]


@runtime_checkable
class Exportable(Protocol):
    """A scorer that ``asdbench export`` can deploy: a module mapping embeddings ``[B, E]``
    to ``[B, num_classes]`` scores, traceable, on no fixed device, any batch size."""

    def to_torch(self, head: nn.Module, num_classes: int) -> nn.Module: ...


@runtime_checkable
class ScoresTrain(Protocol):
    """A scorer that scores its training clips as if each were held out (for thresholds)."""

    def score_train(self, train: ScoringInputs) -> np.ndarray: ...


@runtime_checkable
class NeedsOwnScore(Protocol):
    """A scorer that reads the method's own score, so refuses a method without one."""

    needs_own_score: bool


@runtime_checkable
class HasArchives(Protocol):
    """A dataset factory that lists its official archives for ``asdbench data fetch``: each
    ``{"url", "folder"}`` and optionally ``"part", "machine_type", "size", "md5", "source"``."""

    def archives(self) -> list[dict[str, Any]]: ...


@runtime_checkable
class TakesClassNames(Protocol):
    """A method factory with a ``class_names`` keyword: the run's classes in label order
    (``Clip.class_key``), or None where unknown."""

    def __call__(self, options: dict[str, Any], *, class_names: Sequence[str] | None,
                 **kwargs: Any) -> Method: ...


@runtime_checkable
class HasRecipes(Protocol):
    """A component with named presets of settings (``--set recipe=NAME``)."""

    recipes: dict[str, dict[str, Any]]


@runtime_checkable
class ScaledParameter(Protocol):
    """A parameter of a frontend, backbone or method that trains at ``train.lr`` times its
    ``lr_scale`` (a pretrained encoder's, say)."""

    lr_scale: float


# Seam name -> the protocol that declares it.
SEAMS: dict[str, type] = {
    "own_score": OwnScore, "fit_train": FitsTrain, "trains": Trains, "stages": Staged,
    "eval_margin": EvalMargin, "traits": HasTraits, "to_torch": Exportable,
    "score_train": ScoresTrain, "needs_own_score": NeedsOwnScore, "archives": HasArchives,
    "class_names": TakesClassNames, "recipes": HasRecipes, "lr_scale": ScaledParameter,
}
