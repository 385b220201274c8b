"""Training stages: a method that trains in more than one stage (pre-training, then
fine-tuning) declares them, and the engine trains them in order (:class:`StagePlan`).

A method declares ``stages``, a sequence of :class:`Stage`; a method without it trains in one
stage of ``train.epochs`` epochs, on ``loss``, with every parameter, exactly as before stages
existed. With stages, ``train.epochs`` is the whole run and each stage takes its part of it
(:func:`plan`). Each stage gets a fresh optimiser (the engine's AdamW at ``train.lr`` times
its ``lr_scale``) and cosine schedule over its own epochs, trains only the parameters it
names, and the live weight decay (``train.live_weight_decay``) shrinks only what it trains;
the EMA copy follows the live model across stages. Model selection (``train.select``) applies
to the final stage only. :class:`Stage` is the SDK's (:mod:`asdbench.sdk.protocols`).

:class:`StagePlan` holds all of a run's stage state: where each stage trains, which one the
optimiser is for, the tensors its live decay shrinks and what was trainable before any stage
froze a parameter. The training loop (:mod:`asdbench.run.loop`) makes each stage's optimiser.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any

import torch
from torch import nn

from asdbench.errors import AsdbenchError
from asdbench.sdk.protocols import Stage

# What a stage may train: a part of the model, by the name ``ASDModel`` gives it.
PARTS = ("frontend", "backbone", "method")


@dataclass(frozen=True)
class StageSpan:
    """A stage placed in the run: it trains epochs ``start .. end - 1`` (0-based)."""

    index: int
    stage: Stage
    start: int
    end: int
    final: bool

    @property
    def epochs(self) -> int:
        return self.end - self.start


def declared(method: Any) -> tuple[Stage, ...] | None:
    """The stages ``method`` declares (``stages``), or None for a method without them."""
    stages = getattr(method, "stages", None)
    return None if stages is None else tuple(stages)


def plan_for(method: Any, total_epochs: int) -> list[StageSpan] | None:
    """The stages of ``method`` placed in a run of ``total_epochs`` (None: no stages); a bad
    declaration is a one-line error naming the method and the stage."""
    stages = declared(method)
    if stages is None:
        return None
    owner = f"method {type(method).__name__}"
    for stage in stages:
        if not isinstance(stage, Stage):
            raise AsdbenchError(f"{owner}: stages must be asdbench.sdk.Stage, got "
                                f"{type(stage).__name__}")
        fn = getattr(method, stage.loss, None)
        if not callable(fn):
            raise AsdbenchError(f"{owner}: stage '{stage.name}' trains on loss "
                                f"'{stage.loss}', which the method does not have")
        if not isinstance(stage.lr_scale, Real) or not stage.lr_scale > 0:
            raise AsdbenchError(f"{owner}: stage '{stage.name}' lr_scale must be above 0, "
                                f"got {stage.lr_scale!r}")
    return plan(stages, total_epochs, owner)


def plan(stages: Sequence[Stage], total_epochs: int, owner: str = "method") -> list[StageSpan]:
    """Each stage's epochs within ``total_epochs`` (``train.epochs``), in declared order."""
    names = [s.name for s in stages]
    if not stages or any(not isinstance(n, str) or not n for n in names):
        raise AsdbenchError(f"{owner}: stages need at least one stage, each with a name")
    if len(set(names)) != len(names):
        raise AsdbenchError(f"{owner}: stage names must differ, got {', '.join(names)}")
    counts = [_fixed_epochs(s, total_epochs, owner) for s in stages]
    rest = [i for i, n in enumerate(counts) if n is None]
    if len(rest) > 1:
        raise AsdbenchError(f"{owner}: only one stage may take the remaining epochs "
                            f"(epochs=None), got {len(rest)}")
    fixed = sum(n for n in counts if n is not None)
    if rest:
        if fixed > total_epochs:
            raise AsdbenchError(f"{owner}: its stages take {fixed} epochs before stage "
                                f"'{names[rest[0]]}', more than train.epochs = {total_epochs}")
        counts[rest[0]] = total_epochs - fixed
    elif fixed != total_epochs:
        raise AsdbenchError(f"{owner}: its stages take {fixed} epochs; train.epochs is "
                            f"{total_epochs} (give one stage epochs=None to take the rest)")
    if counts[-1] < 1:
        raise AsdbenchError(f"{owner}: train.epochs = {total_epochs} leaves no epoch for its "
                            f"final stage '{names[-1]}' (the one selected from)")
    spans, start = [], 0
    for index, (stage, n) in enumerate(zip(stages, counts, strict=True)):
        spans.append(StageSpan(index, stage, start, start + n, index == len(stages) - 1))
        start += n
    return spans


def _fixed_epochs(stage: Stage, total: int, owner: str) -> int | None:
    value = stage.epochs
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, Real):
        raise AsdbenchError(f"{owner}: stage '{stage.name}' epochs must be a number or None, "
                            f"got {value!r}")
    if isinstance(value, Integral) or (value >= 1 and float(value).is_integer()):
        if value < 0:
            raise AsdbenchError(f"{owner}: stage '{stage.name}' epochs must be >= 0, got "
                                f"{value!r}")
        return int(value)
    if not 0 < value < 1:
        raise AsdbenchError(f"{owner}: stage '{stage.name}' epochs must be a whole number or "
                            f"a share in (0, 1) of train.epochs, got {value!r}")
    return max(1, int(value * total + 0.5))


def stage_at(spans: Sequence[StageSpan], epoch: int) -> StageSpan:
    """The stage that trains epoch ``epoch`` (0-based; stages of 0 epochs never do)."""
    for span in spans:
        if span.start <= epoch < span.end:
            return span
    raise ValueError(f"epoch {epoch} is past the last stage (ends at {spans[-1].end})")


def under(name: str, prefixes: Iterable[str] | None) -> bool:
    """Whether ``name`` is one of ``prefixes`` or inside one (``None``: everything)."""
    return prefixes is None or any(name == p or name.startswith(p + ".") for p in prefixes)


def check_trains(stage: Stage, module_names: Iterable[str], owner: str = "method") -> None:
    """Every entry of ``stage.trains`` must name a module or parameter of the model."""
    if stage.trains is None:
        return
    if isinstance(stage.trains, str):
        raise AsdbenchError(f"{owner}: stage '{stage.name}' trains must be a tuple of names, "
                            f"got the string {stage.trains!r}")
    names = set(module_names)
    unknown = [p for p in stage.trains if p not in names]
    if unknown:
        raise AsdbenchError(f"{owner}: stage '{stage.name}' trains {', '.join(unknown)}, "
                            f"not a part of the model (parts: {', '.join(PARTS)}, or a "
                            "module inside one, e.g. method.<attribute>)")


def stage_loss(model: nn.Module, stage: Stage | None) -> Callable[..., Any] | None:
    """The loss ``stage`` trains on, called as ``model.loss`` (None: ``model.loss`` itself)."""
    if stage is None or stage.loss == "loss":
        return None
    fn = getattr(model.method, stage.loss)
    return lambda wave, feats, y_a, y_b, lam: fn(model(wave, feats), y_a, y_b, lam)


@dataclass
class StagePlan:
    """A run's stages and the state of the one that trains now.

    A method without stages has no spans: it trains every parameter on ``loss`` under
    WeightEMA's own live decay, and its checkpoints, log records and summary name no stage.
    """

    spans: list[StageSpan]
    live_weight_decay: float = 0.0
    current: int = 0  # the stage the optimiser is for
    decay: list[torch.Tensor] = field(default_factory=list)  # what the live decay shrinks
    trainable: dict[str, bool] = field(default_factory=dict)  # before any stage froze some

    @classmethod
    def for_model(cls, model: nn.Module, epochs: int, live_weight_decay: float,
                  owner: str) -> StagePlan:
        """The stages of ``model.method`` placed in ``epochs``, each checked to train parts
        of ``model``; a bad declaration is a one-line error naming ``owner``."""
        spans = plan_for(model.method, epochs)
        if spans is None:
            return cls([])
        trainable = {n: p.requires_grad for n, p in model.named_parameters()}
        names = [n for n, _ in model.named_modules()] + list(trainable)
        for span in spans:
            check_trains(span.stage, names, owner)
        return cls(spans, live_weight_decay, trainable=trainable)

    @property
    def staged(self) -> bool:
        return bool(self.spans)

    def at(self, epoch: int) -> StageSpan | None:
        """The stage that trains epoch ``epoch`` (None: no stages)."""
        return stage_at(self.spans, epoch) if self.spans else None

    def enter(self, model: nn.Module, index: int) -> list[nn.Parameter]:
        """Make stage ``index`` the current one: freeze the parameters it does not train and
        aim its live decay; returns the parameters it trains."""
        trains = self.spans[index].stage.trains
        chosen = {n for n, ok in self.trainable.items() if ok and under(n, trains)}
        params = []
        for name, p in model.named_parameters():
            p.requires_grad_(name in chosen)
            if name in chosen:
                params.append(p)
        # as WeightEMA's live decay: every float32 entry (BN statistics too), here only those
        # of the parts the stage trains, and none of the parameters it leaves alone
        self.decay = [v for k, v in model.state_dict().items()
                      if self.live_weight_decay and v.dtype == torch.float32
                      and under(k, trains) and (k in chosen or k not in self.trainable)]
        self.current = index
        return params

    @torch.no_grad()
    def after_step(self) -> None:
        """The stage's live weight decay, after the optimiser and EMA steps (as WeightEMA)."""
        if self.decay:
            torch._foreach_mul_(self.decay, 1.0 - self.live_weight_decay)

    def release(self, model: nn.Module) -> None:
        """Give every parameter back the trainability it had before the stages."""
        for name, p in model.named_parameters():
            p.requires_grad_(self.trainable.get(name, p.requires_grad))

    def checkpointed(self, state: dict[str, Any]) -> int | None:
        """The stage a checkpoint was written in (None: no stages); ValueError when the
        checkpoint and the plan disagree on having stages."""
        if self.staged != ("stage" in state):
            raise ValueError(f"a checkpoint {'without' if self.staged else 'with'} training "
                             f"stages, for a method {'with' if self.staged else 'without'} them")
        if not self.staged:
            return None
        if not 0 <= state["stage"] < len(self.spans):
            raise ValueError(f"stage {state['stage']} of {len(self.spans)} stages")
        return state["stage"]

    def summary(self) -> list[dict[str, Any]]:
        """Each stage's name, first epoch and epochs, for the run's metrics."""
        return [{"name": s.stage.name, "first_epoch": s.start, "epochs": s.epochs}
                for s in self.spans]
