"""Training stages: a method that trains in more than one stage (pre-training, then
fine-tuning) declares them, and the engine trains them in order.

A method declares ``stages``, a sequence of :class:`Stage`; a method without it trains in one
stage of ``train.epochs`` epochs, on ``loss``, with every parameter, exactly as before stages
existed. With stages, ``train.epochs`` is the whole run and each stage takes its part of it
(:func:`plan`). Each stage gets a fresh optimiser (the engine's AdamW at ``train.lr`` times
its ``lr_scale``) and cosine schedule over its own epochs, trains only the parameters it
names, and the live weight decay (``train.live_weight_decay``) shrinks only what it trains;
the EMA copy follows the live model across stages. Model selection (``train.select``) applies
to the final stage only. :class:`Stage` is the SDK's (:mod:`asdbench.sdk.protocols`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

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
